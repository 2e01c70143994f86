"""Extension packages get the wheels built for the torch they will run with (issue 14).

Real pip in real virtualenvs, loopback replicas of the PyG, DGL and OpenMMLab page layouts
(tests/support/extension_replica.py) pointed at through ``LTT_EXTENSION_MIRRORS``, and a PyPI
stand-in that holds what PyPI holds for these projects (a pure wheel standing in for the sdist).
"""

from __future__ import annotations

import json

import pytest
from packaging.version import Version

from ltt_hook import config as config_mod, extension_sources
from ltt_hook.backends import parse_backend
from support import extension_replica, replica
from support.harness import fails_in_one_line, newest_release, releases_for, test_python, write_config

PY = test_python()
NEWEST = newest_release().torch  # no extension page anywhere for this torch
NO_PAGE = ".".join(NEWEST.split(".")[:2])
WITH_PAGE = ".".join(releases_for()[-2].torch.split(".")[:2])  # the release before it has pages
RTX_3090 = {"LTT_CUDA_DRIVER_VERSION": "550.54.14", "LTT_CUDA_COMPUTE_CAPABILITIES": "8.6"}
CPU = {"LTT_PYTORCH_COMPUTATION_BACKEND": "cpu"}


# --------------------------------------------------------------------------- the table


def test_every_row_cites_a_public_source_and_spells_the_publishers_urls():
    table = {s.id: s for s in extension_sources.TABLE}
    assert all(s.source for s in extension_sources.TABLE)
    cu124, cu121, cpu = parse_backend("cu124"), parse_backend("cu121"), parse_backend("cpu")
    assert extension_sources.page_url(table["pyg"], Version("2.5"), cu124) == "https://data.pyg.org/whl/torch-2.5.0+cu124.html"
    assert extension_sources.expected_label(table["pyg"], Version("2.5"), cu124) == "pt25cu124"
    assert extension_sources.expected_label(table["pyg"], Version("1.13"), cpu) == "pt113cpu"
    assert extension_sources.page_url(table["dgl"], Version("2.4"), cu124) == "https://data.dgl.ai/wheels/torch-2.4/cu124/repo.html"
    assert extension_sources.page_url(table["dgl"], Version("2.4"), cpu) == "https://data.dgl.ai/wheels/torch-2.4/repo.html"
    assert (extension_sources.page_url(table["openmmlab"], Version("2.1"), cu121)
            == "https://download.openmmlab.com/mmcv/dist/cu121/torch2.1/index.html")
    assert extension_sources.page_url(table["pyg"], Version("2.5"), parse_backend("rocm6.2")) is None  # no ROCm builds
    for project in ("torch-scatter", "torch-sparse", "torch-cluster", "torch-spline-conv", "pyg-lib", "dgl", "mmcv"):
        assert any(project in s.projects for s in extension_sources.TABLE), project


def test_ltt_extensions_syntax_and_its_errors():
    cfg = config_mod.load(environ={
        "LTT_EXTENSIONS": "acme-ops, Acme_Kernels = https://wheels.example/t-{torch}/{backend}/ label=pt{major}{minor}{backend}"
                          "; other = https://o.example/{backend}/torch{major}.{minor}/ cpu=https://o.example/cpu/ backends=cpu",
        "LTT_EXTENSION_MIRRORS": "pyg=https://mirror.example/pyg/whl/",
    }, configuration=_NoFiles())
    acme, other = cfg.extensions
    assert acme.projects == ("acme-ops", "acme-kernels") and acme.label == "pt{major}{minor}{backend}"
    assert extension_sources.page_url(acme, Version("2.5"), parse_backend("cu124")) == "https://wheels.example/t-2.5.0/cu124/"
    assert extension_sources.page_url(other, Version("2.5"), parse_backend("cpu")) == "https://o.example/cpu/"
    assert extension_sources.page_url(other, Version("2.5"), parse_backend("cu124")) is None  # backends=cpu
    pyg = extension_sources.source_for(cfg, "torch_scatter")
    assert pyg is not None and pyg.base == "https://mirror.example/pyg/whl"
    bad = {"x = https://e.example/{cuda}/": "templates know {torch}, {major}, {minor} and {backend}",
           "torchvision = https://e.example/{backend}/": "belongs to the PyTorch index",
           "x https://e.example/": "not 'PROJECT",
           "x = ftp://e.example/": "not an http(s):// or file:// URL",
           "x = https://e.example/ flavour=1": "not label=, cpu= or backends="}
    for value, message in bad.items():
        with pytest.raises(config_mod.ConfigError, match="environment variable LTT_EXTENSIONS") as info:
            config_mod.load(environ={"LTT_EXTENSIONS": value}, configuration=_NoFiles())
        assert message in str(info.value)
    with pytest.raises(config_mod.ConfigError, match="ID one of detectron2, dgl, openmmlab, pyg"):
        config_mod.load(environ={"LTT_EXTENSION_MIRRORS": "pyh=https://m.example/"}, configuration=_NoFiles())


class _NoFiles:
    _parsers: dict = {}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ext_server(tmp_path_factory):
    root = extension_replica.build(tmp_path_factory.mktemp("extensions"), sorted({PY.wheel_tags, "cp311-cp311"}),
                                   no_page=NO_PAGE)
    with replica.IndexServer(root) as server:
        yield server


@pytest.fixture(scope="module")
def ext_env(ext_server, ext_pypi):
    return {"PIP_INDEX_URL": f"{ext_pypi.url}/simple", "LTT_EXTENSION_MIRRORS": extension_replica.mirrors(ext_server.url)}


@pytest.fixture
def torch_25_venv(fresh_venv, ext_env):
    """A virtualenv where torch 2.5.1+cu124 is really installed."""
    fresh_venv.base_env.update(ext_env)
    result = fresh_venv.pip("install", "torch==2.5.1+cu124", report=False)
    assert result.returncode == 0, result.output
    return fresh_venv


def _paths(server):
    return sorted({p for _, p, _, _ in server.requests})


# --------------------------------------------------------------------------- item 2: plain pip does the right thing


def test_the_installed_torch_decides_for_pyg_dgl_and_mmcv(torch_25_venv, ext_server):
    ext_server.clear()
    result = torch_25_venv.pip("install", "torch-scatter", "torch-sparse", "pyg-lib", "dgl", "mmcv")
    assert result.returncode == 0, result.output
    chosen = result.chosen
    assert chosen["torch-scatter"] == "2.1.2+pt25cu124" and chosen["torch-sparse"] == "0.6.18+pt25cu124"
    assert chosen["pyg-lib"] == "0.4.0+pt25cu124"
    assert chosen["dgl"] == "2.4.0+cu124"
    assert chosen["mmcv"] == "2.1.0"  # the page's build beats PyPI's newer 2.2.0 (an sdist there)
    assert "/pyg/whl/torch-2.5.0%2Bcu124/torch_scatter-2.1.2%2Bpt25cu124-" in result.url("torch-scatter")
    assert "/openmmlab/mmcv/dist/cu124/torch2.5/mmcv-2.1.0-" in result.url("mmcv")
    pages = [p for p in _paths(ext_server) if p.endswith(".html")]
    assert pages == ["/dgl/wheels/torch-2.5/cu124/repo.html", "/openmmlab/mmcv/dist/cu124/torch2.5/index.html",
                     "/pyg/whl/torch-2.5.0+cu124.html"]
    assert "ltt-hook" not in result.output
    # torch named again, and the installed one satisfies it: pip keeps it, and it decides.
    again = torch_25_venv.pip("install", "torch>=2.5,<2.6", "torch-scatter")
    assert again.returncode == 0, again.output
    assert again.chosen["torch-scatter"] == "2.1.2+pt25cu124" and "torch" not in again.chosen


@pytest.mark.parametrize("requirement, machine, label", [
    ("torch==2.5.1", RTX_3090, "pt25cu124"),
    ("torch==2.5.1", CPU, "pt25cpu"),
    ("torch==2.5.1+cu118", {}, "pt25cu118"),
])
def test_torch_in_the_same_request_decides(hook_venv, ext_env, requirement, machine, label):
    result = hook_venv.pip("install", requirement, "torch-scatter", env={**ext_env, **machine})
    assert result.returncode == 0, result.output
    assert result.chosen["torch-scatter"] == f"2.1.2+{label}"
    assert result.chosen["torch"].endswith(label[4:])


def test_no_page_for_the_torch_the_hook_would_install_holds_torch_back(hook_venv, ext_env, ext_server):
    # torch is free (not installed, not pinned): the newest release with a page decides (issue 20).
    ext_server.clear()
    result = hook_venv.pip("install", "torch-scatter", env={**ext_env, **CPU})
    assert result.returncode == 0, result.output
    assert result.chosen["torch-scatter"] == f"2.1.2+pt{WITH_PAGE.replace('.', '')}cpu"
    # PyG's listing, then only pages that exist
    html = [p for p in _paths(ext_server) if p.endswith(".html")]
    assert html[0] == "/pyg/whl/index.html" and f"/pyg/whl/torch-{NO_PAGE}.0+cpu.html" not in html, html


def test_torch_pinned_to_a_release_without_a_page_stops_in_one_line(hook_venv, ext_env, ext_server):
    line = fails_in_one_line(hook_venv, f"torch=={NEWEST}", "torch-scatter", env={**ext_env, **CPU})
    assert f"torch-scatter has no wheel for torch {NO_PAGE}+cpu on PyG's pages" in line, line
    assert f"the newest torch release with one is {WITH_PAGE} ({ext_server.url}/pyg/whl/torch-{WITH_PAGE}.0+cpu.html)" in line


def test_an_extension_page_is_consulted_only_for_its_own_projects(hook_venv, ext_env, ext_server):
    ext_server.clear()
    result = hook_venv.pip("install", "filelock", "torch==2.5.1", env={**ext_env, **CPU})
    assert result.returncode == 0, result.output
    assert ext_server.requests == []
    result = hook_venv.pip("install", "torch==2.5.1", "torch-scatter", env={**ext_env, **CPU})
    assert result.returncode == 0, result.output
    assert {p for p in _paths(ext_server) if p.endswith(".html")} == {"/pyg/whl/torch-2.5.0+cpu.html"}


@pytest.mark.parametrize("fault, project, page", [
    ("500", "torch-scatter", "/pyg/whl/torch-2.5.0+cpu.html"),
    ("garbage", "mmcv", "/openmmlab/mmcv/dist/cpu/torch2.5/index.html"),  # the replica garbles index.html pages
])
def test_an_unreadable_page_stops_pip(hook_venv, ext_env, ext_server, fault, project, page):
    ext_server.fault = fault
    try:
        result = hook_venv.pip("install", "torch==2.5.1", project, env={**ext_env, **CPU})
    finally:
        ext_server.fault = None
    assert result.returncode == 1
    errors = [line for line in result.output.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, result.output
    assert errors[0].startswith(f"ERROR: ltt-hook: could not read the extension page {ext_server.url}{page}: "), errors
    assert f"Nothing was installed; {project} is not taken from other pages instead (point [ltt] extension-mirrors" in errors[0]
    assert errors[0].endswith("or set LTT_DISABLE=1 to leave it to your indexes)")


def test_a_page_that_is_not_https_stops_pip(hook_venv, ext_env):
    env = {**ext_env, **CPU, "LTT_EXTENSIONS": "acme-ops = http://wheels.example.invalid/{backend}/"}
    result = hook_venv.pip("install", "torch==2.5.1", "acme-ops", env=env)
    assert result.returncode == 1
    assert ("ERROR: ltt-hook: the extension page http://wheels.example.invalid/cpu/ (your [ltt] extensions) is not "
            "HTTPS; add --trusted-host for its host if you trust it. Nothing was installed.") in result.output


def test_a_user_defined_source_in_ltt_works_end_to_end(hook_venv, ext_env, ext_server, tmp_path):
    conf = write_config(tmp_path / "pip.conf", {"ltt": {"extensions": "\n    " + extension_replica.user_source(ext_server.url)}})
    env = {**ext_env, **RTX_3090, "PIP_CONFIG_FILE": str(conf)}
    result = hook_venv.pip("install", "torch==2.5.1", "acme-ops", env=env)
    assert result.returncode == 0, result.output
    assert result.chosen["acme-ops"] == "1.0+pt25cu124"
    assert f"{ext_server.url}/acme/torch-2.5.0/cu124/" in result.url("acme-ops")
    shown = hook_venv.run(hook_venv.python, "-m", "ltt_hook", env=env)
    assert f"acme-ops: {ext_server.url}/acme/torch-" in shown.stdout, shown.output


# --------------------------------------------------------------------------- items 3 and 4


def test_replacing_torch_names_the_extensions_and_check_reports_them(torch_25_venv, ext_server):
    venv = torch_25_venv
    venv.base_env.update(RTX_3090)
    assert venv.pip("install", "torch-scatter", "dgl", report=False).returncode == 0
    assert venv.installed()["torch-scatter"] == "2.1.2+pt25cu124"
    check = venv.run(venv.python, "-m", "ltt_hook", "check")
    assert check.returncode == 0, check.output
    assert "torch-scatter 2.1.2+pt25cu124 matches the installed torch." in check.stdout

    newer = next(r.torch for r in releases_for() if Version(r.torch) > Version("2.5.1"))
    dry = venv.pip("install", f"torch=={newer}")
    assert dry.returncode == 0, dry.output
    lines = [line for line in dry.output.splitlines() if "replaces torch" in line]
    assert len(lines) == 1, dry.output
    assert f"this run replaces torch 2.5.1+cu124 with {dry.chosen['torch']}" in lines[0]
    assert "torch-scatter 2.1.2+pt25cu124, dgl 2.4.0+cu124 were built for the old torch" in lines[0]
    assert lines[0].endswith("-m pip install --force-reinstall --no-deps torch-scatter dgl")

    assert venv.pip("install", f"torch=={newer}", report=False).returncode == 0
    check = venv.run(venv.python, "-m", "ltt_hook", "check")
    assert check.returncode == 1, check.output
    minor = "".join(newer.split(".")[:2])
    assert "torch-scatter 2.1.2+pt25cu124 does not match the installed torch: built for +pt25cu124" in check.stdout
    assert f"needs +pt{minor}" in check.stdout
    fix = next(line for line in check.stdout.splitlines() if line.startswith("Fix: "))
    assert fix.endswith("-m pip install --force-reinstall --no-deps torch-scatter dgl"), fix
    fixed = venv.run(venv.python, "-m", "pip", *fix.split(" -m pip ", 1)[1].split())
    # DGL has no wheel for the new torch: pip stops before a source build, naming it (issue 20)
    assert fixed.returncode == 1 and f"dgl has no wheel for torch {newer[:-2]}" in fixed.output, fixed.output
    fixed = venv.run(venv.python, "-m", "pip", *fix.split(" -m pip ", 1)[1].replace(" dgl", "").split())
    assert fixed.returncode == 0, fixed.output
    assert venv.installed()["torch-scatter"].startswith(f"2.1.2+pt{minor}")


def test_report_lists_the_sources_and_requirements_export_has_their_find_links(hook_venv, ext_env, ext_server):
    env = {**ext_env, **CPU}
    shown = hook_venv.run(hook_venv.python, "-m", "ltt_hook", env=env)
    assert shown.returncode == 0, shown.output
    assert f"Extension pages for torch {NO_PAGE}+cpu" in shown.stdout, shown.stdout
    assert f"PyG: torch-scatter, torch-sparse, torch-cluster, torch-spline-conv, pyg-lib: {ext_server.url}/pyg/whl/torch-{NO_PAGE}.0+cpu.html" in shown.stdout
    info = json.loads(hook_venv.run(hook_venv.python, "-m", "ltt_hook", "--json", env=env).stdout)
    assert info["extensions"]["torch"] == f"{NO_PAGE}+cpu"
    req = hook_venv.run(hook_venv.python, "-m", "ltt_hook", "requirements", "torch==2.5.1", "torch-scatter", "dgl", env=env)
    assert req.returncode == 0, req.output
    lines = req.stdout.splitlines()
    assert f"--find-links {ext_server.url}/pyg/whl/torch-2.5.0+cpu.html" in lines
    assert f"--find-links {ext_server.url}/dgl/wheels/torch-2.5/repo.html" in lines
    assert "torch-scatter==2.1.2+pt25cpu" in lines and "dgl==2.4.0" in lines, req.stdout
