"""How the gateway and an issuer serve the pages: which pages where, types, the security policy, no
external reference, and nothing served that is not a page's file (no sources, no path escapes)."""

from __future__ import annotations

import re

import httpx
import pytest
from citycredit.gateway.web import WEB_DIR

from tests.support.alliance import Alliance

GATEWAY_PAGES = {"/": "index.gateway.html", "/merchant": "merchant.gateway.html", "/office": "office.gateway.html"}


@pytest.fixture(scope="module")
def gateway(web_alliance: Alliance) -> httpx.Client:
    with httpx.Client(base_url=web_alliance.gateway.http_url, timeout=30) as client:
        yield client


@pytest.mark.parametrize("path", sorted(GATEWAY_PAGES))
def test_gateway_pages_are_html_with_a_strict_policy(gateway: httpx.Client, path: str) -> None:
    response = gateway.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == (WEB_DIR / GATEWAY_PAGES[path]).read_text(encoding="utf-8")
    policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self' 'wasm-unsafe-eval'"  # the QR reader is WebAssembly; no eval, no inline
    assert policy["connect-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["worker-src"] == "'self'" and policy["manifest-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert '<html lang="zh-CN"' in response.text


def test_each_app_serves_its_own_pages(gateway: httpx.Client, web_alliance: Alliance) -> None:
    issuer = httpx.get(f"{web_alliance.issuer_url('quzhou')}/office", timeout=30)
    assert issuer.status_code == 200 and issuer.text != gateway.get("/office").text  # the office itself, not the list
    for path in ("/merchant", "/"):
        refused = httpx.get(f"{web_alliance.issuer_url('quzhou')}{path}", timeout=30)
        assert refused.status_code == 404 and refused.json()["code"] == "CC_NOT_FOUND", path


@pytest.mark.parametrize("page", sorted(GATEWAY_PAGES.values()))
def test_every_reference_is_served_here(gateway: httpx.Client, page: str) -> None:
    html = (WEB_DIR / page).read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), f"{page} has an inline script"
    assert " style=" not in html and "<style" not in html, f"{page} has inline style"
    assert not re.search(r"\son[a-z]+=", html), f"{page} has an inline event handler"
    types = {"script": "text/javascript", "stylesheet": "text/css", "manifest": "application/manifest+json",
             "icon": "image/", "apple-touch-icon": "image/png"}
    references = []
    for tag in re.findall(r"<(?:script|link)\b[^>]*>", html):
        attrs = dict(re.findall(r'([a-z-]+)="([^"]*)"', tag))
        references.append((attrs.get("rel", ""), attrs.get("src") or attrs.get("href", "")))
    assert references, page
    for rel, ref in references:
        assert ref.startswith("/"), f"{page} loads {ref} from elsewhere"
        response = gateway.get(ref)
        assert response.status_code == 200, ref
        want = types.get(rel or "script", "")
        assert response.headers["content-type"].startswith(want), (ref, response.headers["content-type"])


def test_the_till_app_files(gateway: httpx.Client) -> None:
    manifest = gateway.get("/web/merchant.webmanifest")
    assert manifest.headers["content-type"] == "application/manifest+json"
    doc = manifest.json()
    assert doc["start_url"] == "/merchant" and doc["scope"] == "/merchant" and doc["display"] == "standalone"
    for icon in doc["icons"]:
        assert gateway.get(icon["src"]).status_code == 200, icon
    worker = gateway.get("/merchant-sw.js")
    assert worker.status_code == 200 and worker.headers["content-type"].startswith("text/javascript")
    assert "citycredit-merchant-" in worker.text
    wasm = gateway.get("/web/zxing_reader.wasm")
    assert wasm.headers["content-type"] == "application/wasm" and wasm.content[:4] == b"\0asm"
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.svg"):  # what /docs loads
        assert gateway.get(f"/web/{name}").status_code == 200, name


@pytest.mark.parametrize("path", [
    "/web/nope.js", "/web/..%2Fweb.py", "/web/%2e%2e%2frest.py", "/web/merchant.gateway.html", "/web/build.mjs",
    "/web/tsconfig.json", "/web/.hidden.js", "/nope-sw.js", "/web/src", "/holder",
])
def test_nothing_else_is_served(gateway: httpx.Client, path: str) -> None:
    response = gateway.get(path)
    assert response.status_code == 404, path
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "CC_NOT_FOUND"
