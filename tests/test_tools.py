"""Tools that drive pip: pip-tools' ``pip-compile`` runs pip's finder in-process, and
``pip-sync`` runs ``pip install`` as a child. Both get this machine's builds, from the PyTorch
index, with the real pip-tools from PyPI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support.harness import NEWEST_BUILDS, Venv, cache_dir, newest_release, test_python, wheelhouse

PIP_TOOLS = "pip-tools==7.6.2"
RTX_3090 = ("8.6", "NVIDIA GeForce RTX 3090")
NEWEST = newest_release()


@pytest.fixture(scope="module")
def tools_venv(tmp_path_factory, hook_wheel, pytorch_index, pypi) -> Venv:
    info = test_python()
    house = cache_dir() / "wheelhouse-tools" / info.tag
    if not list(house.glob("pip_tools-*.whl")):
        house.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
                        "--python-version", info.dotted, "-d", str(house), PIP_TOOLS], check=True)
    venv = Venv.create(tmp_path_factory.mktemp("tools") / "venv", hook=hook_wheel)
    venv.base_env = {"PIP_INDEX_URL": f"{pypi.url}/simple", "LTT_INDEX_URL": f"{pytorch_index.url}/whl"}
    installed = venv.run(venv.python, "-m", "pip", "install", "--no-index", "-f", house, PIP_TOOLS)
    assert installed.returncode == 0, installed.output
    # ltt-hook as users get it, by name from an index (pip-sync reinstalls a file-URL install).
    by_name = venv.run(venv.python, "-m", "pip", "install", "--force-reinstall", "--no-deps", "--no-index",
                       "-f", hook_wheel.parent, "ltt-hook")
    assert by_name.returncode == 0, by_name.output
    return venv


def compile_(venv, tmp_path, lines, env=None):
    (tmp_path / "requirements.in").write_text("".join(f"{line}\n" for line in lines))
    result = venv.run(venv.path / "bin" / "pip-compile", "--no-header", "--no-annotate", "-o",
                      tmp_path / "requirements.txt", tmp_path / "requirements.in", env=env)
    assert result.returncode == 0, result.output
    return (tmp_path / "requirements.txt").read_text()


@pytest.mark.parametrize("machine, backend", [("gpu", "NEWEST_GPU"), ("cpu", "cpu")])
def test_pip_compile_pins_this_machines_builds(tools_venv, nvidia, tmp_path, machine, backend):
    env = nvidia("550.54.14", RTX_3090) if machine == "gpu" else None
    label = NEWEST_BUILDS[NEWEST.torch][0] if backend == "NEWEST_GPU" else backend
    pins = compile_(tools_venv, tmp_path, ["torch", "torchvision"], env=env)
    assert f"torch=={NEWEST.torch}+{label}\n" in pins, pins
    assert f"torchvision=={NEWEST.torchvision}+{label}\n" in pins, pins
    assert "nvidia-cuda-runtime" not in pins or label != "cpu"
    log = tools_venv.run(tools_venv.path / "bin" / "pip-compile", "--no-header", "-o", tmp_path / "again.txt",
                         tmp_path / "requirements.in", env=env)
    assert f"add `--extra-index-url {tools_venv.base_env['LTT_INDEX_URL']}/{label}` to requirements.in" in log.output


def test_pip_sync_installs_the_compiled_builds_and_keeps_ltt_hook_when_it_is_listed(tools_venv, hook_wheel,
                                                                                     nvidia, tmp_path):
    env = nvidia("550.54.14", RTX_3090)
    lines = [f"--find-links {hook_wheel.parent}", f"--find-links {wheelhouse()}", "ltt-hook", "torch"]
    pins = compile_(tools_venv, tmp_path, lines, env=env)
    result = tools_venv.run(tools_venv.path / "bin" / "pip-sync", tmp_path / "requirements.txt", env=env)
    assert result.returncode == 0, result.output
    installed = tools_venv.installed()
    assert "ltt-hook" in installed, pins  # listed in requirements.in, so pip-sync keeps it
    assert installed["torch"] == f"{NEWEST.torch}+{NEWEST_BUILDS[NEWEST.torch][0]}"
