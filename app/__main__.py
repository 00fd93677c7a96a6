"""``python -m app [--host 127.0.0.1] [--port 8000]``: serve the job service.

With nothing configured it runs self-contained: an embedded Redis (fakeredis), the offline
``demo`` backend, and dev auth, printing a token and the curl commands to try it.
"""

from __future__ import annotations

import argparse
import sys

import uvicorn
from pydantic import ValidationError

from app.application import create_app
from app.logs import configure
from app.settings import Settings
from auth import mint_token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (8000)")
    args = parser.parse_args(argv)

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"python -m app: invalid configuration\n{exc}", file=sys.stderr)
        return 2
    configure(settings.log_level, json_lines=settings.json_logs)
    app = create_app(settings)
    if app.state.dev_secret is not None:
        print(
            welcome(f"http://{args.host}:{args.port}", mint_token(app.state.dev_secret, "dev")),
            flush=True,
        )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    return 0


def welcome(base: str, token: str) -> str:
    body = (
        '{"agent": "feature-suggestion", "input": {"pageOrComponent": "checkout page", '
        '"featureType": "enhancement", "priorityLevel": "high"}}'
    )
    return f"""
Job service (dev mode: embedded store and dev auth unless configured) at {base}

A bearer token for user "dev", valid for an hour with this process:

  export TOKEN={token}

Start a job, then stream it:

  curl -s {base}/jobs -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d '{body}'
  curl -N {base}/jobs/<jobId>/stream -H "Authorization: Bearer $TOKEN"
"""


if __name__ == "__main__":
    sys.exit(main())
