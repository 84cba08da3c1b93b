"""The parsers of `be-agent bench`'s own option values. Like agent.cli_options, imported on every start, so
it imports nothing heavy; each parser refuses a bad value with a sentence that starts with "must"."""

from __future__ import annotations

import re
from typing import Literal

import typer

ExecutorKind = Literal["local", "ray"]
RetryPolicy = Literal["none", "infra"]
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def executor_kind(value: str) -> ExecutorKind:
    if value == "local":
        return "local"
    if value == "ray":
        return "ray"
    raise typer.BadParameter(f"must be local or ray, not {value!r}")


def retry_policy(value: str) -> RetryPolicy:
    if value == "infra":
        return "infra"
    if value == "none":
        return "none"
    raise typer.BadParameter(f"must be infra (rerun infrastructure failures) or none, not {value!r}")


def memory_size(value: str | int) -> int:
    """Bytes from `4G`, `512M`, `1.5GiB` or a plain number of bytes (units are powers of 1024)."""
    if isinstance(value, int):  # the default, already in bytes
        return value
    match = _SIZE.match(value.strip())
    if not match:
        raise typer.BadParameter(f"must be a size such as 4G or 512M, not {value!r}")
    unit = (match.group(2) or "").lower()[:1]
    size = int(float(match.group(1)) * _UNITS[unit])
    if size < 1:
        raise typer.BadParameter(f"must be a size of at least one byte, not {value!r}")
    return size


def cpus(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise typer.BadParameter(f"must be a number of CPUs such as 1 or 0.5, not {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise typer.BadParameter(f"must be a positive number of CPUs, not {value!r}")
    return number


OnOff = Literal["on", "off"]


def on_off(value: str) -> OnOff:
    if value == "on":
        return "on"
    if value == "off":
        return "off"
    raise typer.BadParameter(f"must be on or off, not {value!r}")
