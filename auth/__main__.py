"""``python -m auth token --sub NAME [--ttl 3600]``: print an HS256 token signed with
``AUTH_JWT_SECRET`` (read from the environment), for development and simple deployments."""

from __future__ import annotations

import argparse
import os
import sys

from auth.verifier import MIN_SECRET_LENGTH, mint_token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auth", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print a bearer token signed with AUTH_JWT_SECRET")
    token.add_argument("--sub", required=True, help="the user the token names (job owner)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (3600)")
    token.add_argument("--iss", help="issuer claim, when the service checks AUTH_ISSUER")
    token.add_argument("--aud", help="audience claim, when the service checks AUTH_AUDIENCE")
    args = parser.parse_args(argv)

    secret = os.environ.get("AUTH_JWT_SECRET")
    if not secret:
        print("python -m auth: set AUTH_JWT_SECRET to the service's secret", file=sys.stderr)
        return 2
    if len(secret) < MIN_SECRET_LENGTH:
        print(
            f"python -m auth: AUTH_JWT_SECRET must be at least {MIN_SECRET_LENGTH} characters",
            file=sys.stderr,
        )
        return 2
    if args.ttl <= 0:
        parser.error("--ttl must be positive")
    claims = {name: value for name, value in (("iss", args.iss), ("aud", args.aud)) if value}
    print(mint_token(secret, args.sub, ttl_s=args.ttl, **claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
