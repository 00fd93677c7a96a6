"""The service's configuration: environment variables, read once into one :class:`Settings`.

Names match the README's Configuration table exactly. Nothing reads the environment at import
time: ``python -m app`` builds ``Settings()`` and hands it to ``create_app(settings)``; tests
build their own. Comma-separated lists (``ALLOWED_MODELS``, ``AUTH_ALGORITHMS``,
``AUTH_TOKEN_TYPES``, ``CORS_ALLOW_ORIGINS``) are accepted as plain ``a,b,c``.

The components' config dataclasses (in ``jobs``, which knows nothing of this module) are
built from here by :func:`config_from`: a config field takes the setting of its own name
(``lease_ttl_s`` from ``LEASE_TTL_S``), or of its section's (``WebhookConfig.timeout_s`` from
``WEBHOOK_TIMEOUT_S``), so a new setting is spelled once here and once in its config class.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import sys
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    DirectoryPath,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from redis.connection import parse_url

from auth.access_tokens import DEFAULT_TOKEN_TYPES, UNTYPED
from auth.verifier import MIN_SECRET_LENGTH, PUBLIC_KEY_ALGORITHMS
from jobs.backends import BACKENDS
from jobs.running.prices import Price
from jobs.tools.workspace import sample_root

#: The current Sonnet in the anthropic SDK's model list.
DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-5-5"

CommaList = Annotated[list[str], NoDecode]
Config = TypeVar("Config")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    redis_url: str | None = None
    redis_cluster: bool = False
    jobs_redis_prefix: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")] = "jobs"
    job_ttl_s: Annotated[int, Field(gt=0)] = 600
    run_timeout_s: Annotated[float, Field(gt=0)] = 300
    resume_grace_s: Annotated[int, Field(gt=0)] = 60
    failed_retention_s: Annotated[int, Field(gt=0)] = 3600
    stream_throttle_ms: Annotated[int, Field(ge=0, le=10_000)] = 100
    stream_ping_s: Annotated[float, Field(gt=0)] = 15
    stream_send_timeout_s: Annotated[float, Field(gt=0)] = 30
    shutdown_grace_s: Annotated[float, Field(ge=0)] = 10
    shutdown_drain_s: Annotated[float, Field(ge=0)] = 60
    max_takeovers: Annotated[int, Field(ge=0)] = 2
    max_body_bytes: Annotated[int, Field(gt=0)] = 65536
    # The HTTP server's own limits (see app.protocol): the request line and headers, the time
    # to send them, the time to send the body, and how long an idle connection is kept.
    http_max_header_bytes: Annotated[int, Field(ge=1024)] = 32768
    http_head_timeout_s: Annotated[float, Field(gt=0)] = 10
    http_body_timeout_s: Annotated[float, Field(gt=0)] = 30
    http_keepalive_timeout_s: Annotated[int, Field(ge=1)] = 5

    auth_jwt_secret: SecretStr | None = None
    auth_ticket_secret: SecretStr | None = None
    stream_ticket_ttl_s: Annotated[int, Field(gt=0, le=3600)] = 60
    auth_issuer: str | None = None
    auth_audience: str | None = None
    auth_jwks_url: str | None = None
    auth_algorithms: CommaList = Field(default_factory=lambda: ["RS256", "ES256", "EdDSA"])
    auth_token_types: CommaList = Field(default_factory=lambda: list(DEFAULT_TOKEN_TYPES))
    # The longest life a token may claim (its exp from now, and from its iat): a day.
    auth_max_token_lifetime_s: Annotated[int, Field(gt=0)] = 86400

    agent_backend: str | None = None  # a name in jobs.backends.BACKENDS
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    anthropic_model: str = DEFAULT_ANTHROPIC_MODEL
    # Longest wait for any one step of a request: connecting, the answer's headers, or the
    # next bytes of its stream (the API pings while it thinks, so silence means trouble).
    anthropic_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 60
    # Retries of the initial request (429, 5xx, 529, connection errors); never mid-stream.
    anthropic_max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    allowed_models: CommaList = Field(default_factory=list)
    demo_tokens_per_second: Annotated[float, Field(gt=0)] = 40
    # The directory the agents' tools may read; "sample": the sample tree shipped in
    # jobs.tools; unset: that sample in dev mode, no tools otherwise (see workspace_root).
    agent_workspace: Literal["sample"] | DirectoryPath | None = None
    # More secret-looking files the tools never read (.gitignore syntax), beyond the defaults.
    agent_secret_patterns: CommaList = Field(default_factory=list)
    # Prices per model (USD per million tokens by kind), JSON; replace or add to the defaults.
    model_prices: dict[str, Price] = Field(default_factory=dict)
    # Model calls in one run (each step: a model call, then its tool calls, if any).
    agent_max_steps: Annotated[int, Field(ge=1, le=50)] = 8

    lease_ttl_s: Annotated[float, Field(gt=0)] = 15
    abandon_after_s: Annotated[float, Field(gt=0)] = 30
    rate_limit_create_per_min: Annotated[int, Field(ge=0)] = 10
    max_streams_per_user: Annotated[int, Field(ge=0)] = 5
    rate_limit_tickets_per_min: Annotated[int, Field(ge=0)] = 60
    # Token budgets (every kind of token counts; 0: off): per user in any 24 hours, and per run.
    user_token_budget: Annotated[int, Field(ge=0)] = 0
    run_token_budget: Annotated[int, Field(ge=0)] = 0
    cors_allow_origins: CommaList = Field(default_factory=list)
    # Dev mode (no auth) refuses CORS_ALLOW_ORIGINS=* and a non-loopback --host without it.
    allow_insecure_dev_mode: bool = False

    # Tracing (the otel extra): on when set, as the OpenTelemetry SDK defines it (otlp,
    # console, none...); the SDK reads its other OTEL_* variables itself (see app.tracing).
    otel_traces_exporter: str | None = None
    # The bearer token GET /metrics wants; unset, /metrics is open (keep it off the internet).
    metrics_token: SecretStr | None = None

    # How long POST /jobs remembers an Idempotency-Key's response.
    idempotency_ttl_s: Annotated[int, Field(gt=0)] = 86400
    # How long a finished job keeps its compact record (0: deleted at once).
    result_ttl_s: Annotated[int, Field(ge=0)] = 3600

    # Webhooks: one signed POST (Standard Webhooks) per job ending; off while WEBHOOK_URL is
    # unset. WEBHOOK_SECRET (whsec_<base64>) is required with it.
    webhook_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+")] | None = None
    webhook_secret: SecretStr | None = None
    webhook_timeout_s: Annotated[float, Field(gt=0, le=60)] = 10
    webhook_retry_for_s: Annotated[float, Field(ge=0)] = 3600
    webhook_dead_ttl_s: Annotated[int, Field(gt=0)] = 7 * 86400

    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    log_format: Literal["text", "json"] | None = None

    @field_validator(
        "auth_algorithms",
        "auth_token_types",
        "allowed_models",
        "cors_allow_origins",
        "agent_secret_patterns",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("agent_workspace", "metrics_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker compose's ${AGENT_WORKSPACE:-} passes an empty value for one not given.
        return None if value == "" else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        raw = value.get_secret_value()
        try:
            key = base64.b64decode(raw.removeprefix("whsec_"), validate=True)
        except ValueError:
            key = b""
        if not raw.startswith("whsec_") or len(key) < 24:
            raise ValueError("must be whsec_ then the base64 of a random key of 24 bytes or more")
        return value

    @model_validator(mode="after")
    def _webhook_pair(self) -> Settings:
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError("WEBHOOK_URL needs WEBHOOK_SECRET (whsec_<base64>) to sign with")
        if self.webhook_url is not None and self.redis_cluster:
            raise ValueError("WEBHOOK_URL is not supported with REDIS_CLUSTER yet")
        return self

    @field_validator("auth_jwt_secret", "auth_ticket_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return value

    @field_validator("auth_algorithms")
    @classmethod
    def _public_key_algorithms(cls, value: list[str]) -> list[str]:
        # 'none' never; HS* never: HS256 tokens are checked with AUTH_JWT_SECRET, and a JWKS
        # is only ever used for public keys (no key confusion).
        if any(alg.lower() == "none" for alg in value):
            raise ValueError("must not contain 'none'")
        unknown = [alg for alg in value if alg not in PUBLIC_KEY_ALGORITHMS]
        if unknown or not value:
            raise ValueError(
                f"lists the public-key algorithms accepted from the identity provider, one or "
                f"more of {', '.join(sorted(PUBLIC_KEY_ALGORITHMS))} (HS256 tokens are "
                f"verified with AUTH_JWT_SECRET); not {', '.join(unknown) or 'nothing'}"
            )
        return value

    @field_validator("auth_token_types")
    @classmethod
    def _token_types(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(
                f"lists the accepted 'typ' values of provider tokens (default "
                f"{','.join(DEFAULT_TOKEN_TYPES)}; add {UNTYPED!r} to accept tokens without one)"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        # Checked here, so that a typo stops the start with exit code 2 instead of failing the
        # lifespan. "+cluster" is ours (see jobs.redis.connection); redis-py parses the rest.
        if value is not None:
            scheme, sep, rest = value.partition("://")
            try:
                parse_url(scheme.removesuffix("+cluster") + sep + rest)  # type: ignore[no-untyped-call]
            except ValueError as exc:
                raise ValueError(f"not a Redis URL: {exc}") from None
        return value

    @field_validator("auth_issuer", "auth_jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        # A browser's Origin is scheme://host[:port], never with a path or a trailing slash;
        # an entry with one would silently match nothing.
        for origin in value:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], or *)")
        return value

    @model_validator(mode="after")
    def _provider_needs_an_audience(self) -> Settings:
        # A provider signs tokens for all its applications (and ID tokens for its clients):
        # without an audience, any of them would be accepted here.
        if self.oidc and not self.auth_audience:
            raise ValueError(
                "AUTH_AUDIENCE is required with AUTH_ISSUER/AUTH_JWKS_URL: set it to this API's "
                "identifier as the provider puts it in the access tokens' 'aud' (never a "
                "client id), or the service would accept tokens meant for other applications"
            )
        return self

    @model_validator(mode="after")
    def _shared_ticket_secret(self) -> Settings:
        # With only OIDC configured there is no shared secret to key stream tickets with; a
        # per-process key would make a ticket from one instance fail on the others. A shared
        # Redis means several instances may serve one job, so a ticket secret is required.
        if (
            self.oidc
            and self.redis_url is not None
            and self.auth_jwt_secret is None
            and self.auth_ticket_secret is None
        ):
            raise ValueError(
                "AUTH_TICKET_SECRET is required with AUTH_ISSUER/AUTH_JWKS_URL and REDIS_URL "
                "(the same value on every instance, so a stream ticket works on any of them)"
            )
        return self

    @model_validator(mode="after")
    def _dev_mode_stays_local(self) -> Settings:
        # With no auth, a token is one POST away: any web site a developer visits could
        # drive the service through their browser if every origin were allowed.
        if self.dev_auth and "*" in self.cors_allow_origins and not self.allow_insecure_dev_mode:
            raise ValueError(
                "CORS_ALLOW_ORIGINS=* with no authentication configured (dev mode) would let any "
                "web site drive this service: list the origins, configure AUTH_JWT_SECRET or "
                "AUTH_ISSUER/AUTH_JWKS_URL, or set ALLOW_INSECURE_DEV_MODE=true"
            )
        return self

    @field_validator("otel_traces_exporter")
    @classmethod
    def _otel_installed(cls, value: str | None) -> str | None:
        if value is not None and importlib.util.find_spec("opentelemetry.sdk") is None:
            raise ValueError(
                "tracing needs OpenTelemetry, which is not installed: "
                "pip install 'jobs-service[otel]' (or unset OTEL_TRACES_EXPORTER)"
            )
        return value

    @field_validator("agent_backend")
    @classmethod
    def _known_backend(cls, value: str | None) -> str | None:
        if value is not None and value not in BACKENDS:
            raise ValueError(f"AGENT_BACKEND must be one of: {', '.join(BACKENDS)}")
        return value

    @model_validator(mode="after")
    def _anthropic_needs_a_key(self) -> Settings:
        if self.agent_backend == "anthropic" and not self.anthropic_api_key:
            raise ValueError("AGENT_BACKEND=anthropic needs ANTHROPIC_API_KEY")
        return self

    @property
    def backend(self) -> str:
        """``AGENT_BACKEND``, else ``anthropic`` when a key is set, else ``demo``."""
        if self.agent_backend is not None:
            return self.agent_backend
        return "anthropic" if self.anthropic_api_key else "demo"

    @property
    def oidc(self) -> bool:
        """Tokens are checked against an identity provider's keys (JWKS)."""
        return bool(self.auth_issuer or self.auth_jwks_url)

    @property
    def dev_auth(self) -> bool:
        """Dev mode: no authentication configured at all."""
        return not (self.auth_jwt_secret or self.auth_issuer or self.auth_jwks_url)

    @property
    def workspace_root(self) -> Path | None:
        """The directory the agents' tools read, or None: agents run without tools.

        Unset, the shipped sample tree serves only in dev mode, so ``python -m app`` shows
        tool use out of the box while a real deployment that forgot ``AGENT_WORKSPACE`` never
        has its agents read a fictional shop's source and suggest features for it.
        """
        if self.agent_workspace == "sample" or (self.agent_workspace is None and self.dev_auth):
            return sample_root()
        return self.agent_workspace if isinstance(self.agent_workspace, Path) else None

    @property
    def json_logs(self) -> bool:
        if self.log_format is not None:
            return self.log_format == "json"
        return not sys.stderr.isatty()


def config_from(
    settings: Settings, config: type[Config], section: str = "", **given: Any
) -> Config:
    """The dataclass ``config`` built from ``settings``: each field from the setting of its
    name (``section`` + ``_`` + its name, with a section), a secret as its plain value;
    ``given`` values instead for the fields derived from several settings. A field with no
    such setting keeps its default (an internal tunable), or, with none, raises TypeError."""
    prefix = f"{section}_" if section else ""
    values = dict(given)
    for field in fields(config):  # type: ignore[arg-type]
        name = prefix + field.name
        if field.name in given:
            continue
        if name in Settings.model_fields:
            value = getattr(settings, name)
            values[field.name] = value.get_secret_value() if isinstance(value, SecretStr) else value
        elif field.default is MISSING and field.default_factory is MISSING:
            raise TypeError(f"{config.__name__}.{field.name}: no setting {name.upper()}")
    return config(**values)


def describe(exc: ValidationError) -> list[str]:
    """One line per invalid setting, naming its environment variable and never its value
    (a value may hold a secret, such as the password in a ``REDIS_URL``)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        message = error["msg"].removeprefix("Value error, ")
        name = ".".join(str(part) for part in error["loc"]).upper()
        lines.append(f"{name}: {message}" if name else message)
    return lines
