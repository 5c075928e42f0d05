"""The citycredit gateway: gRPC and REST over the one verification core, with persistence and auth.

Start one replica from code (tests, benchmarks, scripts)::

    from citycredit.gateway import GatewayConfig, gateway_in_thread, running_gateway

    config = GatewayConfig(home=tmp / "home", grpc_port=0, http_port=0)   # 0 = free ephemeral ports
    with gateway_in_thread(config) as gw:                                 # synchronous callers
        httpx.post(f"{gw.http_url}/v1/codes:verify", json={"code": code})
        grpc.insecure_channel(gw.grpc_target)
        gw.token(330100, "merchant")                                      # seeded credentials

    async with running_gateway(config) as gw:                             # asynchronous callers
        ...

    await serve(config)               # what `citycredit up` runs: until SIGTERM/SIGINT, then graceful

`GatewayConfig` (frozen) holds the home directory, database URL (SQLite file
`gateway.db` in the home by default; `postgresql://…` uses psycopg 3), host,
ports, limits and the clock; `GatewayConfig.from_env()` reads `CITYCREDIT_*`
variables. An empty database is migrated (Alembic, in-process) and seeded from
the home directory, creating the demo alliance there first if it holds none; the
seeded tokens land in `D/credentials.json` (see `citycredit.gateway.seed`).

REST (OpenAPI at /docs; errors are RFC 9457 problem+json with a `code`):

    GET  /v1/trust-bundle[?format=json]          public; protobuf, ETag = version, If-None-Match → 304
    POST /v1/codes:verify                        public; {"code", "at"?} → the CLI's verify JSON
    POST /v1/codes:batchVerify                   public; {"codes": [...], "at"?}
    GET  /v1/offers[?city=]                      public
    POST /v1/eligibility:check                   public; {"code", "offer_id", "at"?} → decision JSON
    POST /v1/redemptions                         merchant key; {"code", "offer_id", "idempotency_key"}
    POST /v1/cities/{city}/codes                 city office; {"holder_ref", "local_record", "ttl_s"?}
    POST /v1/cities/{city}/keys                  city office; {"algorithm", "spki" | "generate": true}
    POST /v1/cities/{city}/keys/{kid}:retire     city office; {"not_after"?}
    POST /v1/offers                              city office; an offer of its own city
    POST /v1/cities/{city}/revocations           city office; {"status_indexes", "holders"}
    POST /v1/cities/{city}/merchant-keys         city office; → {"id", "token"} (shown once)
    POST /v1/credentials/{id}:revoke             city office of the credential's city
    GET  /healthz, GET /metrics                  operations (Prometheus text)
    GET  /, /merchant, /office                   web pages, when `citycredit.gateway.web` is installed

gRPC serves the `citycredit.v1` services of `proto/citycredit/v1/service.proto`
with health checking and reflection; credentials go in `authorization` metadata.
"""

from citycredit.gateway.config import GatewayConfig
from citycredit.gateway.seed import load_credentials
from citycredit.gateway.server import Gateway, gateway_in_thread, running_gateway, serve

__all__ = ["Gateway", "GatewayConfig", "gateway_in_thread", "load_credentials", "running_gateway", "serve"]
