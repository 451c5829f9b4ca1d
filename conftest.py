"""The core's and every plugin's tests share the test kit's settings (fast retries, an isolated cwd)."""

pytest_plugins = ["ecsync_core.testing.pytest_plugin"]
