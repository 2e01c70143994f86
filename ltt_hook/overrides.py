"""Detection overrides: environment variables that state what a machine has instead of probing it.

For machines that cannot be probed (Docker builds, CI, cross-builds), like uv's
``UV_CUDA_DRIVER_VERSION`` and ``UV_AMD_GPU_ARCHITECTURE`` or conda's ``CONDA_OVERRIDE_CUDA``:

- ``LTT_CUDA_DRIVER_VERSION``: the NVIDIA driver version (``550.54.14``);
- ``LTT_CUDA_COMPUTE_CAPABILITIES``: the NVIDIA GPUs' compute capabilities (``8.6,9.0``);
- ``LTT_AMD_GPU_ARCHITECTURE``: the AMD GPUs' gfx targets (``gfx1100`` or ``gfx90a,gfx942``).

They are configuration: :func:`ltt_hook.config.load` reads them into ``Config.overrides`` and
:func:`ltt_hook.detection.detect` takes them as given. A value that does not parse is an
:class:`OverrideError`, a :class:`~ltt_hook.errors.ConfigError`, never a guess.
"""

from __future__ import annotations

import os
import re
from typing import List, Mapping, NamedTuple, Optional, Tuple

from .errors import ConfigError

__all__ = ["AMD_VAR", "CAPS_VAR", "DRIVER_VAR", "VARIABLES", "OverrideError", "Overrides", "gfx_target",
           "read_overrides"]

DRIVER_VAR = "LTT_CUDA_DRIVER_VERSION"
CAPS_VAR = "LTT_CUDA_COMPUTE_CAPABILITIES"
AMD_VAR = "LTT_AMD_GPU_ARCHITECTURE"
VARIABLES = (DRIVER_VAR, CAPS_VAR, AMD_VAR)

_GFX = re.compile(r"gfx(\d{1,2})([0-9a-f])([0-9a-f])")


class OverrideError(ConfigError):
    """An override variable that does not parse; the message names variable and value."""


class Overrides(NamedTuple):
    """The override variables that are set, parsed; all None: probe everything."""

    cuda_driver: Optional[str] = None
    cuda_capabilities: Optional[Tuple[Tuple[int, int], ...]] = None
    amd_architectures: Optional[Tuple[str, ...]] = None
    #: variable -> value as given, for the report.
    given: Tuple[Tuple[str, str], ...] = ()


def gfx_target(token: str) -> Optional[str]:
    """The gfx target a variable or a ROCm tool names (``GFX90a:sramecc+:xnack-`` -> ``gfx90a``);
    None when it names none."""
    name = token.strip().lower().split(":", 1)[0]
    return name if _GFX.fullmatch(name) else None


def _items(value: str) -> List[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _bad(var: str, value: str, expected: str) -> OverrideError:
    return OverrideError(f"ltt-hook: environment variable {var} is {value!r}, not {expected}")


def read_overrides(environ: Optional[Mapping[str, str]] = None) -> Overrides:
    """The override variables of ``environ`` (default ``os.environ``) that are set (empty counts
    as unset); raise :class:`OverrideError` for one that does not parse."""
    env = os.environ if environ is None else environ
    driver = caps = arches = None
    given = []
    value = env.get(DRIVER_VAR, "").strip()
    if value:
        if not re.fullmatch(r"\d+(\.\d+){0,3}", value):
            raise _bad(DRIVER_VAR, env[DRIVER_VAR], "an NVIDIA driver version (e.g. 550.54.14)")
        driver = value
        given.append((DRIVER_VAR, value))
    value = env.get(CAPS_VAR, "").strip()
    if value:
        parsed = []
        for item in _items(value):
            m = re.fullmatch(r"(\d+)\.(\d+)", item)
            if not m:
                raise _bad(CAPS_VAR, env[CAPS_VAR], "a comma-separated list of compute capabilities (e.g. 8.6,9.0)")
            parsed.append((int(m.group(1)), int(m.group(2))))
        if not parsed:
            raise _bad(CAPS_VAR, env[CAPS_VAR], "a comma-separated list of compute capabilities (e.g. 8.6,9.0)")
        caps = tuple(parsed)
        given.append((CAPS_VAR, value))
    value = env.get(AMD_VAR, "").strip()
    if value:
        names = []
        for item in _items(value):
            name = gfx_target(item)  # gfx90a:xnack- -> gfx90a
            if name is None or name == "gfx000":
                raise _bad(AMD_VAR, env[AMD_VAR],
                           "a comma-separated list of AMD GPU architectures (e.g. gfx1100 or gfx90a,gfx942)")
            names.append(name)
        if not names:
            raise _bad(AMD_VAR, env[AMD_VAR], "a comma-separated list of AMD GPU architectures (e.g. gfx1100)")
        arches = tuple(names)
        given.append((AMD_VAR, value))
    return Overrides(driver, caps, arches, tuple(given))
