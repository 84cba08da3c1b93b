"""Claude through Amazon Bedrock and Google Vertex AI: the real CLI and the SDK's own clients against
stand-ins of each cloud on loopback (SigV4-signed event streams; a service account's token and SSE).

A scripted run through each reaches `fixed` with the same retry policy; missing or malformed credentials
stop the run with exit 2 before anything is created; no credential value appears in any output (stdout,
stderr, the log, the trajectory, the run page, the model's input, or the sandbox's environment)."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest

from agent.config_file import repository_root
from agent.errors import UsageError
from agent.logs import redact
from agent.providers import ProviderSettings, connect
from sandbox.env import sandbox_environment
from tests.cloud_standin import BedrockStandin, VertexStandin, bedrock_stream_exception, bedrock_throttled
from tests.conftest import CliRun, run_cli
from tests.scripts import quick_ledger_fix
from tests.standin import Reply, error, reply, tool_use

TASK = "Make a failed Ledger.transfer change nothing."
ACCESS_KEY = "AKIASTANDINKEY000001"
SECRET_KEY = "standin/Secret+Access/Key0123456789abcdefgh"
SESSION_TOKEN = "standin-session-token-FwoGZXIvYXdzE0123456789"
PRICES_VERSION = version("genai-prices")


def _aws_env(srv: BedrockStandin) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
        "AWS_REGION": srv.region,
        "ANTHROPIC_BEDROCK_BASE_URL": srv.base_url,
    }


def _run(repo: Path, state_dir: Path, env: dict[str, str], *extra: str) -> CliRun:
    return run_cli(
        "run", "--repo", str(repo), "--task", TASK, "--state-dir", str(state_dir), "--sandbox", "bwrap",
        "--json", *extra, env=env,
    )  # fmt: skip


def _script() -> list[Reply]:
    """The ledger fix, after a look at the sandbox's environment (what a prompt injection would try)."""
    return [
        reply(tool_use("bash", {"command": "env; cat /proc/self/environ | tr '\\0' '\\n'"})),
        *quick_ledger_fix(),
    ]


def _assert_nowhere(secrets: list[str], run: CliRun, state_dir: Path, model_inputs: list[bytes]) -> None:
    """No secret in the command's output, in any file the run wrote, or in anything sent to the model."""
    outputs = {"stdout": run.stdout.encode(), "stderr": run.stderr.encode()}
    outputs |= {str(p): p.read_bytes() for p in state_dir.rglob("*") if p.is_file()}
    outputs |= {f"model request {i}": body for i, body in enumerate(model_inputs)}
    assert any(name.endswith("log.jsonl") for name in outputs) and any("trajectory" in n for n in outputs)
    for secret in secrets:
        leaked = [where for where, data in outputs.items() if secret.encode() in data]
        assert leaked == [], f"{secret[:8]}... found in {leaked}"


def _sandbox_env_seen(srv: BedrockStandin | VertexStandin) -> str:
    """The first tool result the model got: the sandbox's `env` output."""
    for request in srv.message_requests:
        block = request.body["messages"][-1]["content"][0]
        if block.get("type") == "tool_result":
            return json.dumps(block["content"])
    raise AssertionError("the model never got a tool result")


@pytest.mark.slow
def test_a_scripted_run_through_bedrock_is_fixed_with_retries_and_no_credential_leaks(
    demo_repo: Path, state_dir: Path
) -> None:
    turns = _script()
    script = [bedrock_throttled(), turns[0], turns[1], bedrock_stream_exception(), *turns[2:]]
    with BedrockStandin(
        script, access_key=ACCESS_KEY, secret_key=SECRET_KEY, session_token=SESSION_TOKEN
    ) as srv:
        run = _run(demo_repo, state_dir, _aws_env(srv), "--provider", "bedrock")
        requests = srv.message_requests
    assert run.code == 0, run.stderr
    result = run.json
    assert result["status"] == "fixed" and result["branch"]
    assert (result["provider"], result["model"]) == ("bedrock", "global.anthropic.claude-sonnet-5-5")
    assert len(requests) == len(turns) + 2  # a 429 and an exception frame, each retried once
    assert {r.status for r in requests} == {200, 429}
    # our default model under Bedrock's id, every request signed for bedrock in the region (the stand-in
    # checks each signature), prompt caching on
    assert {r.path for r in requests} == {
        "/model/global.anthropic.claude-sonnet-5-5/invoke-with-response-stream"
    }
    assert all("cache_control" in json.dumps(r.body) for r in requests)
    assert result["tokens"]["cache_read"] > 0
    assert (
        result["price_source"] == f"genai-prices {PRICES_VERSION}, AWS Bedrock table"
        and result["cost_usd"] > 0
    )
    assert f"(prices: genai-prices {PRICES_VERSION}, AWS Bedrock table)" in run.stderr
    start = json.loads(Path(result["trajectory"]).read_text().splitlines()[0])
    assert start["provider"] == "bedrock" and start["model"] == "global.anthropic.claude-sonnet-5-5"
    sandbox_env = _sandbox_env_seen(srv)
    assert "HOME=" in sandbox_env and "AWS_" not in sandbox_env
    _assert_nowhere([SECRET_KEY, SESSION_TOKEN, ACCESS_KEY], run, state_dir, [r.raw for r in requests])


@pytest.mark.slow
def test_a_scripted_run_through_vertex_is_fixed_with_retries_and_no_credential_leaks(
    demo_repo: Path, state_dir: Path, tmp_path: Path
) -> None:
    turns = _script()
    with VertexStandin([turns[0], error(529), *turns[1:]]) as srv:
        key_file, private_key = srv.service_account_file(tmp_path / "key.json")
        env = {
            "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
            "ANTHROPIC_VERTEX_PROJECT_ID": srv.project,
            "CLOUD_ML_REGION": srv.region,
            "ANTHROPIC_VERTEX_BASE_URL": srv.api_base_url,
        }
        run = _run(demo_repo, state_dir, env, "--provider", "vertex")
        requests, tokens, issued = srv.message_requests, srv.token_requests, list(srv.issued)
    assert run.code == 0, run.stderr
    result = run.json
    assert result["status"] == "fixed" and result["branch"]
    assert (result["provider"], result["model"]) == ("vertex", "claude-sonnet-5-5")
    assert len(requests) == len(turns) + 1 and len(tokens) == 1  # one token, minted before the run
    model_path = (
        "/v1/projects/standin-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-5-5"
    )
    assert {r.path for r in requests} == {f"{model_path}:streamRawPredict"}
    assert {r.headers["authorization"] for r in requests} == {f"Bearer {issued[0]}"}
    assert result["tokens"]["cache_read"] > 0
    assert result["price_source"] == f"genai-prices {PRICES_VERSION}, Google table" and result["cost_usd"] > 0
    sandbox_env = _sandbox_env_seen(srv)
    assert "HOME=" in sandbox_env and "GOOGLE_" not in sandbox_env
    key_body = "".join(private_key.splitlines()[1:-1])
    secrets = [issued[0], key_body[:64], key_body[-64:], json.loads(key_file.read_text())["private_key_id"]]
    _assert_nowhere(secrets, run, state_dir, [r.raw for r in requests])


# --- credentials: missing or malformed is exit 2, before anything is created --------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "provider, env, message",
    [
        ("bedrock", {"AWS_REGION": "us-east-1"}, "no AWS credentials for Bedrock"),
        ("bedrock", {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}, "no AWS region"),
        (
            "bedrock",
            {
                "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY + "\n",
            },
            "AWS_SECRET_ACCESS_KEY is malformed",
        ),
        ("vertex", {"CLOUD_ML_REGION": "us-east5"}, "no usable Google credentials for Vertex AI"),
        ("vertex", {}, "no Vertex AI region"),
    ],
)
def test_missing_or_malformed_credentials_stop_the_run_with_exit_2(
    demo_repo: Path, state_dir: Path, provider: str, env: dict[str, str], message: str
) -> None:
    run = _run(demo_repo, state_dir, env, "--provider", provider)
    assert run.code == 2, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("be-agent: error: ")]
    assert len(errors) == 1 and message in errors[0]
    assert run.json == {
        "status": "error",
        "reason": errors[0].removeprefix("be-agent: error: "),
        "exit_code": 2,
    }
    assert SECRET_KEY not in run.stdout + run.stderr
    assert not (state_dir / "runs").exists()  # nothing was started


@pytest.mark.slow
def test_credentials_the_cloud_refuses_stop_the_run_with_exit_2(
    demo_repo: Path, state_dir: Path, tmp_path: Path
) -> None:
    with VertexStandin() as srv:
        key_file, _ = srv.service_account_file(
            tmp_path / "key.json", client_email="revoked@x.iam.gserviceaccount.com"
        )
        env = {
            "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
            "ANTHROPIC_VERTEX_PROJECT_ID": srv.project,
            "CLOUD_ML_REGION": srv.region,
            "ANTHROPIC_VERTEX_BASE_URL": srv.api_base_url,
        }
        run = _run(demo_repo, state_dir, env, "--provider", "vertex")
        asked = len(srv.message_requests)
    assert run.code == 2, run.stderr
    assert "Google refused the credentials for Vertex AI: ('invalid_grant" in run.stderr
    assert asked == 0 and not (state_dir / "runs").exists()


# --- unit level: the same checks in process, and what never passes ------------------------------------------


def test_connect_checks_each_providers_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="ANTHROPIC_API_KEY is not set"):
        connect(ProviderSettings(), timeout=5)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    with pytest.raises(
        UsageError, match=r"the AWS credentials cannot be loaded: Partial credentials.*AWS_SECRET_ACCESS_KEY"
    ):
        connect(ProviderSettings(provider="bedrock"), timeout=5)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "not a key id")
    with pytest.raises(UsageError, match="AWS_ACCESS_KEY_ID is malformed"):
        connect(ProviderSettings(provider="bedrock"), timeout=5)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-0123456789")
    bedrock = connect(ProviderSettings(provider="bedrock", aws_region="eu-central-1"), timeout=5)
    assert bedrock.client.aws_region == "eu-central-1" and bedrock.secrets() == ["bedrock-api-key-0123456789"]
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(UsageError, match=r"no usable Google credentials.*missing\.json"):
        connect(ProviderSettings(provider="vertex", vertex_region="global"), timeout=5)
    (tmp_path / "broken.json").write_text('{"type": "service_account"')
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "broken.json"))
    with pytest.raises(UsageError, match="no usable Google credentials"):
        connect(ProviderSettings(provider="vertex", vertex_region="global"), timeout=5)


def test_cloud_credentials_never_reach_the_sandbox_and_are_redacted_from_logs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cloud = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
        "AWS_BEARER_TOKEN_BEDROCK": "bedrock-api-key-0123456789",
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/token",
        "GOOGLE_APPLICATION_CREDENTIALS": "/home/u/key.json",
        "GOOGLE_GHA_CREDS_PATH": "/home/runner/gha-creds.json",
        "CLOUDSDK_AUTH_ACCESS_TOKEN": "ya29.a0-access-token-0123456789",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc-request-token-0123456789",
    }
    assert sandbox_environment(extra=cloud, source=cloud).keys() == {"HOME", "TMPDIR", "PATH", "LANG"}
    for name, value in cloud.items():
        monkeypatch.setenv(name, value)
    line = " ".join(f"{k}={v}" for k, v in cloud.items())
    cleaned = redact(line)
    assert not [v for v in cloud.values() if v in cleaned]
    # the shapes, wherever they come from (a header echoed in an error, a token minted at run time)
    shapes = redact(
        "Credential=AKIAIOSFODNN7EXAMPLE/20261115/us-east-1/bedrock/aws4_request, Signature="
        + "ab" * 32
        + " Authorization: Bearer ya29.c.b0AXv0zTPx-minted-token"
    )
    assert "IOSFODNN7EXAMPLE" not in shapes and "ab" * 32 not in shapes and "minted-token" not in shapes


def test_a_repository_root_is_where_its_git_directory_is(tmp_path: Path) -> None:
    (tmp_path / "r" / ".git").mkdir(parents=True)
    (tmp_path / "r" / "a" / "b").mkdir(parents=True)
    assert repository_root(tmp_path / "r" / "a" / "b") == (tmp_path / "r").resolve()
    assert repository_root(tmp_path / "r" / "typo") is None  # never a parent's config for a wrong path
