"""Servers for the gateway benchmarks, each in its own process so that load and service do not share a GIL.

`python -m benchmarks.servers gateway HOME [DB_URL]` runs a gateway replica in one process
(`citycredit up --workers 1`), `gateway-workers HOME [DB_URL]` the gateway as `citycredit up` runs it
by default (one worker per CPU, at most 4, sharing the ports);
`echo-grpc` and `echo-rest` run the bare baselines: the same gRPC service and the
same REST route answering a canned response without doing any work. Each prints
one JSON line with its ports when ready and serves until SIGTERM or stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["CANNED_VERIFICATION", "ServerProcess", "server_process"]

# What a verify answer looks like; the echo servers send it for every request.
CANNED_VERIFICATION: dict[str, Any] = {
    "valid": True, "city": "330100", "tier": "EXCELLENT", "band": "钱江分·优秀",
    "issued_at": "2026-11-22T01:03:15Z", "expires_at": "2026-11-22T01:08:15Z", "error": None}
_LOOPBACK = "127.0.0.1"
_START_TIMEOUT_S = 60.0


class ServerProcess:
    """A started server child: its ports, and the process to stop."""

    def __init__(self, process: subprocess.Popen[str], info: dict[str, Any]) -> None:
        self.process = process
        self.info = info

    @property
    def grpc_target(self) -> str:
        return f"{_LOOPBACK}:{self.info['grpc_port']}"

    @property
    def http_port(self) -> int:
        return int(self.info["http_port"])


@contextlib.contextmanager
def server_process(*args: str) -> Iterator[ServerProcess]:
    """Start `python -m benchmarks.servers ARGS...`, wait for its ready line, stop it on exit."""
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.servers", *args], cwd=root, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], _START_TIMEOUT_S)
        line = process.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"server {' '.join(args)} did not start within {_START_TIMEOUT_S} s")
        yield ServerProcess(process, json.loads(line))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the child side --------------------------------------------------------------------------------------


async def _until_told_to_stop() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read() or stop.set())
    await stop.wait()


def _ready(**ports: int) -> None:
    print(json.dumps(ports), flush=True)


def _gateway_config(home: str, db_url: str | None, workers: int) -> Any:
    from citycredit.gateway import GatewayConfig  # noqa: PLC0415 - optional:

    # Benchmark load comes from one client: lift the per-key rate limit far above what it can send.
    return GatewayConfig(home=Path(home), db_url=db_url, host=_LOOPBACK, grpc_port=0, http_port=0,
                         rate_per_s=1e9, rate_burst=1_000_000_000, shutdown_grace_s=2.0, workers=workers)


async def _gateway(home: str, db_url: str | None) -> None:
    """One gateway process (`citycredit up --workers 1`)."""
    from citycredit.gateway import running_gateway  # noqa: PLC0415 - optional: runs only where the gateway extra is installed

    async with running_gateway(_gateway_config(home, db_url, 1)) as gateway:
        _ready(grpc_port=gateway.grpc_port, http_port=gateway.http_port)
        await _until_told_to_stop()


def _gateway_workers(home: str, db_url: str | None) -> None:
    """The gateway as `citycredit up` runs it by default: a supervisor and one worker per CPU (capped)."""
    from citycredit.gateway.config import default_workers  # noqa: PLC0415 - optional: runs only where the gateway extra is installed
    from citycredit.gateway.supervisor import supervise  # noqa: PLC0415 - optional: runs only where the gateway extra is installed

    config = _gateway_config(home, db_url, default_workers())
    if config.workers == 1:
        asyncio.run(_gateway(home, db_url))
        return
    # The supervisor stops its workers on SIGTERM, which is how `server_process` ends every server.
    raise SystemExit(supervise(config, ready=lambda http, grpc: _ready(grpc_port=grpc, http_port=http)))


async def _echo_grpc() -> None:
    import grpc  # noqa: PLC0415 - optional: runs only where the gateway extra is installed
    from citycredit._gen.citycredit.v1 import service_pb2, service_pb2_grpc  # noqa: PLC0415 - optional: runs only where the gateway extra is installed

    answer = service_pb2.VerifyCodeResponse(verification=service_pb2.Verification(
        valid=True, city=330100, tier=5, band="钱江分·优秀", issued_at=1795000000, expires_at=1795000300,
        code_id=bytes(16), holder=bytes(16)))

    class Echo(service_pb2_grpc.VerificationServiceServicer):
        async def VerifyCode(self, request: Any, context: Any) -> Any:
            return answer

    server = grpc.aio.server()
    service_pb2_grpc.add_VerificationServiceServicer_to_server(Echo(), server)
    port = server.add_insecure_port(f"{_LOOPBACK}:0")
    await server.start()
    _ready(grpc_port=port, http_port=0)
    await _until_told_to_stop()
    await server.stop(1)


async def _echo_rest() -> None:
    import uvicorn  # noqa: PLC0415 - optional: runs only where the gateway extra is installed

    from benchmarks.echo_rest_app import app  # noqa: PLC0415 - optional: runs only where the gateway extra is installed

    class Server(uvicorn.Server):  # as the gateway does: this process handles its own signals
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    # Bound the way `uvicorn --host --port` binds (asyncio's create_server, which sets TCP_NODELAY).
    server = Server(uvicorn.Config(app, host=_LOOPBACK, port=0, log_config=None, access_log=False, lifespan="off",
                                   server_header=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    _ready(grpc_port=0, http_port=server.servers[0].sockets[0].getsockname()[1])
    await _until_told_to_stop()
    server.should_exit = True
    await task


def main(argv: list[str]) -> None:
    kind, rest = argv[0], argv[1:]
    if kind == "gateway":
        asyncio.run(_gateway(rest[0], rest[1] if len(rest) > 1 else None))
    elif kind == "gateway-workers":
        _gateway_workers(rest[0], rest[1] if len(rest) > 1 else None)
    elif kind == "echo-grpc":
        asyncio.run(_echo_grpc())
    elif kind == "echo-rest":
        asyncio.run(_echo_rest())
    else:
        raise SystemExit(f"unknown server {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
