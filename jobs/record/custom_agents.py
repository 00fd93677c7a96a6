"""Per-user custom agents: a user's own configuration of an agent, stored as configuration.

A user may keep one custom agent per agent (``PUT /me/agents/{agent}``): a name, a role and a
focus that shape the system prompt, an own system prompt, the effort, the tools (a subset of
the agent's), the model (one of ``ALLOWED_MODELS``) and whether it is active. ``POST /jobs``
snapshots the caller's *active* custom agent into the job, so editing it never changes a run
in flight; the job and its ``complete`` event name the custom agent and its version. On a
standalone Redis the create script itself reads the custom agent and takes the snapshot, in the
same step as it stores the job (``jobs.record.store``: one round trip); on a Redis Cluster the
custom agent's key and the job's live in different slots, so :meth:`CustomAgents.active` reads it
first. Either way the snapshot is :func:`snapshot` of the stored fields, and "active" means
``isActive`` is ``true``.

It is the one key family without a TTL (``jobs:user:<owner>:agent:<agent>``, a HASH with
``config``, ``version`` and ``updatedAt``): configuration outlives jobs, so a deployment that
keeps custom agents needs a persistent Redis.

``temperature`` is the old system's field. The Messages API as the anthropic SDK exposes it
takes no sampling parameters (it offers ``output_config.effort`` instead), so the value is
validated and kept for compatibility but never sent to the model.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from jobs.agents.base import LINE_CONTROL, TEXT_CONTROL, TextRules
from jobs.errors import InputInvalid
from jobs.events import now_ms
from jobs.redis.connection import Redis, unavailable_as_domain_error
from jobs.redis.keys import Keys
from jobs.redis.script import Script

PUT = Script("jobs.record", "custom_agent_put", keys=1, args=2)

#: The API's effort levels (``output_config.effort``; a test checks them against the SDK's).
Effort = Literal["low", "medium", "high", "xhigh", "max"]


class CustomAgent(BaseModel):
    """What a user may set (``PUT /me/agents/{agent}``). Validation context: ``tools`` (the
    agent's tools) and ``allowed_models``."""

    model_config = ConfigDict(
        alias_generator=to_camel, extra="forbid", str_strip_whitespace=True, frozen=True
    )

    # The text rules of job inputs (jobs.agents.base): no control characters in one-line
    # fields, none but tab and line breaks in the others.
    name: Annotated[str, Field(min_length=1, max_length=80), TextRules(LINE_CONTROL, visible=True)]
    role: Annotated[str, Field(max_length=200), TextRules(LINE_CONTROL)] = ""
    focus: Annotated[str, Field(max_length=1000), TextRules(TEXT_CONTROL)] = ""
    system_prompt: Annotated[str, Field(max_length=8000), TextRules(TEXT_CONTROL)] = ""
    temperature: Annotated[float | None, Field(ge=0, le=1, strict=True)] = None
    effort: Effort | None = None
    tools: Annotated[list[str] | None, Field(max_length=10)] = None
    model: str | None = None
    is_active: Annotated[bool, Field(strict=True)] = True

    @field_validator("tools")
    @classmethod
    def _agents_tools(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return None
        offered: tuple[str, ...] = (info.context or {}).get("tools", ())
        unknown = [name for name in value if name not in offered]
        if unknown:
            allowed = ", ".join(offered) or "none"
            raise ValueError(f"tools must be a subset of this agent's tools ({allowed})")
        if len(set(value)) != len(value):
            raise ValueError("tools must not repeat a tool")
        return value

    @field_validator("model")
    @classmethod
    def _allowed_model(cls, value: str | None, info: ValidationInfo) -> str | None:
        allowed: list[str] = (info.context or {}).get("allowed_models", [])
        if value is not None and value not in allowed:
            raise ValueError(f"model must be one of: {', '.join(allowed)}")
        return value


class CustomAgents:
    """The custom agents of every user, in Redis (no TTL: configuration)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    def validate(
        self, raw: Any, *, tools: tuple[str, ...], allowed_models: list[str]
    ) -> CustomAgent:
        """The body of a ``PUT``, or :class:`InputInvalid` naming the fields."""
        context = {"tools": tools, "allowed_models": allowed_models}
        try:
            return CustomAgent.model_validate(raw, context=context)
        except ValidationError as exc:
            raise InputInvalid(exc) from None

    async def get(self, owner: str, agent: str) -> dict[str, Any] | None:
        """The stored custom agent as the API shows it (with ``version``, ``updatedAt``)."""
        with unavailable_as_domain_error():
            fields: Any = await self.redis.hgetall(self.keys.custom_agent(owner, agent))
        if not fields:
            return None
        return snapshot(fields["config"], fields["version"], fields["updatedAt"])

    async def put(self, owner: str, agent: str, config: CustomAgent) -> dict[str, Any]:
        """Store ``config`` as the next version; return it as :meth:`get` would."""
        data = config.model_dump(mode="json", by_alias=True, exclude_none=True)
        updated_at = now_ms()
        with unavailable_as_domain_error():
            version = await PUT.call(
                self.redis,
                [self.keys.custom_agent(owner, agent)],
                [orjson.dumps(data).decode(), updated_at],
            )
        return data | {"version": int(version), "updatedAt": updated_at}

    async def delete(self, owner: str, agent: str) -> None:
        with unavailable_as_domain_error():
            await self.redis.delete(self.keys.custom_agent(owner, agent))

    async def active(self, owner: str, agent: str) -> dict[str, Any] | None:
        """The snapshot a new job takes: the stored agent if it is active, else None. (The
        create script of ``jobs.record.store`` applies the same rule on a standalone Redis.)"""
        stored = await self.get(owner, agent)
        return stored if stored is not None and stored.get("isActive") is True else None


def snapshot(config: str, version: str | int, updated_at: str | int) -> dict[str, Any]:
    """A stored custom agent's fields (``config``, JSON; ``version``; ``updatedAt``) as the API
    shows it and a job snapshots it: the config with ``version`` and ``updatedAt`` added."""
    stored: dict[str, Any] = orjson.loads(config)
    return stored | {"version": int(version), "updatedAt": int(updated_at)}


def custom_agent_ref(snapshot: dict[str, Any]) -> dict[str, Any]:
    """How a job and its ``complete`` event name the custom agent that ran: name and version."""
    return {"name": snapshot["name"], "version": snapshot["version"]}
