"""Configuration: ``LTT_*`` environment variables over a ``[ltt]`` section in pip's config.

pip's own loader reads the config files, so the same files and precedence apply
(global < user < site < ``PIP_CONFIG_FILE``) and ``--isolated`` skips the user files.
Every value remembers where it came from, so a bad one can be named in one line. The detection
overrides (``LTT_CUDA_DRIVER_VERSION``...; environment variables only) are read here too, by
:mod:`ltt_hook.overrides`.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from . import TRUTHY, data
from .backends import ACCEPTED, Backend, InvalidBackend, backend_from_url, parse_backend, suggest_backend
from .errors import ConfigError
from .overrides import Overrides, read_overrides
from .urls import redact, usable_url

if TYPE_CHECKING:
    from .extension_sources import Source

__all__ = ["Config", "ConfigError", "load", "strict_setting"]

#: ``[ltt]`` key -> environment variable (the light-the-torch names where they exist).
KEYS = {
    "disable": "LTT_DISABLE",
    "backend": "LTT_PYTORCH_COMPUTATION_BACKEND",
    "channel": "LTT_PYTORCH_CHANNEL",
    "index-url": "LTT_INDEX_URL",
    "strict": "LTT_STRICT",
    "extensions": "LTT_EXTENSIONS",  # extension pages of your own (ltt_hook/extension_sources.py)
    "extension-mirrors": "LTT_EXTENSION_MIRRORS",
}
_TRUE, _FALSE = frozenset(TRUTHY), frozenset({"0", "false", "no", "off"})


class Config:
    """The settings of one pip run (or one report), each with where it came from."""

    def __init__(self, disable: bool = False, backends: Optional[Tuple[Backend, ...]] = None,
                 channel: str = "stable", index_url: str = data.DEFAULT_INDEX_URL, strict: bool = False,
                 extensions: Tuple[Source, ...] = (), extension_mirrors: Optional[Dict[str, str]] = None,
                 overrides: Optional[Overrides] = None, origins: Optional[Dict[str, str]] = None,
                 warnings: Optional[List[str]] = None) -> None:
        self.disable = disable
        #: Allowed backends, best first; None means "detect".
        self.backends = backends
        self.channel = channel
        self.index_url = index_url
        self.strict = strict
        #: Extension sources of your own, and mirrors of the table's (:mod:`ltt_hook.extension_sources`).
        self.extensions = extensions
        self.extension_mirrors: Dict[str, str] = dict(extension_mirrors or {})
        #: The detection overrides (:mod:`ltt_hook.overrides`) that :func:`load` read; None where
        #: none were read, and detection reads the environment itself.
        self.overrides = overrides
        #: key -> where its value came from ("default", "environment variable X", "FILE [ltt] key").
        self.origins: Dict[str, str] = dict(origins) if origins is not None else {k: "default" for k in KEYS}
        #: Problems that do not stop pip (unknown keys), one line each.
        self.warnings: List[str] = list(warnings or [])

    def __repr__(self) -> str:
        return (f"Config(disable={self.disable!r}, backends={self.backends!r}, channel={self.channel!r}, "
                f"index_url={self.index_url!r}, strict={self.strict!r})")

    @property
    def channel_url(self) -> str:
        """``<index-url>/[test/|nightly/]`` without the trailing slash (a template: its part
        before the first placeholder)."""
        if self.is_template:
            return self.index_url.split("{", 1)[0].rstrip("/")
        return (self.index_url + "/" + data.CHANNELS[self.channel]).rstrip("/")

    @property
    def is_template(self) -> bool:
        """Whether the index URL is a template (``https://devpi/root/pytorch-{backend}/+simple``):
        a company mirror's repository per backend."""
        return "{" in self.index_url

    def page(self, backend: Backend) -> str:
        """The index URL of ``backend``'s builds (what ``pip --index-url`` would take):
        ``<index-url>/[channel/]<backend>``, or the template filled in."""
        if self.is_template:
            channel = data.CHANNELS[self.channel].rstrip("/")
            return self.index_url.format(backend=backend.name, channel=channel).rstrip("/")
        return f"{self.channel_url}/{backend.name}"

    def project_page(self, project: str) -> Optional[str]:
        """The channel's page of every build of ``project`` (``<index-url>/torch/``); None for a
        template (a repository per backend has no such page)."""
        return None if self.is_template else f"{self.channel_url}/{project}/"

    def backend_of(self, url: str) -> Optional[Backend]:
        """The backend a page or file URL of this index belongs to (``…/whl/cu126/…``, or the
        template's ``{backend}`` part), else None."""
        if not self.is_template:
            return backend_from_url(url)
        m = _template_pattern(self.index_url).match(url)
        if m is None or "backend" not in m.groupdict():
            return None
        try:
            return parse_backend(m.group("backend"))
        except InvalidBackend:
            return None

    def on_index(self, url: str) -> bool:
        """Whether ``url`` is on this PyTorch index (a page of it, or of its template)."""
        url = url.rstrip("/")
        if self.is_template:
            return _template_pattern(self.index_url).match(url + "/") is not None
        return url == self.index_url or url.startswith(self.index_url + "/")


def _template_pattern(template: str) -> re.Pattern[str]:
    """``https://h/root/pytorch-{backend}/+simple`` as a pattern that matches its pages and files."""
    parts = re.split(r"\{(backend|channel)\}", template.rstrip("/"))
    regex = ""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            regex += re.escape(part)
        else:
            seen = f"(?P={part})" if f"(?P<{part}>" in regex else f"(?P<{part}>[A-Za-z0-9.]*)"
            regex += seen
    return re.compile(regex + "(?:/|$)")


def _pip_values(isolated: bool, warnings: List[str], configuration: Any = None) -> Dict[str, Tuple[str, str]]:
    """``[ltt]`` keys from pip's config files, later files winning: key -> (value, origin).

    ``configuration`` is the one pip already loaded for its command (read once); without it,
    pip's loader reads the files here (``python -m ltt_hook``)."""
    if configuration is None:
        from pip._internal.configuration import Configuration

        configuration = Configuration(isolated=isolated)
        configuration.load()
    found: Dict[str, Tuple[str, str]] = {}
    for parsers in configuration._parsers.values():  # dict in pip's override order
        for fname, parser in parsers:
            if not parser.has_section("ltt"):
                continue
            for raw_key, value in parser.items("ltt"):
                key = raw_key.lower().replace("_", "-")
                origin = f"{fname} [ltt] {raw_key}"
                if key not in KEYS:
                    import difflib  # only for this warning

                    close = difflib.get_close_matches(key, list(KEYS), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    warnings.append(f"ltt-hook: unknown key {raw_key!r} in {fname} [ltt]{hint}; ignored")
                    continue
                found[key] = (value, origin)
    return found


def _bool(value: str, origin: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"ltt-hook: {origin} is {value!r}, not a boolean (use 1/0, true/false, yes/no, on/off)")


def _backends(value: str, origin: str) -> Optional[Tuple[Backend, ...]]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if [v.lower() for v in items] == ["auto"]:
        return None
    try:
        backends = tuple(parse_backend(v) for v in items)
    except InvalidBackend as exc:
        bad = str(exc).split(" is not", 1)[0]
        guess = suggest_backend(bad.strip("'\""))
        hint = f"; did you mean {guess!r}?" if guess else ""
        raise ConfigError(f"ltt-hook: {origin} is {value!r}: {bad} is not a PyTorch computation backend "
                          f"(accepted: auto, or a comma-separated list of {ACCEPTED}){hint}") from None
    if not backends:
        raise ConfigError(f"ltt-hook: {origin} is {value!r}: no backend given (accepted: auto, {ACCEPTED})")
    return tuple(sorted(set(backends), key=lambda b: b.rank, reverse=True))


#: The placeholders an index URL template may hold.
TEMPLATE_FIELDS = ("backend", "channel")


def _index_url(value: str, origin: str) -> str:
    url = value.strip().rstrip("/")
    if not usable_url(url):
        raise ConfigError(f"ltt-hook: {origin} is {redact(value)!r}, not an http(s):// or file:// index URL")
    if "{" in url or "}" in url:
        check_template(url, origin)
    return url


def check_template(url: str, origin: str) -> None:
    """An index URL template: only ``{backend}`` and ``{channel}``, and only in the path."""
    import string

    try:
        names = [name for _, name, spec, conv in string.Formatter().parse(url) if name is not None]
    except ValueError as exc:
        raise ConfigError(f"ltt-hook: {origin} is {redact(url)!r}, not a URL template ({exc})") from None
    unknown = sorted({n for n in names if n not in TEMPLATE_FIELDS})
    if unknown:
        raise ConfigError(f"ltt-hook: {origin} is {redact(url)!r}: {{{unknown[0]}}} is not a placeholder ltt-hook "
                          "fills (it knows {backend} and {channel})")
    if "{" in urlsplit(url).netloc or "{" in urlsplit(url).scheme:
        raise ConfigError(f"ltt-hook: {origin} is {redact(url)!r}: a placeholder can only stand in the path, "
                          "not in the host")


#: ``[ltt]`` key -> pip command-line option (light-the-torch's names), see :mod:`pip_patch`.
OPTIONS = {"backend": "--pytorch-computation-backend", "channel": "--pytorch-channel"}


def load(isolated: bool = False, environ: Optional[Mapping[str, str]] = None,
         options: Optional[Mapping[str, Optional[str]]] = None, configuration: Any = None) -> Config:
    """Read the configuration; raise :class:`ConfigError` for a value that cannot be used.

    Precedence: pip command-line ``options`` (``{"backend": ..., "channel": ...}``) over
    ``LTT_*`` environment variables over ``[ltt]`` in pip's config files over defaults.
    ``configuration``: pip's own, already loaded ``Configuration`` (inside pip). The detection
    overrides come from the environment only; one that does not parse is an
    :class:`~ltt_hook.overrides.OverrideError`, a :class:`ConfigError` too.
    """
    env = os.environ if environ is None else environ
    config = Config()
    values = _pip_values(isolated, config.warnings, configuration)
    for key, var in KEYS.items():
        if env.get(var, "").strip():  # an empty variable counts as unset
            values[key] = (env[var], f"environment variable {var}")
    for key, value in (options or {}).items():
        if value is not None and value.strip():
            values[key] = (value, f"option {OPTIONS[key]}")
    for key, (value, origin) in values.items():
        config.origins[key] = origin
        _set(config, key, value, origin)
    _understand_index_url(config)
    config.overrides = read_overrides(env)
    return config


def _channel(value: str, origin: str) -> str:
    channel = value.strip().lower()
    if channel not in data.CHANNELS:
        raise ConfigError(f"ltt-hook: {origin} is {value!r}, not a PyTorch channel "
                          f"(accepted: {', '.join(data.CHANNELS)})")
    return channel


def _set(config: Config, key: str, value: str, origin: str) -> None:
    """Set ``key`` of ``config`` from ``value`` (read from ``origin``), checked."""
    if key in ("disable", "strict"):
        setattr(config, key, _bool(value, origin))
    elif key == "backend":
        config.backends = _backends(value, origin)
    elif key == "channel":
        config.channel = _channel(value, origin)
    elif key == "index-url":
        config.index_url = _index_url(value, origin)
    elif key == "extensions":
        from .extension_sources import parse_extensions  # only where extensions are configured

        config.extensions = parse_extensions(value, origin)
    elif key == "extension-mirrors":
        from .extension_sources import parse_mirrors

        config.extension_mirrors = parse_mirrors(value, origin)


def strict_setting(isolated: bool = False) -> bool:
    """``strict`` alone, from ``LTT_STRICT`` or ``[ltt] strict``: for the safety net when the
    patch failed before :func:`load` ran, so that another setting's bad value cannot hide it.
    A strict value that does not parse counts as not strict."""
    value, origin = _pip_values(isolated, []).get("strict", ("", ""))
    try:
        return bool(value) and _bool(value, origin)
    except ConfigError:
        return False


_CHANNEL_TAIL = re.compile(r"^(?P<base>.*/whl)(?:/(?P<channel>nightly|test))?(?:/(?P<backend>[a-z0-9.]+))?$")


def _understand_index_url(config: Config) -> None:
    """An index URL that already ends in a channel or a backend (``…/whl/cu126``, the URL
    PyTorch's install page teaches) means the index ``…/whl`` with that channel and backend,
    unless a setting of higher precedence chose them; one line says so."""
    if config.is_template:
        return  # a repository per backend: taken as it is
    m = _CHANNEL_TAIL.match(config.index_url)
    if not m or not (m.group("channel") or m.group("backend")):
        return
    backend_name, channel = m.group("backend"), m.group("channel")
    backend = backend_from_url(config.index_url + "/") if backend_name else None
    if backend_name and backend is None:
        return  # not a backend: some other mirror layout, taken as it is
    origin = config.origins["index-url"]
    said = [f"'{redact(m.group('base'))}' as the index"]
    if backend is not None and config.origins["backend"] == "default":
        config.backends = (backend,)
        config.origins["backend"] = f"{origin} (its last part)"
        said.append(f"{backend.name} as the backend")
    if channel and config.origins["channel"] == "default":
        config.channel = channel
        config.origins["channel"] = f"{origin} (its channel part)"
        said.append(f"{channel} as the channel")
    config.warnings.append(f"ltt-hook: {origin} is {redact(config.index_url)!r}, which names a "
                           f"{'backend' if backend else 'channel'} page; using {', '.join(said)}")
    config.index_url = m.group("base")
