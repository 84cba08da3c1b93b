"""Costs come from a table of known models; unknown models are unpriced, not guessed."""

from __future__ import annotations

import pytest

from agent.model import Usage
from agent.pricing import cost_usd, price


def test_sonnet_cost_counts_cache_writes_and_reads() -> None:
    usage = Usage(input=1_000_000, output=1_000_000, cache_write=1_000_000, cache_read=1_000_000)
    # 3 input + 15 output + 3.75 cache write + 0.30 cache read
    assert cost_usd("claude-sonnet-4-6", usage) == pytest.approx(22.05)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-opus-4-5", 5.0 * 2 + 25.0),
        ("claude-haiku-4-5-20251001", 1.0 * 2 + 5.0),
        ("claude-sonnet-5-5", 3.0 * 2 + 15.0),
    ],
)
def test_family_rates(model: str, expected: float) -> None:
    assert cost_usd(model, Usage(input=2_000_000, output=1_000_000)) == pytest.approx(expected)


@pytest.mark.parametrize("model", ["claude-sonnet-9-9", "claude-opus-4-9", "gpt-5", "claude-fable-5"])
def test_unknown_models_have_unknown_cost(model: str) -> None:
    assert price(model) is None
    assert cost_usd(model, Usage(input=10)) is None
