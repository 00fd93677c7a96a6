"""Token budgets: how many tokens a user's runs may spend in a rolling day, and one run.

- **Per user** (``USER_TOKEN_BUDGET``, tokens in any 24 hours): every model call's tokens are
  added, as soon as the call's usage is known, to ``jobs:user:<owner>:tokens`` (a ZSET of
  ``<call id>:<tokens>`` scored by the Redis server's clock), atomically, so every instance
  counts into one log. A start (``POST /jobs``) when the log holds the budget or more is refused
  with ``BUDGET_EXHAUSTED`` and the seconds until enough old calls leave the window to leave
  the user at least one token. A run already going is never stopped by it.
- **Per run** (``RUN_TOKEN_BUDGET``): the agent loop sums its steps' tokens and stops after the
  model call that reaches it (:class:`~jobs.errors.RunBudgetExhausted`).

What counts (:func:`tokens`): input, output, cache writes and cache reads, every token the
model processed. Cache reads are cheaper, but they are tokens; the budget is of tokens, and
what a run cost in money is its ``costUsd``.

A budget of 0 is off.
"""

from __future__ import annotations

import logging
import math
import secrets

from jobs.backends.base import TokenUsage
from jobs.errors import BudgetExhausted, StoreUnavailable
from jobs.redis.connection import Redis, unavailable_as_domain_error
from jobs.redis.keys import Keys
from jobs.redis.script import Script

# The logger keeps its name from before the module moved (operators' filters use it).
logger = logging.getLogger("jobs.budgets")

#: The rolling window of ``USER_TOKEN_BUDGET``.
DAY_MS = 86_400_000

BUDGET_CHECK = Script("jobs.running", "budget_check", keys=1, args=2)
BUDGET_SPEND = Script("jobs.running", "budget_spend", keys=1, args=2)


def tokens(usage: TokenUsage) -> int:
    """The tokens of ``usage`` that count against a budget: every kind."""
    return (
        usage.input_tokens
        + usage.output_tokens
        + (usage.cache_creation_input_tokens or 0)
        + (usage.cache_read_input_tokens or 0)
    )


class UserBudget:
    """``USER_TOKEN_BUDGET``: tokens per user in a rolling day, counted in Redis."""

    def __init__(self, redis: Redis, keys: Keys, *, per_day: int) -> None:
        self.redis = redis
        self.keys = keys
        self.per_day = per_day

    @property
    def on(self) -> bool:
        return self.per_day > 0

    async def check(self, owner: str) -> None:
        """Raise :class:`BudgetExhausted` when ``owner`` has spent the day's budget."""
        if not self.on:
            return
        key = self.keys.user_tokens(owner)
        with unavailable_as_domain_error():
            wait_ms = await BUDGET_CHECK.call(self.redis, [key], [DAY_MS, self.per_day])
        if wait_ms:
            raise BudgetExhausted(self.per_day, retry_after_s=math.ceil(int(wait_ms) / 1000))

    async def spend(self, owner: str, usage: TokenUsage) -> None:
        """Count one model call's tokens for ``owner``. A store that cannot be reached does
        not end the run (the run's own writes will say so if it stays down): the call goes
        uncounted, and a warning says so."""
        if not self.on:
            return
        count = tokens(usage)
        if count <= 0:
            return
        member = f"{secrets.token_hex(8)}:{count}"
        try:
            with unavailable_as_domain_error():
                await BUDGET_SPEND.call(
                    self.redis, [self.keys.user_tokens(owner)], [DAY_MS, member]
                )
        except StoreUnavailable:
            logger.warning("a model call's %d tokens went uncounted: Redis is unavailable", count)
