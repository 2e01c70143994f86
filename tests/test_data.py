"""The build-fact tables (ltt_hook/data.py): consistent with each other, so that selection never
trips on a missing row, and each correction of the December 2026 build-facts audit as a case."""

from __future__ import annotations

import re

import pytest
from packaging.version import Version

from ltt_hook import data
from ltt_hook.backends import parse_backend
from ltt_hook.config import Config
from ltt_hook.decision import Environment, Request, decide
from ltt_hook.detection import Gpu, Machine
from ltt_hook.selection import incompatibility, platform_of, published, rocm_arches

RELEASES = sorted(data.RELEASE_BACKENDS, key=Version)
_BACKEND = re.compile(r"^(cpu|xpu|cu[0-9]+|rocm[0-9]+\.[0-9]+(\.[0-9]+)?)$")


def backends_on(platform, release):
    if platform == "linux-x86_64":
        return data.RELEASE_BACKENDS[release].split()
    return data.PLATFORM_BACKENDS[platform][release].split()


# --------------------------------------------------------------------------- consistency


def test_every_release_has_pythons_backends_and_a_pypi_flavour():
    assert set(data.RELEASE_PYTHONS) == set(data.RELEASE_BACKENDS) == set(data.PYPI_CUDA_FLAVOUR)
    for release in RELEASES:
        low, high = (Version(v) for v in data.RELEASE_PYTHONS[release].split())
        assert low <= high, release
        names = data.RELEASE_BACKENDS[release].split()
        assert "cpu" in names and len(names) == len(set(names)), release
        assert all(_BACKEND.match(n) for n in names), release
        assert data.PYPI_CUDA_FLAVOUR[release] in names, release


def test_pre_release_channels_name_known_channels_and_backends():
    assert set(data.PRERELEASE_BACKENDS) == set(data.CHANNELS) - {"stable"}
    for names in data.PRERELEASE_BACKENDS.values():
        assert "cpu" in names.split() and all(_BACKEND.match(n) for n in names.split())


@pytest.mark.parametrize("platform", sorted(data.PLATFORM_BACKENDS))
def test_every_platform_lists_every_release_and_only_backends_built_somewhere(platform):
    table = data.PLATFORM_BACKENDS[platform]
    assert platform in data.PLATFORMS
    assert set(table) == set(data.RELEASE_BACKENDS)
    for release, names in table.items():
        assert "cpu" in names.split(), (platform, release)
        assert set(names.split()) <= set(data.RELEASE_BACKENDS[release].split()), (platform, release)
        assert not any(n.startswith("rocm") for n in names.split()), "ROCm builds are Linux x86_64 only"


def cuda_rows(platform, backend, release):
    rel = Version(release)
    return [row for row in data.CUDA_ARCHES
            if platform in row[2].split() and backend in row[3].split()
            and Version(row[0]) <= rel <= Version(row[1])]


@pytest.mark.parametrize("platform", data.PLATFORMS)
def test_every_cuda_build_a_platform_claims_has_exactly_one_architecture_row(platform):
    for release in RELEASES:
        for name in backends_on(platform, release):
            if not name.startswith("cu"):
                continue
            rows = cuda_rows(platform, name, release)
            assert len(rows) == 1, (platform, release, name, rows)


def test_cuda_rows_are_well_formed_and_name_only_known_platforms():
    for first, last, platforms, names, arches, source in data.CUDA_ARCHES:
        assert Version(first) <= Version(last)
        assert source.strip(), (first, last, platforms, names)
        assert set(platforms.split()) <= set(data.PLATFORMS)
        assert all(re.match(r"^cu[0-9]+$", n) for n in names.split())
        assert all(re.match(r"^[0-9]+\.[0-9]+(\+PTX)?$", a) for a in arches.split()), arches
        caps = [tuple(int(p) for p in a.replace("+PTX", "").split(".")) for a in arches.split()]
        assert caps == sorted(caps), arches


def test_every_rocm_build_from_rocm_6_has_one_row_or_borrows_one():
    for release in RELEASES:
        for name in data.RELEASE_BACKENDS[release].split():
            backend = parse_backend(name)
            if backend.family != "rocm" or backend.version[0] < 6:
                continue
            rows = [r for r in data.ROCM_ARCHES if name in r[2].split()
                    and Version(r[0]) <= Version(release) <= Version(r[1])]
            borrowed = not any(name in r[2].split() for r in data.ROCM_ARCHES)
            assert len(rows) == 1 or (borrowed and not rows), (release, name, rows)
            arches, _ = rocm_arches(backend, Version(release))
            assert arches, (release, name)


def test_every_backend_of_every_release_is_judged_without_tripping():
    # Every (release, platform, backend) the tables claim gets a verdict from data, never "no
    # data" nor "not published": a missing row would silently switch the hook to CPU.
    machines = {
        "linux-x86_64": Machine("Linux", "600.1", [Gpu("nvidia", "RTX 3090", (8, 6)), Gpu("amd", "MI300X", gfx="gfx942"),
                                                   Gpu("intel", "Arc B580", pci_id="0xe20b")], arch="x86_64"),
        "windows-x86_64": Machine("Windows", "600.1", [Gpu("nvidia", "RTX 3090", (8, 6)),
                                                       Gpu("intel", "Arc B580", pci_id="0xe20b")], arch="AMD64"),
        "linux-aarch64": Machine("Linux", "600.1", [Gpu("nvidia", "GH200", (9, 0))], arch="aarch64"),
    }
    for platform, machine in machines.items():
        assert platform_of(machine) == platform
        for release in RELEASES:
            for name in backends_on(platform, release):
                backend = parse_backend(name)
                if backend.family == "rocm" and backend.version[0] < 6:
                    continue  # documented: no data, used only when asked for explicitly
                assert published(backend, Version(release), platform) is True
                reason = incompatibility(backend, Version(release), machine)
                where = (platform, release, name, reason)
                assert reason is None or " lack " in reason, where
                if backend.family == "cuda" and backend.version >= (11, 8):
                    assert reason is None, where  # sm_86 and sm_90 are in every CUDA 11.8+ build


def test_platform_names():
    assert platform_of(Machine("Windows", arch="AMD64")) == "windows-x86_64"
    assert platform_of(Machine("Linux", arch="aarch64")) == "linux-aarch64"
    assert platform_of(Machine("Darwin", arch="arm64")) == "macos-aarch64"


@pytest.mark.parametrize("name", ["torch-tensorrt-rtx", "torchcomms", "flash-attn-3", "mslk",
                                  "torchvision-extra-decoders"])
def test_the_allow_listed_families_are_pytorch_projects(name):
    assert name in data.BACKEND_BUILT and name not in data.TRITON_BUILDS
    assert name == re.sub(r"[-_.]+", "-", name).lower()  # PEP 503 form, as pip looks them up


@pytest.mark.parametrize("name", ["vllm", "flashinfer-python"])
def test_projects_their_own_authors_publish_on_pypi_stay_with_the_users_indexes(name):
    # Allow-listed on the PyTorch index too, but every release is on PyPI and the PyTorch
    # index mirrors only some: redirecting them would make `pip install vllm` fail.
    assert name not in data.BACKEND_BUILT | data.TRITON_BUILDS


# --------------------------------------------------------------------------- audit corrections


def nvidia(driver, cap, system="Linux", arch="x86_64"):
    return Machine(system, driver, [Gpu("nvidia", "GPU", cap)], arch=arch)


def amd(gfx):
    return Machine("Linux", None, [Gpu("amd", f"AMD {gfx}", gfx=gfx)], arch="x86_64")


def best(machine, release):
    request = Request(requested=frozenset({"torch"}), python=(3, 11))
    decision = decide(Config(), machine, request, Environment())
    rel = Version(release)
    fitting = [parse_backend(n) for n in data.RELEASE_BACKENDS[release].split()
               if parse_backend(n).is_gpu and incompatibility(parse_backend(n), rel, machine) is None]
    assert decision.plan  # the decision runs on the same tables
    return max(fitting, key=lambda b: b.rank).name if fitting else "cpu"


def test_rx_7800_xt_and_torch_2_5_get_no_rocm61_build():
    # rocm6.1 for 2.4/2.5 has no gfx1101 (added by pytorch/pytorch PR #141667, Nov 2024)
    reason = incompatibility(parse_backend("rocm6.1"), Version("2.5"), amd("gfx1101"))
    assert reason == "rocm6.1 builds of torch 2.5 lack gfx1101 (AMD gfx1101)"
    assert incompatibility(parse_backend("rocm6.1"), Version("2.6"), amd("gfx1101")) is None
    assert best(amd("gfx1101"), "2.5") == "cpu"
    assert best(amd("gfx1101"), "2.14") == "rocm7.14"


def test_strix_halo_and_torch_2_10_get_rocm71():
    # rocm7.0/7.1 for 2.10/2.11 list gfx1150/gfx1151 (pytorch/pytorch PR #167299)
    for gfx in ("gfx1151", "gfx1150"):
        assert incompatibility(parse_backend("rocm7.1"), Version("2.10"), amd(gfx)) is None
        assert best(amd(gfx), "2.10") == "rocm7.1"
        assert best(amd(gfx), "2.11") == "rocm7.2"


def test_radeon_780m_gets_rocm_from_2_13():
    # gfx1103 joined the wheel list in April 2026 (pytorch/pytorch PR #179653)
    assert best(amd("gfx1103"), "2.12") == "cpu"
    assert best(amd("gfx1103"), "2.13") == "rocm7.2"


def test_rocm624_of_torch_2_6_lacks_the_targets_added_after_its_branch_cut():
    assert best(amd("gfx1201"), "2.6") == "cpu"  # PRs #147761, #148562
    assert best(amd("gfx1201"), "2.7") == "rocm6.3"


def test_rtx_4090_with_driver_575_gets_cu129_for_2_10_on_linux_and_cu128_on_windows():
    # cu129 is a Linux-only "limited release" of 2.10/2.11 (test-infra PR #7652); CUDA 13 needs 580
    assert best(nvidia("575.57.08", (8, 9)), "2.10") == "cu129"
    assert best(nvidia("575.57.08", (8, 9)), "2.11") == "cu129"
    assert best(nvidia("576.02", (8, 9), system="Windows", arch="AMD64"), "2.10") == "cu128"
    reason = incompatibility(parse_backend("cu129"), Version("2.10"), nvidia("576.02", (8, 9), "Windows", "AMD64"))
    assert reason == "torch 2.10 has no cu129 builds for windows-x86_64"
    assert best(nvidia("575.57.08", (8, 9)), "2.12") == "cu126"  # cu129 is gone again


def test_cu134_was_pulled_from_2_14_and_is_linux_only_in_2_15():
    # pytorch/pytorch#194374 and test-infra#8601 removed CUDA 13.4 from release/2.14
    assert best(nvidia("580.65.06", (9, 0)), "2.14") == "cu132"
    assert best(nvidia("580.65.06", (9, 0)), "2.15") == "cu134"
    assert best(nvidia("581.15", (9, 0), system="Windows", arch="AMD64"), "2.15") == "cu132"


def test_cu129_is_back_in_2_13_on_linux_only_and_2_15_has_no_cuda_12():
    assert best(nvidia("575.57.08", (8, 9)), "2.13") == "cu129"  # googlecolab/colabtools#6053
    assert best(nvidia("576.02", (8, 9), system="Windows", arch="AMD64"), "2.13") == "cu126"
    assert best(nvidia("550.54.14", (8, 6)), "2.15") == "cpu"  # no CUDA 12 build: driver 550 gets none


def test_pypis_torch_is_a_cuda_build_on_linux_aarch64_from_2_11():
    # The registry's metadata: 2.10's CUDA pins carry platform_machine == "x86_64"; from 2.11
    # cuda-toolkit[...]==13.0.x applies on every Linux machine; 2.15 pins 13.2.2.
    from ltt_hook.selection import pypi_backend

    assert pypi_backend(Version("2.10"), "linux-aarch64") == parse_backend("cpu")
    assert pypi_backend(Version("2.11"), "linux-aarch64") == parse_backend("cu130")
    assert pypi_backend(Version("2.15"), "linux-aarch64") == parse_backend("cu132")
    assert pypi_backend(Version("2.15"), "linux-x86_64") == parse_backend("cu132")
    assert pypi_backend(Version("2.14"), "windows-x86_64") == parse_backend("cpu")
    assert pypi_backend(Version("2.16"), "linux-aarch64") is None  # a CUDA version nobody knows yet


@pytest.mark.parametrize("release, ptx", [("2.9", True), ("2.10", True), ("2.11", False), ("2.14", False)])
def test_cuda_13_ptx_per_release_on_linux_and_never_on_windows(release, ptx):
    # PTX lets a GPU newer than every SASS target JIT the code (here an imaginary sm_130)
    linux = incompatibility(parse_backend("cu130"), Version(release), nvidia("600.1", (13, 0)))
    windows = incompatibility(parse_backend("cu130"), Version(release), nvidia("600.1", (13, 0), "Windows", "AMD64"))
    assert (linux is None) is ptx
    assert windows is not None


def test_torch_2_7_cu128_has_ptx_and_on_windows_reaches_back_to_maxwell():
    linux = incompatibility(parse_backend("cu128"), Version("2.7"), nvidia("600.1", (13, 0)))
    assert linux is None  # compute_120 PTX (PR #145792)
    assert incompatibility(parse_backend("cu128"), Version("2.8"), nvidia("600.1", (13, 0))) is not None
    pascal_windows = nvidia("600.1", (6, 1), "Windows", "AMD64")
    assert incompatibility(parse_backend("cu128"), Version("2.7"), pascal_windows) is None
    assert incompatibility(parse_backend("cu128"), Version("2.7"), nvidia("600.1", (6, 1))) is not None


def test_cu128_drops_volta_in_2_11():
    volta = nvidia("600.1", (7, 0))
    assert incompatibility(parse_backend("cu128"), Version("2.10"), volta) is None
    assert incompatibility(parse_backend("cu128"), Version("2.11"), volta) is not None


def test_arm_machines_are_judged_with_the_aarch64_lists():
    gh200 = nvidia("580.65.06", (9, 0), arch="aarch64")
    assert best(gh200, "2.14") == "cu132"
    assert best(gh200, "2.15") == "cu134"
    assert best(gh200, "2.7") == "cu128"
    assert best(gh200, "2.6") == "cpu"  # no CUDA aarch64 wheels before 2.7
    thor = nvidia("580.65.06", (11, 0), arch="aarch64")  # Jetson Thor, sm_110
    assert best(thor, "2.14") == "cu132"
    assert best(thor, "2.8") == "cpu"  # cu128/cu129 aarch64 stop at 10.0 and 12.0
    assert best(nvidia("580.65.06", (11, 0)), "2.14") == "cpu"  # the x86 lists lack sm_110
    spark = nvidia("580.95.05", (12, 1), arch="aarch64")  # DGX Spark GB10: sm_120 code runs on 12.1
    assert best(spark, "2.14") == "cu132" and best(spark, "2.15") == "cu134"
    assert incompatibility(parse_backend("xpu"), Version("2.14"), Machine("Linux", arch="aarch64")) is not None


# --------------------------------------------------------------------------- end to end
# Real pip in the shared hook virtualenv against the replica of the PyTorch index (dry runs with
# ``--report``); AMD machines through the LTT_AMD_GPU_ARCHITECTURE override, NVIDIA ones through
# the NVML stand-in.

RTX_4090 = ("8.9", "NVIDIA GeForce RTX 4090")


def _built(requirement, expected):
    """A case that is skipped where the pinned release has no wheels for the test Python."""
    from support.harness import releases_for

    pinned = requirement.partition("==")[2]
    built = pinned in {r.torch for r in releases_for()}
    return pytest.param(requirement, expected,
                        marks=() if built else pytest.mark.skip(reason=f"torch {pinned} has no wheels for this Python"))


@pytest.mark.parametrize("gfx, requirement, expected", [
    # RX 7800 XT: no rocm6.1 build of 2.5 lists gfx1101 (PR #141667), and rocm6.2 lacks it too
    pytest.param("gfx1101", *_built("torch==2.5.1", "2.5.1+cpu").values, id="rx7800xt-2.5.1"),
    # Strix Halo: rocm7.1 of 2.10 lists gfx1151 (PR #167299)
    pytest.param("gfx1151", *_built("torch==2.10.0", "2.10.0+rocm7.1").values, id="strix-halo-2.10.0"),
])
def test_amd_gpus_get_the_rocm_builds_of_each_release_that_list_them(hook_venv, gfx, requirement, expected):
    result = hook_venv.pip("install", requirement, env={"LTT_AMD_GPU_ARCHITECTURE": gfx})
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == expected


def test_rx_7800_xt_gets_a_rocm_build_of_the_newest_release(hook_venv):
    from support.harness import newest_release

    newest = newest_release().torch
    result = hook_venv.pip("install", "torch", env={"LTT_AMD_GPU_ARCHITECTURE": "gfx1101"})
    assert result.returncode == 0, result.output
    backend = result.chosen["torch"].partition("+")[2]
    assert result.chosen["torch"].startswith(newest + "+") and backend.startswith("rocm"), result.chosen


@pytest.mark.parametrize("requirement, expected", [_built("torch==2.10.0", "2.10.0+cu129")])
def test_driver_575_rtx_4090_gets_cu129_of_torch_2_10_on_linux(hook_venv, nvidia, requirement, expected):
    # CUDA 13 needs driver 580; cu129 is the best CUDA 12 build of 2.10 on Linux (test-infra PR #7652)
    result = hook_venv.pip("install", requirement, env=nvidia("575.57.08", RTX_4090))
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == expected


#: What a row's source must name: a public PyTorch (or PyTorch-index, uv, kernel, NVIDIA) file,
#: pull request, issue or release note, or says it is inferred; never a document outside the
#: repository.
_PUBLIC_SOURCE = re.compile(r"pytorch/|PyTorch|astral-sh/uv|torvalds/linux|developer\.nvidia\.com|wheelnext/")


def test_every_row_cites_a_public_source_and_no_private_document():
    sources = [row[-1] for row in data.CUDA_ARCHES] + [row[-1] for row in data.ROCM_ARCHES]
    sources += [data.XPU_SOURCE, data.JETSON_SOURCE]
    for row in data.EXTENSION_SOURCES:  # the publishers' own install pages
        assert "audit" not in row["source"].lower() and re.search(r"\w\.\w+/", row["source"]), row
    for source in sources:
        assert "audit" not in source.lower() and "shared/" not in source, source
        # An inferred row says so (it follows its neighbours and claims no PTX).
        assert _PUBLIC_SOURCE.search(source) or "inferred" in source or "docs" in source, source
