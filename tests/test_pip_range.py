"""The oldest and a middle supported pip pass the pip-facing end-to-end tests too (the newest,
26.3, is the whole suite's default). ``python tests/pip_matrix.py`` runs every end-to-end test
file once per supported release line."""

from __future__ import annotations

import os

import pytest

import pip_matrix


@pytest.mark.skipif(os.environ.get("LTT_TEST_PIP") not in (None, "26.3") or bool(os.environ.get("LTT_TEST_PYTHON")),
                    reason="already inside a matrix run")
@pytest.mark.parametrize("version", ["22.3.1", "25.0.1"])
def test_end_to_end_suite_passes_with_pip(version):
    _, status, summary, _ = pip_matrix.run(version, pip_matrix.PIP_FACING)
    assert status == 0, summary
