"""Configuration: the names in the README, read from the environment once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import get_args

import anthropic
import pytest
from pydantic import ValidationError

from app import Settings
from app.services import max_events
from app.settings import DEFAULT_ANTHROPIC_MODEL


def test_defaults_match_the_design() -> None:
    settings = Settings()
    assert settings.redis_url is None
    assert settings.jobs_redis_prefix == "jobs"
    assert (settings.job_ttl_s, settings.run_timeout_s, settings.resume_grace_s) == (600, 300, 60)
    assert settings.failed_retention_s == 3600
    assert (settings.stream_throttle_ms, settings.stream_ping_s) == (100, 15)
    assert settings.max_body_bytes == 65536
    assert settings.backend == "demo"
    assert settings.allowed_models == []
    assert settings.anthropic_model == DEFAULT_ANTHROPIC_MODEL
    assert settings.dev_auth
    assert (settings.lease_ttl_s, settings.abandon_after_s) == (15, 30)
    assert (settings.rate_limit_create_per_min, settings.max_streams_per_user) == (10, 5)
    assert settings.cors_allow_origins == []


def test_environment_names_and_comma_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example:6379/1")
    monkeypatch.setenv("JOBS_REDIS_PREFIX", "svc")
    monkeypatch.setenv("STREAM_THROTTLE_MS", "50")
    monkeypatch.setenv("ALLOWED_MODELS", "a, b ,c")
    monkeypatch.setenv("AUTH_ALGORITHMS", "RS256,ES256")
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://app.example")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setenv("AUTH_JWT_SECRET", "s" * 32)
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    settings = Settings()
    assert settings.redis_url == "redis://example:6379/1"
    assert settings.jobs_redis_prefix == "svc"
    assert settings.stream_throttle_ms == 50
    assert settings.allowed_models == ["a", "b", "c"]
    assert settings.auth_algorithms == ["RS256", "ES256"]
    assert settings.cors_allow_origins == ["https://app.example"]
    assert settings.backend == "anthropic", "a key selects the anthropic backend"
    assert not settings.dev_auth
    assert settings.log_level == "debug"
    monkeypatch.setenv("AGENT_BACKEND", "demo")
    assert Settings().backend == "demo", "AGENT_BACKEND overrides"


def test_the_sample_workspace_serves_dev_mode_only_unless_asked_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sample = Path(__file__).parents[2] / "jobs" / "tools" / "sample"
    assert Settings().workspace_root == sample, "python -m app shows tool use out of the box"
    monkeypatch.setenv("AUTH_JWT_SECRET", "s" * 32)
    assert Settings().workspace_root is None, "a real deployment never reads the sample shop"
    monkeypatch.setenv("AGENT_WORKSPACE", "sample")
    assert Settings().workspace_root == sample
    monkeypatch.setenv("AGENT_WORKSPACE", str(tmp_path))
    assert Settings().workspace_root == tmp_path
    monkeypatch.delenv("AUTH_JWT_SECRET")
    assert Settings().workspace_root == tmp_path, "a named directory wins in dev mode too"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTH_JWT_SECRET", "too-short"),
        ("AUTH_ALGORITHMS", "none"),
        ("AUTH_ALGORITHMS", "RS256,HS256"),
        ("AUTH_ALGORITHMS", "RS265"),
        ("CORS_ALLOW_ORIGINS", "https://app.example/"),
        ("CORS_ALLOW_ORIGINS", "app.example"),
        ("AUTH_ISSUER", "idp.example"),
        ("AUTH_JWKS_URL", "file:///etc/jwks.json"),
        ("JOB_TTL_S", "0"),
        ("JOBS_REDIS_PREFIX", "has space"),
        ("AGENT_BACKEND", "gpt"),
        ("REDIS_URL", "foo://x"),
        ("REDIS_URL", "redis://host:port"),
        ("AGENT_WORKSPACE", "/no/such/directory"),
        ("AGENT_WORKSPACE", "Sample"),
    ],
)
def test_bad_configuration_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.lower()):
        Settings()


def test_oidc_with_a_shared_redis_needs_a_shared_ticket_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTH_ISSUER", "https://idp.example")
    monkeypatch.setenv("AUTH_AUDIENCE", "https://jobs.example")
    assert Settings().oidc, "with the embedded store (one instance) a per-process key does"
    monkeypatch.setenv("REDIS_URL", "redis://redis.internal:6379/0")
    with pytest.raises(ValidationError, match="AUTH_TICKET_SECRET is required"):
        Settings()
    monkeypatch.setenv("AUTH_TICKET_SECRET", "t" * 32)
    assert not Settings().dev_auth


@pytest.mark.parametrize("provider", ["AUTH_ISSUER", "AUTH_JWKS_URL"])
def test_a_provider_needs_an_audience(monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    monkeypatch.setenv(provider, "https://idp.example/")
    with pytest.raises(ValidationError, match="AUTH_AUDIENCE is required with AUTH_ISSUER"):
        Settings()
    monkeypatch.setenv("AUTH_AUDIENCE", "https://jobs.example")
    assert Settings().auth_token_types == ["at+jwt", "application/at+jwt", "JWT"]


def test_the_service_refuses_to_start_without_an_audience() -> None:
    env = {"AUTH_ISSUER": "https://idp.example", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "app", "--port", "1"],
        capture_output=True, text=True, env=env, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "AUTH_AUDIENCE is required" in result.stderr


def test_token_types_are_a_comma_list_and_never_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_TOKEN_TYPES", "at+jwt, untyped")
    assert Settings().auth_token_types == ["at+jwt", "untyped"]
    monkeypatch.setenv("AUTH_TOKEN_TYPES", " , ")
    with pytest.raises(ValidationError, match="auth_token_types"):
        Settings()


def test_secrets_do_not_show_in_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_JWT_SECRET", "a-very-secret-value-0123456789abcdef")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    text = repr(Settings())
    assert "a-very-secret-value" not in text
    assert "sk-ant-secret" not in text


def test_the_stream_bound_covers_a_whole_run() -> None:
    settings = Settings(run_timeout_s=300, stream_throttle_ms=100)
    assert max_events(settings) > 300 * 1000 / 100


def test_anthropic_client_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert (defaults.anthropic_timeout_s, defaults.anthropic_max_retries) == (60, 2)
    monkeypatch.setenv("ANTHROPIC_TIMEOUT_S", "12.5")
    monkeypatch.setenv("ANTHROPIC_MAX_RETRIES", "0")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/")
    settings = Settings()
    assert (settings.anthropic_timeout_s, settings.anthropic_max_retries) == (12.5, 0)
    assert settings.anthropic_base_url == "http://127.0.0.1:9/"


def test_the_anthropic_backend_without_a_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_BACKEND", "anthropic")
    with pytest.raises(ValidationError, match="AGENT_BACKEND=anthropic needs ANTHROPIC_API_KEY"):
        Settings()


def test_the_default_model_is_one_the_sdk_knows_and_the_readme_names() -> None:
    # Our promise, not the SDK's release schedule: the default is a model id the SDK's own
    # types list (so it is spelled right and not invented), and the README says which it is.
    (known, _) = get_args(anthropic.types.Model)
    assert DEFAULT_ANTHROPIC_MODEL in get_args(known)
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert f"`ANTHROPIC_MODEL` (default `{DEFAULT_ANTHROPIC_MODEL}`" in readme
