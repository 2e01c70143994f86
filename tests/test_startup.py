"""Start-up: the .pth line costs nothing outside pip and never raises."""

from __future__ import annotations

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
    # pip-tools and friends import pip's finder in-process: pip is not the program, no patch.
    code = ("import pip._internal.index.package_finder as pf; import sys;"
            "print(hasattr(pf.LinkEvaluator.evaluate_link, '__ltt_original__'), 'ltt_hook.pip_patch' in sys.modules)")
    result = hook_venv.run(hook_venv.python, "-c", code)
    assert result.returncode == 0 and result.stdout.split()[0] == "False", result.output


def test_pip_gets_patched(hook_venv):
    result = hook_venv.run(hook_venv.path / "bin" / "pip", "--version")
    assert result.returncode == 0 and "WARNING" not in result.output, result.output


def test_broken_install_never_breaks_the_interpreter(hook_venv):
    # The .pth line must not raise even with a hostile environment.
    result = hook_venv.run(hook_venv.python, "-c", "print('ok')", env={"LTT_DISABLE": "maybe"})
    assert result.stdout.strip() == "ok" and not result.stderr


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
