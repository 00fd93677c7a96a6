"""The feature planner page at ``/``, its static files, and (dev mode only) ``POST /dev/token``.

The page is plain HTML, CSS and ES modules under ``app/static`` (shipped as package data, no
build step). ``/`` serves ``index.html`` with a strict Content-Security-Policy: the page only
loads its own scripts and styles and only talks to this origin, and it renders model output
with ``textContent``, never as HTML.

``POST /dev/token`` exists only in dev mode (no auth configured; otherwise the route is absent
and answers 404). It hands the page a bearer token for user ``dev``, signed with the
per-process dev secret, so that opening the printed URL is all a new user has to do. It answers
only requests made on the machine itself (a loopback client *and* a loopback ``Host``): a dev
server bound to ``0.0.0.0`` must not hand tokens to the network, and a web site that rebinds
its own DNS name to 127.0.0.1 must not get one either. A browser on the developer's machine is
local too, so the request's ``Origin`` must be this service's own (its page) or one listed in
``CORS_ALLOW_ORIGINS`` (never ``*``); any other, ``null`` included, is refused: a ``POST`` with
no body is a CORS "simple" request that no preflight guards. A request without ``Origin`` is
not from a web page (curl, scripts). The token is never logged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from auth import mint_token
from jobs.errors import ForeignOrigin, LocalOnly

STATIC_DIR = Path(__file__).parent / "static"
DEV_USER = "dev"
DEV_TOKEN_TTL_S = 3600

#: For the HTML document: its own scripts, styles and API only; no framing, no inline code.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # The page is tiny and changes with the service: always revalidate (ETag) so an upgrade
    # never runs an old page against a new API.
    "Cache-Control": "no-cache",
}


class Static(StaticFiles):
    """The page's scripts and styles, revalidated on every load like the page itself."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        if isinstance(response, FileResponse) and str(response.path).endswith(".ts"):
            # TypeScript declarations, to read or save (the default guess is an MPEG stream).
            response.headers["Content-Type"] = "text/plain; charset=utf-8"
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


async def index(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class DevTokens:
    """Issues dev tokens for user ``dev``, signed with the per-process dev secret."""

    def __init__(self, dev_secret: str, origins: Sequence[str] = ()) -> None:
        self._secret = dev_secret
        self._origins = frozenset(origin for origin in origins if origin != "*")

    async def issue(self, request: Request) -> Response:
        """``POST /dev/token``: ``{"token", "tokenType", "sub", "expiresIn"}``."""
        client = request.client.host if request.client else None
        if not (is_loopback(client) and is_loopback(request.url.hostname)):
            raise LocalOnly("dev tokens; paste the token python -m app printed instead")
        origin = request.headers.get("origin")
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin is not None and origin != own and origin not in self._origins:
            raise ForeignOrigin("dev tokens")
        token = mint_token(self._secret, DEV_USER, ttl_s=DEV_TOKEN_TTL_S)
        body = {
            "token": token,
            "tokenType": "Bearer",
            "sub": DEV_USER,
            "expiresIn": DEV_TOKEN_TTL_S,
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})


def page_routes(dev_secret: str | None, origins: Sequence[str] = ()) -> list[BaseRoute]:
    """The page's routes; ``POST /dev/token`` only when ``dev_secret`` is set (dev mode), for
    this service's own page and the pages of ``origins`` (``CORS_ALLOW_ORIGINS``)."""
    routes: list[BaseRoute] = [
        Route("/", index, methods=["GET", "HEAD"]),
        Mount("/static", Static(directory=STATIC_DIR), name="static"),
    ]
    if dev_secret is not None:
        routes.append(Route("/dev/token", DevTokens(dev_secret, origins).issue, methods=["POST"]))
    return routes
