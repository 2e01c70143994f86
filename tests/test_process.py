"""One pip process, one object: what the safety net and the notes remember lives on a
:class:`~ltt_hook.process.PipProcess`, so a fresh object is fresh state."""

from __future__ import annotations

import logging

import pytest

from ltt_hook.process import PipProcess
from ltt_hook.safety import guard


def _failing_wrapper(process, original, *args):
    raise RuntimeError("ours")


def test_a_failure_of_ours_breaks_this_process_only_and_pip_runs_once(capsys, monkeypatch):
    monkeypatch.delenv("LTT_STRICT", raising=False)
    calls = []

    def original(x):
        calls.append(x)
        return x * 2

    broken, fresh = PipProcess(), PipProcess()
    broken.strict = False
    assert guard(broken, original, _failing_wrapper, "Row.method")(21) == 42
    assert calls == [21] and broken.broken == "internal error in Row.method: RuntimeError: ours"
    assert capsys.readouterr().err.count("WARNING: ltt-hook does not support pip") == 1
    # From now on this process runs pip's original; another process is untouched.
    assert guard(broken, original, _failing_wrapper, "Row.method")(1) == 2 and calls == [21, 1]
    assert fresh.broken is None and not fresh.warned


def test_pips_own_error_goes_up_untouched_and_breaks_nothing():
    def original():
        raise KeyError("pip's")

    def wrapper(process, pip):
        return pip()

    process = PipProcess()
    with pytest.raises(KeyError, match="pip's"):
        guard(process, original, wrapper, "Row.method")()
    assert process.broken is None


def test_a_note_is_said_once_per_process(caplog):
    first, second = PipProcess(), PipProcess()
    with caplog.at_level(logging.INFO, logger="ltt_hook"):
        for process in (first, first, second):
            process.note_once("said", "ltt-hook: %s", "hello")
    assert [r.getMessage() for r in caplog.records] == ["ltt-hook: hello", "ltt-hook: hello"]


def test_a_process_logs_its_own_pages():
    first, second = PipProcess(), PipProcess()
    first.pages.record_answer("https://mirror.example/whl/cu126/torch/", b"<html><a href='x.whl'>x</a></html>")
    assert first.pages.get("https://mirror.example/whl/cu126/torch/") == ("ok", "")
    assert second.pages.get("https://mirror.example/whl/cu126/torch/") is None
