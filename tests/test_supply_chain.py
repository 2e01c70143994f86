"""PyTorch packages come only from the PyTorch index, under every index setup.

A PyPI stand-in holds squatted PyTorch names (torch 99.0.0, torchvision 99.0.0, pytorch-triton
99.0); in every setup below pip must never even ask it for them. Every failing case installs
nothing (``pip list`` before and after)."""

from __future__ import annotations

import pytest

from support import replica
from support.harness import Venv, fails_in_one_line, newest_release

RTX_3090 = ("8.6", "NVIDIA GeForce RTX 3090")
NEWEST = newest_release()
SQUATS = [("torch", "99.0.0", ()), ("torchvision", "99.0.0", ()), ("pytorch-triton", "99.0", ())]


@pytest.fixture(scope="module")
def squatted(tmp_path_factory, index_root):
    root = tmp_path_factory.mktemp("squatted-pypi")
    replica.build_pypi(root, pytorch_root=index_root, extra=SQUATS)
    with replica.IndexServer(root, missing="404") as server:
        yield server


@pytest.fixture(scope="module")
def venv(tmp_path_factory, hook_wheel, pytorch_index, squatted) -> Venv:
    v = Venv.create(tmp_path_factory.mktemp("supply") / "venv", hook=hook_wheel)
    v.base_env = {"PIP_INDEX_URL": f"{squatted.url}/simple", "LTT_INDEX_URL": f"{pytorch_index.url}/whl"}
    return v


def never_asked(server) -> bool:
    return not [path for _, path, _, _ in server.requests if "torch" in path]


@pytest.mark.parametrize("setup", ["extra-index-url", "index-url plus extra PyPI", "pip.conf-style PIP_ variables"])
def test_a_pytorch_index_url_of_yours_keeps_pytorch_projects_there(venv, pytorch_index, squatted, setup):
    cpu = f"{pytorch_index.url}/whl/cpu"
    pypi = f"{squatted.url}/simple"
    args, env = {
        "extra-index-url": (["--extra-index-url", cpu], {}),
        "index-url plus extra PyPI": (["--index-url", cpu, "--extra-index-url", pypi], {}),
        "pip.conf-style PIP_ variables": ([], {"PIP_EXTRA_INDEX_URL": cpu}),
    }[setup]
    squatted.clear()
    result = venv.pip("install", *args, "torch", "torchvision", env=env)
    assert result.returncode == 0, result.output
    assert (result.chosen["torch"], result.chosen["torchvision"]) == (f"{NEWEST.torch}+cpu", f"{NEWEST.torchvision}+cpu")
    assert never_asked(squatted)


def test_the_configured_index_keeps_squatted_names_out(venv, nvidia, squatted):
    squatted.clear()
    result = venv.pip("install", "torch", env=nvidia("550.54.14", RTX_3090))
    assert result.returncode == 0, result.output
    assert result.chosen["torch"].startswith(NEWEST.torch + "+")
    assert never_asked(squatted)


def test_an_unlabelled_torch_of_an_unknown_release_is_never_taken_for_a_cpu_build(venv, tmp_path):
    # A local wheelhouse may hold PyPI's torch; one of a release the tables lack is a CUDA build
    # of unknown CUDA version: not runnable unless proven, never "CPU".
    links = tmp_path / "wheelhouse"
    replica.make_wheel(links, "torch", "2.99.0", requires=("nvidia-cuda-runtime",))
    result = venv.pip("-v", "install", "--find-links", links, "torch")
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == f"{NEWEST.torch}+cpu"
    assert "torch 2.99.0 is an unlabelled build from outside the PyTorch index" in result.output


def test_a_remote_find_links_page_is_not_a_source_of_pytorch_packages(venv, squatted, pytorch_index):
    # pip reads a --find-links page for every project; for PyTorch projects it is set aside.
    result = venv.pip("install", "--find-links", f"{squatted.url}/simple/torch/", "torch")
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == f"{NEWEST.torch}+cpu"
    assert result.url("torch").startswith(pytorch_index.url)


def test_platform_without_a_backend_gets_cpu_builds_from_the_pytorch_index_with_one_line(venv, squatted, tmp_path):
    squatted.clear()
    result = venv.run(venv.python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                      "--platform", "manylinux_2_28_x86_64", "-d", tmp_path / "out", "torch")
    assert result.returncode == 0, result.output
    assert [p.name.split("-")[1] for p in (tmp_path / "out").iterdir()] == [f"{NEWEST.torch}+cpu"]
    notes = [line for line in result.output.splitlines() if "ltt-hook" in line]
    assert len(notes) == 1 and "--platform targets another machine" in notes[0], result.output
    assert never_asked(squatted)


@pytest.mark.parametrize("pins, named", [
    (["torch==2.5.1+cu118", "torchvision==0.20.1+cu124"], "torch==2.5.1+cu118 and torchvision==0.20.1+cu124"),
    (["torch==2.5.1", "torchvision==0.22.1"], "torchvision==0.22.1 belongs to torch 2.7, but torch==2.5.1"),
])
def test_contradicting_pins_stop_pip_naming_both(venv, pins, named):
    line = fails_in_one_line(venv, *pins)
    assert named in line and "Nothing was installed" in line
