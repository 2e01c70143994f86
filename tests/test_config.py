"""Configuration: environment over pip's config files, every value named with its source."""

from __future__ import annotations

import pytest

from ltt_hook import config
from support.harness import write_config


@pytest.fixture
def pip_config(tmp_path, monkeypatch):
    for var in ("PIP_CONFIG_FILE", "XDG_CONFIG_DIRS", "HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg"))
    path = tmp_path / "pip.conf"
    monkeypatch.setenv("PIP_CONFIG_FILE", str(path))

    def write(**values):
        return write_config(path, {"ltt": values})

    return write


def test_defaults(pip_config):
    pip_config()
    cfg = config.load(environ={})
    assert (cfg.backends, cfg.channel, cfg.index_url, cfg.disable) == (None, "stable", "https://download.pytorch.org/whl", False)
    assert cfg.origins["backend"] == "default"


def test_file_values_and_their_origin(pip_config):
    path = pip_config(backend="cu126, cpu", channel="Nightly", index_url="http://mirror.local/whl/")
    cfg = config.load(environ={})
    assert [b.name for b in cfg.backends] == ["cu126", "cpu"]
    assert cfg.channel == "nightly" and cfg.channel_url == "http://mirror.local/whl/nightly"
    assert cfg.origins["index-url"] == f"{path} [ltt] index_url"


def test_environment_beats_files_and_empty_means_unset(pip_config):
    pip_config(backend="cpu")
    assert [b.name for b in config.load(environ={"LTT_PYTORCH_COMPUTATION_BACKEND": "xpu"}).backends] == ["xpu"]
    assert [b.name for b in config.load(environ={"LTT_PYTORCH_COMPUTATION_BACKEND": " "}).backends] == ["cpu"]
    assert config.load(environ={"LTT_PYTORCH_COMPUTATION_BACKEND": "auto"}).backends is None


@pytest.mark.parametrize(
    "key, value, message",
    [("backend", "cuda12", "'cuda12' is not a PyTorch computation backend"),
     ("backend", "cu126,gpu", "'gpu' is not a PyTorch computation backend"),
     ("channel", "beta", "not a PyTorch channel (accepted: stable, test, nightly)"),
     ("index-url", "ftp://x/whl", "not an http(s):// or file:// index URL"),
     ("disable", "maybe", "not a boolean")],
)
def test_bad_values_name_value_and_source(pip_config, key, value, message):
    path = pip_config(**{key: value})
    with pytest.raises(config.ConfigError) as err:
        config.load(environ={})
    assert message in str(err.value) and f"{path} [ltt] {key}" in str(err.value)


def test_unknown_key_warns_with_the_closest_valid_key(pip_config):
    pip_config(backnd="cpu")
    cfg = config.load(environ={})
    assert len(cfg.warnings) == 1 and "did you mean 'backend'?" in cfg.warnings[0]
