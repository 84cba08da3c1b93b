"""Costs come from the maintained price database, per request and tier; unknown models are unpriced, not
guessed; a user's own price replaces the database for that model.

Expected costs are computed from the database's own published prices for the same model (through its
public API), never from constants copied into the test."""

from __future__ import annotations

from decimal import Decimal
from importlib.metadata import version

import pytest
from genai_prices import Usage as PricedUsage
from genai_prices import calc_price
from genai_prices.types import TieredPrices

from agent.model import Usage
from agent.pricing import PriceOverride, Pricing, cost_usd, source_name

MILLION = 1_000_000


def published(model: str, field: str, input_tokens: int = 0) -> Decimal:
    """The database's price per million tokens of `field` for a request with `input_tokens` of input."""
    price = getattr(
        calc_price(PricedUsage(input_tokens=1), model, provider_id="anthropic").model_price, field
    )
    if not isinstance(price, TieredPrices):
        return Decimal(price)
    rate = price.base
    for tier in price.tiers:
        if input_tokens > tier.start:
            rate = tier.price
    return Decimal(rate)


@pytest.mark.parametrize(
    "model", ["claude-sonnet-5-5", "claude-opus-5-5", "claude-haiku-5-5", "claude-sonnet-4-6"]
)
def test_a_request_costs_what_the_database_publishes_for_its_model(model: str) -> None:
    usage = Usage(input=1_000, output=2_000, cache_write=3_000, cache_read=40_000)
    whole_input = 44_000
    expected = (
        1_000 * published(model, "input_mtok", whole_input)
        + 2_000 * published(model, "output_mtok", whole_input)
        + 3_000 * published(model, "cache_write_mtok", whole_input)
        + 40_000 * published(model, "cache_read_mtok", whole_input)
    ) / MILLION
    assert cost_usd(model, usage) == pytest.approx(float(expected))


def test_the_tier_is_chosen_by_the_whole_input_of_each_request() -> None:
    model = "claude-haiku-5-5"
    tiers = calc_price(PricedUsage(input_tokens=1), model, provider_id="anthropic").model_price.input_mtok
    assert isinstance(tiers, TieredPrices) and tiers.tiers, "the test needs a model with an input tier"
    boundary = tiers.tiers[0].start
    at_boundary = Usage(input=boundary)
    just_above = Usage(input=boundary + 1)
    assert cost_usd(model, at_boundary) == pytest.approx(float(boundary * tiers.base / MILLION))
    assert cost_usd(model, just_above) == pytest.approx(
        float((boundary + 1) * tiers.tiers[0].price / MILLION)
    )
    # cached input counts toward the tier too: the same uncached input with a large cache read costs more
    with_cache = Usage(input=10, cache_read=boundary)
    assert cost_usd(model, with_cache) == pytest.approx(
        float(
            (
                10 * published(model, "input_mtok", boundary + 10)
                + boundary * published(model, "cache_read_mtok", boundary + 10)
            )
            / MILLION
        )
    )


@pytest.mark.parametrize("model", ["claude-sonnet-9-9", "gpt-5-nonexistent-model", "claude-nope"])
def test_unknown_models_have_unknown_cost(model: str) -> None:
    pricing = Pricing()
    assert pricing.cost(model, Usage(input=10)) is None
    assert pricing.source(model) is None


def test_the_source_and_its_version_are_named() -> None:
    assert source_name() == f"genai-prices {version('genai-prices')}"
    assert Pricing().source("claude-sonnet-5-5") == f"{source_name()}, Anthropic table"


def test_a_users_price_replaces_the_database_for_that_model_only() -> None:
    pricing = Pricing(
        {"claude-sonnet-5-5": PriceOverride(input=1.0, output=2.0), "my-model": PriceOverride(3, 4, 5, 6)}
    )
    usage = Usage(input=MILLION, output=MILLION, cache_write=MILLION, cache_read=MILLION)
    assert pricing.cost("claude-sonnet-5-5", usage) == pytest.approx(1 + 2 + 1.25 + 0.1)
    assert pricing.cost("my-model", usage) == pytest.approx(3 + 4 + 5 + 6)
    assert pricing.source("my-model") == "your prices"
    assert pricing.cost("claude-opus-5-5", usage) == cost_usd("claude-opus-5-5", usage)
