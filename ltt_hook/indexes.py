"""Which index URLs are PyTorch indexes: the configured one (or its template), PyTorch's own
hosts, and a company mirror's repository named after a backend (``…/pytorch-cu126/simple``)."""

from __future__ import annotations

from typing import List, Optional

from . import data
from .backends import Backend, backend_in_repository
from .config import Config

__all__ = ["is_pytorch_index", "named_mirror", "pytorch_indexes"]

_PUBLIC_HOSTS = ("download.pytorch.org", "download-r2.pytorch.org")


def is_pytorch_index(config: Config, url: str) -> bool:
    """Whether ``url`` is on the configured PyTorch index or on PyTorch's own."""
    if config.on_index(url):
        return True
    url = url.rstrip("/")
    base = data.DEFAULT_INDEX_URL
    if url == base or url.startswith(base + "/"):
        return True
    return any(f"//{host}/whl" in url for host in _PUBLIC_HOSTS)


def named_mirror(config: Config, url: str) -> Optional[Backend]:
    """The backend of a user's index URL that is not the PyTorch index but is named after a
    backend (``…/pytorch-cu126/simple``); None otherwise."""
    return None if is_pytorch_index(config, url) else backend_in_repository(url)


def pytorch_indexes(config: Config, index_urls: List[str]) -> List[str]:
    """The user's index URLs that are PyTorch indexes: on the PyTorch index (or its configured
    mirror), or a repository named after a backend (a company mirror's ``pytorch-cu126``)."""
    return [u for u in index_urls if is_pytorch_index(config, u) or named_mirror(config, u)]
