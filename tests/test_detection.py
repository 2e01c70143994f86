"""Detection and the ROCm/XPU rules as a specification.

The pure logic (gfx decoding, override parsing, which backend fits which GPUs) is called
directly. Detection itself runs in this process over stand-ins at the operating-system
boundary only: a fake sysfs tree (``LTT_SYSROOT``), stand-in tools on ``PATH`` and, for
Windows and macOS, ``platform.system()``. pynvml is made absent, so NVIDIA plays no part
here (it has its end-to-end tests in test_machines.py).
"""

from __future__ import annotations

import sys
import time

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ltt_hook import config, data, detection
from ltt_hook.backends import parse_backend
from ltt_hook.detection import Gpu, Machine, OverrideError, decode_gfx_target_version, read_overrides
from ltt_hook.selection import Policy, compatibility, incompatibility
from support import gpu as stand_in

LATEST = Version("2.14")


def b(name):
    return parse_backend(name)


def amd(*arches, system="Linux"):
    return Machine(system, gpus=[Gpu("amd", f"AMD GPU {a}", None, a) for a in arches])


def intel(*device_ids, system="Linux"):
    return Machine(system, gpus=[detection._intel_gpu(int(d, 16)) for d in device_ids])


# --------------------------------------------------------------------------- gfx targets


@pytest.mark.parametrize("value, gfx", [
    (90010, "gfx90a"), (110000, "gfx1100"), (90402, "gfx942"), (90006, "gfx906"), (100300, "gfx1030"),
    (110501, "gfx1151"), (120001, "gfx1201"), (90012, "gfx90c"), (110003, "gfx1103"),
    (0, None),        # a CPU node
    (91600, None),    # minor 16 is not one hex digit
    (90016, None),    # nor is stepping 16
])
def test_kfd_gfx_target_version_decodes_with_hex_minor_and_stepping(value, gfx):
    assert decode_gfx_target_version(value) == gfx


def test_every_tabled_gfx_target_round_trips_through_kfd_encoding():
    targets = {a for arches in data.ROCM_ARCHES.values() for a in arches.split()}
    for target in targets:
        assert decode_gfx_target_version(stand_in.gfx_target_version(target)) == target


# --------------------------------------------------------------------------- overrides


def test_overrides_parse():
    found = read_overrides({"LTT_CUDA_DRIVER_VERSION": " 550.54.14 ", "LTT_CUDA_COMPUTE_CAPABILITIES": "8.6, 9.0",
                            "LTT_AMD_GPU_ARCHITECTURE": "GFX1100,gfx90a:xnack-"})
    assert found.cuda_driver == "550.54.14"
    assert found.cuda_capabilities == ((8, 6), (9, 0))
    assert found.amd_architectures == ("gfx1100", "gfx90a")


def test_empty_overrides_count_as_unset():
    found = read_overrides({"LTT_CUDA_DRIVER_VERSION": "", "LTT_CUDA_COMPUTE_CAPABILITIES": " ",
                            "LTT_AMD_GPU_ARCHITECTURE": ""})
    assert (found.cuda_driver, found.cuda_capabilities, found.amd_architectures) == (None, None, None)


@pytest.mark.parametrize("var, value, expected", [
    ("LTT_CUDA_DRIVER_VERSION", "r550", "an NVIDIA driver version"),
    ("LTT_CUDA_DRIVER_VERSION", "550.54.14.1.2", "an NVIDIA driver version"),
    ("LTT_CUDA_COMPUTE_CAPABILITIES", "86", "compute capabilities (e.g. 8.6,9.0)"),
    ("LTT_CUDA_COMPUTE_CAPABILITIES", "sm_86,9.0", "compute capabilities"),
    ("LTT_CUDA_COMPUTE_CAPABILITIES", ",", "compute capabilities"),
    ("LTT_AMD_GPU_ARCHITECTURE", "rdna3", "AMD GPU architectures"),
    ("LTT_AMD_GPU_ARCHITECTURE", "gfx000", "AMD GPU architectures"),
])
def test_an_override_that_does_not_parse_is_a_one_line_configuration_error(var, value, expected):
    with pytest.raises(OverrideError) as caught:
        read_overrides({var: value})
    message = str(caught.value)
    assert isinstance(caught.value, config.ConfigError)  # pip_patch and __main__ report these
    assert message.startswith(f"ltt-hook: environment variable {var} is {value!r}, not ")
    assert expected in message and "\n" not in message


# --------------------------------------------------------------------------- ROCm


@pytest.mark.parametrize("arch, backend, ok", [
    ("gfx1100", "rocm7.2", True), ("gfx942", "rocm6.0", True), ("gfx950", "rocm6.4", False),
    ("gfx950", "rocm7.0", True), ("gfx1151", "rocm7.1", False), ("gfx1151", "rocm7.2", True),
    ("gfx1101", "rocm6.2", False), ("gfx1101", "rocm6.2.4", True),
    # a ROCm backend missing from the table borrows the nearest older one of its major version
    ("gfx1151", "rocm7.14", True), ("gfx1201", "rocm6.5", True), ("gfx950", "rocm6.5", False),
    # no data for ROCm 5.x, nor for a new major version: never chosen automatically
    ("gfx90a", "rocm5.7", False), ("gfx1100", "rocm8.0", False),
])
def test_a_rocm_build_fits_when_it_lists_the_gpu_architecture(arch, backend, ok):
    assert (incompatibility(b(backend), LATEST, amd(arch)) is None) is ok


def test_rocm_exclusions_say_why():
    assert incompatibility(b("rocm7.1"), LATEST, amd("gfx1151")) == "rocm7.1 builds lack gfx1151 (AMD GPU gfx1151)"
    assert "used only when asked for explicitly" in incompatibility(b("rocm5.7"), LATEST, amd("gfx90a"))
    assert incompatibility(b("rocm7.2"), LATEST, Machine("Linux")) == "no AMD GPU detected"
    assert "Linux only" in incompatibility(b("rocm7.2"), LATEST, amd("gfx1100", system="Windows"))
    assert incompatibility(b("rocm7.2"), LATEST, amd("gfx1100", system="Darwin")) == "macOS has no ROCm builds"
    assert "using rocm7.2's list" in compatibility(b("rocm7.14"), LATEST, amd("gfx1100"))


def test_every_amd_gpu_must_be_listed():
    assert incompatibility(b("rocm7.1"), LATEST, amd("gfx90a", "gfx1151")) is not None
    assert incompatibility(b("rocm7.2"), LATEST, amd("gfx90a", "gfx1151")) is None


def test_an_amd_gpu_no_rocm_build_supports_does_not_veto_one_that_is_supported():
    # Ryzen 7000's Radeon iGPU (gfx1036) next to a Radeon RX 7900 XTX: ROCm for the card.
    machine = amd("gfx1100", "gfx1036")
    assert incompatibility(b("rocm7.2"), LATEST, machine) is None
    assert "left out: gfx1036, which no ROCm build supports" in compatibility(b("rocm7.2"), LATEST, machine)
    # an APU alone: no ROCm build
    assert incompatibility(b("rocm7.2"), LATEST, amd("gfx1103")) == "rocm7.2 builds lack gfx1103 (AMD GPU gfx1103)"


# --------------------------------------------------------------------------- Intel XPU


@pytest.mark.parametrize("device, ok", [
    ("0xe20b", True),    # Arc B580 (Battlemage)
    ("0x56a0", True),    # Arc A770 (Alchemist)
    ("0x0bd5", True),    # Data Center GPU Max 1550 (Ponte Vecchio)
    ("0x7d55", True),    # Core Ultra 7 155H, Arc graphics (Meteor Lake-H)
    ("0x64a0", True),    # Core Ultra 200V, Arc 140V (Lunar Lake)
    ("0x9a49", False),   # Tiger Lake Iris Xe
    ("0xa780", False),   # Raptor Lake UHD Graphics 770
    ("0x7d45", False),   # Meteor Lake-U "Intel Graphics"
    ("0x4905", False),   # DG1 (Iris Xe MAX)
])
def test_the_xpu_build_only_for_intel_gpus_pytorch_supports(device, ok):
    assert (incompatibility(b("xpu"), LATEST, intel(device)) is None) is ok


def test_xpu_exclusions_say_why():
    assert (incompatibility(b("xpu"), LATEST, intel("0x9a49"))
            == "Intel GPU (PCI 8086:9a49) is not a GPU PyTorch's XPU builds support")
    assert incompatibility(b("xpu"), LATEST, Machine("Linux")) == "no Intel GPU detected"
    assert incompatibility(b("xpu"), LATEST, intel("0xe20b", system="Darwin")) == "macOS has no XPU builds"
    assert compatibility(b("xpu"), LATEST, intel("0xe20b")) == "PyTorch's XPU builds support Intel Arc B-series (Battlemage)"


def test_an_unsupported_intel_igpu_does_not_veto_an_arc_card():
    machine = intel("0xa780", "0x56a0")
    assert incompatibility(b("xpu"), LATEST, machine) is None
    assert "left out: 8086:a780" in compatibility(b("xpu"), LATEST, machine)


def test_every_xpu_device_id_is_unique_lowercase_hex():
    ids = [i for value in data.XPU_DEVICES.values() for i in value.split()]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("0x") and len(i) == 6 and i == i.lower() and int(i, 16) for i in ids)


# --------------------------------------------------------------------------- mixed machines


def pages(machine, release=">=2.13"):
    return [p.name for p in Policy("stable", machine=machine, python=(3, 11),
                                   torch_specifiers=[SpecifierSet(release)]).pages()]


def test_each_backend_is_judged_by_its_own_vendor_and_cuda_beats_rocm_beats_xpu():
    nvidia = [Gpu("nvidia", "NVIDIA GeForce RTX 3090", (8, 6))]
    iris = detection._intel_gpu(0x9A49)
    arc = detection._intel_gpu(0xE20B)
    radeon = Gpu("amd", "AMD GPU", None, "gfx1100")
    # NVIDIA + an Intel iGPU: the iGPU neither helps nor hurts the CUDA build
    assert pages(Machine("Linux", "550.54.14", nvidia + [iris])) == ["cu126", "cpu"]
    assert incompatibility(b("cu126"), LATEST, Machine("Linux", "550.54.14", nvidia + [iris])) is None
    # NVIDIA + an Arc card, AMD + an Arc card: the higher-ranked vendor's build
    assert pages(Machine("Linux", "550.54.14", nvidia + [arc])) == ["cu126", "cpu"]
    assert pages(Machine("Linux", None, [radeon, arc])) == ["rocm7.14", "rocm7.2", "cpu"]
    assert pages(Machine("Linux", None, [arc])) == ["xpu", "cpu"]
    assert pages(Machine("Linux", None, [iris])) == ["cpu"]


def test_rocm_pages_follow_each_release():
    assert pages(amd("gfx942"), "==2.5.1") == ["rocm6.2", "cpu"]
    assert pages(amd("gfx1151"), "==2.13.0") == ["rocm7.2", "cpu"]
    assert pages(amd("gfx1151"), "==2.10.0") == ["cpu"]  # rocm7.0/7.1 lack gfx1151
    assert pages(amd("gfx90a"), "==2.1.2") == ["cpu"]  # ROCm 5.x only: never automatic


# --------------------------------------------------------------------------- detection


@pytest.fixture
def machine_env(tmp_path, monkeypatch):
    """A machine made of stand-ins: an empty sysroot, a bin folder alone on PATH, no pynvml.

    Yields ``(sysroot, bin)``; detection's once-per-process cache is reset around the test.
    """
    sysroot, bin_dir = tmp_path / "sysroot", tmp_path / "bin"
    stand_in.make_sysroot(sysroot)
    bin_dir.mkdir()
    monkeypatch.setenv("LTT_SYSROOT", str(sysroot))
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("ROCM_PATH", raising=False)
    for var in (detection.DRIVER_VAR, detection.CAPS_VAR, detection.AMD_VAR):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    monkeypatch.setattr(detection, "_CACHE", None)
    yield sysroot, bin_dir
    detection._CACHE = None


def arches(machine):
    return [(g.vendor, g.arch) for g in machine.gpus]


def test_kfd_topology_needs_no_rocm_user_space(machine_env):
    sysroot, _ = machine_env
    stand_in.make_sysroot(sysroot, amd_gfx=["gfx1100", "gfx942"])
    machine = detection.detect()
    assert arches(machine) == [("amd", "gfx1100"), ("amd", "gfx942")]
    assert "KFD topology (/sys/class/kfd): AMD GPU(s) gfx1100, gfx942" in machine.notes


def test_rocm_agent_enumerator_comes_first(machine_env):
    sysroot, bin_dir = machine_env
    stand_in.make_sysroot(sysroot, amd_gfx=["gfx1100"])
    stand_in.make_rocm_agent_enumerator(bin_dir, ["gfx90a:sramecc+:xnack-", "gfx90a"])
    assert arches(detection.detect()) == [("amd", "gfx90a"), ("amd", "gfx90a")]


def test_rocminfo_next_with_the_marketing_name(machine_env):
    _, bin_dir = machine_env
    stand_in.make_rocminfo(bin_dir, [("gfx1100", "Radeon RX 7900 XTX")])
    machine = detection.detect()
    assert machine.gpus == [Gpu("amd", "Radeon RX 7900 XTX", None, "gfx1100")]
    assert machine.gpus[0].summary == "Radeon RX 7900 XTX (AMD, gfx1100)"


def test_a_tool_printing_garbage_falls_through_to_the_next_source(machine_env):
    sysroot, bin_dir = machine_env
    stand_in.make_sysroot(sysroot, amd_gfx=["gfx1100"])
    stand_in.make_rocm_agent_enumerator(bin_dir, ["Segmentation fault (core dumped)"])
    machine = detection.detect()
    assert arches(machine) == [("amd", "gfx1100")]
    assert "rocm_agent_enumerator: unexpected output 'Segmentation fault (core dumped)'" in machine.notes


def test_a_hanging_tool_is_abandoned_after_the_timeout(machine_env, monkeypatch):
    sysroot, bin_dir = machine_env
    monkeypatch.setattr(detection, "TOOL_TIMEOUT", 1.0)
    stand_in.make_sysroot(sysroot, amd_gfx=["gfx942"])
    stand_in.make_rocm_agent_enumerator(bin_dir, ["gfx942"], hang=True)
    stand_in.make_rocminfo(bin_dir, [("gfx942", "AMD Instinct MI300X")], hang=True)
    start = time.monotonic()
    machine = detection.detect()
    assert time.monotonic() - start < 4  # two tools, one second each
    assert arches(machine) == [("amd", "gfx942")]
    assert "rocm_agent_enumerator: no answer within 1 s" in machine.notes
    assert "rocminfo: no answer within 1 s" in machine.notes


def test_intel_gpus_come_from_pci_display_devices(machine_env):
    sysroot, _ = machine_env
    stand_in.make_sysroot(sysroot, intel_devices=["0xe20b", "0x9a49:i915"])
    machine = detection.detect()
    assert [(g.name, g.arch) for g in machine.gpus] == [("Intel Arc B-series (Battlemage)", "0xe20b"),
                                                         ("Intel GPU", "0x9a49")]
    assert any("8086:9a49 (not an XPU-supported GPU)" in note for note in machine.notes)


def test_windows_reads_the_display_adapter_list_and_never_looks_for_rocm(machine_env, monkeypatch):
    sysroot, bin_dir = machine_env
    monkeypatch.setattr(detection.platform, "system", lambda: "Windows")
    stand_in.make_sysroot(sysroot, amd_gfx=["gfx1100"])  # not consulted on Windows
    stand_in.make_powershell(bin_dir, [
        (r"PCI\VEN_8086&DEV_E20B&SUBSYS_10008086&REV_00\4&1234", "Intel(R) Arc(TM) B580 Graphics"),
        (r"PCI\VEN_8086&DEV_A780&SUBSYS_7D251462&REV_04\3&11583659", "Intel(R) UHD Graphics 770"),
        (r"PCI\VEN_10DE&DEV_2684&SUBSYS_16F310DE&REV_A1\4&2B", "NVIDIA GeForce RTX 4090"),
    ])
    machine = detection.detect()
    assert machine.system == "Windows"
    assert [(g.name, g.arch) for g in machine.gpus] == [("Intel Arc B-series (Battlemage)", "0xe20b"),
                                                         ("Intel(R) UHD Graphics 770", "0xa780")]
    assert incompatibility(b("xpu"), LATEST, machine) is None
    assert machine.amd_gpus == []
    assert incompatibility(b("rocm7.2"), LATEST, machine) == "PyTorch's ROCm builds are for Linux only (this is Windows)"


def test_windows_display_adapter_query_is_bounded(machine_env, monkeypatch):
    _, bin_dir = machine_env
    monkeypatch.setattr(detection.platform, "system", lambda: "Windows")
    monkeypatch.setattr(detection, "TOOL_TIMEOUT", 1.0)
    stand_in.make_powershell(bin_dir, [], hang=True)
    machine = detection.detect()
    assert machine.gpus == []
    assert any("PowerShell Win32_VideoController): no answer within 1 s" in note for note in machine.notes)


def test_macos_probes_nothing(machine_env, monkeypatch):
    sysroot, _ = machine_env
    monkeypatch.setattr(detection.platform, "system", lambda: "Darwin")
    stand_in.make_sysroot(sysroot, amd_gfx=["gfx1100"], intel_devices=["0xe20b"])
    monkeypatch.setenv("LTT_CUDA_DRIVER_VERSION", "550.54.14")
    machine = detection.detect()
    assert machine.gpus == [] and machine.nvidia_driver is None
    assert "LTT_CUDA_DRIVER_VERSION ignored on macOS" in machine.notes


def test_overrides_replace_probing_of_their_vendor(machine_env, monkeypatch):
    sysroot, _ = machine_env
    stand_in.make_sysroot(sysroot, amd_gfx=["gfx1100"], intel_devices=["0xe20b"])
    monkeypatch.setenv("LTT_AMD_GPU_ARCHITECTURE", "gfx942,gfx942")
    monkeypatch.setenv("LTT_CUDA_DRIVER_VERSION", "550.54.14")
    monkeypatch.setenv("LTT_CUDA_COMPUTE_CAPABILITIES", "7.0,8.0")
    machine = detection.detect()
    assert arches(machine) == [("nvidia", None), ("nvidia", None), ("amd", "gfx942"), ("amd", "gfx942"),
                               ("intel", "0xe20b")]  # Intel is still probed
    assert [g.capability for g in machine.nvidia_gpus] == [(7, 0), (8, 0)]
    assert machine.nvidia_driver == "550.54.14"
    assert machine.overrides == {"LTT_AMD_GPU_ARCHITECTURE": "gfx942,gfx942", "LTT_CUDA_DRIVER_VERSION": "550.54.14",
                                 "LTT_CUDA_COMPUTE_CAPABILITIES": "7.0,8.0"}


def test_a_driver_override_alone_means_one_gpu_the_driver_judges(machine_env, monkeypatch):
    monkeypatch.setenv("LTT_CUDA_DRIVER_VERSION", "580.65.06")
    machine = detection.detect()
    assert [(g.vendor, g.capability) for g in machine.gpus] == [("nvidia", None)]
    assert incompatibility(b("cu132"), LATEST, machine) is None


def test_capabilities_alone_still_need_a_driver(machine_env, monkeypatch):
    sysroot, _ = machine_env
    monkeypatch.setenv("LTT_CUDA_COMPUTE_CAPABILITIES", "8.6")
    machine = detection.detect(refresh=True)
    assert machine.nvidia_driver is None and machine.gpus == []
    assert any("set LTT_CUDA_DRIVER_VERSION too" in note for note in machine.notes)
    stand_in.make_sysroot(sysroot, nvidia_driver="550.144.03")  # the kernel module's version file
    machine = detection.detect(refresh=True)
    assert machine.nvidia_driver == "550.144.03"
    assert [g.capability for g in machine.gpus] == [(8, 6)]


def test_a_bad_override_raises_from_detect_and_nothing_else_does(machine_env, monkeypatch):
    monkeypatch.setenv("LTT_AMD_GPU_ARCHITECTURE", "navi31")
    with pytest.raises(OverrideError, match="LTT_AMD_GPU_ARCHITECTURE is 'navi31'"):
        detection.detect()


def test_detection_runs_once_per_process(machine_env):
    sysroot, _ = machine_env
    first = detection.detect()
    stand_in.make_sysroot(sysroot, amd_gfx=["gfx1100"])
    assert detection.detect() is first and first.gpus == []
    assert arches(detection.detect(refresh=True)) == [("amd", "gfx1100")]
