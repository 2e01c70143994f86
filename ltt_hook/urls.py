"""The rules for a URL a setting names, and how one is shown (password hidden)."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["redact", "usable_url"]


def redact(url: str) -> str:
    """Hide a password in a URL (``https://user:****@host/…``), as pip does in its output."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    # A user name without a password is a token: hide it whole (pip's rule).
    user = f"{parts.username}:****" if parts.password is not None else "****"
    return parts._replace(netloc=f"{user}@{host}").geturl()


def usable_url(url: str) -> bool:
    """The one rule for a URL a setting names: http(s) with a host, or file."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https", "file") and (parts.scheme == "file" or bool(parts.hostname))
