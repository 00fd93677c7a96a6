"""What a run cost: a price table per model, which the operator can override.

Prices are US dollars per million tokens, by kind: ``input`` (uncached input), ``output``,
``cache_write`` (input written to the prompt cache) and ``cache_read`` (input read from it).
A model is looked up by its exact id, then by the longest key that is a prefix of it
(``claude-sonnet-`` prices every dated Sonnet id). ``MODEL_PRICES`` (a JSON object of the same
shape) replaces or adds entries; a model with no price has no cost (``costUsd`` null), never
a guessed one.

The defaults are Anthropic's list prices for the current families (cache writes at 1.25x the
input price, the 5-minute cache; cache reads at 0.1x); ``demo`` costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from jobs.backends.base import TokenUsage

_PER = 1_000_000


class Price(BaseModel):
    """US dollars per million tokens of each kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float = Field(ge=0)
    cache_read: float = Field(ge=0)


def _family(input_usd: float, output_usd: float) -> Price:
    return Price(
        input=input_usd,
        output=output_usd,
        cache_write=input_usd * 1.25,
        cache_read=input_usd * 0.1,
    )


DEFAULT_PRICES: dict[str, Price] = {
    "claude-opus-": _family(15.0, 75.0),
    "claude-sonnet-": _family(3.0, 15.0),
    "claude-haiku-": _family(1.0, 5.0),
    "demo": Price(input=0, output=0, cache_write=0, cache_read=0),
}


@dataclass(frozen=True)
class PriceTable:
    """Prices by model id or id prefix; ``cost_usd`` prices one run's summed usage."""

    prices: Mapping[str, Price]

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, Price]) -> PriceTable:
        return cls({**DEFAULT_PRICES, **overrides})

    def price(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        prefixes = [key for key in self.prices if model.startswith(key)]
        return self.prices[max(prefixes, key=len)] if prefixes else None

    def cost_usd(self, model: str, usage: TokenUsage) -> float | None:
        price = self.price(model)
        if price is None:
            return None
        total = (
            usage.input_tokens * price.input
            + usage.output_tokens * price.output
            + (usage.cache_creation_input_tokens or 0) * price.cache_write
            + (usage.cache_read_input_tokens or 0) * price.cache_read
        )
        return round(total / _PER, 6)


DEFAULT_TABLE = PriceTable(DEFAULT_PRICES)
