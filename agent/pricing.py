"""What a run cost, from a table of current Claude models.

Prices are USD per million tokens at the published per-family rates (Opus, Sonnet, Haiku). Prompt-cache
writes cost 1.25x the input rate (5-minute cache) and cache reads 0.1x. Only model ids listed here are
priced: an id we do not know, even a new version of a known family, gets `None` (cost unknown) rather than
a guess. The ids come from the installed SDK's `anthropic/types/model_param.py`; the fable and mythos
families there have no published price we can cite, so they are unknown too.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.model import Usage

CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.1


@dataclass(frozen=True)
class Price:
    input: float  # USD per million input tokens
    output: float  # USD per million output tokens

    @property
    def cache_write(self) -> float:
        return self.input * CACHE_WRITE_FACTOR

    @property
    def cache_read(self) -> float:
        return self.input * CACHE_READ_FACTOR


OPUS = Price(input=5.0, output=25.0)
SONNET = Price(input=3.0, output=15.0)
HAIKU = Price(input=1.0, output=5.0)

PRICES: dict[str, Price] = {
    "claude-opus-5-5": OPUS,
    "claude-opus-5": OPUS,
    "claude-opus-4-8": OPUS,
    "claude-opus-4-7": OPUS,
    "claude-opus-4-6": OPUS,
    "claude-opus-4-5": OPUS,
    "claude-opus-4-5-20251101": OPUS,
    "claude-sonnet-5-5": SONNET,
    "claude-sonnet-5": SONNET,
    "claude-sonnet-4-6": SONNET,
    "claude-sonnet-4-5": SONNET,
    "claude-sonnet-4-5-20250929": SONNET,
    "claude-haiku-5-5": HAIKU,
    "claude-haiku-4-5": HAIKU,
    "claude-haiku-4-5-20251001": HAIKU,
}


def price(model: str) -> Price | None:
    return PRICES.get(model)


def cost_usd(model: str, usage: Usage) -> float | None:
    """The cost of `usage` on `model` in USD, or None when the model is not in the table."""
    rate = price(model)
    if rate is None:
        return None
    return (
        usage.input * rate.input
        + usage.output * rate.output
        + usage.cache_write * rate.cache_write
        + usage.cache_read * rate.cache_read
    ) / 1_000_000
