"""Extensions resolve together with torch (issue 20): the newest torch they have wheels for,
never a doomed source build.

Real pip against the replica of the PyTorch index and a replica of PyG's pages as they are in
2026: projects lag differently (pyg-lib has wheels for the newest torch; torch-scatter and
torch-sparse stop earlier, here at 2.11: ``extension_replica.PYG_LAST``), and PyG's root listing
``whl/index.html`` links every page.
"""

from __future__ import annotations

import pytest

from support import extension_replica, replica
from support.harness import fails_in_one_line, newest_release, test_python

PY = test_python()
NEWEST = newest_release()
RTX_3090 = ("8.6", "NVIDIA GeForce RTX 3090")
pytestmark = pytest.mark.skipif(NEWEST.torch != "2.14.1", reason="written for the 2.14.1 replica (Python 3.10+)")
SCATTER = extension_replica.PYG["torch-scatter"]


@pytest.fixture(scope="module")
def pyg(tmp_path_factory):
    root = extension_replica.build(tmp_path_factory.mktemp("pyg-2026"), [PY.wheel_tags], no_page="none",
                                   last=extension_replica.PYG_LAST)
    with replica.IndexServer(root) as server:
        yield server


@pytest.fixture
def env(pyg, ext_pypi, nvidia):
    def make(driver="550.54.14"):
        return {**nvidia(driver, RTX_3090), "PIP_INDEX_URL": f"{ext_pypi.url}/simple",
                "LTT_EXTENSION_MIRRORS": extension_replica.mirrors(pyg.url)}
    return make


def ltt_lines(result):
    return [line for line in result.output.splitlines() if "ltt-hook" in line]


def test_torch_free_extension_behind_torch_follows_the_extension(hook_venv, env, pyg):
    pyg.clear()
    result = hook_venv.pip("install", "torch", "torchvision", "torch-scatter", env=env())
    assert result.returncode == 0, result.output
    # torch 2.11's best build for driver 550 is cu129 (CUDA 12.9), which 2.14 no longer has.
    assert (result.chosen["torch"], result.chosen["torchvision"], result.chosen["torch-scatter"]) == (
        "2.11.0+cu129", "0.26.0+cu129", f"{SCATTER}+pt211cu129"), result.output
    (line,) = ltt_lines(result)
    assert "torch-scatter has no wheels for torch 2.14+cu126 on PyG's pages; choosing torch 2.11+cu129" in line
    assert "pin torch, such as torch==2.14.*, to choose otherwise" in line
    # PyG's listing spares the pages that do not exist: the listing, the 2.14 and 2.13 pages
    # that lack torch-scatter, the 2.11 page (read again by pip as the find-links page).
    html = [p for _, p, _, _ in pyg.requests if p.endswith(".html")]
    assert html[0] == "/pyg/whl/index.html" and len(html) <= 5, html


def test_the_page_exists_but_lacks_the_project(hook_venv, env):
    # Driver 580: PyG's page for torch 2.14+cu132 exists with pyg-lib only.
    result = hook_venv.pip("install", "torch", "torch-scatter", env=env("580.65.06"))
    assert result.returncode == 0, result.output
    assert (result.chosen["torch"], result.chosen["torch-scatter"]) == ("2.11.0+cu130", f"{SCATTER}+pt211cu130")
    # pyg-lib has wheels for the newest torch: nothing holds torch back.
    result = hook_venv.pip("install", "torch", "pyg-lib", env=env("580.65.06"))
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == "2.14.1+cu132"
    assert result.chosen["pyg-lib"] == f"{extension_replica.PYG['pyg-lib']}+pt214cu132"


def test_torch_fixed_stops_before_a_source_build_in_one_line(hook_venv, env):
    line = fails_in_one_line(hook_venv, "torch==2.14.1", "torch-scatter", env=env())
    assert "torch-scatter has no wheel for torch 2.14+cu126 on PyG's pages" in line, line
    assert "the newest torch release with one is 2.11" in line and "install torch==2.11.* with it" in line
    assert "--no-binary torch-scatter" in line
    # Asked for a source build: it is the user's.
    result = hook_venv.pip("install", "--no-binary", "torch-scatter", "torch==2.14.1", "torch-scatter", env=env())
    assert "as --no-binary asks" in result.output and "has no wheel for torch 2.14+cu126 on PyG" in result.output


def test_a_users_page_for_another_torch_is_named_with_the_torch_it_meets(hook_venv, env, pyg):
    page = f"{pyg.url}/pyg/whl/torch-2.5.0+cu124.html"
    result = hook_venv.pip("install", "-f", page, "torch", "torch-scatter", env=env())
    assert result.returncode == 0, result.output
    assert result.chosen["torch-scatter"] == f"{SCATTER}+pt25cu124"
    warned = [line for line in ltt_lines(result) if "is built for another torch" in line]
    assert len(warned) == 1, result.output
    assert f"torch-scatter {SCATTER}+pt25cu124 is built for another torch than torch {result.chosen['torch']}" in warned[0]


def test_the_report_shows_each_publishers_newest_page_for_this_backend(hook_venv, env):
    shown = hook_venv.run(hook_venv.python, "-m", "ltt_hook", env=env())
    assert shown.returncode == 0, shown.output
    pyg = next(line for line in shown.stdout.splitlines() if line.strip().startswith("PyG:"))
    assert pyg.endswith("(its newest page for this backend: torch 2.14)"), pyg  # from PyG's listing
