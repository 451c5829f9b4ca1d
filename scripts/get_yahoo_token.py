"""
Yahoo! ID連携 (YConnect v2): consent once, save the refresh token (28 days) in .env.

    python scripts/get_yahoo_token.py [-c config/config.yaml] [--paste] [--timeout SECONDS]

The same as `ecsync yahoo-token`; the flow lives in ecsync_yahoo.token_flow.
"""

import os
import sys

from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

# As main.py: the manual runs it with whatever python is on PATH, and the plugin lives in .venv.
if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != VENV_PYTHON.parent.parent.resolve():
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])

try:
    from ecsync_yahoo.token_flow import main
except ModuleNotFoundError as exc:  # a bare checkout: nothing installed yet
    sys.exit(f"ecsync is not installed ({exc.name} is missing): run `make install` in {ROOT}")


if __name__ == "__main__":
    main()
