"""End to end: a plain ``pip install torch`` installs this machine's PyTorch build.

Real pip in real virtualenvs, the loopback replica of the PyTorch index, a PyPI stand-in, and
NVIDIA machines seen through the real pynvml over a compiled stand-in libnvidia-ml.so.1.
Installs are dry runs with ``--report`` unless a test says otherwise.
"""

from __future__ import annotations

import json

import pytest

from support import gpu
from support.harness import NEWEST_BUILDS, newest_release, releases_for, write_config

RTX_3090 = ("8.6", "NVIDIA GeForce RTX 3090")
H100 = ("9.0", "NVIDIA H100 80GB HBM3")
GTX_1080_TI = ("6.1", "NVIDIA GeForce GTX 1080 Ti")
T4 = ("7.5", "Tesla T4")

#: What a plain ``pip install torch`` gets on the test Python: 2.14.1 on 3.10+, 2.8.0 on 3.9.
NEWEST = newest_release()
TORCH, VISION = NEWEST.torch, NEWEST.torchvision
OLDER = releases_for()[-2].torch  # an older release with wheels for the test Python
CU_550, CU_580_H100, SOME_CUDA = NEWEST_BUILDS[TORCH]  # e.g. cu126, cu132, cu130 for 2.14.1


def pages(server, project):
    return sorted({p for _, p, _, _ in server.requests if p.rstrip("/").endswith("/" + project)})


# --------------------------------------------------------------------------- no GPU


def test_cpu_machine_gets_cpu_builds_and_no_cuda_libraries(hook_venv, pytorch_index):
    pytorch_index.clear()
    result = hook_venv.pip("install", "torch", "torchvision")
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == f"{TORCH}+cpu"
    assert result.chosen["torchvision"] == f"{VISION}+cpu"
    assert not [p for p in result.chosen if p.startswith("nvidia")]
    assert f"/whl/cpu/torch-{TORCH}%2Bcpu" in result.url("torch")
    assert pages(pytorch_index, "torch") == ["/whl/cpu/torch/"]  # one request, not one per backend


# --------------------------------------------------------------------------- NVIDIA


def _if_built(requirement, expected):
    """A parameter that is skipped where the pinned release has no wheels for the test Python."""
    pinned = requirement.partition("==")[2]
    built = not pinned or pinned in {r.torch for r in releases_for()}
    return pytest.param(requirement, expected,
                        marks=() if built else pytest.mark.skip(reason=f"torch {pinned} has no wheels for this Python"))


@pytest.mark.parametrize(
    "requirement, expected",
    [_if_built("torch", f"{TORCH}+{CU_550}"), _if_built("torch==2.5.1", "2.5.1+cu124"),
     _if_built("torch==2.0.1", "2.0.1+cu118")],
)
def test_driver_550_rtx_3090_gets_the_newest_cuda_12_build(hook_venv, nvidia, requirement, expected):
    result = hook_venv.pip("install", requirement, env=nvidia("550.54.14", RTX_3090))
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == expected


def test_driver_550_torch_and_torchvision_share_the_backend(hook_venv, nvidia):
    result = hook_venv.pip("install", "torch", "torchvision", env=nvidia("550.54.14", RTX_3090))
    assert result.returncode == 0, result.output
    assert (result.chosen["torch"], result.chosen["torchvision"]) == (f"{TORCH}+{CU_550}", f"{VISION}+{CU_550}")
    assert result.chosen["nvidia-cuda-runtime-cu12"] == f"12.{CU_550[-1]}.77"


def test_driver_580_h100_gets_cuda_13(hook_venv, nvidia):
    result = hook_venv.pip("install", "torch", env=nvidia("580.65.06", H100))
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == f"{TORCH}+{CU_580_H100}"


def test_pascal_gpu_never_gets_a_build_without_sm_61(hook_venv, nvidia):
    # Driver 580 would allow CUDA 13, but cu130/cu132 (and cu128/cu129) builds start at sm_70 or later.
    result = hook_venv.pip("install", "torch", env=nvidia("580.65.06", GTX_1080_TI))
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == f"{TORCH}+cu126"


def test_every_gpu_must_be_covered(hook_venv, nvidia):
    result = hook_venv.pip("install", "torch", env=nvidia("580.65.06", H100, GTX_1080_TI))
    assert result.chosen["torch"] == f"{TORCH}+cu126"


def test_driver_470_prefers_an_older_gpu_build_over_a_newer_cpu_build(hook_venv, nvidia):
    result = hook_venv.pip("install", "torch", "torchvision", env=nvidia("470.256.02", T4))
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == "2.7.1+cu118"  # CUDA 11.8: the last CUDA 11 build
    assert result.chosen["torchvision"] == "0.22.1+cu118"
    note = [line for line in result.output.splitlines() if "ltt-hook:" in line]
    newest = ".".join(TORCH.split(".")[:2])
    # One line says what happened, and why a GPU build of an older release won.
    assert len(note) == 1 and note[0].startswith("ltt-hook: PyTorch packages are cu118 builds for Tesla T4 "
                                                 "(NVIDIA driver 470.256.02), from "), result.output
    assert f"torch {newest} exists for this machine only as a CPU build" in note[0]
    assert "choosing torch 2.7+cu118" in note[0]
    # The same machine, the same answer everywhere: the report and every export.
    env = nvidia("470.256.02", T4)
    shown = hook_venv.run(hook_venv.python, "-m", "ltt_hook", env=env)
    assert "would now install torch 2.7.x+cu118" in shown.stdout, shown.output
    info = json.loads(hook_venv.run(hook_venv.python, "-m", "ltt_hook", "--json", env=env).stdout)
    assert info["choice"]["backend"] == "cu118" and info["choice"]["torch"] == "2.7"
    assert hook_venv.run(hook_venv.python, "-m", "ltt_hook", "index-url", env=env).stdout.strip().endswith("/whl/cu118")
    assert "backend = cu118" in hook_venv.run(hook_venv.python, "-m", "ltt_hook", "pip-conf", env=env).stdout
    req = hook_venv.run(hook_venv.python, "-m", "ltt_hook", "requirements", "torch", env=env).stdout
    assert "/whl/cu118" in req and "torch==2.7.1+cu118" in req, req


def test_gpu_build_pinned_below_driver_still_falls_back_to_cpu(hook_venv, nvidia):
    # The newest torch has no CUDA 11 build: with driver 470 only its CPU build can run.
    result = hook_venv.pip("install", f"torch=={TORCH}", env=nvidia("470.256.02", T4))
    assert result.chosen["torch"] == f"{TORCH}+cpu"


def test_nvidia_smi_is_the_fallback_when_nvml_is_unusable(hook_venv, nvidia):
    env = nvidia("550.54.14", RTX_3090)
    env["FAKE_NVML_INIT_ERROR"] = "9"  # NVML_ERROR_DRIVER_NOT_LOADED
    gpu.make_nvidia_smi(hook_venv.home / "bin", driver="550.54.14", gpus=[RTX_3090])
    try:
        result = hook_venv.pip("install", "torch", env=env)
    finally:
        (hook_venv.home / "bin" / "nvidia-smi").unlink()
    assert result.chosen["torch"] == f"{TORCH}+{CU_550}"


# --------------------------------------------------------------------------- dependents, pins, installed torch


def test_a_library_that_depends_on_torch_gets_this_machines_torch(hook_venv, nvidia):
    result = hook_venv.pip("install", "pystiche", env=nvidia("550.54.14", RTX_3090))
    assert result.returncode == 0, result.output
    assert result.chosen["pystiche"] == "1.0.1"
    assert (result.chosen["torch"], result.chosen["torchvision"]) == (f"{TORCH}+{CU_550}", f"{VISION}+{CU_550}")


def test_explicit_local_pin_wins_over_detection(hook_venv, pytorch_index):
    pytorch_index.clear()
    result = hook_venv.pip("install", "torch==2.5.1+cu118", "torchvision")  # on a CPU machine
    assert result.returncode == 0, result.output
    assert (result.chosen["torch"], result.chosen["torchvision"]) == ("2.5.1+cu118", "0.20.1+cu118")


def test_local_pin_in_a_constraint_wins(hook_venv, nvidia):
    constraints = hook_venv.home / "constraints.txt"
    constraints.write_text(f"torch=={OLDER}+cpu\n")
    result = hook_venv.pip("install", "-c", str(constraints), "torch", env=nvidia("550.54.14", RTX_3090))
    assert result.chosen["torch"] == f"{OLDER}+cpu"


def test_companions_follow_an_installed_torch(fresh_venv, nvidia):
    installed = fresh_venv.pip("install", "torch==2.5.1", report=False,
                               env={"LTT_PYTORCH_COMPUTATION_BACKEND": "cpu"})
    assert installed.returncode == 0, installed.output
    assert fresh_venv.installed()["torch"] == "2.5.1+cpu"
    result = fresh_venv.pip("install", "torchvision==0.20.1", env=nvidia("550.54.14", RTX_3090))
    assert result.returncode == 0, result.output
    assert result.chosen["torchvision"] == "0.20.1+cpu"
    assert "torch" not in result.chosen  # the installed torch stays
    # A companion that needs a newer torch replaces it: the machine chooses for both.
    result = fresh_venv.pip("install", "torchvision", env=nvidia("550.54.14", RTX_3090))
    assert result.returncode == 0, result.output
    newest = newest_release()
    best = NEWEST_BUILDS[newest.torch][0]
    assert (result.chosen["torch"], result.chosen["torchvision"]) == (f"{newest.torch}+{best}", f"{newest.torchvision}+{best}")
    # Asking for torch itself lets the machine decide again, for both.
    result = fresh_venv.pip("install", "torch==2.5.1", "torchvision==0.20.1", "--force-reinstall",
                            env=nvidia("550.54.14", RTX_3090))
    assert (result.chosen["torch"], result.chosen["torchvision"]) == ("2.5.1+cu124", "0.20.1+cu124")


def test_real_install_and_clean_uninstall(fresh_venv, nvidia):
    result = fresh_venv.pip("install", "torch", "torchvision", report=False, env=nvidia("550.54.14", RTX_3090))
    assert result.returncode == 0, result.output
    check = fresh_venv.run(fresh_venv.python, "-c", "import torch, torchvision; print(torch.__version__, torchvision.__version__)")
    assert check.stdout.split() == [f"{TORCH}+{CU_550}", f"{VISION}+{CU_550}"]
    site = fresh_venv.site_packages()
    assert (site / "ltt_hook.pth").is_file() and (site / "ltt_hook.start").is_file()
    removed = fresh_venv.pip("uninstall", "--yes", "ltt-hook")
    assert removed.returncode == 0, removed.output
    assert not [p.name for p in site.iterdir() if p.name.startswith("ltt_hook")]


# --------------------------------------------------------------------------- configuration


def test_ltt_disable_gives_plain_pip(hook_venv, nvidia):
    result = hook_venv.pip("install", "torch", env={**nvidia("550.54.14", RTX_3090), "LTT_DISABLE": "1"})
    assert result.chosen["torch"] == TORCH  # PyPI's unlabelled (CUDA) build
    assert "/simple" in result.url("torch") or "/files/" in result.url("torch")


def test_environment_backend_overrides_detection(hook_venv, pytorch_index):
    pytorch_index.clear()
    result = hook_venv.pip("install", "torch", env={"LTT_PYTORCH_COMPUTATION_BACKEND": SOME_CUDA})
    assert result.chosen["torch"] == f"{TORCH}+{SOME_CUDA}"
    assert pages(pytorch_index, "torch") == [f"/whl/{SOME_CUDA}/torch/"]


def test_backend_list_picks_the_best_of_the_list(hook_venv):
    result = hook_venv.pip("install", "torch", env={"LTT_PYTORCH_COMPUTATION_BACKEND": "cpu,cu126"})
    assert result.chosen["torch"] == f"{TORCH}+cu126"


def test_config_file_backend_and_precedence(hook_venv, nvidia):
    xdg = write_config(hook_venv.home / "xdg" / "pip" / "pip.conf", {"ltt": {"backend": "cu126"}})
    env_file = write_config(hook_venv.home / "env.conf", {"ltt": {"backend": "cpu"}})
    machine = nvidia("580.65.06", H100)
    try:
        assert hook_venv.pip("install", "torch", env={**machine, "PIP_CONFIG_FILE": str(xdg)}).chosen["torch"] == f"{TORCH}+cu126"
        # PIP_CONFIG_FILE beats the global file (pip's own order) ...
        assert hook_venv.pip("install", "torch", env={**machine, "PIP_CONFIG_FILE": str(env_file)}).chosen["torch"] == f"{TORCH}+cpu"
        # ... and the environment variable beats every file.
        result = hook_venv.pip("install", "torch", env={**machine, "PIP_CONFIG_FILE": str(env_file),
                                                        "LTT_PYTORCH_COMPUTATION_BACKEND": SOME_CUDA})
        assert result.chosen["torch"] == f"{TORCH}+{SOME_CUDA}"
        # An empty variable counts as unset.
        result = hook_venv.pip("install", "torch", env={**machine, "PIP_CONFIG_FILE": str(env_file),
                                                        "LTT_PYTORCH_COMPUTATION_BACKEND": ""})
        assert result.chosen["torch"] == f"{TORCH}+cpu"
    finally:
        xdg.unlink()


def test_isolated_mode_skips_the_user_config_file(hook_venv):
    user = write_config(hook_venv.home / ".config" / "pip" / "pip.conf", {"ltt": {"backend": "cu126"}})
    try:
        env = {"PIP_CONFIG_FILE": str(hook_venv.home / "missing.conf")}
        assert hook_venv.pip("install", "torch", env=env).chosen["torch"] == f"{TORCH}+cu126"
        # --isolated also ignores PIP_* variables, hence the explicit index URL.
        index = hook_venv.base_env["PIP_INDEX_URL"]
        result = hook_venv.pip("--isolated", "install", "--index-url", index, "torch", env=env)
        assert result.chosen["torch"] == f"{TORCH}+cpu"
    finally:
        user.unlink()


def test_disable_in_config(hook_venv):
    conf = write_config(hook_venv.home / "off.conf", {"ltt": {"disable": "true"}})
    assert hook_venv.pip("install", "torch", env={"PIP_CONFIG_FILE": str(conf)}).chosen["torch"] == TORCH


@pytest.mark.parametrize(
    "env, config, shown",
    [
        ({"LTT_PYTORCH_COMPUTATION_BACKEND": "cuda12"}, None,
         "environment variable LTT_PYTORCH_COMPUTATION_BACKEND is 'cuda12'"),
        ({"LTT_PYTORCH_CHANNEL": "beta"}, None, "environment variable LTT_PYTORCH_CHANNEL is 'beta'"),
        ({}, {"channel": "beta"}, "[ltt] channel is 'beta'"),
        ({"LTT_INDEX_URL": "download.pytorch.org/whl"}, None, "LTT_INDEX_URL is 'download.pytorch.org/whl'"),
    ],
)
def test_bad_value_stops_pip_with_one_line_and_installs_nothing(fresh_venv, env, config, shown):
    before = fresh_venv.installed()
    if config:
        conf = write_config(fresh_venv.home / "bad.conf", {"ltt": config})
        env = {**env, "PIP_CONFIG_FILE": str(conf)}
    result = fresh_venv.pip("install", "torch", env=env, report=False)
    assert result.returncode == 1
    errors = [line for line in result.output.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and shown in errors[0] and "Nothing was installed" in errors[0], result.output
    if config:
        assert str(conf) in errors[0]
    assert fresh_venv.installed() == before


def test_one_line_says_which_backend_was_chosen_why_and_from_where(hook_venv, nvidia, pytorch_index):
    best = NEWEST_BUILDS[newest_release().torch][0]
    result = hook_venv.pip("install", "torch", env=nvidia("550.54.14", RTX_3090))
    said = [line for line in result.output.splitlines() if "ltt-hook" in line]
    assert said == [f"ltt-hook: PyTorch packages are {best} builds for NVIDIA GeForce RTX 3090 (NVIDIA driver "
                    f"550.54.14), from {pytorch_index.url}/whl/{best}."], result.output
    cpu = hook_venv.pip("install", "torch")
    assert [line for line in cpu.output.splitlines() if "ltt-hook" in line] == [
        f"ltt-hook: PyTorch packages are cpu builds (no GPU that PyTorch can use was found), from "
        f"{pytorch_index.url}/whl/cpu."], cpu.output
    quiet = hook_venv.pip("install", "-q", "torch", env=nvidia("550.54.14", RTX_3090))
    assert "ltt-hook" not in quiet.output
