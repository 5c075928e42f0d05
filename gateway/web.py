"""The web pages the gateway and each city's issuer serve, and the files those pages load.

    GET /<page>           a page: web/<page>.html (web/index.html at /)
    GET /web/<file>       a script or asset: dist/<file> (the build of web/src, see web/build.mjs), else web/<file>
    GET /<name>-sw.js     a service worker from dist/, served at the root so that it may control the pages

One router serves both kinds of app (`app.include_router(web.router)`), so a page may exist for one of
them only: `<page>.gateway.html` is served by the gateway alone and `<page>.issuer.html` by an issuer alone,
each in place of a shared `<page>.html` there. The gateway's app is the one that carries its replica in
`app.state` (rest.build_app); an app may also name its kind in `app.state.web_site`.

Pages talk to the API of the app that served them (same origin). Every file goes out with a strict
Content-Security-Policy: same-origin scripts, styles and requests only, no inline script; WebAssembly may be
compiled (the QR reader), and service workers and the manifest come from the same origin. No page loads
anything from another host, so every page works on a network that reaches only this one.
"""

from __future__ import annotations

import re
from pathlib import Path

from citycredit.errors import NotFoundError
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

__all__ = ["ASSET_PREFIX", "DIST_DIR", "WEB_DIR", "router"]

WEB_DIR = Path(__file__).with_name("web")
DIST_DIR = WEB_DIR / "dist"
ASSET_PREFIX = "/web"
SITES = ("gateway", "issuer")

_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".svg": "image/svg+xml", ".png": "image/png", ".wasm": "application/wasm",
          ".webmanifest": "application/manifest+json", ".json": "application/json",
          ".html": "text/html; charset=utf-8"}
# What may be fetched from each folder: the build's outputs, and the hand-written assets beside the pages
# (never their sources: no .ts, .mjs or configuration).
_FROM_DIST = {".js", ".css", ".wasm", ".json", ".svg", ".png"}
_FROM_WEB = {".js", ".css", ".svg", ".png", ".webmanifest"}
# A file name from a URL: one path segment, so no path from a request ever walks the file system.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")

_SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
                                "connect-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                                "worker-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The merchant page may use the camera to scan a code; nothing else is needed.
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}
# Pages and assets change with the gateway version; revalidate (ETag) rather than run stale scripts.
_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


def _site(request: Request) -> str:
    state = request.app.state
    named = getattr(state, "web_site", None)
    if named in SITES:
        return str(named)
    return "gateway" if hasattr(state, "replica") else "issuer"


def _file(path: Path) -> FileResponse:
    return FileResponse(path, media_type=_TYPES[path.suffix], headers={**_SECURITY_HEADERS, **_CACHE})


def _page_file(page: str, site: str) -> Path | None:
    for name in (f"{page}.{site}.html", f"{page}.html"):
        path = WEB_DIR / name
        if path.is_file():
            return path
    return None


def _page_names() -> list[str]:
    """Every page some app serves, from the HTML files present when the router is built."""
    if not WEB_DIR.is_dir():
        return []
    names = set()
    for path in WEB_DIR.glob("*.html"):
        stem = path.name.removesuffix(".html")
        for site in SITES:
            stem = stem.removesuffix(f".{site}")
        if _NAME.fullmatch(stem):
            names.add(stem)
    return sorted(names)


def _page_route(page: str) -> None:
    def serve(request: Request) -> FileResponse:
        path = _page_file(page, _site(request))
        if path is None:
            raise NotFoundError(f"there is no page {page!r} here")
        return _file(path)

    serve.__name__ = f"web_page_{page.replace('-', '_')}"
    router.add_api_route("/" if page == "index" else f"/{page}", serve, methods=["GET"])


for _page in _page_names():
    _page_route(_page)


@router.get(ASSET_PREFIX + "/{name}", name="web_asset")
def asset(name: str) -> FileResponse:
    """A built file (dist/) or a hand-written one (web/), by its name alone."""
    if _NAME.fullmatch(name):
        suffix = Path(name).suffix
        for folder, allowed in ((DIST_DIR, _FROM_DIST), (WEB_DIR, _FROM_WEB)):
            path = folder / name
            if suffix in allowed and path.is_file():
                return _file(path)
    raise NotFoundError(f"no web asset {name!r} (the pages' scripts are built into web/dist by web/build.mjs)")


@router.get("/{name}-sw.js", name="web_service_worker")
def service_worker(name: str) -> FileResponse:
    """A service worker, from the root so that its scope may cover the page that registers it."""
    path = DIST_DIR / f"{name}-sw.js"
    if not _NAME.fullmatch(f"{name}-sw.js") or not path.is_file():
        raise NotFoundError(f"no service worker {name}-sw.js")
    return _file(path)
