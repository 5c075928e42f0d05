"""The web pages the gateway serves: a landing page, the merchant check page and the city-office page.

The pages are static files in `web/` (HTML, one stylesheet, small scripts, no
build step). They talk to the gateway's own REST API from the same origin, so
nothing here re-implements verification or eligibility. Mount with::

    app.include_router(web.router)

Every page is sent with a strict Content-Security-Policy (same-origin scripts,
styles and requests only; no inline script), so untrusted text that ever reached
the DOM as markup could still not run.
"""

from __future__ import annotations

from pathlib import Path

from citycredit.errors import NotFoundError
from fastapi import APIRouter
from fastapi.responses import FileResponse

__all__ = ["ASSET_PREFIX", "WEB_DIR", "router"]

WEB_DIR = Path(__file__).with_name("web")
ASSET_PREFIX = "/web"

_PAGES = {"/": "index.html", "/merchant": "merchant.html", "/office": "office.html"}
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".svg": "image/svg+xml", ".html": "text/html; charset=utf-8"}
# Assets are the files of `web/` that are not pages, fixed at import: a request names one of them
# exactly, so no path from the URL ever reaches the file system.
_ASSETS = {p.name: p for p in sorted(WEB_DIR.iterdir())
           if p.is_file() and p.suffix in _TYPES and p.suffix != ".html"} if WEB_DIR.is_dir() else {}

_SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                                "img-src 'self' data: blob:; media-src 'self' blob:; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The merchant page may use the camera to scan a code; nothing else is needed.
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}
# Pages and assets change with the gateway version; revalidate rather than cache stale scripts.
_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


def _file(path: Path) -> FileResponse:
    if not path.is_file():
        raise NotFoundError(f"the web file {path.name} is not installed")
    return FileResponse(path, media_type=_TYPES[path.suffix], headers={**_SECURITY_HEADERS, **_CACHE})


def _page_route(url: str, name: str) -> None:
    def page() -> FileResponse:
        return _file(WEB_DIR / name)

    page.__name__ = f"web_{name.removesuffix('.html')}"
    router.add_api_route(url, page, methods=["GET"])


for _url, _name in _PAGES.items():
    _page_route(_url, _name)


@router.get(ASSET_PREFIX + "/{name}", name="web_asset")
def asset(name: str) -> FileResponse:
    path = _ASSETS.get(name)
    if path is None:
        raise NotFoundError(f"no web asset {name!r}")
    return _file(path)
