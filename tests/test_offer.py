"""What the index offers (:func:`ltt_hook.offer.read_offer`): every build of a project on the
channel's union page that the target's tags admit, with the backend its label or folder names."""

from __future__ import annotations

from ltt_hook._packaging import Version
from ltt_hook.backends import parse_backend
from ltt_hook.offer import Build, read_offer

TARGET = frozenset(["cp311-cp311-linux_x86_64", "cp311-abi3-linux_x86_64", "py3-none-any"])


def _page(*hrefs: str) -> bytes:
    return "".join(f'<a href="{h}#sha256=00">{h.rsplit("/", 1)[-1]}</a><br/>\n' for h in hrefs).encode()


def test_each_build_once_with_the_backend_of_its_label_or_its_folder():
    page = _page(
        "/whl/cu126/torch-2.14.1%2Bcu126-cp311-cp311-linux_x86_64.whl",
        "/whl/cu126/torch-2.14.1%2Bcu126-cp311-cp311-linux_x86_64.whl",  # listed twice: one build
        "/whl/cu126/torch-2.14.1%2Bcu126-cp312-cp312-linux_x86_64.whl",  # another Python
        "/whl/cu130/torch-2.14.1-cp311-cp311-linux_x86_64.whl",  # no label: the folder names it
        "/whl/cpu/torch-2.14.1%2Bcpu-cp311-cp311-win_amd64.whl",  # another platform
        "/whl/cpu/torch-2.13.0%2Bcpu-cp311-cp311-linux_x86_64.whl",
        "torch-2.12.0-cp311-cp311-linux_x86_64.whl",  # relative to the page: no backend named
        "/whl/cu126/torchvision-0.29.1%2Bcu126-cp311-cp311-linux_x86_64.whl",  # another project
        "/whl/cu126/torch-not.a.version-cp311-cp311-linux_x86_64.whl",
    )
    offer = read_offer("torch", "https://download.pytorch.org/whl/torch/", page, TARGET)
    assert offer.builds == {
        Build(Version("2.14.1+cu126"), parse_backend("cu126")),
        Build(Version("2.14.1"), parse_backend("cu130")),
        Build(Version("2.13.0+cpu"), parse_backend("cpu")),
        Build(Version("2.12.0"), None),
    }


def test_a_relative_link_takes_its_backend_from_the_page_it_is_on():
    page = _page("torch-2.12.0-cp311-cp311-linux_x86_64.whl", "../../cu124/torch-2.11.0-cp311-cp311-linux_x86_64.whl")
    offer = read_offer("torch", "https://mirror.example/whl/cu121/torch/", page, TARGET)
    assert offer.builds == {Build(Version("2.12.0"), parse_backend("cu121")),
                            Build(Version("2.11.0"), parse_backend("cu124"))}
