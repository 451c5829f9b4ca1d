"""
`make demo`: the operator's day on the sandbox, with no credentials.

Starts `ecsync sandbox`, imports its master sheet, runs the dry run (the manual's 142 / 138 / 15), the live
sync and `status`, then stops the sandbox. Each command is printed before it runs, as an operator types it.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time

from pathlib import Path


BIN = Path(sys.executable).parent
ECSYNC = str(BIN / "ecsync")


def wait_ready(proc: subprocess.Popen[str], out: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(line.strip() == "ready" for line in out.read_text().splitlines()):
            return
        if proc.poll() is not None:
            sys.exit(f"the sandbox stopped early:\n{out.read_text()}")
        time.sleep(0.2)
    sys.exit(f"the sandbox did not say ready within {timeout:.0f} s:\n{out.read_text()}")


def step(*args: str, ok: tuple[int, ...] = (0,)) -> None:
    print(f"\n$ ecsync {shlex.join(args)}", flush=True)
    command = subprocess.Popen([ECSYNC, *args])
    try:
        code = command.wait()
    except BaseException as stopped:
        # Stopped: the command stops as from Ctrl-C, so a sync records itself INTERRUPTED (subprocess.call would
        # SIGKILL it). A terminal's Ctrl-C has reached it already; our SIGTERM (SystemExit) has not.
        if not isinstance(stopped, KeyboardInterrupt):
            command.send_signal(signal.SIGINT)
        command.wait(30)
        raise
    if code not in ok:
        sys.exit(f"demo: `ecsync {shlex.join(args)}` exited {code}")


def main() -> None:
    # A cancelled CI job or `timeout make demo` sends SIGTERM: exit through `finally`, which stops the sandbox
    # (it runs in its own session, so nothing else would).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="ecsync-demo-"))
    log = workdir / "sandbox.out"
    print(f"$ ecsync sandbox --dir {workdir}   # local emulators of every mall, demo data", flush=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [ECSYNC, "sandbox", "--dir", str(workdir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    try:
        wait_ready(proc, log)
        print(log.read_text().rstrip(), flush=True)
        cfg = ["-c", str(workdir / "config.yaml")]
        step(*cfg, "import-sku", "-f", str(workdir / "master.xlsx"))
        step(*cfg, "sync", "--dry-run")
        step(*cfg, "sync")
        step(*cfg, "status")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    print(f"\ndemo done; the sandbox's files (config, database, log) are in {workdir}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C: the sandbox was stopped in `finally`; no traceback for it
        sys.exit("demo interrupted")
