"""The oldest and the newest CPython on this machine pass the end-to-end core too (the rest of
the suite runs with the interpreter that runs pytest, or ``LTT_TEST_PYTHON``). Each run builds
its own virtualenvs of that Python with the newest pip it supports; the two run side by side.

    LTT_TEST_PYTHON=~/.pyenv/versions/3.9.18/bin/python python -m pytest tests/test_hook.py

runs any test file with another interpreter by hand."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

import pip_matrix
from support.harness import TEST_PYTHON, python_info

INSIDE = os.environ.get("LTT_TEST_PIP") or os.environ.get("LTT_TEST_PYTHON")
FOUND = pip_matrix.cpythons()
ENDS = {"oldest": min(FOUND, default=None), "newest": max(FOUND, default=None)}


def _ran_here(version) -> bool:
    """Whether this session's own virtualenvs already use that Python (no need to run it twice)."""
    try:
        return python_info(TEST_PYTHON).version == version
    except (OSError, subprocess.CalledProcessError):
        return False


@pytest.fixture(scope="module")
def runs():
    """Start the core once per interpreter to check, concurrently; results by (major, minor)."""
    wanted = sorted({v for v in ENDS.values() if v is not None and not _ran_here(v)})
    with ThreadPoolExecutor(max(len(wanted), 1)) as pool:
        futures = {v: pool.submit(pip_matrix.run, None, pip_matrix.PYTHON_FACING, FOUND[v]) for v in wanted}
        yield {v: f.result() for v, f in futures.items()}


@pytest.mark.skipif(bool(INSIDE), reason="already inside a matrix run")
@pytest.mark.parametrize("end", ["oldest", "newest"])
def test_end_to_end_core_passes_with_python(runs, end):
    version = ENDS[end]
    if version is None:
        pytest.skip("no CPython 3.9+ found in ~/.pyenv/versions or as python3.X on PATH")
    if version not in runs:
        pytest.skip(f"Python {version[0]}.{version[1]} is the interpreter of this session's own virtualenvs")
    _, status, summary, seconds = runs[version]
    assert status == 0, f"Python {version[0]}.{version[1]} ({FOUND[version]}): {summary}"
