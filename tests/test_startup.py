"""Start-up: the .pth line costs nothing outside pip and never raises."""

from __future__ import annotations

import json
import shutil

import pytest

from support.harness import PIP_VERSION, recorded_pip

HEAVY = ("pip", "packaging", "pynvml", "ltt_hook.pip_patch", "ltt_hook.selection", "ltt_hook.config")
SHOW = "import sys; print(' '.join(sorted(sys.modules))); print(' '.join(type(f).__name__ for f in sys.meta_path))"


def loaded(venv, *argv):
    result = venv.run(venv.python, *argv)
    assert result.returncode == 0, result.output
    modules, finders = result.stdout.splitlines()[-2:]
    return modules.split(), finders.split()


def test_plain_interpreter_imports_nothing(hook_venv):
    # The .pth line itself looks at the command line: no pip in it, no import at all.
    result = hook_venv.run(hook_venv.python, "-X", "importtime", "-c", "pass")
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line]
    assert not [m for m in imported if m.split(".")[0] in ("ltt_hook", "pip", "packaging", "pynvml")], imported


def test_pip_on_the_command_line_loads_only_the_small_start_up_module(hook_venv):
    result = hook_venv.run(hook_venv.python, "-X", "importtime", "-c", "import sys; 'pip'")
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line]
    assert "ltt_hook._pth" in imported  # the .pth line did run
    assert not [m for m in imported if m.split(".")[0] in ("pip", "packaging", "pynvml") or m in HEAVY]


def test_a_script_that_is_not_pip_gets_no_finder(hook_venv):
    script = hook_venv.home / "script.py"
    script.write_text(SHOW)
    modules, finders = loaded(hook_venv, str(script))
    assert "LttFinder" not in finders
    assert not [m for m in modules if m.split(".")[0] in ("ltt_hook", "pip", "packaging", "pynvml")]


def test_importing_pip_internals_outside_pip_patches_nothing(hook_venv):
    # pip-tools and friends import pip's finder in-process: pip is not the program, so no patch,
    # and nothing of ltt_hook beyond the start-up module is imported.
    code = ("import pip._internal.index.package_finder as pf, sys;"
            "print(hasattr(pf.LinkEvaluator.evaluate_link, '__ltt_original__'));"
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] == 'ltt_hook')))")
    result = hook_venv.run(hook_venv.python, "-c", code)
    assert result.returncode == 0, result.output
    patched, ltt_modules = result.stdout.splitlines()
    assert patched == "False", result.output
    assert ltt_modules.split() == ["ltt_hook", "ltt_hook._pth"], result.output


def test_pip_gets_patched(hook_venv, pytorch_index):
    # pip's own script running a command that imports pip's finder: the patch applies, so torch
    # comes from the PyTorch index (the PyPI stand-in also has an unlabelled torch 2.14.1).
    report = hook_venv.home / "patched.json"
    if report.exists():
        report.unlink()
    result = hook_venv.run(hook_venv.path / "bin" / "pip", "-v", "install", "--dry-run", "--no-deps",
                           "--report", report, "torch")
    assert result.returncode == 0, result.output
    assert "ltt-hook does not support pip" not in result.output, result.output
    assert "ltt-hook decision:" in result.output, result.output
    result.report = json.loads(report.read_text())
    assert result.chosen == {"torch": "2.14.1+cpu"}
    assert result.url("torch").startswith(f"{pytorch_index.url}/whl/cpu/"), result.url("torch")


def loaded_by_pip(venv, tmp_path, env, project):
    """The modules of ltt_hook and pynvml that ``pip install --dry-run --no-deps PROJECT`` loaded."""
    result, found = recorded_pip(venv, tmp_path, "install", "--no-deps", project, env=env)
    assert result.returncode == 0, result.output
    return found["loaded"]


def test_a_pip_run_outside_the_pytorch_family_never_probes_the_machine(hook_venv, nvidia, tmp_path):
    # An NVIDIA machine (pynvml over the NVML stand-in): installing filelock loads the patch, but
    # neither the probes nor pynvml; installing torch loads both.
    env = nvidia("550.54.14", ("8.6", "NVIDIA GeForce RTX 3090"))
    other = loaded_by_pip(hook_venv, tmp_path, env, "filelock")
    assert "ltt_hook.pip_patch" in other
    assert [m for m in other if m.startswith("ltt_hook.detection") or m == "pynvml"] == []
    torch = loaded_by_pip(hook_venv, tmp_path, env, "torch")
    assert {"ltt_hook.detection", "pynvml"} <= set(torch)


# --------------------------------------------------------------------------- broken installs


@pytest.fixture
def hook_remnant(fresh_venv, request):
    """A virtualenv whose ltt-hook install was partly removed: ``request.param`` is the path below
    site-packages that is gone; ``ltt_hook.pth`` is left behind."""
    site = fresh_venv.site_packages()
    gone = site / request.param
    shutil.rmtree(gone) if gone.is_dir() else gone.unlink()
    assert (site / "ltt_hook.pth").is_file()
    return fresh_venv


def hook_lines(result):
    return [line for line in result.output.splitlines() if "ltt-hook" in line or "ltt_hook" in line]


@pytest.mark.parametrize("hook_remnant", ["ltt_hook"], indirect=True)
def test_a_pth_line_left_without_its_package_is_silent(hook_remnant, plain_venv):
    venv = hook_remnant
    assert_interpreter_and_pip_work(venv)
    dry_run = venv.pip("install", "numpy")
    plain = plain_venv.pip("install", "numpy")  # pip's own warnings (pip 22.3: --report is experimental)
    assert dry_run.returncode == 0 and dry_run.stderr == plain.stderr, dry_run.output
    assert list(dry_run.chosen) == ["numpy"]
    assert hook_lines(dry_run) == []  # nothing left to warn with: pip runs as if ltt-hook was never there


@pytest.mark.parametrize("hook_remnant", ["ltt_hook/pip_patch.py"], indirect=True)
def test_a_half_removed_package_warns_once_and_pip_runs_unpatched(hook_remnant):
    venv = hook_remnant
    assert_interpreter_and_pip_work(venv)
    dry_run = venv.pip("install", "numpy")
    assert dry_run.returncode == 0 and "Traceback" not in dry_run.output, dry_run.output
    assert list(dry_run.chosen) == ["numpy"]
    warnings = hook_lines(dry_run)
    assert len(warnings) == 1, dry_run.output
    warning = warnings[0]
    assert warning.startswith("WARNING: ltt-hook could not load (ImportError: cannot import name 'pip_patch'"), warning
    assert warning.endswith("; pip runs unpatched."), warning


def assert_interpreter_and_pip_work(venv):
    """Neither a program nor pip's commands that never import its finder notice the remnant."""
    hello = venv.run(venv.python, "-c", "print('ok')", env={"LTT_DISABLE": "maybe"})
    assert (hello.returncode, hello.stdout, hello.stderr) == (0, "ok\n", "")
    version = venv.run(venv.python, "-m", "pip", "--version")
    assert version.returncode == 0 and version.stderr == "", version.output
    assert version.stdout.startswith(f"pip {PIP_VERSION} "), version.output


def test_start_file_for_python_315_names_the_same_entry_point(hook_venv):
    site = hook_venv.site_packages()
    pth = (site / "ltt_hook.pth").read_text().strip()
    start = (site / "ltt_hook.start").read_text().strip()
    assert pth.startswith("import sys; ") and "ltt_hook._pth.install()" in pth
    module, _, func = start.partition(":")
    # PEP 829: <module>:<callable>; calling it twice (both files read) installs one finder.
    code = f"import {module}, sys; {module}.{func}(); {module}.{func}(); print(sum(type(f).__name__ == 'LttFinder' for f in sys.meta_path))"
    result = hook_venv.run(hook_venv.python, "-c", code)
    assert result.stdout.strip() == "1", result.output
