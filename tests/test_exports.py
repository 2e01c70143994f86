"""Exports that the target tool installs (issue 19): the requirements file with plain pip and with
real uv, uv's project tables with real uv, for a Docker build stage's platform, and failures in
one line. uv is pinned in tests/requirements.txt and runs from the interpreter that runs pytest.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import replica
from support.harness import NEWEST_BUILDS, newest_release, test_python

PY = test_python()
NEWEST = newest_release()
RTX_3090 = ("8.6", "NVIDIA GeForce RTX 3090")
CU_550 = NEWEST_BUILDS[NEWEST.torch][0]


def tool(name: str) -> str:
    """A tool installed beside pytest (tests/requirements.txt): uv, poetry."""
    found = Path(sys.executable).parent / name
    path = str(found) if found.exists() else shutil.which(name)
    if path is None:
        pytest.fail(f"{name} must be installed (tests/requirements.txt)")
    return path


def run_uv(venv, *args, cwd=None):
    env = venv.env({"UV_CACHE_DIR": str(venv.home / "uv-cache"), "UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never"})
    return subprocess.run([tool("uv"), *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd or venv.home,
                          timeout=240)


@pytest.fixture(scope="module")
def index_404(index_root):
    """The replica answering 404 for what it lacks. download.pytorch.org answers 403 (S3) for a
    page it lacks, but mirrors the third-party projects torch needs on every backend page, so uv
    never asks it for one it lacks; the replica holds no third-party projects."""
    with replica.IndexServer(index_root, missing="404") as server:
        yield server


def export(venv, nvidia, command, *args, **extra):
    result = venv.run(venv.python, "-m", "ltt_hook", command, *args, env={**nvidia("550.54.14", RTX_3090), **extra})
    assert result.returncode == 0, result.output
    return result.stdout


def test_the_requirements_file_installs_the_same_builds_with_pip_and_with_uv(hook_venv, plain_venv, nvidia, tmp_path,
                                                                             index_404):
    req = tmp_path / "requirements.txt"
    req.write_text(export(hook_venv, nvidia, "requirements", "torch", "torchvision", LTT_INDEX_URL=f"{index_404.url}/whl"))
    pins = (f"torch=={NEWEST.torch}+{CU_550}", f"torchvision=={NEWEST.torchvision}+{CU_550}")
    pip = plain_venv.pip("install", "-r", str(req))
    assert pip.returncode == 0, pip.output
    assert (f"torch=={pip.chosen['torch']}", f"torchvision=={pip.chosen['torchvision']}") == pins
    # uv gives --extra-index-url priority and takes a project from the first index that has it:
    # the PyTorch page is the extra index, so torch and torchvision come from it.
    result = run_uv(plain_venv, "pip", "install", "--dry-run", "--python", plain_venv.python, "-r", req)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(f" + {pin}" in result.stderr for pin in pins), result.stderr


def test_uv_project_tables_pin_torch_to_this_machines_build(hook_venv, plain_venv, nvidia, tmp_path, index_404):
    tables = export(hook_venv, nvidia, "uv", "torch", "torchvision", LTT_INDEX_URL=f"{index_404.url}/whl")
    project = tmp_path / "app"
    project.mkdir()
    deps = f'"torch=={NEWEST.torch}+{CU_550}", "torchvision=={NEWEST.torchvision}+{CU_550}"'
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "app"\nversion = "0"\nrequires-python = ">={PY.dotted}"\ndependencies = [{deps}]\n\n'
        f"{tables}")
    result = run_uv(plain_venv, "lock", "--default-index", plain_venv.base_env["PIP_INDEX_URL"],
                    "--python", plain_venv.python, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    lock = (project / "uv.lock").read_text()
    assert f'version = "{NEWEST.torch}+{CU_550}"' in lock
    assert f'registry = "{index_404.url}/whl/{CU_550}"' in lock


def test_exports_take_a_docker_stages_platform_and_fail_in_one_line(hook_venv, nvidia):
    if NEWEST.torch != "2.14.1":
        pytest.skip("written for torch 2.14.1")
    text = export(hook_venv, nvidia, "requirements", "torch", "--platform", "manylinux_2_28_x86_64",
                  "--python-version", "3.12", LTT_PYTORCH_COMPUTATION_BACKEND="cu130")
    assert "torch==2.14.1+cu130" in text, text
    failed = hook_venv.run(hook_venv.python, "-m", "ltt_hook", "requirements", "torch==9.9", env=nvidia("550.54.14", RTX_3090))
    assert failed.returncode == 1
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: pip could not resolve torch==9.9:"), failed.stderr


def test_poetry_tables_lock_torch_from_this_machines_build(hook_venv, plain_venv, nvidia, tmp_path, index_404):
    tables = export(hook_venv, nvidia, "poetry", "torch", LTT_INDEX_URL=f"{index_404.url}/whl")
    assert 'priority = "explicit"' in tables
    project = tmp_path / "app"
    project.mkdir()
    # The PyPI stand-in as Poetry's primary source (Poetry would ask pypi.org otherwise).
    (project / "pyproject.toml").write_text(
        '[tool.poetry]\nname = "app"\nversion = "0"\ndescription = ""\nauthors = []\npackage-mode = false\n\n'
        f'{tables}python = ">={PY.dotted},<4"\n\n'
        f'[[tool.poetry.source]]\nname = "stand-in"\nurl = "{plain_venv.base_env["PIP_INDEX_URL"]}"\n'
        'priority = "primary"\n')
    env = plain_venv.env({"POETRY_CACHE_DIR": str(tmp_path / "poetry-cache"), "POETRY_CONFIG_DIR": str(tmp_path / "cfg"),
                          "POETRY_VIRTUALENVS_CREATE": "false", "VIRTUAL_ENV": str(plain_venv.path)})
    result = subprocess.run([tool("poetry"), "lock", "--no-interaction"], capture_output=True, text=True, env=env,
                            cwd=project, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lock = (project / "poetry.lock").read_text()
    assert f'version = "{NEWEST.torch}+{CU_550}"' in lock, lock
    assert f'url = "{index_404.url}/whl/{CU_550}"' in lock
