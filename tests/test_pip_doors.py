"""Every pip door, every finder command, the user's explicit intent, and failing open."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zipfile

import pytest
from packaging.version import Version

from support import replica
from support.harness import (
    NEWEST_BUILDS,
    PIP_VERSION,
    PythonInfo,
    Result,
    newest_release,
    releases_for,
    test_python,
    write_config,
)

RTX_3090 = ("8.6", "NVIDIA GeForce RTX 3090")
PIP = Version(PIP_VERSION)
PY = test_python()  # the test virtualenvs' interpreter
#: What a plain ``pip install torch`` gets there: 2.14.1 on Python 3.10+, 2.8.0 on 3.9.
NEWEST = newest_release()
TORCH, VISION = NEWEST.torch, NEWEST.torchvision
CU_550, CU_580_H100, SOME_CUDA = NEWEST_BUILDS[TORCH]  # e.g. cu126, cu132, cu130 for 2.14.1
GPU_550 = f"{TORCH}+{CU_550}"  # the build of gpu_550()


def linux_wheel(version, python=PY):
    return f"torch-{version}-{python.wheel_tags}-manylinux_2_28_x86_64.whl"


def gpu_550(nvidia):
    return nvidia("550.54.14", RTX_3090)


# --------------------------------------------------------------------------- doors


@pytest.mark.parametrize("script", ["pip", "pip3", "pip3.{minor}"])
def test_console_scripts(hook_venv, nvidia, script):
    exe = hook_venv.path / "bin" / script.format(minor=hook_venv.info.version[1])
    report = hook_venv.home / "door.json"
    result = hook_venv.run(exe, "install", "--dry-run", "--report", report, "torch", env=gpu_550(nvidia))
    assert result.returncode == 0, result.output
    assert GPU_550 in report.read_text()


def test_build_dependencies_get_this_machines_torch(fresh_venv, nvidia, tmp_path):
    """A package whose build-system.requires lists torch builds against the machine's build
    (pip's build-dependency child is a second pip process; its hook decides the same)."""
    project = builtwith_project(tmp_path)
    result = fresh_venv.pip("install", "--no-deps", str(project), report=False, env=gpu_550(nvidia))
    assert result.returncode == 0, result.output
    built = fresh_venv.run(fresh_venv.python, "-c", "import builtwith; print(builtwith.TORCH)")
    assert built.stdout.strip() == GPU_550, built.output


def builtwith_project(tmp_path):
    """A project whose build requires torch and records the torch version it was built with."""
    project = tmp_path / "builtwith"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["torch"]\nbuild-backend = "backend"\nbackend-path = ["."]\n')
    (project / "backend.py").write_text(BACKEND)
    return project


BACKEND = '''
import base64, hashlib, zipfile
def get_requires_for_build_wheel(config_settings=None):
    return []
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    import torch
    files = {
        "builtwith.py": f"TORCH = {torch.__version__!r}\\n",
        "builtwith-1.0.dist-info/METADATA": "Metadata-Version: 2.1\\nName: builtwith\\nVersion: 1.0\\n",
        "builtwith-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    record = []
    name = "builtwith-1.0-py3-none-any.whl"
    with zipfile.ZipFile(f"{wheel_directory}/{name}", "w") as whl:
        for path, text in files.items():
            whl.writestr(path, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(text.encode())}")
        record.append("builtwith-1.0.dist-info/RECORD,,")
        whl.writestr("builtwith-1.0.dist-info/RECORD", "\\n".join(record) + "\\n")
    return name
'''


def test_pip_python_option_lets_the_target_environment_decide(hook_venv, plain_venv, nvidia):
    report = plain_venv.home / "target.json"
    # pip without the hook, installing into an environment with the hook: the target's hook acts.
    result = plain_venv.run(plain_venv.python, "-m", "pip", "--python", hook_venv.python, "install",
                            "--dry-run", "--report", report, "torch", env=gpu_550(nvidia))
    assert result.returncode == 0, result.output
    assert GPU_550 in report.read_text()
    # ... and the other way round: the target has no hook, so plain pip behaviour.
    result = hook_venv.run(hook_venv.python, "-m", "pip", "--python", plain_venv.python, "install",
                           "--dry-run", "--report", report, "torch", env=gpu_550(nvidia))
    assert result.returncode == 0, result.output
    assert f'"version": "{TORCH}"' in report.read_text()


def test_pip_zipapp(hook_venv, nvidia, tmp_path):
    source = hook_venv.site_packages() / "pip"
    pyz = tmp_path / "pip.pyz"
    with zipfile.ZipFile(pyz, "w") as zf:
        for path in source.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, "pip/" + path.relative_to(source).as_posix())
        zf.writestr("__main__.py", "import runpy\nrunpy.run_module('pip', run_name='__main__', alter_sys=True)\n")
    report = tmp_path / "pyz.json"
    result = hook_venv.run(hook_venv.python, pyz, "install", "--dry-run", "--report", report, "torch",
                           env=gpu_550(nvidia))
    assert result.returncode == 0, result.output
    assert GPU_550 in report.read_text()


def test_light_the_torch_running_pip_is_left_alone(hook_venv, nvidia):
    ltt = hook_venv.home / "bin" / "ltt"
    ltt.parent.mkdir(exist_ok=True)
    ltt.write_text(f"#!{hook_venv.python}\nimport sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n")
    ltt.chmod(0o755)
    report = hook_venv.home / "ltt.json"
    try:
        result = hook_venv.run(ltt, "install", "--dry-run", "--report", report, "torch", env=gpu_550(nvidia))
    finally:
        ltt.unlink()
    assert result.returncode == 0, result.output
    assert f'"version": "{TORCH}"' in report.read_text()  # plain pip: ltt does its own patching


@pytest.mark.skipif(PIP < Version("26.2"), reason="--use-feature=venv-isolation is pip 26.2+")
def test_venv_isolation_is_named_when_a_build_requires_torch(hook_venv, tmp_path):
    # The build runs in a fresh virtualenv where no hook runs: said once, naming torch.
    result = hook_venv.run(hook_venv.python, "-m", "pip", "wheel", "--no-deps", "--use-feature=venv-isolation",
                           "-w", tmp_path / "out", builtwith_project(tmp_path))
    assert result.returncode == 0, result.output
    assert result.output.count("venv-isolation builds packages in fresh virtualenvs") == 1, result.output
    assert "torch in these build requirements" in result.output


@pytest.mark.skipif(PIP < Version("26.2"), reason="--use-feature=venv-isolation is pip 26.2+")
def test_venv_isolation_says_nothing_for_other_projects(hook_venv, tmp_path):
    project = builtwith_project(tmp_path)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n')
    (project / "backend.py").write_text(BACKEND.replace("    import torch\n", "    torch = __import__('types').SimpleNamespace(__version__='none')\n"))
    for args in (["wheel", "--no-deps", "-w", tmp_path / "out", project], ["install", "--dry-run", "torch"]):
        result = hook_venv.run(hook_venv.python, "-m", "pip", "--use-feature=venv-isolation", *args)
        assert result.returncode == 0, result.output
        assert "venv-isolation" not in result.output, result.output


# --------------------------------------------------------------------------- commands


def test_download_and_wheel(hook_venv, nvidia, tmp_path):
    for command in ("download", "wheel"):
        out = tmp_path / command
        result = hook_venv.pip(command, "--no-deps", "-d" if command == "download" else "-w", str(out), "torch",
                               env=gpu_550(nvidia))
        assert result.returncode == 0, result.output
        assert [p.name for p in out.iterdir()] == [linux_wheel(GPU_550)]


def test_index_versions_lists_only_what_this_machine_can_install(hook_venv, pytorch_index):
    pytorch_index.clear()
    result = hook_venv.pip("index", "versions", "torch")
    assert result.returncode == 0, result.output
    assert f"torch ({TORCH}+cpu)" in result.output
    assert {p for _, p, _, _ in pytorch_index.requests} == {"/whl/cpu/torch/"}


@pytest.mark.skipif(PIP < Version("25.1"), reason="pip lock is pip 25.1+")
def test_lock_records_the_machines_build_and_locked_links_are_never_culled(hook_venv, nvidia):
    lock = hook_venv.home / "pylock.toml"
    result = hook_venv.pip("lock", "-o", str(lock), "torch", env=gpu_550(nvidia))
    assert result.returncode == 0, result.output
    assert GPU_550.replace("+", "%2B") in lock.read_text() or GPU_550 in lock.read_text()
    if PIP < Version("26.1"):
        pytest.skip("installing from a lock (-r pylock.toml) is pip 26.1+; the lock itself was checked")
    result = hook_venv.pip("install", "-r", str(lock))  # installing the lock on a CPU machine keeps it
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == GPU_550


def test_list_outdated_compares_with_the_machines_builds(fresh_venv):
    assert fresh_venv.pip("install", "torch==2.5.1", report=False).returncode == 0
    result = fresh_venv.pip("list", "--outdated")
    assert result.returncode == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("torch "))
    assert line.split()[1:3] == ["2.5.1+cpu", f"{TORCH}+cpu"]


def test_options_that_touch_the_finder(fresh_venv, nvidia, tmp_path):
    env = gpu_550(nvidia)
    reqs = tmp_path / "reqs.txt"
    reqs.write_text(f"--extra-index-url {fresh_venv.base_env['PIP_INDEX_URL']}\ntorch\n")
    constraints = tmp_path / "c.txt"
    constraints.write_text("torch<2.10\n")
    below = [r.torch for r in releases_for() if Version(r.torch) < Version("2.10")][-1]  # 2.9.1, or 2.8.0 on 3.9
    for args, expected in [
        (["-r", str(reqs)], GPU_550),
        (["-c", str(constraints), "torch"], f"{below}+cu129"),
        (["--only-binary", ":all:", "torch"], GPU_550),
        (["--pre", "torch"], GPU_550),
        (["--no-deps", "torch"], GPU_550),
        (["--upgrade", "torch"], GPU_550),
        (["--force-reinstall", "torch"], GPU_550),
        (["--prefix", str(tmp_path / "prefix"), "torch"], GPU_550),
    ]:
        result = fresh_venv.pip("install", *args, env=env)
        assert result.returncode == 0, (args, result.output)
        assert result.chosen["torch"] == expected, args
    target = tmp_path / "target"
    result = fresh_venv.pip("install", "--target", str(target), "--no-deps", "torch", report=False, env=env)
    assert result.returncode == 0, result.output
    assert (target / f"torch-{GPU_550}.dist-info").is_dir()


# --------------------------------------------------------------------------- explicit intent


def test_a_pytorch_index_url_of_the_user_is_kept_with_its_backend(hook_venv, nvidia, pytorch_index):
    base = hook_venv.base_env["LTT_INDEX_URL"]
    pypi = hook_venv.base_env["PIP_INDEX_URL"]
    result = hook_venv.pip("install", "--index-url", f"{base}/cu118", "--extra-index-url", pypi, "torch",
                           env=gpu_550(nvidia))
    assert result.chosen["torch"] == "2.7.1+cu118"
    result = hook_venv.pip("install", "--extra-index-url", f"{base}/cpu", "torch", "torchvision", env=gpu_550(nvidia))
    assert (result.chosen["torch"], result.chosen["torchvision"]) == (f"{TORCH}+cpu", f"{VISION}+cpu")


def test_offline_wheelhouse_is_filtered_and_ranked_by_backend(hook_venv, nvidia, index_root, pytorch_index, tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    # cpu, the best build for driver 550 and another CUDA build (which driver 580 ranks higher)
    for backend in ("cpu", CU_550, SOME_CUDA):
        name = linux_wheel(f"{TORCH}+{backend}")
        shutil.copy(index_root / "whl" / backend / name, house / name)
    pytorch_index.clear()
    best_580 = max(CU_550, SOME_CUDA, key=lambda b: int(b[2:]))
    for env, expected in [({}, f"{TORCH}+cpu"), (gpu_550(nvidia), GPU_550),
                          (nvidia("580.65.06", ("9.0", "H100")), f"{TORCH}+{best_580}")]:
        result = hook_venv.pip("install", "--no-index", "-f", str(house), "--no-deps", "torch", env=env)
        assert result.returncode == 0, result.output
        assert result.chosen["torch"] == expected
    assert pytorch_index.requests == []  # no network


def test_hash_checking_mode_keeps_the_users_choice(hook_venv, pypi, nvidia, tmp_path):
    wheel = pypi.root / "files" / linux_wheel(TORCH)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    reqs = tmp_path / "hashed.txt"
    reqs.write_text(f"torch=={TORCH} --hash=sha256:{digest}\n")
    result = hook_venv.pip("install", "--no-deps", "-r", str(reqs), env=gpu_550(nvidia))
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == TORCH  # the hashed PyPI file, not a redirect
    assert "torch is pinned by hash" in result.output


def test_download_for_another_platform_gets_cpu_builds_unless_a_backend_is_named(hook_venv, nvidia, tmp_path):
    # Another machine: a Python other than the virtualenv's (and newer than 3.9), whatever runs the test.
    target = PythonInfo((3, 12) if PY.version != (3, 12) else (3, 13), free_threaded=False)
    args = ["download", "--no-deps", "--only-binary", ":all:", "--platform", "manylinux_2_28_x86_64",
            "--python-version", target.dotted, "-d"]
    newest = newest_release(target).torch
    result = hook_venv.pip(*args, str(tmp_path / "a"), "torch", env=gpu_550(nvidia))
    assert result.returncode == 0, result.output
    assert "--platform targets another machine" in result.output
    # This machine's GPU says nothing about the target: its CPU build, from the PyTorch index.
    assert [p.name for p in (tmp_path / "a").iterdir()] == [linux_wheel(f"{newest}+cpu", target)]
    result = hook_venv.pip(*args, str(tmp_path / "b"), "torch", env={"LTT_PYTORCH_COMPUTATION_BACKEND": "cu130"})
    assert [p.name for p in (tmp_path / "b").iterdir()] == [linux_wheel(f"{newest}+cu130", target)]


def test_a_free_threaded_target_python_plans_only_releases_with_its_wheels(hook_venv, nvidia, index_root, tmp_path):
    # Python 3.13t on this machine (its GPU decides): cp313t wheels exist for torch 2.7-2.11 only,
    # so the newest release for it is 2.11, whose best build for driver 550 (every CUDA 12.x build
    # runs on it) is cu129; only cp313t files are asked for. (`download`: pip 22.3 takes --abi
    # only there or with --target.)
    target = PythonInfo((3, 13), free_threaded=True)
    with replica.IndexServer(index_root) as index:  # a server of its own: its request log is this test's
        env = {**gpu_550(nvidia), "LTT_INDEX_URL": f"{index.url}/whl"}
        result = hook_venv.pip("download", "--no-deps", "--only-binary", ":all:", "--python-version", "3.13",
                               "--abi", "cp313t", "-d", str(tmp_path / "d"), "torch", env=env)
        assert result.returncode == 0, result.output
        assert [p.name for p in (tmp_path / "d").iterdir()] == [linux_wheel("2.11.0+cu129", target)]
        wheels = [path for _, path, _, _ in index.requests if ".whl" in path]
        assert wheels and all(f"-{target.wheel_tags}-" in path for path in wheels), wheels
        pages = [path for _, path, _, _ in index.requests if path.endswith("/torch/")]
        assert pages == ["/whl/torch/", "/whl/cu129/torch/"], pages  # what the index offers, then its page


@pytest.mark.skipif(PIP < Version("26.0"), reason="--uploaded-prior-to is pip 26.0+")
def test_uploaded_prior_to_is_explained_not_silently_fatal(hook_venv):
    result = hook_venv.pip("install", "--no-deps", "--uploaded-prior-to", "2030-01-01T00:00:00Z", "torch")
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == f"{TORCH}+cpu"
    assert "--uploaded-prior-to is not applied to torch" in result.output


# --------------------------------------------------------------------------- failing open


def _rename_pip_internal(venv):
    path = venv.site_packages() / "pip" / "_internal" / "index" / "package_finder.py"
    path.write_text(path.read_text().replace("_sort_key", "_sort_key_renamed"))


def test_unknown_pip_runs_unpatched_with_one_warning(fresh_venv):
    _rename_pip_internal(fresh_venv)
    result = fresh_venv.pip("install", "torch")
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == TORCH  # plain pip: PyPI's build
    warnings = [line for line in result.output.splitlines() if "ltt-hook" in line]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING:"), result.output
    assert f"pip {PIP_VERSION}" in warnings[0] and "_sort_key is missing" in warnings[0]
    assert "report" in warnings[0]
    conf = str(write_config(fresh_venv.home / "s.conf", {"ltt": {"strict": "yes"}}))
    bad_conf = str(write_config(fresh_venv.home / "b.conf", {"ltt": {"strict": "yes", "channel": "beta"}}))
    # Strict from the config file holds even when another setting does not parse (an override
    # variable, another [ltt] key): the safety net reads `strict` alone.
    for env in ({"LTT_STRICT": "1"}, {"PIP_CONFIG_FILE": conf},
                {"PIP_CONFIG_FILE": conf, "LTT_CUDA_DRIVER_VERSION": "five-fifty"}, {"PIP_CONFIG_FILE": bad_conf}):
        strict = fresh_venv.pip("install", "torch", env=env)
        assert strict.returncode == 1 and "ERROR: ltt-hook does not support" in strict.output, (env, strict.output)


def test_a_failing_patch_lets_pip_finish_unpatched(fresh_venv):
    # Fault injection: a start-up file that makes the hook's redirect raise.
    (fresh_venv.site_packages() / "zz_fault.pth").write_text(
        "import sys; exec(\"def _f(*a, **k):\\n raise RuntimeError('injected')\\n"
        "import ltt_hook.run as p; p.Run.redirect = _f\") if 'pip' in sys.argv[0] or sys.argv[:1] == ['-m'] else None\n")
    result = fresh_venv.pip("install", "torch")
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == TORCH
    assert result.output.count("WARNING: ltt-hook does not support") == 1
    assert "RuntimeError: injected" in result.output


def test_a_failure_after_pip_returned_keeps_pips_result_and_pip_runs_once(fresh_venv):
    # Fault injection after pip's own method ran: its result stands, it is not called again.
    (fresh_venv.site_packages() / "zz_fault.pth").write_text(
        "import sys; exec(\"def _f(*a, **k):\\n raise RuntimeError('injected')\\n"
        "import ltt_hook.run as p; p.Run.take_requirements = _f\") "
        "if 'pip' in sys.argv[0] or sys.argv[:1] == ['-m'] else None\n")
    # Requirements from a pipe: a second call of pip's get_requirements would find it empty.
    report = fresh_venv.home / "once.json"
    proc = subprocess.run([str(fresh_venv.python), "-m", "pip", "install", "--dry-run", "--report", str(report),
                           "-r", "/dev/stdin"], input="torch\n", capture_output=True, text=True,
                          env=fresh_venv.env(), cwd=str(fresh_venv.home), timeout=240)
    result = Result(proc.returncode, proc.stdout, proc.stderr, json.loads(report.read_text()) if report.exists() else None)
    assert result.returncode == 0, result.output
    assert result.chosen["torch"] == TORCH  # pip's result, unpatched from here on
    assert result.output.count("WARNING: ltt-hook does not support") == 1
    assert "RuntimeError: injected" in result.output
