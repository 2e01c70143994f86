"""Every machine gets its best build, and ``python -m ltt_hook`` says why.

End to end: real pip (dry runs with ``--report``) in the shared hook virtualenv, against the
replica of the PyTorch index. Each machine is made of operating-system-boundary stand-ins
only: a fake sysfs/procfs tree (``LTT_SYSROOT``: KFD topology nodes, PCI devices, the NVIDIA
kernel module), stand-in tools on ``PATH`` (``rocm_agent_enumerator``, ``rocminfo``,
``nvidia-smi``), and the compiled stand-in ``libnvidia-ml.so.1`` under the real pynvml.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from support import gpu

RTX_3090 = ("8.6", "NVIDIA GeForce RTX 3090")
V100 = ("7.0", "Tesla V100-SXM2-32GB")
A100 = ("8.0", "NVIDIA A100-SXM4-80GB")


@pytest.fixture
def sysroot(tmp_path) -> Path:
    """An empty /proc + /sys tree of this test's own (the venv's default one is shared)."""
    return gpu.make_sysroot(tmp_path / "sysroot")


@pytest.fixture
def tools(hook_venv):
    """``venv.home/bin``, first on the harness's PATH; whatever a test puts there is removed."""
    bin_dir = hook_venv.home / "bin"
    bin_dir.mkdir(exist_ok=True)
    before = set(bin_dir.iterdir())
    yield bin_dir
    for path in set(bin_dir.iterdir()) - before:
        path.unlink()


def explain(venv, env):
    """``python -m ltt_hook`` as text and as JSON, for the same machine."""
    text = venv.run(venv.python, "-m", "ltt_hook", env=env)
    assert text.returncode == 0 and "Traceback" not in text.output, text.output
    raw = venv.run(venv.python, "-m", "ltt_hook", "--json", env=env)
    assert raw.returncode == 0, raw.output
    return text.stdout, json.loads(raw.stdout)


def backend(info, name):
    return next(b for b in info["backends"] if b["backend"] == name)


def ran_once_and_ended(tool: Path) -> bool:
    """The stand-in ``tool`` ran exactly once and that run is over (answered, or was killed)."""
    pids = gpu.runs(tool)
    return len(pids) == 1 and not gpu.is_running(pids[0])


def install(venv, env, *requirements):
    result = venv.pip("install", *(requirements or ("torch",)), env=env)
    assert result.returncode == 0, result.output
    return result.chosen


# --------------------------------------------------------------------------- AMD


def test_radeon_rx_7900_xtx_gets_the_newest_rocm_build_that_lists_gfx1100(hook_venv, sysroot):
    gpu.make_sysroot(sysroot, amd_gfx=["gfx1100"])  # amdgpu's KFD topology; no ROCm installed
    env = {"LTT_SYSROOT": str(sysroot)}
    chosen = install(hook_venv, env, "torch", "torchvision")
    assert (chosen["torch"], chosen["torchvision"]) == ("2.14.1+rocm7.14", "0.29.1+rocm7.14")
    assert install(hook_venv, env, "torch==2.9.1")["torch"] == "2.9.1+rocm6.4"
    text, info = explain(hook_venv, env)
    assert [(g["vendor"], g["gfx"]) for g in info["machine"]["gpus"]] == [("amd", "gfx1100")]
    assert "GPU 0: AMD GPU (AMD, gfx1100)" in text
    assert "KFD topology (/sys/class/kfd): AMD GPU(s) gfx1100" in text
    assert "rocm7.14   compatible: the build lists gfx1100 (rocm7.14 is not in the tables; using rocm7.2's list)" in text
    assert backend(info, "cu126")["reason"] == "no NVIDIA driver found"
    assert info["choice"]["backend"] == "rocm7.14"


def test_the_report_names_the_interpreters_cpu_architecture(hook_venv, sysroot):
    # The interpreter's platform tag decides (what pip installs), here made linux-aarch64 through
    # CPython's own variable: PyTorch has no ROCm build for it, whatever the GPU.
    gpu.make_sysroot(sysroot, amd_gfx=["gfx1100"])
    text, info = explain(hook_venv, {"LTT_SYSROOT": str(sysroot), "_PYTHON_HOST_PLATFORM": "linux-aarch64"})
    assert info["machine"]["arch"] == "aarch64"
    assert "  Linux aarch64, no NVIDIA driver" in text
    assert backend(info, "rocm7.14")["reason"] == "PyTorch's ROCm builds are for Linux x86_64 only (this is linux-aarch64)"
    assert info["choice"]["backend"] == "cpu"


@pytest.mark.parametrize("requirement, expected", [
    ("torch", "2.14.1+rocm7.14"), ("torch==2.13.0", "2.13.0+rocm7.2"), ("torch==2.5.1", "2.5.1+rocm6.2"),
    ("torch==2.0.1", "2.0.1+cpu"),  # ROCm 5.x builds only when asked for explicitly
])
def test_instinct_mi300x_per_release(hook_venv, sysroot, tools, requirement, expected):
    gpu.make_rocm_agent_enumerator(tools, ["gfx942", "gfx942"])  # two MI300X, no KFD tree needed
    env = {"LTT_SYSROOT": str(sysroot)}
    assert install(hook_venv, env, requirement)["torch"] == expected
    if requirement == "torch":
        text, info = explain(hook_venv, env)
        assert [g["gfx"] for g in info["machine"]["gpus"]] == ["gfx942", "gfx942"]
        assert "rocm_agent_enumerator: AMD GPU(s) gfx942, gfx942" in text


def test_rocminfo_names_the_card(hook_venv, sysroot, tools):
    gpu.make_rocminfo(tools, [("gfx942", "AMD Instinct MI300X")])
    env = {"LTT_SYSROOT": str(sysroot)}
    assert install(hook_venv, env)["torch"] == "2.14.1+rocm7.14"
    text, _ = explain(hook_venv, env)
    assert "GPU 0: AMD Instinct MI300X (AMD, gfx942)" in text


def test_unsupported_amd_apu_gets_cpu(hook_venv, sysroot):
    # Cezanne's Vega iGPU (gfx90c): in no ROCm build. (The Radeon 780M, gfx1103, was the
    # example here until the build-facts audit: ROCm builds list it from torch 2.13 on.)
    gpu.make_sysroot(sysroot, amd_gfx=["gfx90c"])
    env = {"LTT_SYSROOT": str(sysroot)}
    assert install(hook_venv, env)["torch"] == "2.14.1+cpu"
    text, info = explain(hook_venv, env)
    assert backend(info, "rocm7.2")["reason"] == "rocm7.2 builds of torch 2.14 lack gfx90c (AMD GPU)"
    assert "rocm7.14   excluded: rocm7.14 builds of torch 2.14 lack gfx90c (AMD GPU)" in text
    assert info["choice"]["backend"] == "cpu"


def test_ryzen_igpu_next_to_a_radeon_card_does_not_cost_the_card_its_rocm_build(hook_venv, sysroot):
    gpu.make_sysroot(sysroot, amd_gfx=["gfx1100", "gfx1036"])
    env = {"LTT_SYSROOT": str(sysroot)}
    assert install(hook_venv, env)["torch"] == "2.14.1+rocm7.14"
    _, info = explain(hook_venv, env)
    assert "left out: gfx1036, which no ROCm build supports" in backend(info, "rocm7.14")["why"]


@pytest.mark.parametrize("fault, note", [
    ({"gfx": ["\x1b[31mHSA_STATUS_ERROR_OUT_OF_RESOURCES", "???"]},
     r"rocm_agent_enumerator: unexpected output '\x1b[31mHSA_STATUS_ERROR_OUT_OF_RESOURCES'"),  # escaped
    ({"gfx": [], "hang": True}, "rocm_agent_enumerator: no answer within 5 s"),
])
def test_broken_rocm_agent_enumerator_falls_back_to_sysfs(hook_venv, sysroot, tools, fault, note):
    enumerator = gpu.make_rocm_agent_enumerator(tools, **fault)
    gpu.make_sysroot(sysroot, amd_gfx=["gfx1100"])
    env = {"LTT_SYSROOT": str(sysroot)}
    result = hook_venv.pip("-v", "install", "torch", env=env)
    assert result.returncode == 0, result.output
    assert ran_once_and_ended(enumerator)  # asked once per pip process; a hung one was killed
    assert result.chosen["torch"] == "2.14.1+rocm7.14"
    assert f"detected: {note}" in result.output  # pip's -v decision block
    assert "detected: KFD topology (/sys/class/kfd): AMD GPU(s) gfx1100" in result.output


# --------------------------------------------------------------------------- Intel


def test_arc_b580_gets_the_xpu_build(hook_venv, sysroot):
    gpu.make_sysroot(sysroot, intel_devices=["0xe20b"])
    env = {"LTT_SYSROOT": str(sysroot)}
    chosen = install(hook_venv, env, "torch", "torchvision")
    assert (chosen["torch"], chosen["torchvision"]) == ("2.14.1+xpu", "0.29.1+xpu")
    text, info = explain(hook_venv, env)
    assert "GPU 0: Intel Arc B-series (Battlemage) (Intel, PCI 8086:e20b)" in text
    assert "xpu        compatible: PyTorch's XPU builds support Intel Arc B-series (Battlemage)" in text
    assert (info["machine"]["gpus"][0]["pci_id"], info["machine"]["gpus"][0]["gfx"]) == ("0xe20b", None)
    assert info["choice"]["backend"] == "xpu"


def test_older_intel_igpu_gets_cpu_not_a_broken_xpu_build(hook_venv, sysroot):
    gpu.make_sysroot(sysroot, intel_devices=["0x9a49:i915"])  # Tiger Lake Iris Xe
    env = {"LTT_SYSROOT": str(sysroot)}
    assert install(hook_venv, env)["torch"] == "2.14.1+cpu"
    text, info = explain(hook_venv, env)
    assert "GPU 0: Intel GPU (Intel, PCI 8086:9a49)" in text
    assert backend(info, "xpu")["reason"] == "Intel GPU (PCI 8086:9a49) is not a GPU PyTorch's XPU builds support"


# --------------------------------------------------------------------------- NVIDIA


def test_v100_and_a100_get_a_build_for_both(hook_venv, nvidia, sysroot):
    env = {**nvidia("580.65.06", V100, A100), "LTT_SYSROOT": str(sysroot)}
    assert install(hook_venv, env)["torch"] == "2.14.1+cu126"  # cu130/cu132 start at sm_75
    text, info = explain(hook_venv, env)
    assert backend(info, "cu132")["reason"] == "cu132 builds of torch 2.14 lack sm_70 (Tesla V100-SXM2-32GB)"
    assert "cu126      compatible: NVIDIA driver 580.65.06 >= 525.60.13 (CUDA 12.x) and the build has code for sm_70, sm_80" in text
    assert "GPU 1: NVIDIA A100-SXM4-80GB (NVIDIA, compute capability 8.0)" in text


def test_wsl2_nvml_is_found_without_ld_library_path(hook_venv, nvml_lib, sysroot):
    wsl_lib = sysroot / "usr" / "lib" / "wsl" / "lib"
    wsl_lib.mkdir(parents=True)
    shutil.copy(nvml_lib / "libnvidia-ml.so.1", wsl_lib / "libnvidia-ml.so.1")
    env = gpu.nvml_env(nvml_lib, driver="560.94", gpus=[RTX_3090])
    del env["LD_LIBRARY_PATH"]  # WSL2 has neither this nor /proc/driver/nvidia
    env["LTT_SYSROOT"] = str(sysroot)
    assert install(hook_venv, env)["torch"] == "2.14.1+cu126"
    text, info = explain(hook_venv, env)
    assert "NVML: loaded /usr/lib/wsl/lib/libnvidia-ml.so.1 (WSL2)" in info["machine"]["notes"]
    assert "NVIDIA driver 560.94" in text and "GPU 0: NVIDIA GeForce RTX 3090 (NVIDIA, compute capability 8.6)" in text


def test_hung_nvidia_smi_costs_one_timeout_and_the_driver_still_counts(hook_venv, sysroot, tools):
    gpu.make_sysroot(sysroot, nvidia_driver="550.144.03")  # kernel module present, NVML absent
    smi = gpu.make_nvidia_smi(tools, hang=True)
    env = {"LTT_SYSROOT": str(sysroot)}
    text, info = explain(hook_venv, env)
    pids = gpu.runs(smi)
    assert len(pids) == 2, pids  # explain() is two processes: one run each, not one per query
    assert not any(gpu.is_running(pid) for pid in pids)  # killed when the timeout ran out
    assert info["machine"]["nvidia_driver"] == "550.144.03"
    assert "nvidia-smi: no answer within 5 s" in info["machine"]["notes"]
    assert "GPU 0: unknown NVIDIA GPU (NVIDIA, compute capability unknown)" in text
    assert info["choice"]["backend"] == "cu126"
    assert install(hook_venv, env)["torch"] == "2.14.1+cu126"


def test_driver_older_than_510_is_judged_by_the_driver_alone(hook_venv, sysroot, tools):
    # No NVML; nvidia-smi of driver 470 lacks the compute_cap field: GPUs of unknown capability.
    gpu.make_nvidia_smi(tools, driver="470.239.06", gpus=[("7.5", "Tesla T4")], old=True)
    env = {"LTT_SYSROOT": str(sysroot)}
    text, info = explain(hook_venv, env)
    assert info["machine"]["nvidia_driver"] == "470.239.06"
    assert "GPU 0: Tesla T4 (NVIDIA, compute capability unknown)" in text
    assert backend(info, "cu126")["reason"] == "needs NVIDIA driver >= 525.60.13 (this machine has 470.239.06)"
    # torch 2.14 has no CUDA 11.x build, and a GPU build beats a newer CPU build
    assert (info["choice"]["torch"], info["choice"]["backend"]) == ("2.7", "cu118")
    assert install(hook_venv, env)["torch"] == "2.7.1+cu118"


def test_nvidia_plus_intel_igpu_gets_cuda(hook_venv, nvidia, sysroot):
    gpu.make_sysroot(sysroot, intel_devices=["0xa780:i915"])  # Raptor Lake UHD Graphics 770
    env = {**nvidia("550.54.14", RTX_3090), "LTT_SYSROOT": str(sysroot)}
    assert install(hook_venv, env)["torch"] == "2.14.1+cu126"
    text, info = explain(hook_venv, env)
    assert [g["vendor"] for g in info["machine"]["gpus"]] == ["nvidia", "intel"]
    assert backend(info, "xpu")["reason"].endswith("is not a GPU PyTorch's XPU builds support")
    assert info["choice"]["backend"] == "cu126"


def test_nvidia_beats_an_arc_card_too(hook_venv, nvidia, sysroot):
    gpu.make_sysroot(sysroot, intel_devices=["0x56a0"])  # Arc A770
    env = {**nvidia("550.54.14", RTX_3090), "LTT_SYSROOT": str(sysroot)}
    assert install(hook_venv, env)["torch"] == "2.14.1+cu126"
    _, info = explain(hook_venv, env)
    assert backend(info, "xpu")["compatible"] and info["choice"]["backend"] == "cu126"


# --------------------------------------------------------------------------- overrides


def test_overrides_describe_a_machine_that_cannot_be_probed(hook_venv, sysroot):
    # A Docker build for a fleet of RTX 3090s on driver 550: nothing to probe here.
    env = {"LTT_SYSROOT": str(sysroot), "LTT_CUDA_DRIVER_VERSION": "550.54.14", "LTT_CUDA_COMPUTE_CAPABILITIES": "8.6"}
    assert install(hook_venv, env)["torch"] == "2.14.1+cu126"
    text, info = explain(hook_venv, env)
    assert info["machine"]["overrides"] == {"LTT_CUDA_DRIVER_VERSION": "550.54.14", "LTT_CUDA_COMPUTE_CAPABILITIES": "8.6"}
    assert "LTT_CUDA_DRIVER_VERSION: NVIDIA driver 550.54.14 (not probed)" in text
    amd = {"LTT_SYSROOT": str(sysroot), "LTT_AMD_GPU_ARCHITECTURE": "gfx942"}
    assert install(hook_venv, amd)["torch"] == "2.14.1+rocm7.14"


def test_an_override_beats_what_is_probed(hook_venv, nvidia, sysroot):
    env = {**nvidia("580.65.06", ("9.0", "NVIDIA H100 80GB HBM3")), "LTT_SYSROOT": str(sysroot),
           "LTT_CUDA_DRIVER_VERSION": "550.54.14"}  # the fleet's driver, not this machine's
    assert install(hook_venv, env)["torch"] == "2.14.1+cu126"


def test_bad_override_is_one_line_in_the_explanation(hook_venv, sysroot):
    env = {"LTT_SYSROOT": str(sysroot), "LTT_CUDA_COMPUTE_CAPABILITIES": "sm_86"}
    result = hook_venv.run(hook_venv.python, "-m", "ltt_hook", env=env)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == ("ERROR: ltt-hook: environment variable LTT_CUDA_COMPUTE_CAPABILITIES is 'sm_86', "
                                     "not a comma-separated list of compute capabilities (e.g. 8.6,9.0)")


def test_bad_override_stops_pip_in_one_line(hook_venv, sysroot):
    env = {"LTT_SYSROOT": str(sysroot), "LTT_AMD_GPU_ARCHITECTURE": "navi31"}
    result = hook_venv.pip("install", "torch", env=env)
    errors = [line for line in result.output.splitlines() if line.startswith("ERROR")]
    assert result.returncode == 1 and len(errors) == 1, result.output
    assert "environment variable LTT_AMD_GPU_ARCHITECTURE is 'navi31'" in errors[0]
    assert "Nothing was installed" in errors[0]


def test_the_report_names_the_row_and_source_that_judged_each_backend(hook_venv, nvidia, sysroot):
    env = {**nvidia("580.65.06", RTX_3090), "LTT_SYSROOT": str(sysroot)}
    text, info = explain(hook_venv, env)
    cu126 = backend(info, "cu126")
    assert cu126["row"] == {"releases": "2.6-2.14", "platforms": ["linux-x86_64"], "backends": ["cu126"],
                            "arches": ["5.0", "6.0", "7.0", "7.5", "8.0", "8.6", "9.0"], "ptx": []}
    assert "build_cuda.sh" in cu126["source"]
    cu130 = backend(info, "cu130")
    assert cu130["row"]["backends"] == ["cu130", "cu132", "cu134"] and "PR #175567" in cu130["source"]
    rocm = backend(info, "rocm7.14")  # judged by the row it borrows, and says so
    assert rocm["row"]["borrowed_from"] == "rocm7.2" and "PR #179653" in rocm["source"]
    assert backend(info, "xpu")["source"].startswith("PyTorch \"Getting Started on Intel GPU\"")
    assert (backend(info, "cpu")["row"], backend(info, "cpu")["source"]) == (None, None)
    assert "by row 2.6-2.14 linux-x86_64 cu126: 5.0 6.0 7.0 7.5 8.0 8.6 9.0; source: " in text
