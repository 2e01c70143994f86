"""The oldest and a middle supported pip pass the pip-facing end-to-end tests too (the newest,
26.3, is the whole suite's default); the two run side by side. ``python tests/pip_matrix.py``
runs every end-to-end test file once per supported release line."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

import pip_matrix

VERSIONS = ["22.3.1", "25.0.1"]
INSIDE = os.environ.get("LTT_TEST_PIP") not in (None, "26.3") or bool(os.environ.get("LTT_TEST_PYTHON"))


@pytest.fixture(scope="module")
def runs():
    """Start the pip-facing files once per pip, concurrently; results by pip version."""
    with ThreadPoolExecutor(len(VERSIONS)) as pool:
        futures = {v: pool.submit(pip_matrix.run, v, pip_matrix.PIP_FACING) for v in VERSIONS}
        yield {v: f.result() for v, f in futures.items()}


@pytest.mark.skipif(INSIDE, reason="already inside a matrix run")
@pytest.mark.parametrize("version", VERSIONS)
def test_end_to_end_suite_passes_with_pip(runs, version):
    _, status, summary, _ = runs[version]
    assert status == 0, summary
