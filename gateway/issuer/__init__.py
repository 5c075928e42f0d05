"""A city's issuer: the service a city credit office runs with its own keys, beside the alliance's gateway.

It serves the city's holders (sign-in through the city's identity hook, a registered
device key, device-bound codes for the city they are in, the offers open to them) and
its office (keys, offers, merchants, statuses, agreements, figures), signs everything
with the city's keys from its key store, uploads it to the gateway, renews the city's
role and status list, and countersigns the gateway's log heads::

    config = IssuerConfig(home=D, city="hangzhou", gateway="http://127.0.0.1:8080",
                          keystore_passphrase=...)
    with issuer_in_thread(config) as issuer:
        httpx.get(f"{issuer.url}/v1/holder/identity")

It imports the gateway's shared web conventions and its log witness, never the gateway's
replica: a city runs it without the gateway's database or keys.
"""

from citycredit.gateway.issuer._config import IssuerConfig
from citycredit.gateway.issuer._identity import DemoResidents, IdentityProvider, NoIdentityProvider, Resident
from citycredit.gateway.issuer._server import RunningIssuer, issuer_in_thread, running_issuer, serve_issuer
from citycredit.gateway.issuer._service import IssuerService

__all__ = ["DemoResidents", "IdentityProvider", "IssuerConfig", "IssuerService", "NoIdentityProvider", "Resident",
           "RunningIssuer", "issuer_in_thread", "running_issuer", "serve_issuer"]
