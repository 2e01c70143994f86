"""Each rule once: the places that ask the same question get the same answer.

The pair that diverged before (what PyPI's unlabelled torch is built for: the run judged it with
PyPI's flavour per platform, the extensions' page with a label-or-CPU guess) is asked here of
every reader, for every release and platform the tables know.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ltt_hook import data, installed
from ltt_hook._packaging import Version
from ltt_hook.backends import parse_backend
from ltt_hook.config import Config
from ltt_hook.extensions import backend_of as installed_backend_of
from ltt_hook.process import PipProcess
from ltt_hook.run import Run
from ltt_hook.selection import companion_versions, interpreter_platform, pypi_backend, release_of, torch_backend

RELEASES = sorted({Version(r) for r in data.RELEASE_BACKENDS} | {Version(r) for r in data.PYPI_CUDA_FLAVOUR})


@pytest.mark.parametrize("release", RELEASES, ids=str)
def test_pypis_torch_is_one_backend_for_the_run_the_extensions_and_the_installed_reading(release):
    run = Run(SimpleNamespace(), Config(), PipProcess())
    unlabelled = Version(f"{release}.0")
    pypi_link = SimpleNamespace(url="https://pypi.example/packages/torch.whl", comes_from="https://pypi.example/simple/torch/")
    expected = pypi_backend(release, interpreter_platform()) or parse_backend("cpu")
    as_run_sees_it = run.backend_of("torch", unlabelled, pypi_link) or parse_backend("cpu")
    as_extensions_see_it = torch_backend(unlabelled)
    as_installed = installed_backend_of(installed.InstalledBuild(unlabelled, None, "its version"))
    assert as_run_sees_it == as_extensions_see_it == as_installed == expected


def test_a_label_wins_everywhere():
    build = Version("2.14.1+cu126")
    run = Run(SimpleNamespace(), Config(), PipProcess())
    assert run.backend_of("torch", build, None) == torch_backend(build) == parse_backend("cu126")


@pytest.mark.parametrize("project", ["torch", "torchvision", "torchaudio"])
def test_the_companion_mapping_is_one_rule_read_both_ways(project):
    for text in data.RELEASE_BACKENDS:
        release = Version(text)
        versions = companion_versions(project, release)
        assert versions and {release_of(project, Version(v)) for v in versions} == {release}, (project, text)


def test_a_project_that_does_not_follow_torch_has_no_companion_versions():
    assert companion_versions("xformers", Version("2.14")) == [] and release_of("xformers", Version("0.0.30")) is None
