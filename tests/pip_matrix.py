"""Run the end-to-end suite once per supported pip release and print a result table.

    python tests/pip_matrix.py                 # every release line below, two at a time
    python tests/pip_matrix.py 22.3.1 26.3     # just these

Each run builds its own virtualenvs (the suite's session fixtures) with that pip installed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Tuple

REPO = Path(__file__).resolve().parents[1]
#: One release per supported line, oldest to newest (issue #3).
RELEASES = ["22.3.1", "23.0.1", "23.3.2", "24.0", "24.3.1", "25.0.1", "25.1.1", "25.3",
            "26.0.1", "26.1.2", "26.2.1", "26.3"]
#: Tests that only exercise pure logic; every other test file is end to end.
UNIT = {"test_selection.py", "test_config.py", "test_detection.py", "test_pip_range.py"}
END_TO_END = sorted(f"tests/{p.name}" for p in (REPO / "tests").glob("test_*.py") if p.name not in UNIT)
#: The files where pip's own behaviour is exercised most (CI runs these for the older pips).
PIP_FACING = ["tests/test_hook.py", "tests/test_pip_doors.py", "tests/test_pip_surface.py"]


def run(version: str, files: List[str] = END_TO_END) -> Tuple[str, int, str, float]:
    """Run end-to-end ``files`` with pip ``version``; return (version, exit status, summary, seconds)."""
    start = time.monotonic()
    env = dict(os.environ, LTT_TEST_PIP=version)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
                          cwd=REPO, env=env, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else proc.stderr.strip()[-200:]
    if proc.returncode:
        failed = [line for line in lines if line.startswith("FAILED")]
        summary += "".join(f"\n    {line}" for line in failed)
    return version, proc.returncode, summary, time.monotonic() - start


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="*", default=RELEASES)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    print("| pip | result | seconds |\n|---|---|---|", flush=True)
    results = []
    with ThreadPoolExecutor(args.jobs) as pool:
        for version, status, summary, seconds in pool.map(run, args.versions):  # rows as they finish
            print(f"| {version} | {'ok' if status == 0 else 'FAIL'}: {summary} | {seconds:.0f} |", flush=True)
            results.append(status)
    return max(results)


if __name__ == "__main__":
    sys.exit(main())
