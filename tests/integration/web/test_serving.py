"""How the gateway serves the pages: types, security headers, no external assets, no path escapes."""

from __future__ import annotations

import re

import httpx
import pytest
from citycredit.gateway.web import WEB_DIR


@pytest.mark.parametrize("path", ["/", "/merchant", "/office"])
def test_pages_are_html_with_a_strict_policy(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert '<html lang="zh-CN">' in response.text


def test_every_referenced_asset_is_served_by_the_gateway(api: httpx.Client) -> None:
    for page in ("index.html", "merchant.html", "office.html"):
        html = (WEB_DIR / page).read_text(encoding="utf-8")
        assert "<script>" not in html and " style=" not in html, f"{page} has inline script or style"
        assert not re.search(r"\son[a-z]+=", html), f"{page} has an inline event handler"
        for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert not ref.startswith(("http:", "https:", "//")), f"{page} loads {ref} from elsewhere"
            if ref.startswith("/web/"):
                asset = api.get(ref)
                assert asset.status_code == 200, ref
                assert asset.headers["content-type"].startswith(("text/css", "text/javascript"))


@pytest.mark.parametrize("path", ["/web/nope.js", "/web/..%2Fweb.py", "/web/%2e%2e%2frest.py", "/web/merchant.html"])
def test_only_listed_assets_are_served(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "CC_NOT_FOUND"
