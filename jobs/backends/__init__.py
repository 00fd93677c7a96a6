"""Model backends: the providers an agent's request can run on, by name.

Adding a backend is one module here (a class with ``name``, ``default_model``, ``stream`` and
``aclose``, see :mod:`jobs.backends.base`) plus its line in :data:`BACKENDS`, with the settings
it reads declared in ``app.settings``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pydantic import SecretStr

from jobs.backends.anthropic import AnthropicBackend
from jobs.backends.base import (
    AssistantTurn,
    Backend,
    BackendEvent,
    Completion,
    ModelRequest,
    TextBlock,
    TextDelta,
    TokenUsage,
    ToolResultBlock,
    ToolResults,
    ToolUse,
    Turn,
    continues,
)
from jobs.backends.demo import DemoBackend

__all__ = [
    "BACKENDS",
    "AssistantTurn",
    "Backend",
    "BackendEvent",
    "BackendSettings",
    "Completion",
    "ModelRequest",
    "TextBlock",
    "TextDelta",
    "TokenUsage",
    "ToolResultBlock",
    "ToolResults",
    "ToolUse",
    "Turn",
    "build_backend",
    "continues",
]


class BackendSettings(Protocol):
    """The settings backends read (``app.settings.Settings`` provides them)."""

    @property
    def demo_tokens_per_second(self) -> float: ...
    @property
    def anthropic_api_key(self) -> SecretStr | None: ...
    @property
    def anthropic_base_url(self) -> str | None: ...
    @property
    def anthropic_model(self) -> str: ...
    @property
    def anthropic_timeout_s(self) -> float: ...
    @property
    def anthropic_max_retries(self) -> int: ...


def _demo(settings: BackendSettings) -> Backend:
    return DemoBackend(tokens_per_second=settings.demo_tokens_per_second)


def _anthropic(settings: BackendSettings) -> Backend:
    key = settings.anthropic_api_key
    return AnthropicBackend(
        api_key=key.get_secret_value() if key is not None else "",
        base_url=settings.anthropic_base_url,
        default_model=settings.anthropic_model,
        timeout_s=settings.anthropic_timeout_s,
        max_retries=settings.anthropic_max_retries,
    )


#: Each backend's name (``AGENT_BACKEND``) and how to build it from the settings.
BACKENDS: dict[str, Callable[[BackendSettings], Backend]] = {
    DemoBackend.name: _demo,
    AnthropicBackend.name: _anthropic,
}


def build_backend(name: str, settings: BackendSettings) -> Backend:
    return BACKENDS[name](settings)
