"""Safe by construction: supply chain, bad input, broken networks, private mirrors, detection
faults. Every failure is one readable line, installs nothing and never falls back to PyPI."""

from __future__ import annotations

import json
import re

import pytest

from support import gpu, replica
from support.harness import Venv, fails_in_one_line, wheelhouse, write_config

RTX_3090 = ("8.6", "NVIDIA GeForce RTX 3090")


@pytest.fixture(scope="module")
def venv(tmp_path_factory, hook_wheel, pytorch_index, pypi) -> Venv:
    v = Venv.create(tmp_path_factory.mktemp("safety") / "venv", hook=hook_wheel)
    v.base_env = {"PIP_INDEX_URL": f"{pypi.url}/simple", "LTT_INDEX_URL": f"{pytorch_index.url}/whl"}
    return v


def install_fails(venv, *args, env):
    """A real ``pip install`` (short timeout, no retries) that fails in one line, changing nothing."""
    return fails_in_one_line(venv, "--timeout", "2", "--retries", "0", *args, env=env)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("value", ["cuda12", "cu12.x", "gpu"])
def test_unknown_backend(venv, value):
    line = install_fails(venv, "torch", env={"LTT_PYTORCH_COMPUTATION_BACKEND": value})
    assert f"environment variable LTT_PYTORCH_COMPUTATION_BACKEND is '{value}'" in line
    assert "accepted:" in line and "Nothing was installed" in line


def test_unknown_channel_in_a_config_file(venv):
    conf = write_config(venv.home / "bad.conf", {"ltt": {"channel": "beta"}})
    line = install_fails(venv, "torch", env={"PIP_CONFIG_FILE": str(conf)})
    assert f"{conf} [ltt] channel is 'beta'" in line and "stable, test, nightly" in line


def test_malformed_index_url_hides_credentials(venv):
    line = install_fails(venv, "torch", env={"LTT_INDEX_URL": "ftp://me:hunter2@mirror/whl"})
    assert "LTT_INDEX_URL is 'ftp://me:****@mirror/whl'" in line and "hunter2" not in line


def test_unknown_config_key_warns_with_the_closest_key(venv):
    conf = write_config(venv.home / "typo.conf", {"ltt": {"backnd": "cpu"}})
    result = venv.pip("install", "torch", env={"PIP_CONFIG_FILE": str(conf)})
    assert result.returncode == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("WARNING") and "ltt-hook" in line]
    assert len(warnings) == 1 and "unknown key 'backnd'" in warnings[0] and "did you mean 'backend'?" in warnings[0]


def test_explicit_backend_this_machine_cannot_run_is_allowed_with_a_warning(venv, nvidia):
    env = {**nvidia("550.54.14", RTX_3090), "LTT_PYTORCH_COMPUTATION_BACKEND": "cu130"}
    result = venv.pip("install", "torch", env=env)
    assert result.chosen["torch"] == "2.14.1+cu130"
    warning = [line for line in result.output.splitlines() if line.startswith("WARNING") and "ltt-hook" in line]
    assert len(warning) == 1 and "needs NVIDIA driver >= 580" in warning[0], result.output


def test_empty_variables_count_as_unset(venv):
    env = {"LTT_PYTORCH_COMPUTATION_BACKEND": "", "LTT_PYTORCH_CHANNEL": "", "LTT_DISABLE": ""}
    assert venv.pip("install", "torch", env=env).chosen["torch"] == "2.14.1+cpu"


def test_plain_http_index_needs_trusted_host(venv):
    line = install_fails(venv, "torch", env={"LTT_INDEX_URL": "http://mirror.invalid/whl"})
    assert "http://mirror.invalid/whl" in line and "not HTTPS" in line and "--trusted-host" in line


# --------------------------------------------------------------------------- broken networks


#: How long a hung page stays unanswered: far beyond pip's ``--timeout 2`` in install_fails,
#: so pip gives up first.
HANG_SECONDS = 30


@pytest.fixture
def faulty(index_root):
    with replica.IndexServer(index_root) as server:
        server.HANG_SECONDS = HANG_SECONDS
        yield server


def answered(server, path):
    return [r for r in server.requests if r[1] == path]


@pytest.mark.parametrize("fault, cause", [("403", "has no page for torch"), ("500", "could not read"),
                                          ("garbage", "not an index page")])
def test_index_faults_fail_in_one_line(venv, faulty, fault, cause):
    faulty.fault = fault
    line = install_fails(venv, "torch", env={"LTT_INDEX_URL": f"{faulty.url}/whl"})
    assert cause in line and f"{faulty.url}/whl/cpu/torch/" in line, line
    assert "not taken from other indexes" in line


def test_a_hung_index_page_fails_on_pips_own_timeout(venv, faulty):
    faulty.fault = "hang"
    line = install_fails(venv, "torch", env={"LTT_INDEX_URL": f"{faulty.url}/whl"})
    assert f"could not read {faulty.url}/whl/cpu/torch/" in line, line
    assert re.search(r"(?i)time(d )?out", line), line  # pip's --timeout, not an answer from the server
    assert answered(faulty, "/whl/cpu/torch/") == []  # asked for, and still hanging when pip gave up


def test_unreachable_index(venv, index_root):
    with replica.IndexServer(index_root) as server:
        url = server.url
    line = install_fails(venv, "torch", env={"LTT_INDEX_URL": f"{url}/whl"})
    assert f"could not read {url}/whl/cpu/torch/: the connection was refused" in line, line
    assert "comes from environment variable LTT_INDEX_URL" in line and "LTT_DISABLE=1" in line


def test_a_host_that_does_not_resolve_is_named_as_dns(venv):
    line = install_fails(venv, "torch", env={"LTT_INDEX_URL": "https://no-such-host.invalid/whl"})
    assert "could not read https://no-such-host.invalid/whl/cpu/torch/: the host name does not resolve (DNS)" in line


@pytest.mark.parametrize("value, meant", [("cuda126", "cu126"), ("cu12.6", "cu126"), ("rocm62", "rocm6.2")])
def test_a_mistyped_backend_gets_a_suggestion(venv, value, meant):
    line = install_fails(venv, "torch", env={"LTT_PYTORCH_COMPUTATION_BACKEND": value})
    assert f"did you mean {meant!r}?" in line, line


def test_a_bad_value_does_not_stop_installs_without_pytorch_packages(venv):
    result = venv.pip("install", "filelock", env={"LTT_PYTORCH_COMPUTATION_BACKEND": "cuda126"})
    assert result.returncode == 0, result.output
    warnings = [line for line in result.output.splitlines() if "ltt-hook" in line]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING:") and "cuda126" in warnings[0], result.output
    assert result.chosen == {"filelock": result.chosen["filelock"]}


def test_the_url_pytorchs_install_page_teaches_is_understood(venv, pytorch_index):
    result = venv.pip("install", "torch", env={"LTT_INDEX_URL": f"{pytorch_index.url}/whl/cu126"})
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == "2.14.1+cu126"
    assert "names a backend page; using" in result.output and "cu126 as the backend" in result.output


# --------------------------------------------------------------------------- supply chain


def test_newer_or_squatted_names_on_pypi_are_never_used(venv, nvidia, index_root, tmp_path):
    root = tmp_path / "squatted-pypi"
    replica.build_pypi(root, pytorch_root=index_root,
                       extra=[("torch", "9.9.0", ()), ("pytorch-triton", "99.0", ()), ("torchvision", "9.9.0", ())])
    with replica.IndexServer(root, missing="404") as squatted:
        env = {**nvidia("550.54.14", RTX_3090), "PIP_INDEX_URL": f"{squatted.url}/simple"}
        result = venv.pip("install", "torch", "torchvision", env=env)
        assert (result.chosen["torch"], result.chosen["torchvision"]) == ("2.14.1+cu126", "0.29.1+cu126")
        nightly = {**env, "LTT_PYTORCH_CHANNEL": "nightly"}
        result = venv.pip("install", "--pre", "torch", env=nightly)
        assert result.returncode == 0, result.output
        assert result.chosen["torch"] == "2.15.0.dev20261101+cu126"
        assert result.chosen["pytorch-triton"] == "3.6.0+git1a2b3c4d"
        assert "/whl/nightly/" in result.url("pytorch-triton")
        assert not [p for _, p, _, _ in squatted.requests if "torch" in p]  # never even asked


# --------------------------------------------------------------------------- private mirrors


def test_authenticated_mirror_keeps_the_secret_out_of_every_output(venv, index_root):
    with replica.IndexServer(index_root, auth=("ltt", "s3cret")) as mirror:
        host = mirror.url.split("//")[1]
        result = venv.pip("-vv", "install", "torch", env={"LTT_INDEX_URL": f"http://ltt:s3cret@{host}/whl"})
        assert result.returncode == 0, result.output
        assert result.chosen["torch"] == "2.14.1+cpu"
        assert "s3cret" not in result.output and "ltt:****@" in result.output
        # netrc works too, through pip's own session
        (venv.home / ".netrc").write_text("machine 127.0.0.1 login ltt password s3cret\n")
        (venv.home / ".netrc").chmod(0o600)
        try:
            result = venv.pip("install", "torch", env={"LTT_INDEX_URL": f"{mirror.url}/whl"})
        finally:
            (venv.home / ".netrc").unlink()
        assert result.chosen["torch"] == "2.14.1+cpu", result.output


def test_mirror_with_absolute_file_links_on_another_host(venv, index_root, pytorch_index, tmp_path):
    # Like the real index since 2026: pages on one host, files on another.
    page = (index_root / "whl" / "cpu" / "torch" / "index.html").read_text()
    mirror_root = tmp_path / "mirror"
    (mirror_root / "whl" / "cpu" / "torch").mkdir(parents=True)
    (mirror_root / "whl" / "cpu" / "torch" / "index.html").write_text(
        page.replace('href="/whl/', f'href="{pytorch_index.url}/whl/'))
    with replica.IndexServer(mirror_root) as mirror:
        result = venv.pip("install", "--no-deps", "torch", env={"LTT_INDEX_URL": f"{mirror.url}/whl"})
    assert result.returncode == 0, result.output
    assert result.url("torch").startswith(f"{pytorch_index.url}/whl/cpu/torch-2.14.1%2Bcpu")


# --------------------------------------------------------------------------- detection faults


def diagnose(venv, env):
    result = venv.run(venv.python, "-m", "ltt_hook", "--json", env=env)
    assert result.returncode == 0 and "Traceback" not in result.output, result.output
    return json.loads(result.stdout)


def test_library_present_but_driver_not_loaded_means_cpu_with_a_note(venv, nvml_lib):
    info = diagnose(venv, gpu.nvml_env(nvml_lib, init_error=9))
    assert info["choice"]["backend"] == "cpu"
    assert any("Driver Not Loaded" in note for note in info["machine"]["notes"]), info["machine"]["notes"]


def test_unknown_compute_capability_leaves_the_driver_to_decide(venv, nvml_lib):
    info = diagnose(venv, gpu.nvml_env(nvml_lib, driver="550.54.14", cc_error=3))
    assert info["machine"]["gpus"][0]["capability"] is None
    assert info["choice"]["backend"] == "cu126"


def test_unparsable_driver_version_means_cpu(venv, nvml_lib):
    info = diagnose(venv, gpu.nvml_env(nvml_lib, driver="garbage"))
    assert info["choice"]["backend"] == "cpu"
    assert any("does not parse" in (b["reason"] or "") for b in info["backends"])
    result = venv.pip("install", "torch", env=gpu.nvml_env(nvml_lib, driver="garbage"))
    assert result.chosen["torch"] == "2.14.1+cpu"


def test_hung_nvidia_smi_is_abandoned(venv):
    smi = gpu.make_nvidia_smi(venv.home / "bin", hang=True)
    try:
        info = diagnose(venv, {})
    finally:
        smi.unlink()
    assert info["choice"]["backend"] == "cpu"
    assert "nvidia-smi: no answer within 5 s" in info["machine"]["notes"]
    pids = gpu.runs(smi)
    assert len(pids) == 1 and not gpu.is_running(pids[0])  # started once, killed at the timeout


def test_a_pip_older_than_supported_is_told_to_upgrade_not_to_report(tmp_path, hook_wheel, pytorch_index, pypi):
    old = Venv.create(tmp_path / "pip-22.2", hook=hook_wheel)  # ltt-hook requires pip>=22.3 ...
    house = wheelhouse("22.2.2")
    downgrade = old.run(old.python, "-m", "pip", "install", "--no-index", "-f", house, "pip==22.2.2")  # ... until one downgrades it
    assert downgrade.returncode == 0, downgrade.output
    old.base_env = {"PIP_INDEX_URL": f"{pypi.url}/simple", "LTT_INDEX_URL": f"{pytorch_index.url}/whl"}
    result = old.pip("install", "torch")
    assert result.returncode == 0, result.output  # pip runs unpatched
    warnings = [line for line in result.output.splitlines() if "ltt-hook" in line]
    assert warnings == ["WARNING: ltt-hook needs pip 22.3 or newer, and this is pip 22.2.2; pip runs unpatched and "
                        "PyTorch packages come from your configured indexes. Upgrade pip: python -m pip install -U pip"]
