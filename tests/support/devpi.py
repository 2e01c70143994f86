"""A real devpi-server on loopback, mirroring the suite's replica of the PyTorch index.

devpi (like Artifactory and Nexus) keeps one repository per upstream index, so a company mirror
of the PyTorch index is ``<devpi>/root/pytorch-<backend>/+simple/``: one mirror index per backend
page of the replica, created with devpi-client as an administrator would
(``devpi index -c pytorch-cu126 type=mirror mirror_url=<PyTorch index>/whl/cu126/``). Files come
through devpi's own ``+f/`` paths. The server directory lives under the test's temp dir.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterable, Optional

__all__ = ["DevpiServer", "available"]

_BIN = Path(sys.executable).parent


def available() -> bool:
    """Whether devpi-server and devpi-client are installed beside pytest (tests/requirements.txt)."""
    return all((_BIN / name).exists() or shutil.which(name) for name in ("devpi-init", "devpi-server", "devpi"))


def _tool(name: str) -> str:
    return str(_BIN / name) if (_BIN / name).exists() else str(shutil.which(name))


class DevpiServer:
    """``with DevpiServer(tmp, upstream_url, backends) as devpi: devpi.url``."""

    def __init__(self, directory: Path, upstream: str, backends: Iterable[str], user: str = "root") -> None:
        self.directory = Path(directory)
        self.upstream = upstream.rstrip("/")
        self.backends = list(backends)
        self.user = user
        self.url = ""
        self._process: Optional[subprocess.Popen] = None

    def index_url(self) -> str:
        """The ``[ltt] index-url`` template of this mirror."""
        return f"{self.url}/{self.user}/pytorch-{{backend}}/+simple"

    def _devpi(self, *args: str) -> None:
        subprocess.run([_tool("devpi"), *args, "--clientdir", str(self.directory / "client")], check=True,
                       capture_output=True, text=True, timeout=120)

    def start(self) -> DevpiServer:
        server_dir = self.directory / "server"
        subprocess.run([_tool("devpi-init"), "--serverdir", str(server_dir), "--no-root-pypi"], check=True,
                       capture_output=True, timeout=120)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = open(self.directory / "devpi-server.log", "w")  # noqa: SIM115 - closed with the process
        self._process = subprocess.Popen([_tool("devpi-server"), "--serverdir", str(server_dir), "--host",
                                          "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/+api", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.stop()
                    log_text = (self.directory / "devpi-server.log").read_text()
                    raise RuntimeError(f"devpi-server did not start: {log_text}") from None
                time.sleep(0.2)
        self._devpi("use", self.url)
        self._devpi("login", "root", "--password", "")
        for backend in self.backends:
            self._devpi("index", "-c", f"pytorch-{backend}", "type=mirror", f"mirror_url={self.upstream}/{backend}/")
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None

    def __enter__(self) -> DevpiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
