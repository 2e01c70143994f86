"""The selection rules as a specification (pure logic, no pip)."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ltt_hook import data
from ltt_hook.backends import InvalidBackend, backend_from_label, backend_from_url, parse_backend
from ltt_hook.config import Config
from ltt_hook.decision import Environment, Request, decide
from ltt_hook.detection import Gpu, Machine
from ltt_hook.selection import incompatibility, release_of, sort_key


def nvidia(driver, *caps, system="Linux", arch="x86_64"):
    return Machine(system, driver, [Gpu("nvidia", f"GPU {c}", c) for c in caps], arch=arch)


def b(name):
    return parse_backend(name)


@pytest.mark.parametrize("text", ["cuda12", "cu12.x", "gpu", "cu", "rocm", "rocm6", ""])
def test_unknown_backend_names_are_rejected(text):
    with pytest.raises(InvalidBackend):
        parse_backend(text)


def test_backend_rank_is_ours_not_pep440():
    # PEP 440 sorts the local label cu92 above cu128; we rank by CUDA version.
    assert Version("2.0+cu92") > Version("2.0+cu128")
    assert b("cu128").rank > b("cu92").rank > b("cpu").rank
    assert b("rocm6.2.4").rank > b("rocm6.2").rank


def test_labels_and_urls_name_backends():
    assert backend_from_label("cu126") == b("cu126")
    assert backend_from_label("cpu.cxx11.abi") == b("cpu")
    assert backend_from_label("git1a2b3c4d") is None  # a triton build, not a backend
    assert backend_from_url("https://download.pytorch.org/whl/nightly/rocm7.2/torch/") == b("rocm7.2")
    assert backend_from_url("https://pypi.org/simple/torch/") is None


@pytest.mark.parametrize(
    "project, version, release",
    [("torch", "2.14.1+cu126", "2.14"), ("torchvision", "0.29.1", "2.14"), ("torchvision", "0.14.1", "1.13"),
     ("torchaudio", "2.5.1+cpu", "2.5"), ("torchaudio", "0.13.1", "1.13"), ("xformers", "0.0.30", None)],
)
def test_companion_versions_map_to_torch_releases(project, version, release):
    found = release_of(project, Version(version))
    assert (str(found) if found else None) == release


@pytest.mark.parametrize(
    "driver, backend, system, ok",
    [("525.60.13", "cu126", "Linux", True), ("525.60.12", "cu126", "Linux", False),
     ("528.33", "cu126", "Windows", True), ("528.32", "cu126", "Windows", False),
     ("579.99", "cu130", "Linux", False), ("580.65.06", "cu132", "Linux", True),
     ("450.80.02", "cu118", "Linux", True), ("450.80.01", "cu118", "Linux", False),
     # versions compare as versions, not strings: "1000" < "525" as strings
     ("1000.1", "cu126", "Linux", True)],
)
def test_driver_minimum_for_minor_version_compatibility(driver, backend, system, ok):
    machine = nvidia(driver, (8, 6), system=system)
    assert (incompatibility(b(backend), Version("2.9"), machine) is None) is ok


@pytest.mark.parametrize(
    "cap, backend, release, ok",
    [((8, 9), "cu118", "2.5", True),    # RTX 4090 runs sm_86 code
     ((6, 1), "cu126", "2.14", True),   # GTX 1080 Ti runs sm_60 code
     ((6, 1), "cu130", "2.14", False),  # CUDA 13 builds start at sm_75
     ((7, 0), "cu128", "2.7", False),   # torch 2.7.1+cu128 lacks sm_70
     ((7, 0), "cu128", "2.8", True),
     ((12, 1), "cu130", "2.14", True),  # sm_120 code runs on 12.1
     ((13, 0), "cu130", "2.10", True),  # newer than any SASS: the +PTX entry covers it
     # build-facts audit: CUDA 13 builds of 2.11+ ship no PTX (PR #175567; was True for 2.14)
     ((13, 0), "cu130", "2.14", False),
     ((13, 0), "cu126", "2.14", False),  # no PTX shipped
     ((3, 7), "cu121", "2.3", False), ((3, 7), "cu118", "2.3", True)],
)
def test_gpu_architecture_must_be_in_the_build(cap, backend, release, ok):
    machine = nvidia("600.1", cap)
    assert (incompatibility(b(backend), Version(release), machine) is None) is ok


def test_unknown_releases_and_backends_get_conservative_defaults():
    pascal, ampere = nvidia("600.1", (6, 1)), nvidia("600.1", (8, 6))
    # a release newer than the table uses the newest known row of that backend
    assert incompatibility(b("cu130"), Version("2.20"), pascal) is not None
    assert incompatibility(b("cu126"), Version("2.20"), pascal) is None
    # an unknown CUDA 13 backend borrows the nearest older CUDA 13 row
    assert incompatibility(b("cu136"), Version("2.15"), ampere) is None
    assert incompatibility(b("cu136"), Version("2.15"), pascal) is not None
    # a new CUDA major version has no driver data: not chosen automatically
    assert "no driver data" in incompatibility(b("cu140"), Version("3.0"), ampere)


def test_every_gpu_must_be_covered():
    mixed = nvidia("580.65.06", (9, 0), (6, 1))
    assert incompatibility(b("cu132"), Version("2.14"), mixed) is not None
    assert incompatibility(b("cu126"), Version("2.14"), mixed) is None


def test_no_driver_means_cpu_only():
    machine = Machine("Linux")
    assert incompatibility(b("cpu"), None, machine) is None
    assert incompatibility(b("cu126"), None, machine) == "no NVIDIA driver found"
    assert "does not parse" in incompatibility(b("cu126"), None, nvidia("garbage", (8, 6)))


def test_preference_gpu_first_then_version_then_backend():
    keys = {
        name: sort_key(Version(v), b(bk))
        for name, (v, bk) in {"new-cpu": ("2.14.1+cpu", "cpu"), "old-gpu": ("2.7.1+cu118", "cu118"),
                              "cu126": ("2.7.1+cu126", "cu126"), "cu92": ("2.7.1+cu92", "cu92")}.items()
    }
    assert keys["old-gpu"] > keys["new-cpu"]
    assert keys["cu126"] > keys["old-gpu"] > keys["cu92"]


def plan(machine, channel="stable", **specifiers):
    request = Request(requested=frozenset({"torch"}), python=(3, 11),
                      specifiers={k: (SpecifierSet(v),) for k, v in specifiers.items()})
    return decide(Config(channel=channel), machine, request, Environment())


def test_the_plan_reads_the_expected_page_first_and_the_other_runnable_backends_after_it():
    assert [p.name for p in plan(Machine("Linux")).plan] == ["cpu"]
    decision = plan(nvidia("550.54.14", (8, 6)))
    # 2.14's best build first; then the best of older releases, then every other backend the
    # GPU runs: pages the index lacks hand over to the next one; cpu last.
    # (build-facts audit: 2.10/2.11 have cu129 on Linux, so it is 2.11's best, before cu128)
    assert [p.name for p in decision.plan] == ["cu126", "cu129", "cu128", "cu124", "cu121", "cu118", "cu117", "cpu"]
    assert decision.expected == ("2.14", b("cu126"))
    assert [p.name for p in plan(nvidia("550.54.14", (8, 6)), torch="==2.5.1").plan][:1] == ["cu124"]
    # A companion pinned to an older torch release fixes the release too.
    assert plan(nvidia("550.54.14", (8, 6)), torchvision="==0.20.1").expected == ("2.5", b("cu124"))
    assert [p.name for p in plan(nvidia("580.1", (9, 0)), "nightly").plan][:2] == ["cu134", "cu132"]


def test_a_gpu_build_of_an_older_release_beats_a_newer_cpu_build_and_says_so():
    decision = plan(nvidia("470.256.02", (7, 5)))
    assert decision.expected == ("2.7", b("cu118"))
    assert decision.notes and "torch 2.15 exists for this machine only as a CPU build" in decision.notes[0]


def test_the_installed_torch_fixes_the_backend_only_when_the_run_keeps_it():
    installed = Environment(torch=Version("2.5.1+cpu"), keeps_installed=True)
    gpu = nvidia("550.54.14", (8, 6))
    keeps = Request(requested=frozenset({"torchvision"}), specifiers={"torchvision": (SpecifierSet("==0.20.1"),)})
    assert decide(Config(), gpu, keeps, installed).fixed == (b("cpu"),)
    replaces = Request(requested=frozenset({"torchvision"}))
    decision = decide(Config(), gpu, replaces, installed)
    assert decision.fixed is None and decision.expected == ("2.14", b("cu126"))


def test_disable_is_part_of_the_decision():
    config = Config(disable=True)
    config.origins["disable"] = "environment variable LTT_DISABLE"
    decision = decide(config, Machine("Linux"), Request(), Environment())
    assert decision.why_off == "environment variable LTT_DISABLE turns ltt-hook off" and not decision.plan


def test_fixed_backends_win_and_say_why():
    config = Config(backends=(b("cpu"),))
    config.origins["backend"] = "environment variable LTT_PYTORCH_COMPUTATION_BACKEND"
    policy = decide(config, None, Request(), Environment())
    assert policy.rejects("torch", Version("2.14.1+cu126"), b("cu126")).endswith("LTT_PYTORCH_COMPUTATION_BACKEND allows cpu")
    assert policy.rejects("torch", Version("2.14.1+cpu"), b("cpu")) is None


def test_a_free_threaded_python_plans_only_releases_with_its_wheels():
    gpu = nvidia("550.54.14", (8, 6))
    regular = Request(requested=frozenset({"torch"}), python=(3, 13))
    threaded = Request(requested=frozenset({"torch"}), python=(3, 13), free_threaded=True)
    assert decide(Config(), gpu, regular, Environment()).releases[0] == max(data.RELEASE_BACKENDS, key=Version)
    # cp313t wheels exist for torch 2.7 - 2.11 only (dropped in 2.12)
    releases = decide(Config(), gpu, threaded, Environment()).releases
    assert releases[0] == "2.11" and releases[-1] == "2.7", releases
    assert decide(Config(), gpu, Request(python=(3, 12), free_threaded=True), Environment()).releases == ()


def test_a_jetson_pointed_at_nvidias_index_gets_no_cannot_run_warning():
    from ltt_hook.detection import Jetson

    orin = Machine("Linux", None, [Gpu("nvidia", "Orin", (8, 7))], arch="aarch64",
                   jetson=Jetson(soc="tegra234", model="NVIDIA Jetson AGX Orin", l4t="36.4.0"))
    config = Config(backends=(b("cu126"),), index_url="https://pypi.jetson-ai-lab.io/jp6")
    config.origins["backend"] = "[ltt] backend"
    assert decide(config, orin, Request(), Environment()).warnings == ()
    config = Config(backends=(b("cu126"),))
    config.origins["backend"] = "[ltt] backend"
    assert "cannot run" in decide(config, orin, Request(), Environment()).warnings[0]


def test_pythons_per_platform_python_3_13_had_torch_2_5_on_linux_only():
    """PyTorch 2.5 shipped Python 3.13 wheels for Linux x86_64 only (data.PLATFORM_PYTHONS)."""
    capped = Request(requested=frozenset({"torch"}), python=(3, 13), specifiers={"torch": (SpecifierSet("<2.6"),)})
    linux = decide(Config(), nvidia("550.54.14", (8, 6)), capped, Environment())
    assert linux.releases[0] == "2.5"
    windows = Machine("Windows", nvidia_driver="550.54.14", gpus=[Gpu("nvidia", "RTX 3090", (8, 6))], arch="AMD64")
    assert "2.5" not in decide(Config(), windows, capped, Environment()).releases
    on_312 = capped._replace(python=(3, 12))
    assert decide(Config(), windows, on_312, Environment()).releases[0] == "2.5"
