"""A third-party mall plugin, installed with pip into a fresh venv, is found everywhere a mall shows up."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile

from pathlib import Path

import httpx
import openpyxl
import pytest

from ecsync_core.testing.contract import MallInventoryContract
from ecsync_core.testing.sandbox import start_sandbox


pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "outside_plugin"
OFFLINE = {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PYTHONPATH": ""}


def build_wheel(project: Path, out: Path) -> Path:
    """
    A PEP 427 wheel of *project*'s ``src/`` packages, named and entry-pointed as its pyproject says.

    Built by hand because the test must stay offline: the venv's setuptools is too old to build without
    fetching a newer one. pip then installs the wheel as it would any downloaded plugin.
    """
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    name, version = meta["name"], meta["version"]
    stem = f"{name.replace('-', '_')}-{version}"
    info = f"{stem}.dist-info"
    files: dict[str, bytes] = {
        path.relative_to(project / "src").as_posix(): path.read_bytes()
        for path in sorted((project / "src").rglob("*.py"))
    }
    requires = "".join(f"Requires-Dist: {d}\n" for d in meta.get("dependencies", []))
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{requires}".encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: ecsync-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    groups = meta.get("entry-points", {})
    files[f"{info}/entry_points.txt"] = "".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n" for group, eps in groups.items()
    ).encode()
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for path, data in files.items()
    ]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = out / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


@pytest.fixture(scope="module")
def outside_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv that sees the core (through a .pth onto the project's venv) and pip-installs the plugin."""
    root = tmp_path_factory.mktemp("outside")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # addsitedir (not a plain path line) so the project venv's own .pth files, the editable core among
    # them, are processed too; the new venv's site-packages stays first on sys.path.
    core_site = sysconfig.get_path("purelib")
    (Path(purelib) / "ecsync_core_venv.pth").write_text(f"import site; site.addsitedir({core_site!r})\n")
    source = shutil.copytree(FIXTURE, root / "outside_plugin")  # builds never write into the repo
    wheel = build_wheel(source, root)
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)],
        check=True,
        env={**os.environ, **OFFLINE},
        timeout=120,
    )
    return python


def run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "ecsync_core", *args], capture_output=True, text=True, timeout=60, check=False, env=os.environ
    )


def test_ecsync_malls_lists_the_outside_plugin(outside_venv: Path) -> None:
    """`ecsync malls --json` in that venv shows the outside mall, its column and its distribution's version."""
    done = run(outside_venv, "malls", "--json")
    assert 0 == done.returncode, done.stderr
    malls = {m["code"]: m for m in json.loads(done.stdout)["malls"]}
    outside = malls["outside"]
    assert ("target", "outside_item_code") == (outside["role"], outside["sheet_column"])
    assert ("ecsync-outside-demo", "0.3.0") == (outside["distribution"], outside["version"])


def test_the_project_venv_does_not_see_it(outside_venv: Path) -> None:
    """The plugin lives in the fresh venv only: the project's own ecsync does not list it."""
    done = run(Path(sys.executable), "malls", "--json")
    assert "outside" not in {m["code"] for m in json.loads(done.stdout)["malls"]}
    assert outside_venv.exists()


def test_the_sandbox_serves_it_and_its_sheet_column(outside_venv: Path, tmp_path: Path) -> None:
    """`ecsync sandbox` in that venv serves the outside emulator, seeded, and the sheet has its column."""
    with start_sandbox(tmp_path / "sb", "--speed", "100", python=outside_venv) as sb:
        stock = httpx.get(sb.urls["outside"] + "/_sandbox/stock").json()
        answer = httpx.get(sb.urls["outside"] + f"/api/items/{sorted(stock)[0]}", headers={"X-Api-Key": "nope"})
        wb = openpyxl.load_workbook(sb.files.master, read_only=True)
        header = next(wb.worksheets[0].iter_rows(values_only=True))
        wb.close()
        config = sb.config.read_text()
    assert stock
    assert all(key.startswith("OM-") for key in stock)
    assert 401 == answer.status_code
    assert "outside_item_code" in header
    assert "outside:" in config


def test_its_own_contract_tests_pass_through_the_core_helpers(outside_venv: Path) -> None:
    """The plugin's contract tests, built on ecsync_core.testing, pass against its emulator in that venv."""
    checks = outside_venv.parents[2] / "outside_plugin" / "tests" / "contract_checks.py"
    done = subprocess.run(
        [outside_venv, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(checks)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=checks.parents[1],
    )
    assert 0 == done.returncode, done.stdout[-2000:]
    inherited = [name for name in vars(MallInventoryContract) if name.startswith("test_")]
    assert re.search(rf"\b{len(inherited)} passed\b", done.stdout), "every contract test the plugin inherits ran"
