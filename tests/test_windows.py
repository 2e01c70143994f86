"""Windows x86_64 end to end: the same NVIDIA machine gets another build on Windows than on Linux.

Real pip in the shared hook virtualenv against the replica of the PyTorch index, which publishes
``win_amd64`` wheels of torch and torchvision for the release x backend pairs PyTorch published
for Windows (``replica._WINDOWS``: no ROCm, no cu129 after 2.8, no cu134). This machine is Linux;
pip acts as a Windows interpreter through CPython's ``_PYTHON_HOST_PLATFORM=win-amd64``, which
``sysconfig.get_platform()`` honours: pip's supported tags become ``cp3XX-cp3XX-win_amd64``, and
ltt-hook, which reads the operating system and the CPU architecture from the same platform tag
(``interpreter_system``, ``interpreter_arch``), judges with the windows-x86_64 tables. The GPUs
are the NVML stand-in under the real pynvml (which picks its library by ``sys.platform``, still
``linux``, so it loads the stand-in). Without the variable the same pip on the same stand-in
installs Linux builds (the controls below).
"""

from __future__ import annotations

import json

import pytest

from support.harness import newest_release, test_python

WIN = {"_PYTHON_HOST_PLATFORM": "win-amd64"}
PY = test_python()
NEWEST = newest_release().torch
WIN_TAG, LINUX_TAG = "win_amd64", "manylinux_2_28_x86_64"

RTX_4090 = ("8.9", "NVIDIA GeForce RTX 4090")
GTX_1080 = ("6.1", "NVIDIA GeForce GTX 1080")

pytestmark = pytest.mark.skipif(PY.free_threaded, reason="the replica has no free-threaded Windows wheels")


def python_has(release: str) -> bool:
    """torch ``release`` has wheels for the test Python (2.10: 3.10-3.14; 2.7: 3.9-3.13)."""
    low, high = {"2.10.0": ((3, 10), (3, 14)), "2.7.1": ((3, 9), (3, 13))}[release]
    return low <= PY.version <= high


def install(venv, env, *requirements):
    result = venv.pip("install", *requirements, env=env)
    assert result.returncode == 0, result.output
    return result




def torch_pages(server):
    """The torch pages pip read from the replica, in order."""
    return [path for _, path, _, _ in server.requests if path.endswith("/torch/")]


# --------------------------------------------------------------------------- issue 13's case


@pytest.mark.skipif(not python_has("2.10.0"), reason="torch 2.10 has no wheels for this Python")
def test_rtx_4090_on_driver_575_gets_cu128_on_windows(hook_venv, nvidia, pytorch_index):
    # torch 2.10 on Windows: cpu cu126 cu128 cu130 xpu (cu129 is Linux only). Driver 575 runs CUDA
    # up to 12.9, not 13.0 (580), so cu130 is out; cu128's list (7.0-12.0) has 8.6, which runs on
    # sm_89. So cu128, the win_amd64 wheel.
    pytorch_index.clear()
    result = install(hook_venv, {**nvidia("575.57.08", RTX_4090), **WIN}, "torch==2.10.0")
    result.assert_build("torch", "2.10.0", "cu128", WIN_TAG)
    # The project's page (what the index offers win_amd64), then one backend page: cu129 was never
    # planned. (Judged by the Linux tables, pip would read cu129's page, find no Windows wheel there
    # and go on to cu128.)
    assert torch_pages(pytorch_index) == ["/whl/torch/", "/whl/cu128/torch/"]


@pytest.mark.skipif(not python_has("2.10.0"), reason="torch 2.10 has no wheels for this Python")
def test_rtx_4090_on_driver_575_gets_cu129_on_linux(hook_venv, nvidia, pytorch_index):
    # The control: the same stand-in without the variable. torch 2.10 on Linux has cu129 (the
    # newest CUDA that driver 575 runs), a manylinux wheel.
    pytorch_index.clear()
    result = install(hook_venv, nvidia("575.57.08", RTX_4090), "torch==2.10.0")
    result.assert_build("torch", "2.10.0", "cu129", LINUX_TAG)
    assert torch_pages(pytorch_index) == ["/whl/torch/", "/whl/cu129/torch/"]


# --------------------------------------------------------------------------- Windows-only rows

#: A GTX 1080 (sm_61) on driver 560 (CUDA 12.6; CUDA 12.x builds run on it by minor-version
#: compatibility, CUDA 13 needs 580), judged by hand from the build-facts audit §2 "CUDA, Windows"
#: (the Windows cu126 build keeps sm_61; the Windows 2.7 cu128 build covers sm_50-sm_120, sm_61
#: included) and "CUDA, Linux x86_64" (cu126: 5.0 6.0 7.0 ...; 2.7 cu128: 7.5-12.0 plus
#: compute_120 PTX, which does not run on an older GPU).
#: - A plain ``pip install torch`` (2.14.1 on Python 3.10+, 2.8.0 on 3.9): cu126 on Windows, the
#:   only CUDA 12 build (2.14: cu126 cu130 cu132; 2.8: cu128/cu129 lists begin at 7.0). On Linux it
#:   is cu126 as well (its 6.0 runs on sm_61: same major version), so there is no Linux half; the
#:   Windows row is seen in ``python -m ltt_hook --json`` instead.
#: - ``torch==2.7.1``: Windows cu128 (its list has 6.1), Linux cu126 (its cu128 list starts at 7.5).
GTX_1080_PLAIN = {"2.14.1": "cu126", "2.8.0": "cu126"}


@pytest.fixture
def gtx_1080(nvidia):
    return nvidia("560.94", GTX_1080)  # a Windows driver of the 560 branch


@pytest.mark.skipif(NEWEST not in GTX_1080_PLAIN, reason=f"no hand-worked expectation for torch {NEWEST}")
def test_gtx_1080_on_windows_gets_the_cu126_build_and_the_windows_row_judged_it(hook_venv, gtx_1080):
    env = {**gtx_1080, **WIN}
    result = install(hook_venv, env, "torch")
    result.assert_build("torch", NEWEST, GTX_1080_PLAIN[NEWEST], WIN_TAG)
    # python -m ltt_hook, run as the same Windows interpreter: the Windows cu126 row, with 6.1.
    info = json.loads(hook_venv.run(hook_venv.python, "-m", "ltt_hook", "--json", env=env).stdout)
    assert (info["machine"]["system"], info["machine"]["arch"]) == ("Windows", "AMD64")
    cu126 = next(b for b in info["backends"] if b["backend"] == "cu126")
    assert cu126["compatible"] and cu126["row"]["platforms"] == ["windows-x86_64"], cu126
    assert "6.1" in cu126["row"]["arches"], cu126


@pytest.mark.skipif(not python_has("2.7.1"), reason="torch 2.7 has no wheels for this Python")
@pytest.mark.parametrize("platform_env, backend, tag", [
    (WIN, "cu128", WIN_TAG),  # the Windows 2.7 cu128 build has sm_61
    ({}, "cu126", LINUX_TAG),  # the Linux one starts at sm_75: cu126 (6.0 runs on 6.1)
], ids=["windows", "linux"])
def test_gtx_1080_on_torch_2_7_gets_cu128_only_on_windows(hook_venv, gtx_1080, platform_env, backend, tag):
    result = install(hook_venv, {**gtx_1080, **platform_env}, "torch==2.7.1", "torchvision")
    result.assert_build("torch", "2.7.1", backend, tag)
    result.assert_build("torchvision", "0.22.1", backend, tag)


# --------------------------------------------------------------------------- python -m ltt_hook


#: What ``python -m ltt_hook --json`` reports for driver 575 + RTX 4090 on Windows, per the newest
#: release of the test Python: (release, its Windows CUDA backends, the choice). 2.14: cu126 cu130
#: cu132, and cu126, as CUDA 13 needs driver 580. 2.8 (Python 3.9): cu126 cu128 cu129, and cu129
#: (driver 575 runs CUDA 12.9; its list, 7.0-12.0, has 8.6, which runs on sm_89).
JSON_EXPECTED = {"2.14.1": ("2.14", ("cu126", "cu130", "cu132"), "cu126"),
                 "2.8.0": ("2.8", ("cu126", "cu128", "cu129"), "cu129")}


@pytest.mark.skipif(NEWEST not in JSON_EXPECTED, reason=f"no hand-worked expectation for torch {NEWEST}")
def test_python_m_ltt_hook_as_a_windows_interpreter_names_windows_rows(hook_venv, nvidia):
    env = {**nvidia("575.57.08", RTX_4090), **WIN}
    info = json.loads(hook_venv.run(hook_venv.python, "-m", "ltt_hook", "--json", env=env).stdout)
    assert (info["machine"]["system"], info["machine"]["arch"]) == ("Windows", "AMD64")
    assert info["machine"]["nvidia_driver"] == "575.57.08"
    release, windows_cuda, choice = JSON_EXPECTED[NEWEST]
    assert info["newest_release"] == release
    rows = {b["backend"]: b for b in info["backends"]}
    for name in windows_cuda:  # each CUDA build PyTorch made for Windows, judged by a Windows row
        assert "windows-x86_64" in rows[name]["row"]["platforms"], rows[name]
    assert info["choice"]["backend"] == choice
    # ROCm is Linux only: ruled out by the operating system before any GPU is looked at.
    rocm = [b["reason"] for name, b in rows.items() if name.startswith("rocm")]
    assert rocm and set(rocm) == {"PyTorch's ROCm builds are for Linux only (this is Windows)"}, rocm
