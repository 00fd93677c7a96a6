"""Settings to components in one step: each config dataclass takes its fields from the
settings of the same names (in its section), with nothing mapped by hand but what is
derived."""

from __future__ import annotations

import base64
from dataclasses import dataclass, fields
from typing import Any

import pytest
from pydantic import SecretStr

from app import Settings
from app.services import FINISH_MARGIN_S, lifetimes, run_limits, webhook_config
from app.settings import config_from
from jobs.record.store import Lifetimes
from jobs.running.pipeline import RunLimits
from jobs.running.webhooks import WebhookConfig

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
#: Every setting the three configs read, at a value that is no config field's default.
CHANGED: dict[str, Any] = {
    "job_ttl_s": 601,
    "run_timeout_s": 301.0,
    "resume_grace_s": 61,
    "failed_retention_s": 3601,
    "lease_ttl_s": 16.0,
    "result_ttl_s": 3602,
    "max_takeovers": 3,
    "stream_throttle_ms": 101,
    "abandon_after_s": 31.0,
    "shutdown_grace_s": 11.0,
    "agent_max_steps": 9,
    "run_token_budget": 1000,
    "webhook_url": "https://hooks.example/x",
    "webhook_secret": SECRET,
    "webhook_timeout_s": 11.0,
    "webhook_retry_for_s": 3601.0,
    "webhook_dead_ttl_s": 86401,
}
#: The config fields that are no setting of their own name: derived, or internal tunables.
NOT_SETTINGS = {
    Lifetimes: {"pending_s", "running_s"},
    RunLimits: {"throttle_ms"},
    WebhookConfig: {"every_s", "first_backoff_s"},
}
SECTIONS = {Lifetimes: "", RunLimits: "", WebhookConfig: "webhook"}


def test_every_config_field_is_a_setting_or_known_not_to_be() -> None:
    # A new field whose name matches no setting would silently keep its default: listed here.
    for config, section in SECTIONS.items():
        prefix = f"{section}_" if section else ""
        missing = {f.name for f in fields(config) if prefix + f.name not in Settings.model_fields}
        assert missing == NOT_SETTINGS[config], config.__name__


def test_the_configs_carry_every_setting() -> None:
    settings = Settings(**CHANGED)
    spans = lifetimes(settings)
    assert spans.pending_s == 601
    assert spans.running_s == 301 + FINISH_MARGIN_S
    limits = run_limits(settings)
    assert limits.throttle_ms == 101
    hook = webhook_config(settings)
    assert hook is not None
    assert hook.secret == SECRET  # the plain value, not pydantic's SecretStr
    for config, built in ((Lifetimes, spans), (RunLimits, limits), (WebhookConfig, hook)):
        prefix = f"{SECTIONS[config]}_" if SECTIONS[config] else ""
        for f in fields(config):
            if f.name not in NOT_SETTINGS[config]:
                expected = getattr(settings, prefix + f.name)
                if isinstance(expected, SecretStr):
                    expected = expected.get_secret_value()
                assert getattr(built, f.name) == expected, f.name
                assert getattr(built, f.name) != f.default, f"{f.name}: test a changed value"


def test_a_field_with_no_setting_and_no_default_is_refused() -> None:
    @dataclass
    class Odd:
        job_ttl_s: int
        no_such_setting_s: int

    with pytest.raises(TypeError, match="NO_SUCH_SETTING_S"):
        config_from(Settings(), Odd)
    assert config_from(Settings(), Odd, no_such_setting_s=1) == Odd(600, 1)
