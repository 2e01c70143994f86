"""Loopback replicas of the extension publishers' per-torch wheel pages (stdlib + replica.make_wheel).

Layouts, below one served root (each publisher's base URL is ``<server>/<id>/...``, what
``LTT_EXTENSION_MIRRORS`` points ltt-hook at):

* PyG, ``pyg/whl/torch-2.5.0+cu124.html``: one page per torch minor (``.0``) and backend; links
  relative to the page, into ``torch-2.5.0%2Bcu124/``, the link text the path with a literal ``+``;
  labels ``+pt25cu124`` / ``+pt25cpu``; ``linux_x86_64`` wheels.
* DGL, ``dgl/wheels/torch-2.5/cu124/repo.html`` (CPU: ``torch-2.5/repo.html``); labels ``+cu124``,
  CPU wheels unlabelled; ``manylinux1_x86_64`` wheels beside the page.
* OpenMMLab, ``openmmlab/mmcv/dist/cu124/torch2.5/index.html``; unlabelled ``mmcv`` wheels.
* A user's own source, ``acme/torch-2.5.0/cu124/index.html``: ``acme-ops`` labelled ``+pt25cu124``.

Pages are static, without PEP 658 attributes (the publishers' pages carry none), and a page
that does not exist answers 403 (S3's AccessDenied), like the PyTorch replica.
"""

from __future__ import annotations

import html
import urllib.parse
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from support import replica

#: project -> version on the PyG pages (pyg-team's wheels for torch 2.5).
PYG = {"torch-scatter": "2.1.2", "torch-sparse": "0.6.18", "torch-cluster": "1.6.3",
       "torch-spline-conv": "1.2.2", "pyg-lib": "0.4.0"}
DGL_VERSION = "2.4.0"
MMCV_VERSION = "2.1.0"
#: What the PyPI stand-in holds for these projects (PyPI has only sdists of most of them; a
#: pure wheel stands in, so that "pip continues with your indexes" can be seen in a dry run).
PYPI_EXTRA: Tuple[Tuple[str, str, Sequence[str]], ...] = (
    ("torch-scatter", "2.1.2", ()), ("torch-sparse", "0.6.18", ()), ("dgl", "2.1.0", ()),
    ("mmcv", "2.2.0", ()), ("acme-ops", "1.0", ()),
)
#: torch releases (minor) with DGL and OpenMMLab pages on the replica.
DGL_RELEASES = ("2.0", "2.5")
MMCV_RELEASES = ("2.0", "2.5")


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _page(path: Path, hrefs: Iterable[Tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f'<a href="{href}">{html.escape(text)}</a><br>\n' for href, text in hrefs)
    path.write_text("<html>\n<head><meta name=\"pypi:repository-version\" content=\"1.0\"></head>\n"
                    f"<body>\n{body}</body>\n</html>\n", encoding="utf-8")


def _wheels(directory: Path, project: str, version: str, tags: Sequence[str], platform: str) -> List[Path]:
    return [replica.make_wheel(directory, project, version, f"{tag}-{platform}") for tag in tags]


def releases(no_page: str) -> Dict[str, Tuple[str, ...]]:
    """torch minor -> its CPU and CUDA backends, for every replica release but ``no_page``."""
    out: Dict[str, Tuple[str, ...]] = {}
    for rel in replica.DEFAULT_RELEASES:
        minor = _minor(rel.torch)
        if minor != no_page:
            out[minor] = tuple(b for b in rel.backends if b == "cpu" or b.startswith("cu"))
    return out


#: PyG's projects lag torch differently (facts-2026.md: pyg-lib has wheels up to torch 2.14,
#: pyg-team/pyg-lib#720; torch-scatter and torch-sparse stop at 2.12, rusty1s/pytorch_scatter#513).
#: The replica has no 2.12 release, so here they stop at 2.11.
PYG_LAST = {"torch-scatter": "2.11", "torch-sparse": "2.11"}


def _key(minor: str) -> Tuple[int, ...]:
    return tuple(int(p) for p in minor.split("."))


def build(root: Path, tags: Sequence[str], no_page: str, last: Optional[Dict[str, str]] = None) -> Path:
    """Write every layout under ``root``; ``tags`` are wheel tag prefixes (``cp311-cp311``);
    torch ``no_page`` (``2.14``) gets no page anywhere. ``last``: project -> the newest torch
    minor with its PyG wheels (the per-project lag; a page for a newer torch lacks the project).
    PyG's root listing ``pyg/whl/index.html`` links every page."""
    root = Path(root)
    listed: List[str] = []
    for minor, backends in releases(no_page).items():
        major, sub = minor.split(".")
        for backend in backends:
            # PyG
            folder = f"torch-{minor}.0+{backend}"
            listed.append(f"{folder}.html")
            links = []
            for project, version in PYG.items():
                if last and project in last and _key(minor) > _key(last[project]):
                    continue
                for wheel in _wheels(root / "pyg" / "whl" / folder, project, f"{version}+pt{major}{sub}{backend}",
                                     tags, "linux_x86_64"):
                    links.append((urllib.parse.quote(f"{folder}/{wheel.name}"), f"{folder}/{wheel.name}"))
            _page(root / "pyg" / "whl" / f"{folder}.html", links)
            # DGL
            if minor in DGL_RELEASES:
                directory = root / "dgl" / "wheels" / f"torch-{minor}" / ("" if backend == "cpu" else backend)
                version = DGL_VERSION if backend == "cpu" else f"{DGL_VERSION}+{backend}"
                wheels = _wheels(directory, "dgl", version, tags, "manylinux1_x86_64")
                _page(directory / "repo.html", [(urllib.parse.quote(w.name), w.name) for w in wheels])
            # OpenMMLab
            if minor in MMCV_RELEASES:
                directory = root / "openmmlab" / "mmcv" / "dist" / backend / f"torch{minor}"
                wheels = _wheels(directory, "mmcv", MMCV_VERSION, tags, "manylinux1_x86_64")
                _page(directory / "index.html", [(urllib.parse.quote(w.name), w.name) for w in wheels])
            # A user's own index
            directory = root / "acme" / f"torch-{minor}.0" / backend
            wheels = _wheels(directory, "acme-ops", f"1.0+pt{major}{sub}{backend}", tags, "linux_x86_64")
            _page(directory / "index.html", [(urllib.parse.quote(w.name), w.name) for w in wheels])
    _page(root / "pyg" / "whl" / "index.html", [(urllib.parse.quote(name), name) for name in sorted(listed)])
    return root


def mirrors(url: str) -> str:
    """``LTT_EXTENSION_MIRRORS`` for a server of :func:`build`'s root."""
    return f"pyg={url}/pyg/whl dgl={url}/dgl/wheels openmmlab={url}/openmmlab/mmcv/dist"


def user_source(url: str) -> str:
    """The ``[ltt] extensions`` line of the user's own source on that server."""
    return f"acme-ops = {url}/acme/torch-{{torch}}/{{backend}}/index.html label=pt{{major}}{{minor}}{{backend}}"
