"""Configuration: environment over pip's config files, every value named with its source."""

from __future__ import annotations

import pytest

from ltt_hook import config
from ltt_hook.overrides import OverrideError, Overrides, read_overrides
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


# --------------------------------------------------------------------------- detection overrides


def test_overrides_parse():
    found = read_overrides({"LTT_CUDA_DRIVER_VERSION": " 550.54.14 ", "LTT_CUDA_COMPUTE_CAPABILITIES": "8.6, 9.0",
                            "LTT_AMD_GPU_ARCHITECTURE": "GFX1100,gfx90a:xnack-"})
    assert found.cuda_driver == "550.54.14"
    assert found.cuda_capabilities == ((8, 6), (9, 0))
    assert found.amd_architectures == ("gfx1100", "gfx90a")
    assert found.given == (("LTT_CUDA_DRIVER_VERSION", "550.54.14"), ("LTT_CUDA_COMPUTE_CAPABILITIES", "8.6, 9.0"),
                           ("LTT_AMD_GPU_ARCHITECTURE", "GFX1100,gfx90a:xnack-"))


def test_empty_overrides_count_as_unset():
    found = read_overrides({"LTT_CUDA_DRIVER_VERSION": "", "LTT_CUDA_COMPUTE_CAPABILITIES": " ",
                            "LTT_AMD_GPU_ARCHITECTURE": ""})
    assert found == Overrides()


@pytest.mark.parametrize("var, value, expected", [
    ("LTT_CUDA_DRIVER_VERSION", "r550", "an NVIDIA driver version"),
    ("LTT_CUDA_DRIVER_VERSION", "550.54.14.1.2", "an NVIDIA driver version"),
    ("LTT_CUDA_COMPUTE_CAPABILITIES", "86", "compute capabilities (e.g. 8.6,9.0)"),
    ("LTT_CUDA_COMPUTE_CAPABILITIES", "sm_86,9.0", "compute capabilities"),
    ("LTT_CUDA_COMPUTE_CAPABILITIES", ",", "compute capabilities"),
    ("LTT_AMD_GPU_ARCHITECTURE", "rdna3", "AMD GPU architectures"),
    ("LTT_AMD_GPU_ARCHITECTURE", "gfx000", "AMD GPU architectures"),
])
def test_an_override_that_does_not_parse_is_a_one_line_configuration_error(var, value, expected):
    with pytest.raises(OverrideError) as caught:
        read_overrides({var: value})
    message = str(caught.value)
    assert isinstance(caught.value, config.ConfigError)  # pip_patch and __main__ report these
    assert message.startswith(f"ltt-hook: environment variable {var} is {value!r}, not ")
    assert expected in message and "\n" not in message


def test_the_configuration_carries_the_overrides_detection_takes(pip_config):
    pip_config()
    cfg = config.load(environ={"LTT_CUDA_DRIVER_VERSION": "550.54.14", "LTT_AMD_GPU_ARCHITECTURE": "gfx942"})
    assert cfg.overrides == Overrides(cuda_driver="550.54.14", amd_architectures=("gfx942",),
                                      given=(("LTT_CUDA_DRIVER_VERSION", "550.54.14"),
                                             ("LTT_AMD_GPU_ARCHITECTURE", "gfx942")))
    assert config.load(environ={}).overrides == Overrides()
    assert config.Config().overrides is None  # not read: detection reads the environment itself


def test_a_bad_override_stops_loading_after_the_ltt_values(pip_config):
    pip_config()
    with pytest.raises(OverrideError, match="LTT_AMD_GPU_ARCHITECTURE is 'navi31'"):
        config.load(environ={"LTT_AMD_GPU_ARCHITECTURE": "navi31"})
    path = pip_config(channel="beta")  # a bad [ltt] value is named first, as before
    with pytest.raises(config.ConfigError) as caught:
        config.load(environ={"LTT_AMD_GPU_ARCHITECTURE": "navi31"})
    assert f"{path} [ltt] channel" in str(caught.value) and not isinstance(caught.value, OverrideError)
