"""The options the commands share, each defined once, and the parsers that read their values.

A command declares a shared option by using its type here (`max_steps: MaxSteps = None`); the help lists
the shared options in their groups (Model, Limits, Sandbox, Runs, Output). The settings a config file can
also give default to None, meaning "not given on the command line": `agent.config_file` then takes the
value from the environment, the repository's config, the user's config, or the built-in default shown in
the help. Every parser refuses a bad value with a sentence that starts with "must", which the command line
prefixes with the option's name: `be-agent: error: --max-steps must be a whole number, not 'ten'`.

This module is imported on every start, so it imports nothing heavy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from sandbox.base import SandboxMode, sandbox_mode

MODEL_PANEL = "Model"
LIMITS_PANEL = "Limits"
SANDBOX_PANEL = "Sandbox"
RUNS_PANEL = "Runs"
OUTPUT_PANEL = "Output"


def whole_number(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"must be a whole number, not {value!r}") from None


def positive_whole_number(value: str) -> int:
    number = whole_number(value)
    if number < 1:
        raise typer.BadParameter(f"must be a whole number of at least 1, not {value!r}")
    return number


def number(value: str) -> float:
    """Any float, `inf` and `nan` included: the run's settings say which values they accept."""
    try:
        return float(value)
    except ValueError:
        raise typer.BadParameter(f"must be a number, not {value!r}") from None


def byte_size(value: str | int) -> int:
    from agent.disk import parse_size

    if isinstance(value, int):  # the default
        return value
    try:
        return parse_size(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def sandbox_choice(value: str) -> SandboxMode:
    try:
        return sandbox_mode(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


BenchAgent = Literal["be-agent", "gold", "empty"]  # who makes the patches `bench` judges
BENCH_AGENTS: tuple[BenchAgent, ...] = ("be-agent", "gold", "empty")


def bench_agent(value: str) -> BenchAgent:
    for kind in BENCH_AGENTS:
        if value == kind:
            return kind
    raise typer.BadParameter(f"must be be-agent, gold or empty, not {value!r}")


# --- the groups -------------------------------------------------------------------------------------------

Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        metavar="NAME",
        help="Claude model id, as the provider names it.",
        show_default="claude-sonnet-5-5, or the provider's id for it",
        rich_help_panel=MODEL_PANEL,
    ),
]

MaxSteps = Annotated[
    int | None,
    typer.Option(
        "--max-steps",
        metavar="N",
        parser=whole_number,
        help="Stop after this many model turns.",
        show_default="50",
        rich_help_panel=LIMITS_PANEL,
    ),
]
MaxCost = Annotated[
    float | None,
    typer.Option(
        "--max-cost",
        metavar="USD",
        parser=number,
        help="Stop after this many USD.",
        rich_help_panel=LIMITS_PANEL,
    ),
]
MaxTime = Annotated[
    float | None,
    typer.Option(
        "--max-time",
        metavar="SECONDS",
        parser=number,
        help="Stop after this many seconds.",
        rich_help_panel=LIMITS_PANEL,
    ),
]
CommandTimeout = Annotated[
    float | None,
    typer.Option(
        "--command-timeout",
        metavar="SECONDS",
        parser=number,
        help="Seconds per command.",
        show_default="120",
        rich_help_panel=LIMITS_PANEL,
    ),
]
TestTimeout = Annotated[
    float | None,
    typer.Option(
        "--test-timeout",
        metavar="SECONDS",
        parser=number,
        help="Seconds per test run.",
        show_default="900",
        rich_help_panel=LIMITS_PANEL,
    ),
]
RetryBudget = Annotated[
    float | None,
    typer.Option(
        "--retry-budget",
        metavar="SECONDS",
        parser=number,
        help="Seconds one model call may retry.",
        show_default="120",
        rich_help_panel=LIMITS_PANEL,
    ),
]
DiskLimit = Annotated[
    int | None,
    typer.Option(
        "--disk-limit",
        metavar="SIZE",
        parser=byte_size,
        help="Disk space the run's files may take (e.g. 2G, 500M); over it, the run ends not fixed.",
        show_default="2G",
        rich_help_panel=LIMITS_PANEL,
    ),
]

Sandbox = Annotated[
    SandboxMode | None,
    typer.Option(
        "--sandbox",
        metavar="auto|bwrap|none",
        parser=sandbox_choice,
        help="auto: bubblewrap, or exit 4 when it cannot start; bwrap: require it; none: no confinement "
        "(unsafe).",
        show_default="auto",
        rich_help_panel=SANDBOX_PANEL,
    ),
]
Network = Annotated[
    bool | None,
    typer.Option(
        "--network/--no-network",
        help="Let commands reach the network (weakens the sandbox), or not.",
        show_default="no network",
        rich_help_panel=SANDBOX_PANEL,
    ),
]


def on_or_off(value: str) -> str:
    if value in ("on", "off"):
        return value
    raise typer.BadParameter(f"must be on or off, not {value!r}")


NetworkSetup = Annotated[
    str | None,
    typer.Option(
        "--network-setup",
        metavar="on|off",
        parser=on_or_off,
        help="Network for the repository's setup command (only there; a setup command from the "
        "repository's config needs this or --accept-repo-sandbox to have it).",
        show_default="on",
        rich_help_panel=SANDBOX_PANEL,
    ),
]

StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        metavar="DIR",
        help="Where runs live (default: $XDG_STATE_HOME/be-agent).",
        rich_help_panel=RUNS_PANEL,
    ),
]
TestCmd = Annotated[
    str | None,
    typer.Option(
        "--test-cmd", metavar="CMD", help="Test command (default: detected).", rich_help_panel=RUNS_PANEL
    ),
]

Json = Annotated[
    bool,
    typer.Option(
        "--json", help="Print the result as JSON on the last line of stdout.", rich_help_panel=OUTPUT_PANEL
    ),
]
Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show the log lines too.", rich_help_panel=OUTPUT_PANEL)
]
Quiet = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="Only warnings, errors and the result.", rich_help_panel=OUTPUT_PANEL),
]


# --- provider, prices and the config file (`agent.config_file`) ----------------------------------------------


def provider_option(value: str) -> str:
    from agent.providers import provider_choice

    try:
        return provider_choice(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


ProviderOption = Annotated[
    str | None,
    typer.Option(
        "--provider",
        metavar="anthropic|bedrock|vertex",
        parser=provider_option,
        help="Who serves Claude: the Anthropic API, Amazon Bedrock or Google Vertex AI (their usual "
        "credentials and region).",
        show_default="anthropic",
        rich_help_panel=MODEL_PANEL,
    ),
]
Prices = Annotated[
    list[str] | None,
    typer.Option(
        "--price",
        metavar="MODEL=IN,OUT[,CACHE_WRITE,CACHE_READ]",
        help="Your price for a model, in USD per million tokens (repeatable); replaces the price table's.",
        show_default=False,
        rich_help_panel=MODEL_PANEL,
    ),
]
AcceptRepoSandbox = Annotated[
    bool,
    typer.Option(
        "--accept-repo-sandbox",
        help="Accept network access, --sandbox none or limits above yours when the repository's config asks.",
        rich_help_panel=SANDBOX_PANEL,
    ),
]
