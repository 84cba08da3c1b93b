"""Structured logs: secrets never reach the log file or the console; every line says which run and step."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.logs import (
    LOG_FILE_NAME,
    REDACTED,
    bind_step,
    close_logging,
    configure_logging,
    get_logger,
    is_secret_name,
    redact,
)

ENV_SECRETS = {
    "ANTHROPIC_API_KEY": "anthropic-env-value-0001",
    "GITHUB_TOKEN": "github-env-value-0002",
    "DEPLOY_TOKEN": "deploy-token-value-0003",
    "SIGNING_KEY": "signing-key-value-0004",
    "WEBHOOK_SECRET": "webhook-secret-value-0005",
    "DB_PASSWORD_FILE_CONTENT": "db-password-value-0006",
    "AWS_CREDENTIALS": "aws-credentials-value-0007",
}
CONFIGURED_SECRET = "configured-secret-value-0008"

# (text as logged, the part that must vanish, what a reader still sees)
TOKEN_SHAPES = [
    ("key sk-ant-api03-AbCdEf0123456789_xyz-QQ used", "api03-AbCdEf0123456789_xyz-QQ", "sk-ant-" + REDACTED),
    ("push with ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", "A1b2C3d4E5f6G7h8I9j0", "ghp_" + REDACTED),
    ("pat github_pat_11ABCDEFG0123456789_abcdefXYZ here", "11ABCDEFG0123456789_abcdefXYZ", "github_pat_"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9", "Bearer " + REDACTED),
    ("headers x-api-key: plainkeyvalue12345 sent", "plainkeyvalue12345", "x-api-key: " + REDACTED),
    ("{'X-Api-Key': 'quotedkeyvalue9876'}", "quotedkeyvalue9876", REDACTED),
]


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in ENV_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SHORT_TOKEN", "abc123")  # under 8 characters: too short to redact by value
    monkeypatch.setenv("PLAIN_SETTING", "not-a-secret-but-long")
    return ENV_SECRETS


@pytest.fixture
def console() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def run_dir(tmp_path: Path, secret_env: dict[str, str], console: io.StringIO) -> Iterator[Path]:
    directory = tmp_path / "run"
    configure_logging(
        directory, "run-abc", verbose=True, quiet=False, secrets=[CONFIGURED_SECRET], console_stream=console
    )
    yield directory
    close_logging()


def file_lines(run_dir: Path) -> list[dict[str, object]]:
    text = (run_dir / LOG_FILE_NAME).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def raw_outputs(run_dir: Path, console: io.StringIO) -> dict[str, str]:
    return {"file": (run_dir / LOG_FILE_NAME).read_text(encoding="utf-8"), "console": console.getvalue()}


@pytest.mark.parametrize("name", sorted(ENV_SECRETS))
def test_env_secret_values_are_redacted_in_text_nested_values_and_tracebacks(
    run_dir: Path, console: io.StringIO, name: str
) -> None:
    value = ENV_SECRETS[name]
    log = get_logger("loop")
    log.info(f"calling with {value}", request={"headers": [f"auth={value}"], "note": ("x", value)})
    try:
        raise RuntimeError(f"server rejected {value}")
    except RuntimeError:
        log.exception("call failed")

    for where, text in raw_outputs(run_dir, console).items():
        assert value not in text, where
        assert REDACTED in text, where
    lines = file_lines(run_dir)
    assert lines[0]["event"] == f"calling with {REDACTED}"
    assert lines[0]["request"] == {"headers": [f"auth={REDACTED}"], "note": ["x", REDACTED]}
    assert "RuntimeError: server rejected " + REDACTED in str(lines[1]["exception"])


def test_configured_secret_is_redacted(run_dir: Path, console: io.StringIO) -> None:
    get_logger().warning("token in use", detail=f"value={CONFIGURED_SECRET};")
    for where, text in raw_outputs(run_dir, console).items():
        assert CONFIGURED_SECRET not in text, where
    assert file_lines(run_dir)[0]["detail"] == f"value={REDACTED};"


@pytest.mark.parametrize(("text", "hidden", "visible"), TOKEN_SHAPES)
def test_token_shapes_are_redacted_in_file_and_console(
    run_dir: Path, console: io.StringIO, text: str, hidden: str, visible: str
) -> None:
    get_logger().info("model call", payload={"deep": {"deeper": [text]}}, summary=text)
    for where, output in raw_outputs(run_dir, console).items():
        assert hidden not in output, where
        assert visible in output, where


def test_values_under_secret_names_are_redacted_whatever_their_shape(run_dir: Path) -> None:
    get_logger().info("request", headers={"x-api-key": "shapeless1234", "Authorization": "whatever99"})
    assert file_lines(run_dir)[0]["headers"] == {"x-api-key": REDACTED, "Authorization": REDACTED}


def test_short_and_ordinary_values_are_left_alone(run_dir: Path) -> None:
    get_logger().info("ran abc123 with not-a-secret-but-long", tokens=1234, max_tokens=8192)
    line = file_lines(run_dir)[0]
    assert line["event"] == "ran abc123 with not-a-secret-but-long"
    assert (line["tokens"], line["max_tokens"]) == (1234, 8192)


def test_third_party_records_are_redacted_and_carry_the_run(run_dir: Path, console: io.StringIO) -> None:
    logging.getLogger("httpx").warning("retrying with header %s", "x-api-key: sk-ant-api03-zzzzzzzzzzzz")
    (line,) = file_lines(run_dir)
    assert line["event"] == f"retrying with header x-api-key: {REDACTED}"
    assert (line["run_id"], line["step"], line["logger"]) == ("run-abc", 0, "httpx")
    assert "zzzzzzzz" not in console.getvalue()


def test_every_line_has_run_id_and_current_step(run_dir: Path, console: io.StringIO) -> None:
    log = get_logger("loop")
    log.debug("starting")
    bind_step(1)
    log.info("tool call", tool="bash")
    bind_step(2)
    log.warning("tests failed")
    # A worker thread does not inherit context variables; the run-wide values still reach its lines.
    worker = threading.Thread(target=lambda: get_logger("worker").info("from a thread"))
    worker.start()
    worker.join()
    logging.getLogger("anthropic").error("foreign line")

    lines = file_lines(run_dir)
    assert [(line["event"], line["step"]) for line in lines] == [
        ("starting", 0),
        ("tool call", 1),
        ("tests failed", 2),
        ("from a thread", 2),
        ("foreign line", 2),
    ]
    assert {line["run_id"] for line in lines} == {"run-abc"}
    assert all("timestamp" in line and "level" in line for line in lines)
    console_lines = console.getvalue().splitlines()
    assert len(console_lines) == 5
    assert all("run_id=run-abc" in line and "step=" in line for line in console_lines)


def test_redact_function_covers_env_configured_and_shapes(secret_env: dict[str, str]) -> None:
    configure_logging(
        None, "r", verbose=False, quiet=True, secrets=[CONFIGURED_SECRET], console_stream=io.StringIO()
    )
    try:
        text = " ".join([*secret_env.values(), CONFIGURED_SECRET, *(shape for shape, _, _ in TOKEN_SHAPES)])
        cleaned = redact(text)
        for value in [*secret_env.values(), CONFIGURED_SECRET]:
            assert value not in cleaned
        for _, hidden, _ in TOKEN_SHAPES:
            assert hidden not in cleaned
        assert redact("nothing secret abc123") == "nothing secret abc123"
        assert redact(cleaned) == cleaned  # idempotent: a trajectory may be redacted twice
    finally:
        close_logging()


def test_a_secret_containing_another_is_replaced_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTER_TOKEN", "prefix-inner-value-suffix")
    monkeypatch.setenv("INNER_TOKEN", "inner-value")
    assert redact("x prefix-inner-value-suffix y") == f"x {REDACTED} y"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("ANTHROPIC_API_KEY", True),
        ("GITHUB_TOKEN", True),
        ("npm_token", True),
        ("MY_SECRET", True),
        ("PGPASSWORD", True),
        ("GOOGLE_APPLICATION_CREDENTIALS", True),
        ("PATH", False),
        ("HOME", False),
        ("MAX_TOKENS", False),
        ("KEYBOARD", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_console_levels_follow_quiet_and_verbose(tmp_path: Path) -> None:
    outputs = {}
    for mode in ("quiet", "normal", "verbose"):
        stream = io.StringIO()
        configure_logging(
            tmp_path / mode, mode, verbose=mode == "verbose", quiet=mode == "quiet", console_stream=stream
        )
        log = get_logger()
        log.debug("debug-line")
        log.info("info-line")
        log.warning("warning-line")
        log.error("error-line")
        close_logging()
        outputs[mode] = stream.getvalue()
        # The file always has everything, whatever the console shows.
        assert len(file_lines(tmp_path / mode)) == 4

    def shown(mode: str) -> list[str]:
        return [w for w in ("debug", "info", "warning", "error") if f"{w}-line" in outputs[mode]]

    assert shown("quiet") == ["warning", "error"]
    assert shown("normal") == ["info", "warning", "error"]
    assert shown("verbose") == ["debug", "info", "warning", "error"]


def _open_fds_to(path: Path) -> int:
    fd_dir = Path("/proc/self/fd")
    count = 0
    for fd in fd_dir.iterdir():
        try:
            if Path(os.readlink(fd)) == path:
                count += 1
        except OSError:
            continue
    return count


def test_configure_twice_neither_duplicates_lines_nor_leaks_files(tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    level_before = root.level
    first, second = tmp_path / "first", tmp_path / "second"
    first_console, second_console = io.StringIO(), io.StringIO()

    configure_logging(first, "run-1", verbose=False, quiet=False, console_stream=first_console)
    get_logger().info("one")
    configure_logging(second, "run-2", verbose=False, quiet=False, console_stream=second_console)
    get_logger().info("two")

    assert _open_fds_to(first / LOG_FILE_NAME) == 0
    assert _open_fds_to(second / LOG_FILE_NAME) == 1
    assert [(line["event"], line["run_id"]) for line in file_lines(first)] == [("one", "run-1")]
    assert [(line["event"], line["run_id"]) for line in file_lines(second)] == [("two", "run-2")]
    assert "two" not in first_console.getvalue()
    assert second_console.getvalue().count("two") == 1

    close_logging()
    close_logging()  # harmless when nothing is configured
    assert _open_fds_to(second / LOG_FILE_NAME) == 0
    assert root.handlers == handlers_before
    assert root.level == level_before


def test_logger_names_are_children_of_the_agent_logger(run_dir: Path) -> None:
    for name in ("loop", "be-agent.run", "be_agent.tools"):
        get_logger(name).info("hello")
    assert [line["logger"] for line in file_lines(run_dir)] == [
        "be_agent.loop",
        "be_agent.run",
        "be_agent.tools",
    ]
