"""The price table: exact ids, the longest prefix, overrides from MODEL_PRICES, no guesses."""

from __future__ import annotations

import pytest

from app.settings import Settings
from jobs.backends.base import TokenUsage
from jobs.running.prices import DEFAULT_TABLE, Price, PriceTable

USAGE = TokenUsage(1_000_000, 1_000_000, cache_read_input_tokens=1_000_000,
                   cache_creation_input_tokens=1_000_000)  # fmt: skip


@pytest.mark.parametrize(
    ("model", "cost"),
    [
        ("claude-sonnet-5-5", 3 + 15 + 3.75 + 0.3),
        ("claude-opus-4-1-20250805", 15 + 75 + 18.75 + 1.5),
        ("claude-haiku-4-5", 1 + 5 + 1.25 + 0.1),
        ("demo", 0),
        ("gpt-5", None),
    ],
)
def test_default_prices_by_family(model: str, cost: float | None) -> None:
    assert DEFAULT_TABLE.cost_usd(model, USAGE) == (None if cost is None else round(cost, 6))


def test_an_exact_id_beats_a_prefix_and_the_longest_prefix_wins() -> None:
    table = PriceTable.with_overrides(
        {
            "claude-sonnet-5": Price(input=1, output=1, cache_write=1, cache_read=1),
            "claude-sonnet-5-5-x": Price(input=0, output=0, cache_write=0, cache_read=2),
        }
    )
    assert table.cost_usd("claude-sonnet-5-5", USAGE) == 4
    assert table.cost_usd("claude-sonnet-5-5-x", USAGE) == 2
    assert table.cost_usd("claude-sonnet-4", USAGE) == 22.05


def test_model_prices_is_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "MODEL_PRICES",
        '{"my-model": {"input": 2, "output": 4, "cache_write": 2.5, "cache_read": 0.2}}',
    )
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    table = PriceTable.with_overrides(settings.model_prices)
    assert table.cost_usd("my-model", USAGE) == 8.7


def test_a_price_with_an_unknown_kind_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_PRICES", '{"m": {"input": 1, "output": 1, "cache_write": 1, '
                       '"cache_read": 1, "reasoning": 9}}')  # fmt: skip
    with pytest.raises(ValueError, match="reasoning"):
        Settings(_env_file=None)  # type: ignore[call-arg]
