"""The index is the truth; the tables only judge. What exists comes from the index actually
configured (a partial mirror, the nightly of the day, a release no table knows); the backend
pages are read in the decision's order, and a page that is missing hands over to the next GPU
backend before cpu is accepted. Every door into pip gets the same rule."""

from __future__ import annotations

import shutil

import pytest

from support import replica
from support.harness import NEWEST_BUILDS, newest_release, releases_for, test_python

RTX_3090 = ("8.6", "NVIDIA GeForce RTX 3090")
CU_550 = NEWEST_BUILDS[newest_release().torch][0]  # the best build of the newest release for driver 550
PY = test_python()


def _mirror(index_root, tmp_path, keep):
    """A mirror that holds only some backend directories of the replica (``whl/cpu``, ...)."""
    root = tmp_path / "mirror"
    for sub in keep:
        shutil.copytree(index_root / sub, root / sub)
    return root


def test_a_partial_mirror_gives_the_best_gpu_build_it_holds(hook_venv, nvidia, index_root, tmp_path):
    # Driver 580 + RTX 3090 would take cu132 (then cu130, cu129); this mirror has only cu128 and cpu.
    with replica.IndexServer(_mirror(index_root, tmp_path, ["whl/cpu", "whl/cu128"])) as mirror:
        result = hook_venv.pip("install", "torch", env={**nvidia("580.65.06", RTX_3090), "LTT_INDEX_URL": f"{mirror.url}/whl"})
        assert result.returncode == 0, result.output
        newest_cu128 = [r for r in releases_for() if "cu128" in r.backends][-1]
        assert result.chosen["torch"] == f"{newest_cu128.torch}+cu128"
        if PY.version >= (3, 10):  # 2.11 is the last release with cu128 builds (none for Python 3.9)
            assert result.chosen["torch"] == "2.11.0+cu128"
        asked = [path for _, path, _, _ in mirror.requests if path.endswith("/torch/")]
        assert asked[-1] == "/whl/cu128/torch/" and "/whl/cpu/torch/" not in asked, asked


def test_nightly_without_the_newest_backend_page_gives_the_next_gpu_backend(hook_venv, nvidia, index_root, tmp_path):
    root = _mirror(index_root, tmp_path, ["whl/nightly"])
    shutil.rmtree(root / "whl" / "nightly" / "cu134")  # the tables say nightly has cu134; today it has not
    assert (root / "whl" / "nightly" / "cu132").is_dir()
    with replica.IndexServer(root) as mirror:
        env = {**nvidia("580.65.06", RTX_3090), "LTT_INDEX_URL": f"{mirror.url}/whl", "LTT_PYTORCH_CHANNEL": "nightly"}
        result = hook_venv.pip("install", "torch", env=env)
        assert result.returncode == 0, result.output
        assert result.chosen["torch"].endswith("+cu132"), result.chosen
        # A nightly's release is one the tables lack, but PyTorch publishes no variants files for
        # nightlies: not a request more for them.
        assert not [path for _, path, _, _ in mirror.requests if "/variant/" in path]


def test_a_release_no_table_knows_is_found_on_the_index_and_judged(hook_venv, nvidia, tmp_path):
    root = tmp_path / "future"
    future = replica.Release("2.15.0", "0.30.0", None, ("cpu", "cu126", "cu130"), "manylinux_2_28_x86_64")
    replica.build_pytorch_index(root, releases=[future], python_tags=[PY.tag], nightly=False, test=False)
    with replica.IndexServer(root) as index:
        env = {"LTT_INDEX_URL": f"{index.url}/whl"}
        # Driver 550: CUDA 13 is out, cu126's newest list (sm_86) judges the new release.
        result = hook_venv.pip("install", "torch", "torchvision", env={**nvidia("550.54.14", RTX_3090), **env})
        assert result.returncode == 0, result.output
        assert (result.chosen["torch"], result.chosen["torchvision"]) == ("2.15.0+cu126", "0.30.0+cu126")
        # Driver 580: the tables would take cu132, which this index lacks; cu130 is next.
        result = hook_venv.pip("install", "torch", env={**nvidia("580.65.06", RTX_3090), **env})
        assert result.chosen["torch"] == "2.15.0+cu130", result.output


def test_the_common_case_reads_one_page_per_project_and_what_the_index_offers(hook_venv, plain_venv, nvidia,
                                                                               pytorch_index):
    pytorch_index.clear()
    result = hook_venv.pip("install", "torch", "torchvision", env=nvidia("550.54.14", RTX_3090))
    assert result.returncode == 0, result.output
    pages = [path for _, path, _, _ in pytorch_index.requests if path.endswith(("/torch/", "/torchvision/"))]
    # The torch page of the channel (which release is on which backend page), then one page per
    # project: one request more than the hand-written --index-url command, whatever the tables say.
    assert pages == ["/whl/torch/", f"/whl/{CU_550}/torch/", f"/whl/{CU_550}/torchvision/"], pages
    pytorch_index.clear()
    by_hand = plain_venv.pip("install", "--index-url", f"{plain_venv.base_env['LTT_INDEX_URL']}/{CU_550}",
                             "--extra-index-url", plain_venv.base_env["PIP_INDEX_URL"], "torch", "torchvision")
    assert by_hand.returncode == 0, by_hand.output
    assert by_hand.chosen["torch"] == result.chosen["torch"]
    by_hand_pages = [path for _, path, _, _ in pytorch_index.requests if path.endswith(("/torch/", "/torchvision/"))]
    assert len(pages) == len(by_hand_pages) + 1, (pages, by_hand_pages)


@pytest.mark.parametrize("flags", [["-Im"], ["-sm"], ["-IEm"], ["-X", "utf8", "-m"], ["-Xutf8", "-m"]],
                         ids=lambda f: " ".join(f))
def test_every_way_of_running_python_m_pip_is_patched(hook_venv, nvidia, flags):
    report = hook_venv.home / "flags.json"
    result = hook_venv.run(hook_venv.python, *flags, "pip", "install", "--dry-run", "--report", report, "torch",
                           env=nvidia("550.54.14", RTX_3090))
    assert result.returncode == 0, result.output
    newest = newest_release()
    assert f'"version": "{newest.torch}+' in report.read_text(), result.output
    assert f'"version": "{newest.torch}+cpu"' not in report.read_text()


def test_a_file_mirror_with_a_garbage_page_fails_in_one_line(hook_venv, index_root, tmp_path):
    root = _mirror(index_root, tmp_path, ["whl/cpu"])
    (root / "whl" / "cpu" / "torch" / "index.html").write_text("<html><body><form action=/login>"
                                                               "<input type=password></form></body></html>")
    before = hook_venv.installed()
    result = hook_venv.pip("install", "torch", env={"LTT_INDEX_URL": root.joinpath("whl").as_uri(),
                                                     "LTT_PYTORCH_COMPUTATION_BACKEND": "cpu"})
    assert result.returncode == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "ltt-hook" in errors[0] and "not an index page" in errors[0], result.output
    assert hook_venv.installed() == before


def test_a_cap_found_in_a_librarys_metadata_reads_the_next_pages(hook_venv, nvidia, pytorch_index, tmp_path):
    # The first page (cu126) holds no torch < 2.6; the resolver learns the cap from oldlib's
    # metadata only, and the hook then reads on until a page serves it: 2.5.1+cu124, not CPU.
    old = [r for r in releases_for() if r.torch.startswith("2.5.")]
    if not old:
        pytest.skip(f"no torch 2.5 wheels for Python {PY.tag}")
    links = tmp_path / "links"
    replica.make_wheel(links, "oldlib", "1.0", requires=("torch<2.6",))
    pytorch_index.clear()
    result = hook_venv.pip("install", "--find-links", links, "oldlib", env=nvidia("550.54.14", RTX_3090))
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == f"{old[-1].torch}+cu124"
    asked = [path for _, path, _, _ in pytorch_index.requests if path.endswith("/torch/")]
    assert asked[0] == "/whl/torch/"  # what the index offers (read before the cap is known)
    assert asked[1] == "/whl/cu126/torch/" and asked[-1] == "/whl/cu124/torch/" and "/whl/cpu/torch/" not in asked, asked
