"""What a run cost: each model request priced from a maintained price database, or from the user's own prices.

The source is `genai-prices` (PyPI), a database kept current with every provider's published prices,
including prompt-cache writes and reads and long-context tiers. Only the installed version's bundled data
is read: nothing is fetched at run time, so a run's cost depends on the lock file, never on the network.

Each request is priced on its own, because tiers are chosen per request by its input size: the Messages
API reports uncached input, cache writes and cache reads separately, and their sum is the request's input
that decides the tier. A model the source does not know (and the user gave no price for) has an unknown
cost (`None`), never a guess from a similar name.

Each provider has its own table in the database (Amazon Bedrock and Google Vertex AI price some models
differently from the Anthropic API, and Bedrock's regional endpoints differently from its global one): a
run is priced from its provider's table only, and the source names the table (`genai-prices 0.2.3,
AWS Bedrock table`). A model that table does not list has an unknown cost, even when another table lists it.

A user may override the price of any model (negotiated rates, a cloud provider's prices): an override
replaces the source for that model entirely and is named as the source of the run's cost, with where it
was set (`your prices, from --price`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version

from agent.model import Usage

SOURCE_PACKAGE = "genai-prices"
USER_PRICES = "your prices"
CACHE_WRITE_FACTOR = 1.25  # an override without a cache-write price: the 5-minute cache's usual multiple
CACHE_READ_FACTOR = 0.1


@dataclass(frozen=True)
class PriceOverride:
    """A user's price for one model, in USD per million tokens, the same at every input size."""

    input: float
    output: float
    cache_write: float | None = None
    cache_read: float | None = None
    origin: str = ""  # where the user set it, e.g. "--price" or a config file's path

    def cost(self, usage: Usage) -> float:
        cache_write = self.input * CACHE_WRITE_FACTOR if self.cache_write is None else self.cache_write
        cache_read = self.input * CACHE_READ_FACTOR if self.cache_read is None else self.cache_read
        total = (
            usage.input * self.input
            + usage.output * self.output
            + usage.cache_write * cache_write
            + usage.cache_read * cache_read
        )
        return total / 1_000_000


@cache
def table_name(provider: str) -> str:
    """The database's name for a provider's table (`aws` is "AWS Bedrock"), or the id when it has none."""
    from genai_prices import data

    for known in data.providers:
        if known.id == provider:
            return str(known.name)
    return provider


@cache
def source_name() -> str:
    """The price database and its installed version, e.g. `genai-prices 0.2.3`."""
    try:
        return f"{SOURCE_PACKAGE} {version(SOURCE_PACKAGE)}"
    except PackageNotFoundError:
        return SOURCE_PACKAGE


def _database_cost(model: str, usage: Usage, provider: str) -> float | None:
    # imported here: the database is only needed once a model has answered, never for a usage error
    from genai_prices import Usage as PricedUsage
    from genai_prices import calc_price

    priced = PricedUsage(
        input_tokens=usage.input + usage.cache_read + usage.cache_write,  # the whole input decides the tier
        output_tokens=usage.output,
        cache_read_tokens=usage.cache_read,
        cache_write_tokens=usage.cache_write,
    )
    try:
        calculation = calc_price(priced, model, provider_id=provider)
    except LookupError:
        return None
    return float(calculation.total_price)


class Pricing:
    """Prices requests for one provider, with the user's overrides first."""

    def __init__(self, overrides: Mapping[str, PriceOverride] | None = None, *, provider: str = "anthropic"):
        self.overrides = dict(overrides or {})
        self.provider = provider

    def cost(self, model: str, usage: Usage) -> float | None:
        """The cost of one request in USD, or None when nobody knows the model's price."""
        override = self.overrides.get(model)
        if override is not None:
            return override.cost(usage)
        return _database_cost(model, usage, self.provider)

    def knows(self, model: str) -> bool:
        return self.cost(model, Usage()) is not None

    def source(self, model: str) -> str | None:
        """Where the model's price comes from, for the result and the report; None when it is unknown."""
        override = self.overrides.get(model)
        if override is not None:
            return f"{USER_PRICES}, from {override.origin}" if override.origin else USER_PRICES
        return f"{source_name()}, {table_name(self.provider)} table" if self.knows(model) else None


def cost_usd(model: str, usage: Usage) -> float | None:
    """One request's cost from the price database alone (no overrides)."""
    return Pricing().cost(model, usage)
