"""Run the end-to-end suite once per supported pip release and print a result table.

    python tests/pip_matrix.py                 # every release line below, two at a time
    python tests/pip_matrix.py 22.3.1 26.3     # just these

Each run builds its own virtualenvs (the suite's session fixtures) with that pip installed.
``run(..., python=PATH)`` runs it with virtualenvs of another CPython (``LTT_TEST_PYTHON``);
``cpythons()`` finds the CPythons on this machine.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
#: One release per supported line, oldest to newest (issue #3).
RELEASES = ["22.3.1", "23.0.1", "23.3.2", "24.0", "24.3.1", "25.0.1", "25.1.1", "25.3",
            "26.0.1", "26.1.2", "26.2.1", "26.3"]
#: Tests that only exercise pure logic; every other test file is end to end.
UNIT = {"test_selection.py", "test_config.py", "test_detection.py", "test_pip_range.py", "test_python_range.py"}
END_TO_END = sorted(f"tests/{p.name}" for p in (REPO / "tests").glob("test_*.py") if p.name not in UNIT)
#: The files where pip's own behaviour is exercised most (CI runs these for the older pips).
PIP_FACING = ["tests/test_hook.py", "tests/test_pip_doors.py", "tests/test_pip_surface.py",
              "tests/test_pip_stays_pip.py", "tests/test_index_truth.py", "tests/test_supply_chain.py",
              "tests/test_tools.py", "tests/test_extensions.py", "tests/test_safety.py", "tests/test_arm.py",
              "tests/test_windows.py"]


#: ltt-hook's Requires-Python: the oldest CPython the suite is run with.
MIN_PYTHON = (3, 9)
#: The end-to-end core, run once more with the oldest and the newest CPython found (about 2-3
#: minutes each on 2 cores).
PYTHON_FACING = ["tests/test_hook.py", "tests/test_pip_doors.py"]


def cpythons() -> Dict[Tuple[int, int], str]:
    """(major, minor) -> a CPython 3 of that version on this machine, MIN_PYTHON or newer: pyenv's
    versions (``$PYENV_ROOT`` or ``~/.pyenv``) and ``python3.X`` on PATH. Free-threaded builds and
    pre-releases are left out."""
    found: Dict[Tuple[int, int], str] = {}
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for exe in sorted(glob.glob(os.path.join(root, "versions", "*", "bin", "python3"))):
        m = re.fullmatch(r"3\.(\d+)\.\d+", Path(exe).parents[1].name)
        if m:
            found.setdefault((3, int(m.group(1))), exe)
    for minor in range(MIN_PYTHON[1], 30):
        exe = shutil.which(f"python3.{minor}")
        if exe:
            found.setdefault((3, minor), exe)
    return {v: exe for v, exe in sorted(found.items()) if v >= MIN_PYTHON}


def run(version: Optional[str], files: List[str] = END_TO_END,
        python: Optional[str] = None) -> Tuple[str, int, str, float]:
    """Run end-to-end ``files`` with pip ``version`` (None: the newest pip for that Python) and
    virtualenvs of ``python`` (None: this one); return (version, exit status, summary, seconds)."""
    start = time.monotonic()
    env = dict(os.environ)
    if version:
        env["LTT_TEST_PIP"] = version
    if python:
        env["LTT_TEST_PYTHON"] = python
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
                          cwd=REPO, env=env, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else proc.stderr.strip()[-200:]
    if proc.returncode:
        failed = [line for line in lines if line.startswith("FAILED")]
        summary += "".join(f"\n    {line}" for line in failed)
    return version or "default", proc.returncode, summary, time.monotonic() - start


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
