"""Session fixtures: the PyTorch index replica, the PyPI stand-in, the NVML stand-in and
virtualenvs with ltt-hook installed from a wheel built from this checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import gpu, replica
from support.harness import Venv, build_hook_wheel, nvidia_machine


@pytest.fixture(scope="session")
def index_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pytorch-index")
    replica.build_pytorch_index(root)
    return root


@pytest.fixture(scope="session")
def pytorch_index(index_root):
    with replica.IndexServer(index_root) as server:
        yield server


@pytest.fixture(scope="session")
def pypi(tmp_path_factory, index_root):
    root = tmp_path_factory.mktemp("pypi")
    replica.build_pypi(root, pytorch_root=index_root)
    with replica.IndexServer(root, missing="404") as server:
        yield server


@pytest.fixture(scope="session")
def ext_pypi(tmp_path_factory, index_root):
    """The PyPI stand-in with what PyPI holds for the extension projects (a pure wheel standing in
    for each sdist: tests/support/extension_replica.py)."""
    from support import extension_replica

    root = tmp_path_factory.mktemp("pypi-ext")
    replica.build_pypi(root, pytorch_root=index_root, extra=extension_replica.PYPI_EXTRA)
    with replica.IndexServer(root, missing="404") as server:
        yield server


@pytest.fixture(scope="session")
def nvml_lib(tmp_path_factory) -> Path:
    return gpu.build_fake_nvml(tmp_path_factory.mktemp("nvml"))


@pytest.fixture(scope="session")
def hook_wheel(tmp_path_factory) -> Path:
    return build_hook_wheel(tmp_path_factory.mktemp("dist"))


def _configure(venv: Venv, pytorch_index, pypi) -> Venv:
    venv.base_env = {"PIP_INDEX_URL": f"{pypi.url}/simple", "LTT_INDEX_URL": f"{pytorch_index.url}/whl"}
    return venv


@pytest.fixture(scope="session")
def hook_venv(tmp_path_factory, hook_wheel, pytorch_index, pypi) -> Venv:
    """A virtualenv with ltt-hook, pointed at the replica (via LTT_INDEX_URL) and the PyPI
    stand-in (via PIP_INDEX_URL). Tests only dry-run in it, so it is shared."""
    return _configure(Venv.create(tmp_path_factory.mktemp("venv") / "hook", hook=hook_wheel), pytorch_index, pypi)


@pytest.fixture(scope="session")
def plain_venv(tmp_path_factory, pytorch_index, pypi) -> Venv:
    """The same pip without ltt-hook."""
    return _configure(Venv.create(tmp_path_factory.mktemp("venv") / "plain", hook=None), pytorch_index, pypi)


@pytest.fixture
def fresh_venv(tmp_path, hook_wheel, pytorch_index, pypi) -> Venv:
    """A new virtualenv with ltt-hook, for tests that really install."""
    return _configure(Venv.create(tmp_path / "venv", hook=hook_wheel), pytorch_index, pypi)


@pytest.fixture
def nvidia(nvml_lib):
    """``nvidia(driver, (capability, name), ...)`` -> environment of such a machine."""

    def make(driver: str, *gpus: tuple) -> dict:
        return nvidia_machine(nvml_lib, driver, gpus)

    return make


def pytest_report_header(config):
    from support.harness import PIP_VERSION, TEST_PYTHON, newest_release, test_python

    info = test_python()
    return (f"test virtualenvs: Python {info.dotted} ({info.tag}, {TEST_PYTHON}), pip {PIP_VERSION}; "
            f"plain `pip install torch` there gets {newest_release().torch}")
