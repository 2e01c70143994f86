"""pip stays pip: for anything outside the PyTorch family, pip with ltt-hook prints the same
output and exits with the same status as plain pip: its own errors untouched, at every verbosity.

Each case runs the same pip command in the hook's virtualenv and in an identical one without
the hook; the only difference allowed is the virtualenv's own path.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Optional, Tuple

import pytest


def _pip(venv, args, stdin: Optional[str], cwd: Path, env: Optional[dict] = None) -> Tuple[int, str]:
    proc = subprocess.run([str(venv.python), "-m", "pip", *args], input=stdin, capture_output=True,
                          text=True, env=venv.env(env), cwd=str(cwd), timeout=240)
    output = (proc.stdout + proc.stderr).replace(str(venv.path), "<venv>").replace(str(venv.home), "<home>")
    return proc.returncode, re.sub(r"(/pip-[a-z-]+-)[a-z0-9_]{8}\b", r"\1<random>", output)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("pip-user-errors")
    (work / "not-a-project").mkdir()
    (work / "editable-constraint.txt").write_text("-e ./not-a-project\n")
    (work / "bad-constraint.txt").write_text("filelock>=>1\n")
    return work


UNREACHABLE = "http://127.0.0.1:9/simple"  # the discard port: connection refused at once

CASES = {
    "no requirement": (["install"], None),
    "bad editable": (["install", "-e", "NAME==1.0"], None),
    "requirement with a space": (["install", "foo bar"], None),
    "missing requirements file": (["install", "-r", "missing.txt"], None),
    "requirements from a pipe with a bad line": (["install", "--dry-run", "-r", "/dev/stdin"], "filelock\nfoo bar\n"),
    "directory without a project": (["install", "./not-a-project"], None),
    "editable constraint": (["install", "--dry-run", "-c", "editable-constraint.txt", "filelock"], None),
    "bad constraint": (["install", "--dry-run", "-c", "bad-constraint.txt", "filelock"], None),
    "missing constraints file": (["install", "--dry-run", "-c", "missing.txt", "filelock"], None),
    "unreachable index": (["install", "--dry-run", "--index-url", UNREACHABLE, "--retries", "0", "filelock"], None),
    "unreachable index, verbose": (["install", "--dry-run", "-v", "--index-url", UNREACHABLE, "--retries", "0",
                                    "filelock"], None),
    "no such project": (["install", "--dry-run", "no-such-project-anywhere"], None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_pip_user_errors_are_pips_own(case, hook_venv, plain_venv, workdir):
    args, stdin = CASES[case]
    plain = _pip(plain_venv, args, stdin, workdir)
    hooked = _pip(hook_venv, args, stdin, workdir)
    # (pip 22.3 still accepts the bad constraint: then both succeed alike, installing nothing)
    assert hooked == plain
    assert "ltt-hook" not in hooked[1]


@pytest.mark.parametrize("case", ["missing requirements file", "requirements from a pipe with a bad line",
                                  "unreachable index"])
def test_strict_mode_leaves_pips_errors_to_pip(case, hook_venv, plain_venv, workdir):
    # Strict mode is about ltt-hook failing, never about the user's mistakes.
    args, stdin = CASES[case]
    plain = _pip(plain_venv, args, stdin, workdir)
    assert _pip(hook_venv, args, stdin, workdir, env={"LTT_STRICT": "1"}) == plain


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"], ["-q"]], ids=["default", "-v", "-vv", "-q"])
def test_other_projects_install_exactly_as_with_plain_pip(verbosity, hook_venv, plain_venv, workdir):
    args = ["install", "--dry-run", *verbosity, "filelock"]
    plain = _pip(plain_venv, args, None, workdir)
    hooked = _pip(hook_venv, args, None, workdir)
    assert plain[0] == 0, plain
    assert hooked == plain
    # pip's configuration is read once: its "For variant ..." lines are not repeated.
    if verbosity:
        assert hooked[1].count("For variant 'global'") == plain[1].count("For variant 'global'")


def test_pip_list_outdated_says_nothing_of_ltt_hook(hook_venv, plain_venv, workdir):
    plain = _pip(plain_venv, ["list", "--outdated", "--use-feature=venv-isolation"], None, workdir)
    hooked = _pip(hook_venv, ["list", "--outdated", "--use-feature=venv-isolation"], None, workdir)
    assert "ltt-hook" not in hooked[1]
    assert hooked[0] == plain[0]
