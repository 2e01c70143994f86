"""Linux aarch64 end to end: NVIDIA SBSA machines (GH200, DGX Spark's GB10, Jetson Thor) and a Jetson Orin.

Real pip in real virtualenvs against the replica of the PyTorch index, which publishes aarch64
wheels for the release x backend pairs PyTorch published (``replica._AARCH64``). This machine is
x86_64; pip acts as an aarch64 interpreter through CPython's ``_PYTHON_HOST_PLATFORM``, which
``sysconfig.get_platform()`` honours: pip's supported tags become ``cp3XX-cp3XX-manylinux_2_NN_aarch64``
and so on, and ltt-hook, which reads its CPU architecture from the same platform tag, judges
with the linux-aarch64 tables. The GPUs are the NVML stand-in under the real pynvml; the Jetsons
are device-tree and ``/etc/nv_tegra_release`` files below ``LTT_SYSROOT``. Without the variable
the same pip on the same stand-ins installs x86_64 builds (the control below).
"""

from __future__ import annotations

import json

import pytest

from support import gpu
from support.harness import newest_release, test_python

ARM = {"_PYTHON_HOST_PLATFORM": "linux-aarch64"}
PY = test_python()
NEWEST = newest_release().torch
ARM_TAG, X86_TAG = "manylinux_2_28_aarch64", "manylinux_2_28_x86_64"

#: What a plain ``pip install torch`` gets per machine, on the newest release of the test Python,
#: worked out by hand from the build-facts audit (§2 "CUDA, Linux aarch64": aarch64 CUDA lists
#: cu126 8.0 9.0, cu128/cu129 8.0 9.0 10.0 12.0, cu13x 8.0 9.0 10.0 11.0 12.0; Orin's sm_87 is in
#: none of PyTorch's builds) and the backends the replica publishes for aarch64, not from
#: ltt_hook/data.py. A driver >= 580 runs every CUDA 13.x build.
#: - 2.14.1 (Python 3.10+; aarch64 cpu cu126 cu130 cu132, no cu134 page on the replica):
#:   GH200 sm_90 -> cu132, the newest CUDA whose list has 9.0. GB10 sm_121 -> cu132: no list has
#:   12.1, but sm_120 code runs on 12.1 (same major version). Thor sm_110 -> cu132: only the CUDA
#:   13 lists have 11.0. Orin -> cpu.
#: - 2.8.0 (Python 3.9's newest; aarch64 cpu cu126 cu128 cu129): GH200 and GB10 -> cu129; Thor ->
#:   cpu, as no list before CUDA 13 has 11.0 (2.7's cu128 neither); Orin -> cpu.
ARM_BUILDS = {
    "2.14.1": {"gh200": "cu132", "gb10": "cu132", "thor": "cu132", "orin": "cpu"},
    "2.8.0": {"gh200": "cu129", "gb10": "cu129", "thor": "cpu", "orin": "cpu"},
}
#: The same machines judged as x86_64 (the control): the x86 lists of 2.14 (cu126 5.0-9.0, cu130/cu132
#: 7.5-12.0, no PTX) and 2.8 (cu129 7.0-12.0+PTX) have no 11.0, so Thor gets a CPU build there;
#: compute_120 PTX does not run on sm_110 either (PTX runs on its own capability and newer).
X86_BUILDS = {
    "2.14.1": {"gh200": "cu132", "gb10": "cu132", "thor": "cpu", "orin": "cpu"},
    "2.8.0": {"gh200": "cu129", "gb10": "cu129", "thor": "cpu", "orin": "cpu"},
}
pytestmark = pytest.mark.skipif(NEWEST not in ARM_BUILDS,
                                reason=f"no hand-worked aarch64 expectations for torch {NEWEST} ({PY.tag})")

#: The one line a Jetson Orin gets (ltt_hook.selection.jetson_note), as pip prints it.
ORIN_NOTE = ("a CPU build, because PyTorch's own CUDA builds do not support Jetson Orin GPUs "
             f"({gpu.AGX_ORIN_MODEL}, sm_87); NVIDIA publishes Jetson builds on its Jetson AI Lab index")


@pytest.fixture
def machine(tmp_path, nvml_lib):
    """``machine(name)`` -> the environment of that machine's stand-ins (its own sysroot)."""

    def make(name: str) -> dict:
        root = tmp_path / name / "sysroot"
        if name == "gh200":  # Grace Hopper: an SBSA server, no device tree
            return {**gpu.nvml_env(nvml_lib, driver="580.65.06", gpus=[gpu.GH200]),
                    "LTT_SYSROOT": str(gpu.make_sysroot(root))}
        if name == "gb10":  # DGX Spark ships driver 580.95.05
            return {**gpu.nvml_env(nvml_lib, driver="580.95.05", gpus=[gpu.GB10]),
                    "LTT_SYSROOT": str(gpu.make_sysroot(root))}
        if name == "thor":  # JetPack 7 (L4T R38) is SBSA and has NVML
            return {**gpu.nvml_env(nvml_lib, driver="580.00", gpus=[gpu.THOR]),
                    "LTT_SYSROOT": str(gpu.make_sysroot(root, device_tree=gpu.AGX_THOR, model=gpu.AGX_THOR_MODEL,
                                                       tegra_release=gpu.L4T_R38))}
        if name == "orin":  # JetPack 6 (L4T R36): no NVML, no LD_LIBRARY_PATH to a stand-in
            return {"LTT_SYSROOT": str(gpu.make_sysroot(root, device_tree=gpu.AGX_ORIN, model=gpu.AGX_ORIN_MODEL,
                                                        tegra_release=gpu.L4T_R36))}
        raise ValueError(name)

    return make


def install(venv, env, *requirements):
    result = venv.pip("install", *(requirements or ("torch",)), env=env)
    assert result.returncode == 0, result.output
    return result




def ltt_lines(result):
    return [line for line in result.output.splitlines() if "ltt-hook:" in line]


# --------------------------------------------------------------------------- SBSA


def test_gh200_gets_the_newest_aarch64_cuda_build_that_covers_sm_90(hook_venv, machine):
    result = install(hook_venv, {**machine("gh200"), **ARM}, "torch", "torchvision")
    backend = ARM_BUILDS[NEWEST]["gh200"]
    result.assert_build("torch", NEWEST, backend, ARM_TAG)
    if newest_release().torchvision:
        result.assert_build("torchvision", newest_release().torchvision, backend, ARM_TAG)


def test_dgx_spark_gb10_gets_cuda_13_through_the_major_version_rule(hook_venv, machine):
    result = install(hook_venv, {**machine("gb10"), **ARM})
    result.assert_build("torch", NEWEST, ARM_BUILDS[NEWEST]["gb10"], ARM_TAG)


def test_jetson_thor_gets_a_cuda_13_aarch64_build(hook_venv, machine):
    env = {**machine("thor"), **ARM}
    result = install(hook_venv, env)
    backend = ARM_BUILDS[NEWEST]["thor"]
    result.assert_build("torch", NEWEST, backend, ARM_TAG)
    assert not [line for line in ltt_lines(result) if "Jetson AI Lab" in line]  # Thor needs no Jetson index
    # The aarch64 tables judged it: python -m ltt_hook, run as the same aarch64 interpreter, says so.
    info = json.loads(hook_venv.run(hook_venv.python, "-m", "ltt_hook", "--json", env=env).stdout)
    assert info["machine"]["arch"] == "aarch64"
    assert info["machine"]["jetson"]["soc"] == "tegra264"
    if backend != "cpu":
        row = next(b for b in info["backends"] if b["backend"] == backend)["row"]
        assert row["platforms"] == ["linux-aarch64"] and "11.0" in row["arches"]


# --------------------------------------------------------------------------- Jetson Orin


def test_jetson_orin_gets_the_cpu_build_and_one_line_naming_nvidias_jetson_index(hook_venv, machine):
    result = install(hook_venv, {**machine("orin"), **ARM}, "torch")
    result.assert_build("torch", NEWEST, "cpu", ARM_TAG)
    (line,) = ltt_lines(result)
    assert line.startswith("ltt-hook: PyTorch packages are cpu builds"), result.output
    assert ORIN_NOTE in line, result.output
    assert "LTT_INDEX_URL=https://pypi.jetson-ai-lab.io/jp6/{backend}/+simple LTT_PYTORCH_COMPUTATION_BACKEND=cu126" in line


# --------------------------------------------------------------------------- controls


@pytest.mark.parametrize("name", ["gh200", "gb10", "thor", "orin"])
def test_without_the_host_platform_the_same_pip_installs_x86_64_builds(hook_venv, machine, name):
    # The same stand-ins, the same pip: only _PYTHON_HOST_PLATFORM is missing. Thor shows that the
    # x86_64 tables judged it (no x86 list has sm_110), not only that pip wanted other files.
    result = install(hook_venv, machine(name))
    result.assert_build("torch", NEWEST, X86_BUILDS[NEWEST][name], X86_TAG)


def test_plain_pip_on_aarch64_gets_pypis_unlabelled_cpu_build(plain_venv, machine):
    # What the hook changes: without it, pip takes PyPI's aarch64 torch, a CPU build.
    result = install(plain_venv, {**machine("gh200"), **ARM})
    assert result.chosen["torch"] == NEWEST
    assert result.wheel("torch") == ("/files", f"torch-{NEWEST}-{PY.wheel_tags}-{ARM_TAG}.whl")


def test_a_real_install_on_gh200_puts_the_aarch64_wheel_in_place(fresh_venv, machine):
    result = fresh_venv.pip("install", "torch", report=False, env={**machine("gh200"), **ARM})
    assert result.returncode == 0, result.output
    backend = ARM_BUILDS[NEWEST]["gh200"]
    assert fresh_venv.installed()["torch"] == f"{NEWEST}+{backend}"
    dist_info = fresh_venv.site_packages() / f"torch-{NEWEST}+{backend}.dist-info"
    assert f"Tag: {PY.wheel_tags}-{ARM_TAG}\n" in (dist_info / "WHEEL").read_text()
