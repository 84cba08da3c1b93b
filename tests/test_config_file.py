"""The settings a run uses: flag > environment > repository's config > user's config > built-in, with the
repository unable to weaken the sandbox on its own, unknown keys named, and the user's prices."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from agent.config import build_request, check_settings
from agent.config_file import ENVIRONMENT, FLAG, parse_price_flag, resolve_settings, user_config_path
from agent.errors import UsageError
from agent.pricing import PriceOverride, Pricing, source_name
from agent.settings import DEFAULT_MODEL
from tests.conftest import run_cli
from tests.scripts import ledger_fix
from tests.standin import StandinServer
from tools.detect import detect_test_command

NO_FLAGS: dict[str, Any] = {}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)  # a repository's top directory, as far as the loader looks
    return root.resolve()  # the loader names files by their resolved path


@pytest.fixture
def user_file() -> Path:
    path = user_config_path(os.environ)  # the suite points XDG_CONFIG_HOME at an empty directory
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def resolve(
    repo: Path | None, flags: dict[str, Any] | None = None, env: dict[str, str] | None = None, **kw: Any
):
    return resolve_settings(flags or NO_FLAGS, repo=repo, environ={**os.environ, **(env or {})}, **kw)


def test_each_layer_wins_over_the_ones_below_it(repo: Path, user_file: Path) -> None:
    (repo / ".be-agent.toml").write_text("max-steps = 30\nmax-time = 600\ncommand-timeout = 60\n")
    user_file.write_text("max-steps = 40\nmax-time = 700\ncommand-timeout = 70\ntest-timeout = 800\n")
    env = {"BE_AGENT_MAX_STEPS": "20", "BE_AGENT_MAX_TIME": "500"}
    settings = resolve(repo, {"max_steps": 10}, env)
    assert (settings.max_steps, settings.max_time, settings.command_timeout) == (10, 500.0, 60.0)
    assert (settings.test_timeout, settings.retry_budget) == (800.0, 120.0)  # the user's; built-in
    assert settings.sources["max_steps"] == FLAG
    assert settings.sources["max_time"] == ENVIRONMENT
    assert settings.sources["command_timeout"] == str(repo / ".be-agent.toml")
    assert settings.sources["test_timeout"] == str(user_file)
    assert "retry_budget" not in settings.sources
    # peel the layers off one at a time: each time the next one down decides
    assert resolve(repo, {}, env).max_steps == 20
    assert resolve(repo, {}, {}).max_steps == 30
    assert resolve(None, {}, {}).max_steps == 40  # no repository (bench): the user's file
    user_file.unlink()
    assert resolve(None, {}, {}).max_steps == 50


def test_pyproject_table_is_the_repository_layer_and_serves_the_test_command(repo: Path) -> None:
    (repo / "pyproject.toml").write_text(
        "[project]\nname = 'x'\n\n[tool.be-agent]\ntest-cmd = 'python -m pytest tests/unit'\nmodel = 'claude-opus-5-5'\n"
    )
    settings = resolve(repo)
    assert settings.model == "claude-opus-5-5" and settings.test_cmd == "python -m pytest tests/unit"
    request = build_request(settings, repo=repo, task="t")
    where = f"test-cmd in [tool.be-agent] in {repo / 'pyproject.toml'}"
    from agent.config_file import setting_name

    assert setting_name("test_cmd", request.setting_sources["test_cmd"]) == where
    command = detect_test_command(repo, request.test_cmd, where)
    assert command is not None and command.pytest and command.source == where
    # a flag still wins over the repository's command
    assert resolve(repo, {"test_cmd": "make check"}).test_cmd == "make check"


def test_the_provider_picks_its_own_id_for_the_default_model(repo: Path) -> None:
    (repo / ".be-agent.toml").write_text('provider = "bedrock"\naws-region = "eu-west-1"\n')
    settings = resolve(repo)
    assert settings.provider == "bedrock" and settings.aws_region == "eu-west-1"
    assert settings.model == f"global.anthropic.{DEFAULT_MODEL}"
    assert resolve(repo, {"provider": "vertex"}).model == DEFAULT_MODEL
    with pytest.raises(UsageError, match=r"claude-opus-5-5 is an Anthropic API model id.*global\.anthropic"):
        resolve(repo, {"model": "claude-opus-5-5"})


@pytest.mark.parametrize(
    "text, message",
    [
        ("max_steps = 3\n", r"unknown key max_steps \(did you mean max-steps\?\)"),
        ("modle = 'x'\nsandboxx = 'none'\n", r"unknown keys modle \(did you mean model\?\), sandboxx"),
        ("max-steps = 'ten'\n", r"max-steps must be a whole number, not 'ten'"),
        ("network = 'yes'\n", r"network must be true or false, not 'yes'"),
        ("sandbox = 'docker'\n", r"sandbox must be auto, bwrap or none"),
        ("provider = 'azure'\n", r"provider must be anthropic, bedrock or vertex, not 'azure'"),
        ("test-cmd = ''\n", r"test-cmd must not be blank"),
        ("max-steps = \n", r"\.be-agent\.toml cannot be read"),
        ('state-dir = "/home/victim/.ssh"\n', r"state-dir cannot be set by a repository"),
        # no endpoint can be configured: a repository cannot send the user's credentials elsewhere
        ("base-url = 'http://127.0.0.1:9'\n", r"unknown key base-url"),
        # a repository pricing its model at 0 would switch the user's --max-cost off
        ('[prices."claude-sonnet-5-5"]\ninput = 0\noutput = 0\n', r"prices cannot be set by a repository"),
    ],
)
def test_a_broken_repository_file_is_an_error_naming_file_and_key(
    repo: Path, text: str, message: str
) -> None:
    (repo / ".be-agent.toml").write_text(text)
    with pytest.raises(UsageError, match=message) as caught:
        resolve(repo)
    assert str(repo / ".be-agent.toml") in caught.value.message
    assert "\n" not in caught.value.message


def test_limits_from_a_file_are_checked_by_the_runs_rules_and_named_where_they_were_set(repo: Path) -> None:
    (repo / ".be-agent.toml").write_text("max-cost = -1\n")
    with pytest.raises(
        UsageError, match=rf"max-cost in {repo}/\.be-agent\.toml must be greater than 0, not -1"
    ):
        check_settings(resolve(repo))
    with pytest.raises(UsageError, match=r"BE_AGENT_MAX_STEPS must be at least 1, not 0"):
        check_settings(resolve(repo, {}, {"BE_AGENT_MAX_STEPS": "0"}))
    with pytest.raises(UsageError, match=r"BE_AGENT_MAX_STEPS must be a whole number, not 'many'"):
        resolve(repo, {}, {"BE_AGENT_MAX_STEPS": "many"})
    assert resolve(repo, {}, {"BE_AGENT_MAX_STEPS": "  "}).max_steps == 50  # empty: unset


def test_settings_in_both_repository_files_are_refused_and_a_broken_pyproject_is_left_alone(
    repo: Path,
) -> None:
    (repo / "pyproject.toml").write_text("[tool.be-agent]\nmax-steps = 3\n")
    (repo / ".be-agent.toml").write_text("max-steps = 4\n")
    with pytest.raises(UsageError, match="both"):
        resolve(repo)
    (repo / "pyproject.toml").write_text("this is [not toml")
    assert resolve(repo).max_steps == 4


def test_a_repository_file_that_links_outside_the_repository_is_not_read(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.toml"
    outside.write_text("max-steps = 3\n")
    (repo / ".be-agent.toml").symlink_to(outside)
    with pytest.raises(UsageError, match="outside the repository"):
        resolve(repo)


def test_the_repository_is_found_from_a_subdirectory(repo: Path) -> None:
    (repo / ".be-agent.toml").write_text("max-steps = 7\n")
    (repo / "src" / "pkg").mkdir(parents=True)
    assert resolve(repo / "src" / "pkg").max_steps == 7


# --- the sandbox rule ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["network = true\n", 'sandbox = "none"\n'])
def test_a_repository_cannot_weaken_the_sandbox_without_the_users_word(repo: Path, text: str) -> None:
    (repo / ".be-agent.toml").write_text(text)
    with pytest.raises(UsageError, match=r"weakens the sandbox.*--accept-repo-sandbox") as caught:
        resolve(repo)
    assert str(repo / ".be-agent.toml") in caught.value.message
    accepted = resolve(repo, accept_repo_sandbox=True)
    assert accepted.network or accepted.sandbox == "none"


def test_the_user_may_weaken_the_sandbox_themselves_and_may_keep_it_against_the_repository(
    repo: Path, user_file: Path
) -> None:
    (repo / ".be-agent.toml").write_text('network = true\nsandbox = "none"\n')
    # the user's own choice, by flag or environment, decides: no confirmation needed either way
    mine = resolve(repo, {"network": True}, {"BE_AGENT_SANDBOX": "none"})
    assert (mine.network, mine.sandbox) == (True, "none")
    kept = resolve(repo, {"network": False, "sandbox": "bwrap"})
    assert (kept.network, kept.sandbox) == (False, "bwrap")
    # the user's file is below the repository's: it cannot hold the repository back, but the rule does
    user_file.write_text("network = false\n")
    with pytest.raises(UsageError, match="weakens the sandbox"):
        resolve(repo, {"sandbox": "auto"})
    # and their own file may weaken it for themselves
    (repo / ".be-agent.toml").write_text("max-steps = 5\n")
    user_file.write_text('network = true\nsandbox = "none"\nstate-dir = "~/be-agent-runs"\n')
    personal = resolve(repo)
    assert (personal.network, personal.sandbox) == (True, "none")
    assert personal.state_dir == Path("~/be-agent-runs").expanduser()


def test_a_stricter_sandbox_from_the_repository_needs_no_confirmation(repo: Path) -> None:
    (repo / ".be-agent.toml").write_text('sandbox = "bwrap"\nnetwork = false\n')
    settings = resolve(repo)
    assert (settings.sandbox, settings.network) == ("bwrap", False)


# --- prices -------------------------------------------------------------------------------------------------


def test_prices_merge_per_model_and_name_where_they_were_set(repo: Path, user_file: Path) -> None:
    user_file.write_text(
        '[prices."claude-sonnet-5-5"]\ninput = 1.8\noutput = 9\ncache-write = 2\ncache-read = 0.2\n\n'
        '[prices."mine"]\ninput = 1\noutput = 1\n'
    )
    settings = resolve(repo, price_flags=["mine=3,4"])
    prices = settings.prices
    assert prices["claude-sonnet-5-5"] == PriceOverride(1.8, 9.0, 2.0, 0.2, origin=str(user_file))
    assert prices["mine"] == PriceOverride(3.0, 4.0, origin="--price")
    pricing = Pricing(prices)
    assert pricing.source("claude-sonnet-5-5") == f"your prices, from {user_file}"
    assert pricing.source("mine") == "your prices, from --price"
    assert pricing.source("claude-opus-5-5") == f"{source_name()}, Anthropic table"


@pytest.mark.parametrize(
    "text, message",
    [
        ('[prices."m"]\ninput = 1\n', r'\[prices\."m"\] needs output'),
        ('[prices."m"]\ninput = 1\noutput = -2\n', r"output must be a number of USD per million tokens"),
        ('[prices."m"]\ninput = 1\noutput = 2\ncache_write = 3\n', r"unknown key cache_write"),
        ("prices = 3\n", r"prices must be tables"),
    ],
)
def test_a_broken_price_in_the_users_file_is_an_error_naming_it(
    user_file: Path, text: str, message: str
) -> None:
    user_file.write_text(text)
    with pytest.raises(UsageError, match=message) as caught:
        resolve(None)
    assert str(user_file) in caught.value.message


@pytest.mark.parametrize(
    "text, parsed",
    [
        ("m=1,2", ("m", PriceOverride(1, 2, origin="--price"))),
        (
            "us.anthropic.claude-x-v1:0=1,2,3,0.5",
            ("us.anthropic.claude-x-v1:0", PriceOverride(1, 2, 3, 0.5, origin="--price")),
        ),
    ],
)
def test_price_flags_parse(text: str, parsed: tuple[str, PriceOverride]) -> None:
    assert parse_price_flag(text) == parsed


@pytest.mark.parametrize("text", ["m", "m=1", "=1,2", "m=1,x", "m=1,2,3,4,5", "m=-1,2", "m=nan,2"])
def test_malformed_price_flags_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--price"):
        parse_price_flag(text)


def test_a_cost_limit_needs_a_known_price(repo: Path) -> None:
    with pytest.raises(UsageError) as caught:
        check_settings(resolve(repo, {"model": "claude-imaginary-9", "max_cost": 1.0}))
    message = caught.value.message
    assert message.startswith("--max-cost needs a price for claude-imaginary-9")
    assert "--price 'claude-imaginary-9=INPUT,OUTPUT'" in message and "\n" not in message
    check_settings(
        resolve(
            repo, {"model": "claude-imaginary-9", "max_cost": 1.0}, price_flags=["claude-imaginary-9=1,5"]
        )
    )
    check_settings(resolve(repo, {"model": "claude-imaginary-9"}))  # no limit: an unknown cost is allowed
    # each provider has its own table: Bedrock's ids are priced from Bedrock's, and the limit names it
    check_settings(resolve(repo, {"provider": "bedrock", "max_cost": 1.0}))
    (repo / ".be-agent.toml").write_text(
        'provider = "bedrock"\nmax-cost = 2\nmodel = "eu.anthropic.claude-imaginary-9"\n'
    )
    with pytest.raises(
        UsageError, match=r"max-cost in .*\.be-agent\.toml needs a price .* AWS Bedrock table"
    ):
        check_settings(resolve(repo))


def test_the_disk_limit_is_a_size_in_files_and_the_environment(repo: Path) -> None:
    (repo / ".be-agent.toml").write_text('disk-limit = "500M"\n')
    assert resolve(repo).disk_limit == 500 * 1024**2
    (repo / ".be-agent.toml").write_text("disk-limit = 1048576\n")
    assert resolve(repo).disk_limit == 1024**2
    assert resolve(repo, {}, {"BE_AGENT_DISK_LIMIT": "1G"}).disk_limit == 1024**3
    (repo / ".be-agent.toml").write_text('disk-limit = "lots"\n')
    with pytest.raises(UsageError, match=r"disk-limit must be a size such as 2G"):
        resolve(repo)


# --- through the real command line --------------------------------------------------------------------------


def _cli_run(repo: Path, state_dir: Path, srv: StandinServer, *extra: str, env: dict[str, str] | None = None):
    return run_cli(
        "run", "--repo", str(repo), "--task", "Make a failed Ledger.transfer change nothing.",
        "--state-dir", str(state_dir), "--sandbox", "bwrap", "--json", *extra,
        env={"ANTHROPIC_API_KEY": "sk-ant-test-key-0123456789", "ANTHROPIC_BASE_URL": srv.base_url, **(env or {})},
    )  # fmt: skip


@pytest.mark.slow
def test_the_command_line_takes_each_setting_from_the_highest_layer_that_sets_it(
    demo_repo: Path, state_dir: Path, user_file: Path
) -> None:
    (demo_repo / ".be-agent.toml").write_text("max-steps = 1\ncommand-timeout = 50\n")
    user_file.write_text("max-steps = 3\nretry-budget = 7\ncommand-timeout = 70\n")
    with StandinServer(ledger_fix()) as srv:
        run = _cli_run(demo_repo, state_dir, srv, env={"BE_AGENT_COMMAND_TIMEOUT": "60"})
        asked = srv.attempts
    assert run.code == 1, run.stderr
    assert (
        run.json["reason"].startswith("max steps (1) reached") and asked == 1
    )  # the repository's, not yours
    log = (Path(run.json["run_dir"]) / "log.jsonl").read_text().splitlines()
    started = next(json.loads(line) for line in log if '"run_started"' in line)
    assert started["settings_from"] == {
        "sandbox": "flag",
        "state_dir": "flag",
        "command_timeout": "environment",
        "max_steps": str(demo_repo.resolve() / ".be-agent.toml"),
        "retry_budget": str(user_file),
    }


@pytest.mark.slow
def test_a_repository_asking_for_network_stops_the_command_until_the_user_accepts(
    demo_repo: Path, state_dir: Path
) -> None:
    (demo_repo / ".be-agent.toml").write_text("network = true\n")
    with StandinServer(ledger_fix()) as srv:
        refused = _cli_run(demo_repo, state_dir, srv)
        asked = srv.attempts
    assert refused.code == 2, refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("be-agent: error: ")]
    assert len(errors) == 1 and "network = true, which weakens the sandbox" in errors[0]
    assert "--accept-repo-sandbox" in errors[0]
    assert asked == 0 and not (state_dir / "runs").exists()
    with StandinServer(ledger_fix()) as srv:
        accepted = _cli_run(demo_repo, state_dir, srv, "--accept-repo-sandbox", "--max-steps", "1")
    assert accepted.code == 1 and accepted.json["reason"].startswith("max steps (1) reached"), accepted.stderr
