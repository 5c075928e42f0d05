"""The citycredit gateway: the alliance's public trust set, verification, eligibility and redemption.

The gateway holds no city's key, no pseudonym secret and no governance key: it serves what
the cities and the governance signed, verifies every upload against the trust it already
has, adds only its own snapshot and timestamp signatures, records redemptions exactly
once and keeps the append-only log whose heads the cities countersign.

Start one replica from code (tests, benchmarks, scripts)::

    from citycredit.gateway import GatewayConfig, gateway_in_thread

    config = GatewayConfig(home=D / "gateway", grpc_port=0, http_port=0)   # 0 = free ephemeral ports
    with gateway_in_thread(config) as gw:
        httpx.post(f"{gw.http_url}/v1/codes:verify", json={"code": code})
        grpc.insecure_channel(gw.grpc_target)

    await serve(config)               # one process until SIGTERM/SIGINT; `supervise` runs N workers

`GatewayConfig` (pydantic-settings: flags or `CITYCREDIT_*` variables) holds the home (the
gateway's own directory: its key store `keys/`, `anchor.json`, `seed.json`, the SQLite
database by default), the database URL, ports, limits and the clock. An empty database is
migrated (Alembic, in-process) and seeded from the public trust set in `seed` (default
`home/../repository`) and the credentials in `seed.json`. The REST routes are listed in
`citycredit.gateway.rest`, the gRPC services in `citycredit.gateway.grpc_service`.
"""

import os

# gRPC's C core writes its own lines to stderr, in its own format, bypassing Python's logging; a gateway's
# stderr is JSON lines only (`logs`), and every gRPC failure reaches the Python side as a status anyway. So
# the core stays quiet unless an operator asks (GRPC_VERBOSITY=ERROR or DEBUG, for a transport problem).
# It is read when grpc is first imported, hence before the imports below.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

from citycredit.gateway.config import GatewayConfig
from citycredit.gateway.replica import Replica
from citycredit.gateway.server import Gateway, gateway_in_thread, running_gateway, serve

__all__ = ["Gateway", "GatewayConfig", "Replica", "gateway_in_thread", "running_gateway", "serve"]
