"""The manual's spelling: `python main.py sync --dry-run` from the repo root."""

import os
import sys

from pathlib import Path


ROOT = Path(__file__).resolve().parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

# The manual runs `python main.py` with whatever python is on PATH; the tool and its plugins live in .venv.
if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != VENV_PYTHON.parent.parent.resolve():
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])

try:
    from ecsync_core.cli import main
except ModuleNotFoundError as exc:  # a bare checkout: the tool and its dependencies are not installed yet
    sys.exit(f"ecsync is not installed ({exc.name} is missing): run `make install` in {ROOT}")


if __name__ == "__main__":
    main()
