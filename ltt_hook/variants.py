"""What an index's PEP 817 variants file says about the builds of a torch release the tables lack.

Since 2.10 PyTorch publishes its variant wheels under ``<index>/variant/`` (``whl/variant/``,
``whl/test/variant/``: the ``PREFIXES`` of pytorch/test-infra ``s3_management/manage_v2.py``), with
one ``torch-<version>-variants.json`` per release linked from the project page
``<index>/variant/torch/`` (PEP 817 index-level metadata; copies of the 2.8-2.10 files are in
wheelnext/variant-repack ``configs/``). Its ``"variants"`` object maps each variant label to its
properties, ``namespace -> feature -> [values]``::

    {"variants": {"cu130": {"nvidia": {"cuda_version_lower_bound": ["13.0"],
                                       "sm_arch": ["75_real", "120_real", "120_virtual"]}},
                  "rocm7.1": {"amd": {"gfx_arch": ["gfx1100", "gfx942"], "rocm_version": ["7.1"]}}}}

:func:`parse` turns that into :class:`Facts`: per backend, its CUDA architectures (in the form
:mod:`ltt_hook.selection` reads from its table rows) or its AMD gfx targets. A variant's backend
is its label when that is one (``cu130``, ``rocm7.1``), else its CUDA or ROCm version
(``cuda_version_lower_bound`` ``12.8`` -> ``cu128``). Lenient: entries that do not fit are left
out; a body that is not such a file raises :class:`VariantsError`.

Pure functions; :mod:`ltt_hook.run` fetches the page and the file through pip's session.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import urllib.parse
from typing import Any, Dict, FrozenSet, List, Mapping, NamedTuple, Optional, Tuple

from ._packaging import InvalidVersion, Version
from .backends import Backend, InvalidBackend, parse_backend

__all__ = ["Arch", "Facts", "VariantsError", "parse", "links", "newest", "hash_problem", "PLATFORM"]

Arch = Tuple[int, int, bool]  # (major, minor, ships PTX), as ltt_hook.selection's table rows
#: The platform whose builds the files describe: PyTorch's variant wheels are its Linux x86_64
#: builds (the 2.9/2.10 files list exactly the x86_64 rows' architectures); other platforms
#: keep the conservative rules.
PLATFORM = "linux-x86_64"


class VariantsError(ValueError):
    """A body that is not a variants file."""


class Facts(NamedTuple):
    """What one variants file says about the builds of one torch release."""

    #: Where it was read (the file's URL, credentials removed).
    source: str
    #: CUDA backend name -> the GPU architectures of its builds.
    cuda: Mapping[str, Tuple[Arch, ...]]
    #: ROCm backend name -> the gfx targets of its builds.
    rocm: Mapping[str, FrozenSet[str]]
    platform: str = PLATFORM

    @property
    def empty(self) -> bool:
        return not self.cuda and not self.rocm


_SM = re.compile(r"^(?:(sm_|compute_))?(\d{2,3})(?:_(real|virtual))?$")
_GFX = re.compile(r"^gfx[0-9a-f]{3,4}$")
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)*$")


def _values(properties: Mapping[str, Any], namespace: str, feature: str) -> List[str]:
    features = properties.get(namespace)
    if not isinstance(features, dict):
        return []
    values = features.get(feature)
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        return []
    return [v.strip().lower() for v in values if isinstance(v, str)]


def _sm_arches(values: List[str]) -> Tuple[Arch, ...]:
    """``75_real`` -> (7, 5, False); ``120_virtual`` (PTX) -> (12, 0, True). Architecture-specific
    code (``90a``, ``100f``) runs on fewer GPUs than the rule assumes: left out."""
    arches: Dict[Tuple[int, int], bool] = {}
    for value in values:
        m = _SM.match(value)
        if not m:
            continue
        prefix, digits, kind = m.groups()
        ptx = kind == "virtual" or (kind is None and prefix == "compute_")
        key = (int(digits[:-1]), int(digits[-1]))
        arches[key] = arches.get(key, False) or ptx
    return tuple((major, minor, ptx) for (major, minor), ptx in sorted(arches.items()))


def _backend(label: str, properties: Mapping[str, Any]) -> Tuple[Optional[Backend], bool]:
    """The backend of one variant and whether its label names it (else its properties do)."""
    try:
        return parse_backend(label), True
    except InvalidBackend:
        pass
    for namespace, feature, prefix in (("nvidia", "cuda_version_lower_bound", "cu"), ("amd", "rocm_version", "rocm")):
        for value in _values(properties, namespace, feature):
            m = _VERSION.match(value)
            if m:
                name = f"cu{int(m.group(1))}{int(m.group(2))}" if prefix == "cu" else f"rocm{value}"
                try:
                    return parse_backend(name), False
                except InvalidBackend:
                    return None, False
    return None, False


def parse(body: bytes, source: str) -> Facts:
    """The facts of a variants file's ``body`` (read from ``source``).

    A backend named by two variants' properties alone (not by a label) is ambiguous: the
    backend's page holds one build, and which is not known; it is left out."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise VariantsError(f"not JSON ({exc})") from None
    variants = document.get("variants") if isinstance(document, dict) else None
    if not isinstance(variants, dict):
        raise VariantsError('no "variants" object')
    found: Dict[str, List[Tuple[bool, Tuple[Arch, ...], FrozenSet[str]]]] = {}
    for label, properties in variants.items():
        if not isinstance(label, str) or not isinstance(properties, dict):
            continue
        backend, by_label = _backend(label, properties)
        if backend is None:
            continue
        arches = _sm_arches(_values(properties, "nvidia", "sm_arch")) if backend.family == "cuda" else ()
        gfx = frozenset(v for v in _values(properties, "amd", "gfx_arch") if _GFX.match(v)) \
            if backend.family == "rocm" else frozenset()
        if arches or gfx:
            found.setdefault(backend.name, []).append((by_label, arches, gfx))
    cuda: Dict[str, Tuple[Arch, ...]] = {}
    rocm: Dict[str, FrozenSet[str]] = {}
    for name, entries in found.items():
        labelled = [e for e in entries if e[0]]
        chosen = labelled[0] if labelled else entries[0] if len(entries) == 1 else None
        if chosen is None:
            continue
        if chosen[1]:
            cuda[name] = chosen[1]
        if chosen[2]:
            rocm[name] = chosen[2]
    return Facts(source, cuda, rocm)


_HASHES = ("sha1", "sha224", "sha256", "sha384", "sha512", "md5")
_HREF = re.compile(r"""<a\s[^>]*?href\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


def links(body: bytes, page_url: str, project: str = "torch") -> Dict[Version, str]:
    """The variants files linked from a project page (PEP 503 HTML or PEP 691 JSON):
    version -> absolute URL (with its ``#sha256=`` fragment, if any)."""
    text = body.decode("utf-8", "replace")
    hrefs: List[str] = []
    if text.lstrip()[:1] == "{":
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        files = document.get("files") if isinstance(document, dict) else None
        for entry in files if isinstance(files, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("url"), str):
                hashes = entry.get("hashes")
                sha = hashes.get("sha256") if isinstance(hashes, dict) else None
                hrefs.append(entry["url"] + (f"#sha256={sha}" if isinstance(sha, str) and "#" not in entry["url"]
                                             else ""))
    else:
        hrefs = [html.unescape(a or b) for a, b in _HREF.findall(text)]
    name = re.compile(rf"^{re.escape(project)}-(.+)-variants\.json$", re.IGNORECASE)
    out: Dict[Version, str] = {}
    for href in hrefs:
        path = urllib.parse.urlsplit(href).path
        m = name.match(urllib.parse.unquote(path.rsplit("/", 1)[-1]))
        if not m:
            continue
        try:
            version = Version(m.group(1))
        except InvalidVersion:
            continue
        out[version] = urllib.parse.urljoin(page_url, href)
    return out


def newest(found: Mapping[Version, str], release: Version) -> Optional[str]:
    """The URL of the newest file of torch ``release`` (``2.16``: 2.16.1 over 2.16.0), if any."""
    mine = [v for v in found if (v.major, v.minor) == (release.major, release.minor)]
    return found[max(mine)] if mine else None


def hash_problem(url: str, body: bytes) -> Optional[str]:
    """Why ``body`` does not match the hash in ``url``'s fragment (``#sha256=…``); None if it
    does or there is none to check."""
    m = re.match(r"^(\w+)=([0-9a-fA-F]+)$", urllib.parse.urlsplit(url).fragment)
    if not m or m.group(1).lower() not in _HASHES:
        return None
    algorithm = m.group(1).lower()
    if hashlib.new(algorithm, body).hexdigest() != m.group(2).lower():
        return f"its {algorithm} does not match the link's"
    return None
