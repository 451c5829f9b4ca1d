"""
Issue 02 benchmark: a 100,000-row master sheet read, validated and written (goal <= 10 s, <= 500 MB peak).

Each measured step runs in a fresh Python process (as `ecsync import-sku` does), so its peak RSS is its own;
"median s" is the step itself, "process s" adds the interpreter start and the app build.
Steps: the first import into an empty database, the same sheet again (merge, nothing changes), a dry run,
a --replace, and export-sku of the 100,000 SKUs. Prints medians over --repeats runs and the peak memory.

    python benchmarks/bench_import.py [--rows 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from pathlib import Path


GOAL_S = 10.0
GOAL_MB = 500.0


def build_sheet(path: Path, rows: int) -> float:
    """A sheet shaped like a real catalogue: variations, SKUs on one mall only, some switched off."""
    from ecsync_core.master_sheet import SheetRow, write_sheet

    def row(i: int) -> SheetRow:
        codes = {"yahoo_item_code": f"ec-item-{i:06d}" + (":size-m" if i % 4 == 3 else "")}
        if i % 3:
            codes["rakuten_item_number"] = f"item-{i:06d}:v-{i % 5}"
        return SheetRow(f"AMZ-{i:07d}", codes, active=i % 10 != 0)

    t0 = time.perf_counter()
    write_sheet(path, (row(i) for i in range(rows)), ["yahoo_item_code", "rakuten_item_number"])
    return time.perf_counter() - t0


def child(step: str, config: str, sheet: str) -> None:
    """Run one step in this process and print its time and peak RSS as JSON."""
    from ecsync_core.bootstrap import build_app
    from ecsync_core.services.import_sku import export_sku, import_sku

    app = build_app(config)
    t0, cpu0 = time.perf_counter(), _cpu()
    if step == "export":
        result = export_sku(app, Path(sheet))
        detail = {"skus": result.skus}
    else:
        done = import_sku(app, Path(sheet), replace=step == "replace", dry_run=step == "dry-run")
        c = done.changes
        detail = {"skus": done.skus, "added": len(c.added), "changed": len(c.changed), "removed": len(c.removed)}
    seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak_mb, **detail}))


def _cpu() -> float:
    # CPU seconds beside wall seconds: on a shared machine the wall clock also measures the neighbours.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(step: str, config: Path, sheet: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--child", step, str(config), str(sheet)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    doc: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    doc["wall"] = time.perf_counter() - t0
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("STEP", "CONFIG", "SHEET"), help=argparse.SUPPRESS)
    args, _unknown = parser.parse_known_args()  # nox passes its posargs to every bench script
    if args.child:
        child(*args.child)
        return

    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
        root = Path(tmp)
        sheet = root / "master.xlsx"
        built = build_sheet(sheet, args.rows)
        print(f"bench_import: {args.rows:,} rows, {sheet.stat().st_size / 1e6:.1f} MB sheet (written in {built:.1f} s)")
        results: dict[str, list[dict[str, float]]] = {}
        for n in range(args.repeats):
            config = root / f"config{n}.yaml"
            config.write_text(f"database: {root / f'db{n}.duckdb'}\n", encoding="utf-8")
            for step in ("import", "again", "dry-run", "replace", "export"):
                target = root / f"export{n}.xlsx" if step == "export" else sheet
                results.setdefault(step, []).append(measure(step if step != "again" else "import", config, target))
        print(f"{'step':<10} {'median s':>9} {'cpu s':>6} {'process s':>9} {'peak MB':>8} {'goal':>6}  detail")
        for step, runs in results.items():
            seconds = statistics.median(r["seconds"] for r in runs)
            wall = statistics.median(r["wall"] for r in runs)
            cpu = statistics.median(r["cpu"] for r in runs)
            peak = max(r["peak_mb"] for r in runs)
            # The goal is the import's; the export (openpyxl's pure-Python XML writer) is shown beside it.
            ok = "-" if step == "export" else "ok" if seconds <= GOAL_S and peak <= GOAL_MB else "MISS"
            detail = {k: int(v) for k, v in runs[-1].items() if k not in {"seconds", "cpu", "wall", "peak_mb"}}
            print(f"{step:<10} {seconds:>9.2f} {cpu:>6.2f} {wall:>9.2f} {peak:>8.0f} {ok:>6}  {detail}")
        first = statistics.median(r["seconds"] for r in results["import"])
        print(f"per row: {first / args.rows * 1e6:.0f} us (first import); goal {GOAL_S:.0f} s and {GOAL_MB:.0f} MB")
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work slows the wall clock)")


if __name__ == "__main__":
    main()
