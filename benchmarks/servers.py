"""Servers for the gateway benchmarks, each in its own process so that load and service do not share a GIL.

    python -m benchmarks.servers gateway HOME DB_URL|- WORKERS   the demo alliance's gateway (HOME: a demo copy)
    python -m benchmarks.servers echo-grpc RESPONSE_FILE          a bare grpc.aio VerificationService
    python -m benchmarks.servers echo-rest BODY_FILE              a bare ASGI app under the gateway's uvicorn set-up

The gateway runs as `tests/support/alliance.py` configures it (`gateway_config`), with the
production timers and the per-client and per-key rate limits lifted (one client sends all the
load); WORKERS 1 is one process, more is `citycredit up --workers N` (a supervisor and worker
processes sharing the ports). The echo servers answer every request with the bytes the gateway
answered for a real code: `echo-grpc` is `grpc.aio.server` with the gateway's options and the
same generated servicer base, `echo-rest` an ASGI callable with no framework at all, served by
uvicorn with the gateway's own HTTP protocol class, socket and settings. Each prints one JSON
line with its ports when ready and serves until SIGTERM or stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

__all__ = ["LOOPBACK", "ServerProcess", "server_process"]

LOOPBACK = "127.0.0.1"
_START_TIMEOUT_S = 120.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_UNLIMITED = {"rate_per_s": 1e9, "rate_burst": 1_000_000_000, "client_rate_per_s": 1e9,
              "client_rate_burst": 1_000_000_000}
# GatewayConfig's own defaults, where the test helper shortens them.
_PRODUCTION_TIMERS = {"refresh_interval_s": 2.0, "log_interval_s": 0.5}


class ServerProcess:
    """A started server child: its ports, and the process to stop."""

    def __init__(self, process: subprocess.Popen[str], info: dict[str, Any]) -> None:
        self.process = process
        self.info = info

    @property
    def grpc_target(self) -> str:
        return f"{LOOPBACK}:{self.info['grpc_port']}"

    @property
    def http_port(self) -> int:
        return int(self.info["http_port"])

    def cpu_s(self) -> float:
        """CPU seconds the server process has used so far, all its threads, user and system (Linux /proc;
        a process of `WORKERS 1` is the whole server)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


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
    def stdin_readable() -> None:
        if not sys.stdin.read():  # closed: the parent is gone
            stop.set()

    loop.add_reader(sys.stdin.fileno(), stdin_readable)
    await stop.wait()


def _ready(**ports: int) -> None:
    print(json.dumps(ports), flush=True)


def _gateway(home: str, db_url: str | None, workers: int, run: Callable[[Coroutine[Any, Any, None]], None]) -> None:
    from citycredit.gateway.server import serve  # noqa: PLC0415 - optional: the gateway extra
    from citycredit.gateway.supervisor import supervise  # noqa: PLC0415 - optional: the gateway extra

    from tests.support.alliance import gateway_config  # noqa: PLC0415 - optional: needs the source tree

    config = gateway_config(Path(home), db_url=db_url, host=LOOPBACK, workers=workers, **_UNLIMITED,
                            **_PRODUCTION_TIMERS)
    if workers > 1:  # the supervisor stops its workers on SIGTERM, which is how `server_process` ends a server
        raise SystemExit(supervise(config, ready=lambda http, grpc: _ready(grpc_port=grpc, http_port=http)))

    # As `citycredit up --workers 1` serves: until SIGTERM, or until stdin turns readable (the parent is gone).
    run(serve(config, ready=lambda gateway: _ready(grpc_port=gateway.grpc_port, http_port=gateway.http_port),
              stop_when_readable=sys.stdin.fileno()))


async def _echo_grpc(response_file: str) -> None:
    import grpc  # noqa: PLC0415 - optional: the gateway extra
    from citycredit._gen.citycredit.v1 import service_pb2, service_pb2_grpc  # noqa: PLC0415 - optional: grpc

    answer = service_pb2.VerifyCodeResponse.FromString(Path(response_file).read_bytes())
    streamed = service_pb2.VerifyCodeStreamResponse(verification=answer.verification)

    class Echo(service_pb2_grpc.VerificationServiceServicer):  # type: ignore[misc]
        async def VerifyCode(self, request: Any, context: Any) -> Any:
            return answer

        async def VerifyCodeStream(self, requests: Any, context: Any) -> Any:
            async for _request in requests:
                yield streamed

    # The gateway's server options (gateway/server.py), on its default limits.
    server = grpc.aio.server(options=[
        ("grpc.max_receive_message_length", 1024 * 1024), ("grpc.so_reuseport", 0),
        ("grpc.max_connection_idle_ms", 15_000), ("grpc.max_concurrent_streams", 256),
        ("grpc.http2.max_pings_without_data", 2), ("grpc.max_connection_age_grace_ms", 15_000)])
    service_pb2_grpc.add_VerificationServiceServicer_to_server(Echo(), server)
    port = server.add_insecure_port(f"{LOOPBACK}:0")
    await server.start()
    _ready(grpc_port=port, http_port=0)
    await _until_told_to_stop()
    await server.stop(1)


def canned_asgi(body: bytes) -> Any:
    """An ASGI app answering every HTTP request with `body` as JSON, reading the request body first."""
    start = {"type": "http.response.start", "status": 200,
             "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]}
    done = {"type": "http.response.body", "body": body}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        message = await receive()
        while message.get("more_body"):
            message = await receive()
        await send(start)
        await send(done)
    return app


async def _echo_rest(body_file: str) -> None:
    import uvicorn  # noqa: PLC0415 - optional: the gateway extra
    from citycredit.gateway.connections import (  # noqa: PLC0415 - optional: the gateway extra
        guarded_protocol,
        listening_socket,
    )

    class Server(uvicorn.Server):  # as the gateway does: this process handles its own signals
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    # The gateway's listening socket, protocol and settings.
    sock = listening_socket(LOOPBACK, 0, backlog=4096)
    protocol = guarded_protocol(max_connections=2048, request_timeout_s=15.0)
    server = Server(uvicorn.Config(canned_asgi(Path(body_file).read_bytes()), http=protocol, log_config=None,
                                   access_log=False, lifespan="off", timeout_graceful_shutdown=2,
                                   timeout_keep_alive=15, server_header=False, backlog=4096))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    _ready(grpc_port=0, http_port=sock.getsockname()[1])
    await _until_told_to_stop()
    server.should_exit = True
    await task


def main(argv: list[str]) -> None:
    # Every server runs on the event loop `citycredit up` runs the gateway on (uvloop where it is installed).
    from citycredit.gateway.server import run  # noqa: PLC0415 - optional: the gateway extra

    kind, rest = argv[0], argv[1:]
    if kind == "gateway":
        _gateway(rest[0], None if rest[1] == "-" else rest[1], int(rest[2]), run)
    elif kind == "echo-grpc":
        run(_echo_grpc(rest[0]))
    elif kind == "echo-rest":
        run(_echo_rest(rest[0]))
    else:
        raise SystemExit(f"unknown server {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
