"""Feels like pip: light-the-torch's options on pip's commands, channels, -v logs, exports."""

from __future__ import annotations

import re
import shutil

import pytest
from packaging.version import Version

from support import replica
from support.harness import PIP_VERSION, write_config
from test_pip_doors import builtwith_project

RTX_3090 = ("8.6", "NVIDIA GeForce RTX 3090")
PIP = Version(PIP_VERSION)


def gpu_550(nvidia):
    return nvidia("550.54.14", RTX_3090)


@pytest.mark.parametrize("command", ["install", "download", "wheel", "index", pytest.param(
    "lock", marks=pytest.mark.skipif(PIP < Version("25.1"), reason="pip lock is pip 25.1+"))])
def test_options_are_listed_under_their_own_heading(hook_venv, command):
    result = hook_venv.pip(command, "--help")
    assert result.returncode == 0, result.output
    section = result.stdout.split("PyTorch Options (ltt-hook):", 1)[1]
    for option in ("--pytorch-computation-backend", "--cpuonly", "--pytorch-channel"):
        assert option in section


def test_command_line_beats_environment_beats_config(hook_venv, nvidia):
    conf = write_config(hook_venv.home / "ltt.conf", {"ltt": {"backend": "cu126"}})
    env = {**nvidia("580.65.06", ("9.0", "H100")), "PIP_CONFIG_FILE": str(conf)}
    assert hook_venv.pip("install", "torch", env=env).chosen["torch"] == "2.14.1+cu126"
    env["LTT_PYTORCH_COMPUTATION_BACKEND"] = "cu130"
    assert hook_venv.pip("install", "torch", env=env).chosen["torch"] == "2.14.1+cu130"
    result = hook_venv.pip("install", "--pytorch-computation-backend", "cu132", "torch", env=env)
    assert result.chosen["torch"] == "2.14.1+cu132"
    assert hook_venv.pip("install", "--cpuonly", "torch", env=env).chosen["torch"] == "2.14.1+cpu"


def test_options_also_come_from_pip_variables_and_pip_sections(hook_venv):
    env = {"PIP_PYTORCH_COMPUTATION_BACKEND": "cu126"}
    assert hook_venv.pip("install", "torch", env=env).chosen["torch"] == "2.14.1+cu126"
    conf = write_config(hook_venv.home / "install.conf", {"install": {"pytorch-computation-backend": "cu130"}})
    assert hook_venv.pip("install", "torch", env={"PIP_CONFIG_FILE": str(conf)}).chosen["torch"] == "2.14.1+cu130"


def test_bad_option_value_is_one_line(hook_venv):
    result = hook_venv.pip("install", "--pytorch-computation-backend", "cuda12", "torch")
    errors = [line for line in result.output.splitlines() if line.startswith("ERROR")]
    assert result.returncode == 1 and len(errors) == 1
    assert "option --pytorch-computation-backend is 'cuda12'" in errors[0]


def test_nightly_and_test_channels_need_no_pre_and_pre_stays_narrow(hook_venv, index_root, tmp_path):
    root = tmp_path / "pypi"
    replica.build_pypi(root, pytorch_root=index_root, extra=[("filelock", "9.0.0rc1", ())])
    with replica.IndexServer(root, missing="404") as pypi:
        env = {"PIP_INDEX_URL": f"{pypi.url}/simple"}
        result = hook_venv.pip("install", "--pytorch-channel", "nightly", "torch", "torchvision", env=env)
        assert result.returncode == 0, result.output
        assert result.chosen["torch"] == "2.15.0.dev20261101+cpu"
        assert result.chosen["torchvision"] == "0.30.0.dev20261101+cpu"
        assert result.chosen["filelock"] == "3.20.0"  # other projects: still no pre-releases
        assert "/whl/nightly/cpu/" in result.url("torch")
        result = hook_venv.pip("install", "torch", env={**env, "LTT_PYTORCH_CHANNEL": "test"})
        assert result.chosen["torch"] == "2.15.0+cpu" and "/whl/test/cpu/" in result.url("torch")
        if PIP < Version("26.0"):
            pytest.skip("--only-final is pip 26.0+; the channels themselves were checked")
        result = hook_venv.pip("install", "--pytorch-channel", "nightly", "--only-final", "torch", "torch", env=env)
        assert result.returncode == 1  # --only-final keeps its meaning


def test_verbose_log_explains_and_quiet_hides_notes(hook_venv, nvidia, index_root, tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    for backend in ("cpu", "cu126"):
        name = f"torch-2.14.1+{backend}-{hook_venv.info.wheel_tags}-manylinux_2_28_x86_64.whl"
        shutil.copy(index_root / "whl" / backend / name, house / name)
    result = hook_venv.pip("-v", "install", "--no-deps", "-f", str(house), "--cpuonly", "torch")
    assert result.returncode == 0, result.output
    assert "ltt-hook decision:" in result.output and "backend fixed by option --pytorch-computation-backend" in result.output
    assert re.search(r"torch is looked up on \S+/whl/cpu", result.output)
    assert re.search(r"Skipping link: ltt-hook: torch 2\.14\.1\+cu126 built for cu126; option --pytorch-computation-backend allows cpu", result.output)
    default = hook_venv.pip("install", "torch", env=nvidia("470.256.02", ("7.5", "Tesla T4")))
    assert "ltt-hook decision" not in default.output and "only as a CPU build" in default.output
    quiet = hook_venv.pip("-q", "install", "torch", env=nvidia("470.256.02", ("7.5", "Tesla T4")))
    assert quiet.returncode == 0 and "ltt-hook" not in quiet.output


def test_build_dependency_child_honours_the_command_line_backend(fresh_venv, tmp_path):
    project = builtwith_project(tmp_path)
    result = fresh_venv.pip("install", "--no-deps", "--pytorch-computation-backend", "cu130", str(project), report=False)
    assert result.returncode == 0, result.output
    built = fresh_venv.run(fresh_venv.python, "-c", "import builtwith; print(builtwith.TORCH)")
    assert built.stdout.strip() == "2.14.1+cu130", built.output


# --------------------------------------------------------------------------- exports


def test_index_url_export_drives_plain_pip(hook_venv, plain_venv, nvidia):
    out = hook_venv.run(hook_venv.python, "-m", "ltt_hook", "index-url", env=gpu_550(nvidia))
    url = out.stdout.strip()
    assert url == hook_venv.base_env["LTT_INDEX_URL"] + "/cu126", out.output
    result = plain_venv.pip("install", "--index-url", url, "--extra-index-url", plain_venv.base_env["PIP_INDEX_URL"], "torch")
    assert result.chosen["torch"] == "2.14.1+cu126"


def test_requirements_export_gives_the_same_build_without_the_hook(hook_venv, plain_venv, nvidia, tmp_path):
    req = tmp_path / "requirements.txt"
    out = hook_venv.run(hook_venv.python, "-m", "ltt_hook", "requirements", "torch", "torchvision", "-o", req,
                        env=gpu_550(nvidia))
    assert out.returncode == 0, out.output
    text = req.read_text()
    assert "torch==2.14.1+cu126" in text and "torchvision==0.29.1+cu126" in text
    assert f"--extra-index-url {hook_venv.base_env['LTT_INDEX_URL']}/cu126" in text
    result = plain_venv.pip("install", "-r", str(req))
    assert result.returncode == 0, result.output
    assert (result.chosen["torch"], result.chosen["torchvision"]) == ("2.14.1+cu126", "0.29.1+cu126")


def test_pip_conf_export_gives_a_fleet_the_same_build(hook_venv, nvidia, tmp_path):
    out = hook_venv.run(hook_venv.python, "-m", "ltt_hook", "pip-conf", env=gpu_550(nvidia))
    assert "[ltt]" in out.stdout and "backend = cu126" in out.stdout
    conf = tmp_path / "fleet.conf"
    conf.write_text(out.stdout)
    result = hook_venv.pip("install", "torch", env={"PIP_CONFIG_FILE": str(conf)})  # a CPU-only build box
    assert result.chosen["torch"] == "2.14.1+cu126"


def test_check_finds_a_mismatch_and_its_fix_works(fresh_venv, nvidia):
    assert fresh_venv.pip("install", "--cpuonly", "torch==2.5.1", "torchvision==0.20.1", report=False).returncode == 0
    gpu = gpu_550(nvidia)
    check = fresh_venv.run(fresh_venv.python, "-m", "ltt_hook", "check", env=gpu)
    assert check.returncode == 1, check.output
    assert "torch 2.5.1+cpu is installed" in check.stdout and "+cu124" in check.stdout
    fix = next(line for line in check.stdout.splitlines() if line.startswith("Fix: ")).split()[1:]
    assert fix[1:] == ["-m", "pip", "install", "--force-reinstall", "torch==2.5.1", "torchvision==0.20.1"]
    result = fresh_venv.run(fresh_venv.python, *fix[1:], env=gpu)
    assert result.returncode == 0, result.output
    check = fresh_venv.run(fresh_venv.python, "-m", "ltt_hook", "check", env=gpu)
    assert check.returncode == 0 and "It fits this machine." in check.stdout, check.output
