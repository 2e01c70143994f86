"""Where packages really come from: company mirrors with a repository per backend, NVIDIA's
Jetson index, bad templates (issue 19). Each recipe of docs/mirrors.md is one test here.

Real pip in real virtualenvs; a real devpi-server (tests/requirements.txt) mirroring the suite's
replica; the Artifactory and Nexus path shapes served from the same replica tree.
"""

from __future__ import annotations

import os
from urllib.parse import unquote

import pytest

from support import devpi, gpu, replica
from support.harness import fails_in_one_line, newest_release, test_python

PY = test_python()
NEWEST = newest_release()
RTX_3090 = ("8.6", "NVIDIA GeForce RTX 3090")
ARM = {"_PYTHON_HOST_PLATFORM": "linux-aarch64"}
BACKENDS = ("cpu", "cu126", "cu130")  # a mirror that holds three of the index's backend pages


@pytest.fixture(scope="module")
def devpi_mirror(tmp_path_factory, pytorch_index):
    if not devpi.available():
        pytest.fail("devpi-server and devpi-client must be installed (tests/requirements.txt)")
    with devpi.DevpiServer(tmp_path_factory.mktemp("devpi"), f"{pytorch_index.url}/whl", BACKENDS) as server:
        yield server


def _expected(driver_580: bool) -> str:
    if NEWEST.torch == "2.14.1":
        return "cu130" if driver_580 else "cu126"
    return "cu126"  # 2.8.0 (Python 3.9) has no CUDA 13 build: the mirror's best is cu126


def test_recipe_devpi_a_repository_per_backend(hook_venv, nvidia, devpi_mirror):
    env = {"LTT_INDEX_URL": devpi_mirror.index_url()}
    # Driver 580: the tables rank cu132 first; the mirror has no pytorch-cu132 (HTTP 404): next backend.
    result = hook_venv.pip("install", "torch", "torchvision", env={**nvidia("580.65.06", RTX_3090), **env})
    assert result.returncode == 0, result.output
    backend = _expected(True)
    assert result.chosen["torch"] == f"{NEWEST.torch}+{backend}", result.output
    assert result.chosen["torchvision"] == f"{NEWEST.torchvision}+{backend}"
    assert "/+f/" in unquote(result.url("torch")) and result.url("torch").startswith(devpi_mirror.url)
    line = next(line for line in result.output.splitlines() if line.startswith("ltt-hook: PyTorch packages"))
    assert f"{devpi_mirror.url}/root/pytorch-{backend}/+simple" in line
    result = hook_venv.pip("install", "torch", env={**nvidia("550.54.14", RTX_3090), **env})
    assert result.chosen["torch"] == f"{NEWEST.torch}+{_expected(False)}"
    shown = hook_venv.run(hook_venv.python, "-m", "ltt_hook", "index-url", env={**nvidia("550.54.14", RTX_3090), **env})
    assert shown.stdout.strip() == f"{devpi_mirror.url}/root/pytorch-cu126/+simple", shown.output


@pytest.fixture(scope="module")
def shaped_mirror(tmp_path_factory, index_root):
    """The replica's tree under Artifactory's and Nexus's repository paths (symlinks to it)."""
    root = tmp_path_factory.mktemp("shapes")
    os.symlink(index_root / "whl", root / "whl")  # the files the pages link (absolute /whl/... hrefs)
    for backend in BACKENDS:
        for repo in (root / "artifactory" / "api" / "pypi" / f"pytorch-{backend}", root / "repository" / f"pytorch-{backend}"):
            repo.mkdir(parents=True)
            os.symlink(index_root / "whl" / backend, repo / "simple")
    with replica.IndexServer(root, missing="404") as server:
        yield server


@pytest.mark.parametrize("template", ["/artifactory/api/pypi/pytorch-{backend}/simple",
                                      "/repository/pytorch-{backend}/simple"], ids=["artifactory", "nexus"])
def test_recipe_artifactory_and_nexus(hook_venv, nvidia, shaped_mirror, template):
    env = {**nvidia("580.65.06", RTX_3090), "LTT_INDEX_URL": shaped_mirror.url + template}
    result = hook_venv.pip("install", "torch", env=env)
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == f"{NEWEST.torch}+{_expected(True)}", result.output
    asked = [p for _, p, _, _ in shaped_mirror.requests if p.endswith("/torch/")]
    assert asked[-1] == template.replace("{backend}", _expected(True)) + "/torch/", asked


@pytest.mark.parametrize("value, says", [
    ("https://{backend}.mirror.example/simple", "a placeholder can only stand in the path"),
    ("https://mirror.example/pytorch-{cuda}/simple", "{cuda} is not a placeholder ltt-hook fills"),
])
def test_a_bad_template_is_one_line_naming_the_setting(hook_venv, value, says):
    line = fails_in_one_line(hook_venv, "torch", env={"LTT_INDEX_URL": value})
    assert "environment variable LTT_INDEX_URL" in line and says in line, line


def test_recipe_jetson_orin_on_nvidias_devpi_index(hook_venv, nvml_lib, tmp_path):
    # A devpi-shaped stand-in of pypi.jetson-ai-lab.io: jp6/cu126/+simple/torch/ holds NVIDIA's
    # unlabelled Jetson build of torch 2.8.0 (linux_aarch64).
    root = tmp_path / "jetson"
    files = root / "root" / "+f"
    wheel = replica.make_wheel(files, "torch", "2.8.0", f"{PY.wheel_tags}-linux_aarch64", ("filelock",))
    page = root / "jp6" / "cu126" / "+simple" / "torch"
    page.mkdir(parents=True)
    page.joinpath("index.html").write_text(f'<html><body><a href="../../../../root/+f/{wheel.name}">{wheel.name}</a>'
                                           "</body></html>")
    filelock = root / "jp6" / "cu126" / "+simple" / "filelock"
    filelock.mkdir(parents=True)
    lock = replica.make_wheel(files, "filelock", "3.20.0")
    filelock.joinpath("index.html").write_text(f'<a href="../../../../root/+f/{lock.name}">{lock.name}</a>')
    sysroot = gpu.make_sysroot(tmp_path / "sysroot", device_tree=gpu.AGX_ORIN, model=gpu.AGX_ORIN_MODEL,
                               tegra_release=gpu.L4T_R36)
    with replica.IndexServer(root, missing="404") as jetson:
        machine = {**ARM, "LTT_SYSROOT": str(sysroot)}
        # What the hook's note says to set, with this stand-in's host:
        shown = hook_venv.run(hook_venv.python, "-m", "ltt_hook", env=machine)
        assert "[ltt] index-url = https://pypi.jetson-ai-lab.io/jp6/{backend}/+simple and backend = cu126" in shown.stdout
        env = {**machine, "LTT_INDEX_URL": f"{jetson.url}/jp6/{{backend}}/+simple",
               "LTT_PYTORCH_COMPUTATION_BACKEND": "cu126", "PIP_INDEX_URL": f"{jetson.url}/jp6/cu126/+simple"}
        result = hook_venv.pip("install", "torch", env=env)
        assert result.returncode == 0, result.output
        assert result.chosen["torch"] == "2.8.0" and unquote(result.url("torch")).endswith(f"/root/+f/{wheel.name}")
        assert "cannot run" not in result.output  # NVIDIA's Jetson builds: PyTorch's tables say nothing of them


# --------------------------------------------------------------------------- your own index URLs


def test_your_own_index_url_of_a_backend_repository_is_your_pytorch_index(hook_venv, nvidia, shaped_mirror, pypi):
    # Driver 580 would take cu132 from the configured index; the user names a cu126 repository.
    url = f"{shaped_mirror.url}/artifactory/api/pypi/pytorch-cu126/simple"
    result = hook_venv.pip("install", "--index-url", url, "--extra-index-url", f"{pypi.url}/simple", "torch",
                           env=nvidia("580.65.06", RTX_3090))
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == f"{NEWEST.torch}+cu126" and result.url("torch").startswith(shaped_mirror.url)


def test_an_index_named_after_a_backend_without_labelled_builds_is_no_source(hook_venv, shaped_mirror, pypi, tmp_path):
    # PyPI's unlabelled torch under a repository that happens to be named "…-cpu": not a PyTorch index.
    link = shaped_mirror.root / "pypi-cpu"
    if not link.exists():
        os.symlink(pypi.root, link)
    url = f"{shaped_mirror.url}/pypi-cpu/simple"
    line = fails_in_one_line(hook_venv, "--index-url", url, "torch")
    assert f"your index {url} is named after the PyTorch backend cpu" in line, line
    assert f"[ltt] index-url = {shaped_mirror.url}/pypi-{{backend}}/simple" in line


# --------------------------------------------------------------------------- offline


def test_offline_a_wheelhouse_with_this_machines_best_build_is_used(hook_venv, nvidia, index_root, tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    best = _expected(False)  # driver 550
    wheel = next((index_root / "whl" / best).glob(f"torch-{NEWEST.torch}+{best}-{PY.wheel_tags}-manylinux*.whl"))
    (house / wheel.name).write_bytes(wheel.read_bytes())
    unreachable = {**nvidia("550.54.14", RTX_3090), "LTT_INDEX_URL": "http://127.0.0.1:9/whl", "PIP_RETRIES": "0"}
    result = hook_venv.pip("install", "--no-deps", "-f", str(house), f"torch=={NEWEST.torch}", env=unreachable)
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == f"{NEWEST.torch}+{best}"
    lines = [line for line in result.output.splitlines() if "could not be read" in line]
    assert len(lines) == 1 and f"using torch {NEWEST.torch}+{best} from {house.as_uri()}" in lines[0], result.output
    # Only a CPU build in the folder, on a GPU machine: the error names the way out.
    (house / wheel.name).unlink()
    cpu = next((index_root / "whl" / "cpu").glob(f"torch-{NEWEST.torch}+cpu-{PY.wheel_tags}-manylinux*.whl"))
    (house / cpu.name).write_bytes(cpu.read_bytes())
    line = fails_in_one_line(hook_venv, "--no-deps", "-f", str(house), f"torch=={NEWEST.torch}", env=unreachable)
    assert "--no-index -f DIR" in line, line
