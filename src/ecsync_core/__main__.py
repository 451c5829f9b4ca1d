from ecsync_core.cli import main


main()
