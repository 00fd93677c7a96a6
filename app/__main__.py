"""``python -m app [--host 127.0.0.1] [--port 8000] [--workers 1]``: serve the job service.

With nothing configured it runs self-contained: an embedded Redis (fakeredis), the offline
``demo`` backend, and dev auth. It prints the URL of the feature planner page (always), and in
dev mode a token and the curl commands to try the API.

``--workers N`` starts N uvicorn worker processes on one port. They share nothing but Redis,
so they need a real one (``REDIS_URL``) and configured auth (each dev-mode worker would sign
with its own key). Their metrics are summed through ``PROMETHEUS_MULTIPROC_DIR``: a fresh
temporary directory unless one is given, emptied at start either way (see ``jobs.metrics``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from pydantic import ValidationError
from uvicorn.supervisors import Multiprocess

from app.application import create_app, drain, tune_gc
from app.logs import configure
from app.page import is_loopback
from app.protocol import ServerConfig
from app.settings import Settings, describe
from auth import mint_token

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")

    try:
        settings = Settings()
    except ValidationError as exc:
        for line in describe(exc):
            print(f"python -m app: invalid configuration: {line}", file=sys.stderr)
        return 2
    if settings.dev_auth and not is_loopback(args.host) and not settings.allow_insecure_dev_mode:
        print(
            f"python -m app: no authentication is configured (dev mode), which serves only "
            f"this machine: --host {args.host} would hand the network the service; configure "
            f"AUTH_JWT_SECRET or AUTH_ISSUER/AUTH_JWKS_URL, or set ALLOW_INSECURE_DEV_MODE=true",
            file=sys.stderr,
        )
        return 2
    configure(settings.log_level, json_lines=settings.json_logs)
    tune_gc()
    if args.workers > 1:
        return serve_workers(settings, args.host, args.port, args.workers)
    app = create_app(settings)
    base = base_url(args.host, args.port)
    token = mint_token(app.state.dev_secret, "dev") if app.state.dev_secret is not None else None
    print(welcome(base, token), flush=True)
    config = server_config(settings, app, host=args.host, port=args.port)
    if settings.shutdown_drain_s > 0:
        server: uvicorn.Server = DrainingServer(config, lambda: drain(app))
    else:
        server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 3  # as uvicorn.run: the lifespan failed to start


def server_config(settings: Settings, app: Any, **options: Any) -> ServerConfig:
    """uvicorn's configuration for ``settings``: the HTTP limits (see ``app.protocol``), and
    logging left to ``app.logs``."""
    return ServerConfig(
        app,
        max_head_bytes=settings.http_max_header_bytes,
        head_timeout_s=settings.http_head_timeout_s,
        timeout_keep_alive=settings.http_keepalive_timeout_s,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
        **options,
    )


#: How long uvicorn's supervisor waits for a worker to answer its ping before it kills and
#: replaces it. Its default, 5 s, also covers a spawned worker's interpreter start-up: on a
#: loaded machine that took longer, and every worker was killed before it served (seen at a
#: load average of 12 on two cores). A worker that is alive but slow is worth keeping.
WORKER_HEALTHCHECK_TIMEOUT_S = 30


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining on the first ``SIGTERM``/``SIGINT``: it goes on serving
    while ``drain`` runs (the app starts no more runs and lets its own finish, up to
    ``SHUTDOWN_DRAIN_S``), then stops as uvicorn stops. A second signal stops it at once.

    Overrides uvicorn's ``handle_exit`` (its signal handler): called outside the event loop,
    it only schedules the drain there."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[object]]) -> None:
        super().__init__(config)
        self._drain = drain
        self._signalled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining: asyncio.Task[None] | None = None

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._signalled or self.should_exit or self._loop is None or not self.started:
            super().handle_exit(sig, frame)  # a second signal, or not serving yet: stop now
            return
        self._signalled = True
        self._loop.call_soon_threadsafe(self._start_draining, sig)

    def _start_draining(self, sig: int) -> None:
        self._draining = asyncio.create_task(self._drain_then_stop(sig), name="drain")

    async def _drain_then_stop(self, sig: int) -> None:
        try:
            await self._drain()
        except Exception:
            logger.exception("draining failed; stopping now")
        finally:
            if not self.should_exit:
                super().handle_exit(sig, None)


def serve_workers(settings: Settings, host: str, port: int, workers: int) -> int:
    if settings.redis_url is None or settings.dev_auth:
        print(
            "python -m app: --workers needs REDIS_URL and configured auth (AUTH_JWT_SECRET or "
            "AUTH_ISSUER/AUTH_JWKS_URL): workers share nothing else",
            file=sys.stderr,
        )
        return 2
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    metrics_dir = Path(given) if given else Path(tempfile.mkdtemp(prefix="jobs-metrics-"))
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):  # a previous run's values must not count
        stale.unlink()
    # Set before the workers start: each one picks its metrics mode when it imports them.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    try:
        config = server_config(
            settings,
            "app.application:from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT_S,
        )
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        if not given:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def base_url(host: str, port: int) -> str:
    """The URL to open: a wildcard bind address is reachable, locally, as ``localhost``."""
    if host in ("0.0.0.0", "::", ""):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def welcome(base: str, token: str | None) -> str:
    page = f"""
Job service at {base}

  Open {base}/ in a browser: the feature planner page streams suggestions into cards.
"""
    if token is None:
        return page + "  (It asks for a bearer token this service accepts.)\n"
    body = (
        '{"agent": "feature-suggestion", "input": {"pageOrComponent": "checkout page", '
        '"featureType": "enhancement", "priorityLevel": "high"}}'
    )
    return (
        page
        + f"""  (Dev mode: the page gets a token from POST /dev/token by itself.)

A bearer token for user "dev", valid for an hour with this process:

  export TOKEN={token}

Start a job, then stream it:

  curl -s {base}/jobs -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d '{body}'
  curl -N {base}/jobs/<jobId>/stream -H "Authorization: Bearer $TOKEN"
"""
    )


if __name__ == "__main__":
    sys.exit(main())
