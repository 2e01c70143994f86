"""What pip will really hold decides everything downstream of torch (issue 18).

The index is read for what it offers (its channel page of each project lists every backend's
builds), an installed torch says what it is from its own files, and the torch pip picks, not the
tables' first guess, chooses the extension pages. Real pip in real virtualenvs against loopback
replicas: indexes that drop backends from one release to the next, PyPI's unlabelled builds with
the ``Requires-Dist`` the registry shows, and PyPI's torch installed before the hook was asked.
"""

from __future__ import annotations

import shutil

import pytest
from packaging.version import Version

from ltt_hook.installed import backend_from_requirements, backend_from_version_py
from support import extension_replica, replica
from support.harness import newest_release, test_python, write_config

PY = test_python()
NEWEST = newest_release()
RTX_3090 = ("8.6", "NVIDIA GeForce RTX 3090")
GH200 = ("9.0", "NVIDIA GH200 480GB")
ARM = {"_PYTHON_HOST_PLATFORM": "linux-aarch64"}
needs_py310 = pytest.mark.skipif(PY.version < (3, 10), reason="torch 2.10+ has no wheels for Python 3.9")


def index_pages(server, project="torch"):
    return [path for _, path, _, _ in server.requests if path.endswith(f"/{project}/")]


# --------------------------------------------------------------------------- the installed torch's own files


def test_pypis_requires_dist_names_the_cuda_build_as_the_registry_shows_it():
    # Strings as the registry's metadata has them (pip install --dry-run --report --platform ...).
    toolkit = ('cuda-toolkit[cublas,cudart,cufft,cufile,cupti,curand,cusolver,cusparse,nvjitlink,nvrtc,nvtx]'
               '==13.0.3; platform_system == "Linux"')
    assert backend_from_requirements(["filelock", toolkit])[0].name == "cu130"
    assert backend_from_requirements([toolkit.replace("13.0.3", "13.2.2")])[0].name == "cu132"
    x86_only = 'nvidia-cuda-runtime-cu12==12.8.90; platform_system == "Linux" and platform_machine == "x86_64"'
    assert backend_from_requirements([x86_only])[0].name == "cu128"  # this machine is Linux x86_64
    assert backend_from_requirements([x86_only.replace("x86_64", "aarch64")]) is None  # 2.10 on aarch64: CPU
    assert backend_from_requirements(["filelock", "sympy>=1.13.3"]) is None


def test_torch_version_py_names_the_build_of_any_origin():
    assert backend_from_version_py("__version__ = '2.5.1+cu124'\ncuda: Optional[str] = '12.4'\n")[0].name == "cu124"
    conda = "__version__ = '2.5.1'\ndebug = False\ncuda: Optional[str] = '12.6'\nhip: Optional[str] = None\n"
    assert backend_from_version_py(conda)[0].name == "cu126"
    assert backend_from_version_py("__version__ = '2.5.1'\ncuda = None\nhip = '6.2.41134-65d174c3e'\n")[0].name == "rocm6.2"
    assert backend_from_version_py("__version__ = '2.5.1'\ncuda = None\n") is None


@pytest.fixture
def pypi_torch_venv(fresh_venv):
    """A virtualenv holding PyPI's torch, installed before the hook had a say (LTT_DISABLE=1)."""
    result = fresh_venv.pip("install", f"torch=={NEWEST.torch}", report=False, env={"LTT_DISABLE": "1"})
    assert result.returncode == 0, result.output
    assert fresh_venv.installed()["torch"] == NEWEST.torch  # unlabelled: PyPI's build
    return fresh_venv


def test_pypis_installed_torch_keeps_its_companions_on_its_own_cuda_build(pypi_torch_venv, nvidia):
    flavour = replica._pypi_cuda_flavour(NEWEST.torch)  # cu130 for 2.14.1: its metadata says CUDA 13.0
    for machine in ({}, nvidia("550.54.14", RTX_3090)):  # no GPU; a GPU whose driver cannot run CUDA 13
        result = pypi_torch_venv.pip("install", "torchvision", env=machine)
        assert result.returncode == 0, result.output
        assert result.chosen["torchvision"] == f"{NEWEST.torchvision}+{flavour}", result.output
        assert "torch" not in result.chosen  # the installed torch stays; its companion matches it
        lines = [line for line in result.output.splitlines() if "cannot use this machine" in line]
        assert len(lines) == 1 and f"is a {flavour} build" in lines[0], result.output
        assert f"pip install --force-reinstall torch=={NEWEST.torch}" in lines[0]
    check = pypi_torch_venv.run(pypi_torch_venv.python, "-m", "ltt_hook", "check", env=nvidia("550.54.14", RTX_3090))
    assert check.returncode == 1, check.output
    assert f"built for {flavour}; torch/version.py" in check.stdout and "It cannot use this machine" in check.stdout


@needs_py310
def test_pypis_aarch64_torch_from_2_11_is_a_cuda_build(fresh_venv, nvidia, nvml_lib, tmp_path):
    if Version(NEWEST.torch) < Version("2.11") or not NEWEST.aarch64:
        pytest.skip("the newest replica release has no aarch64 CUDA build on PyPI")
    from support import gpu

    arm_gh200 = {**gpu.nvml_env(nvml_lib, driver="580.65.06", gpus=[gpu.GH200]), **ARM,
                 "LTT_SYSROOT": str(gpu.make_sysroot(tmp_path / "sysroot"))}
    result = fresh_venv.pip("install", f"torch=={NEWEST.torch}", report=False, env={"LTT_DISABLE": "1", **ARM})
    assert result.returncode == 0, result.output
    check = fresh_venv.run(fresh_venv.python, "-m", "ltt_hook", "check", env=arm_gh200)
    assert check.returncode == 0, check.output  # a CUDA 13.0 build on a GH200: it fits
    assert "(built for cu130;" in check.stdout and "It fits this machine." in check.stdout
    result = fresh_venv.pip("install", "-v", "torchvision", env=arm_gh200)
    assert result.returncode == 0, result.output
    assert result.chosen["torchvision"] == f"{NEWEST.torchvision}+cu130" and "torch" not in result.chosen, result.output


# --------------------------------------------------------------------------- releases that drop backends


def _index(root, *releases):
    replica.build_pytorch_index(root, releases=list(releases), python_tags=[PY.tag], nightly=False, test=False)
    return root


@needs_py310
@pytest.mark.parametrize("newest", ["2.15.0", "2.16.0"], ids=["known-release", "release-the-tables-lack"])
def test_the_newest_release_is_found_on_whichever_page_holds_it(hook_venv, nvidia, tmp_path, newest):
    # 2.14.1 has cu132; the newest release has only cpu, cu126 and cu130. The tables rank cu134
    # and cu132 first: the offer shows the newest release is on cu130 only.
    older = replica.Release("2.14.1", "0.29.1", None, ("cpu", "cu126", "cu130", "cu132"), "manylinux_2_28_x86_64")
    vision = f"0.{int(newest.split('.')[1]) + 15}.0"  # torchvision 0.(m+15) belongs to torch 2.m
    new = replica.Release(newest, vision, None, ("cpu", "cu126", "cu130"), "manylinux_2_28_x86_64")
    with replica.IndexServer(_index(tmp_path / "idx", older, new)) as index:
        env = {**nvidia("580.65.06", RTX_3090), "LTT_INDEX_URL": f"{index.url}/whl"}
        result = hook_venv.pip("install", "torch", env=env)
        assert result.returncode == 0, result.output
        assert result.chosen["torch"] == f"{newest}+cu130", result.output
        # One request more than `pip install --index-url <index>/cu130 torch`: the project's page.
        # (A release the tables lack also has its variants page asked for, as before.)
        assert [p for p in index_pages(index) if "/variant/" not in p] == ["/whl/torch/", "/whl/cu130/torch/"]
        index.clear()
        result = hook_venv.pip("install", "torch", "torchvision", env=env)
        assert (result.chosen["torch"], result.chosen["torchvision"]) == (f"{newest}+cu130", f"{new.torchvision}+cu130")
        asked = [p for p in index_pages(index) + index_pages(index, "torchvision") if "/variant/" not in p]
        assert len(asked) == 3, asked  # hand-written: 2
        # python -m ltt_hook says what pip does, and that the index is ahead of the tables.
        shown = hook_venv.run(hook_venv.python, "-m", "ltt_hook", env=env)
        assert shown.returncode == 0, shown.output
        assert f"would now install torch {newest[:4]}.x+cu130" in shown.stdout, shown.stdout
        if newest == "2.16.0":
            assert "the index holds torch 2.16.0, newer than ltt-hook's tables (they end at 2.15)" in shown.stdout
        exported = hook_venv.run(hook_venv.python, "-m", "ltt_hook", "index-url", env=env)
        assert exported.stdout.strip() == f"{index.url}/whl/cu130", exported.output


# --------------------------------------------------------------------------- extensions follow pip's torch


@needs_py310
def test_extension_pages_follow_the_torch_pip_installs_not_the_tables_first_guess(hook_venv, nvidia, index_root,
                                                                                    tmp_path, pypi):
    # A mirror without cu132 (and without the project pages): the tables rank cu132 first, pip
    # installs 2.14.1+cu130, and pyg-lib must come from PyG's page for torch 2.14+cu130.
    if NEWEST.torch != "2.14.1":
        pytest.skip("written for torch 2.14.1")
    mirror = tmp_path / "mirror"
    for sub in ("whl/cpu", "whl/cu126", "whl/cu130"):
        shutil.copytree(index_root / sub, mirror / sub)
    ext_root = extension_replica.build(tmp_path / "ext", [PY.wheel_tags], no_page="none")
    with replica.IndexServer(mirror) as index, replica.IndexServer(ext_root) as ext:
        env = {**nvidia("580.65.06", RTX_3090), "LTT_INDEX_URL": f"{index.url}/whl",
               "LTT_EXTENSION_MIRRORS": extension_replica.mirrors(ext.url)}
        result = hook_venv.pip("install", "-v", "torch", "pyg-lib", env=env)
        assert result.returncode == 0, result.output
        assert result.chosen["torch"] == "2.14.1+cu130"
        assert result.chosen["pyg-lib"] == f"{extension_replica.PYG['pyg-lib']}+pt214cu130", result.output
        assert "torch-2.14.0+cu130.html, built for torch 2.14+cu130 (the torch this run installs)" in result.output


# --------------------------------------------------------------------------- every source of pip's options


def test_the_report_and_exports_honour_pips_own_option_sources(hook_venv, nvidia, tmp_path):
    machine = nvidia("550.54.14", RTX_3090)
    index_url = hook_venv.base_env["LTT_INDEX_URL"]
    shown = hook_venv.run(hook_venv.python, "-m", "ltt_hook", "index-url", env={**machine, "PIP_CPUONLY": "1"})
    assert shown.stdout.strip() == f"{index_url}/cpu", shown.output
    conf = write_config(tmp_path / "pip.conf", {"install": {"pytorch-computation-backend": "cu126"},
                                                "ltt": {"backend": "cu130"}})
    shown = hook_venv.run(hook_venv.python, "-m", "ltt_hook", "index-url", env={**machine, "PIP_CONFIG_FILE": str(conf)})
    assert shown.stdout.strip() == f"{index_url}/cu126", shown.output
    pip = hook_venv.pip("install", "torch", env={**machine, "PIP_CONFIG_FILE": str(conf)})
    assert pip.chosen["torch"].endswith("+cu126")  # what pip does, the export says
