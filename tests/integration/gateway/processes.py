"""`citycredit gateway serve` as a real process of the demo home, its JSON log lines collected as they come."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.alliance import passphrase

__all__ = ["GatewayProcess", "refused_start"]

_READY_TIMEOUT_S = 120.0
# `python -c _CAPPED -m citycredit …`: cap the file descriptors (soft and hard), then exec the rest.
_CAPPED = ("import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, ({n}, {n})); "
           "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")


@dataclass
class GatewayProcess:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    ready: dict[str, Any] = field(default_factory=dict)
    _reader: threading.Thread | None = None

    @classmethod
    def start(cls, home: Path, *args: str, open_files: int | None = None, wait: bool = True,
              **env: str) -> GatewayProcess:
        """`citycredit gateway serve --home D/gateway ARGS` with the gateway's passphrase in its environment;
        `open_files` caps its file descriptors (soft and hard)."""
        command = [sys.executable, "-m", "citycredit", "gateway", "serve", "--home", str(home / "gateway"),
                   "--host", "127.0.0.1", *args]
        if open_files is not None:
            # The child caps itself, then becomes the gateway: a `preexec_fn` would run Python between fork
            # and exec in this process, whose gRPC threads (of other tests) make that unsafe.
            command[1:1] = ["-c", _CAPPED.format(n=open_files)]
        environment = {**os.environ, "CITYCREDIT_KEYSTORE_PASSPHRASE": passphrase(home, "gateway/keys"),
                       "PYTHONUNBUFFERED": "1", "CITYCREDIT_SHUTDOWN_GRACE_S": "2", **env}
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True, env=environment)
        gateway = cls(process)
        ready = threading.Event()

        def drain() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                gateway.lines.append(line.rstrip("\n"))
                if not ready.is_set() and '"gateway ready"' in line:
                    gateway.ready = json.loads(line)
                    ready.set()

        gateway._reader = threading.Thread(target=drain, daemon=True)
        gateway._reader.start()
        if wait:
            deadline = time.monotonic() + _READY_TIMEOUT_S
            while not ready.wait(0.1):
                if process.poll() is not None or time.monotonic() > deadline:
                    gateway.stop()
                    raise AssertionError("the gateway did not start:\n" + "\n".join(gateway.lines[-30:]))
        return gateway

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.ready['http_port']}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.ready['grpc_port']}"

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines) if line.strip()]

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM, then the exit status (SIGKILL if it does not stop in time); the log is complete after."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._reader is not None:
            self._reader.join(10)
        return int(self.process.returncode)


def refused_start(home: Path, *args: str) -> tuple[int, list[str]]:
    """A gateway that must not start: its exit status and its stderr lines."""
    gateway = GatewayProcess.start(home, *args, wait=False)
    try:
        status = gateway.process.wait(_READY_TIMEOUT_S)
    finally:
        gateway.stop()
    return status, gateway.lines
