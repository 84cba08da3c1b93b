"""Where Claude is served from: the Anthropic API, Amazon Bedrock or Google Vertex AI, each through the SDK's
own client (`anthropic.Anthropic`, `AnthropicBedrock`, `AnthropicVertex`).

Rules a reader can check here:

- Credentials are found the way each cloud's own tools find them: `ANTHROPIC_API_KEY`; the AWS chain
  (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, `AWS_PROFILE` and the shared files, a
  role, or a Bedrock API key in `AWS_BEARER_TOKEN_BEDROCK`); Google's Application Default Credentials
  (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's login, workload identity, the metadata server).
- Missing or malformed credentials, region or project: `UsageError` (exit 2) from `connect`, which a run
  calls before it creates anything. A message names the variable, never its value.
- Endpoints come from the environment only (`ANTHROPIC_BASE_URL`, `ANTHROPIC_BEDROCK_BASE_URL`,
  `ANTHROPIC_VERTEX_BASE_URL`): a repository's config cannot send the credentials elsewhere. The SDKs
  build the host name from the region (`bedrock-runtime.REGION.amazonaws.com`, `REGION-aiplatform.
  googleapis.com`), so a region is letters, digits and inner hyphens only, and a project letters, digits,
  hyphens, dots and colons: nothing that could end the host name (`/`, `?`, `#`, `@`) gets through.
- Every credential value the connection knows is in `Connection.secrets()`, for the logs' redaction and for
  scrubbing error text.
- The SDK's retries are off (`max_retries=0`): `agent.retry` is the one policy, for every provider.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.errors import ModelAPIError, UsageError
from agent.retry import TransientFailure
from agent.settings import DEFAULT_MODEL, Provider

PROVIDERS: tuple[Provider, ...] = ("anthropic", "bedrock", "vertex")

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f]")
_AWS_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")
_REGION = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # us-east-1, us-gov-west-1, europe-west4, global
_PROJECT = re.compile(r"[a-z0-9][a-z0-9.:-]{0,99}")  # my-project-123, or a domain-scoped example.com:proj


@dataclass(frozen=True)
class ProviderInfo:
    title: str  # for messages: "Amazon Bedrock"
    default_model: str  # our default model, under this provider's id
    price_table: str  # the provider's table in genai-prices
    base_url_variable: str  # where a user (or a test) points the client elsewhere


PROVIDER_INFO: dict[Provider, ProviderInfo] = {
    "anthropic": ProviderInfo("the Anthropic API", DEFAULT_MODEL, "anthropic", "ANTHROPIC_BASE_URL"),
    # the global cross-region inference profile: served from any Bedrock region that has the model
    "bedrock": ProviderInfo(
        "Amazon Bedrock", f"global.anthropic.{DEFAULT_MODEL}", "aws", "ANTHROPIC_BEDROCK_BASE_URL"
    ),
    "vertex": ProviderInfo("Google Vertex AI", DEFAULT_MODEL, "google", "ANTHROPIC_VERTEX_BASE_URL"),
}


def provider_choice(value: str) -> Provider:
    for provider in PROVIDERS:
        if value == provider:
            return provider
    raise ValueError(f"must be anthropic, bedrock or vertex, not {value!r}")


def region_shape(value: str) -> str:
    """A cloud region as the SDKs put it into a host name; ValueError for anything else."""
    if not _REGION.fullmatch(value):
        raise ValueError(f"must be a region name such as us-east-1 (letters, digits, hyphens), not {value!r}")
    return value


def project_shape(value: str) -> str:
    """A Google Cloud project id; ValueError for anything else."""
    if not _PROJECT.fullmatch(value):
        raise ValueError(f"must be a Google Cloud project id such as my-project-123, not {value!r}")
    return value


def _checked(name: str, value: str, shape: Callable[[str], str]) -> None:
    _well_formed(name, value)
    try:
        shape(value)
    except ValueError as exc:
        raise UsageError(f"{name} {exc}") from None


def default_model(provider: Provider) -> str:
    return PROVIDER_INFO[provider].default_model


def check_model_id(provider: Provider, model: str) -> None:
    """Refuse a model id that cannot be meant for this provider (exit 2 before anything starts)."""
    if provider == "bedrock" and model.startswith("claude-"):
        raise UsageError(
            f"{model} is an Anthropic API model id; Amazon Bedrock names it differently, e.g. "
            f"global.anthropic.{model} or us.anthropic.{model} (an inference profile), or an ARN"
        )


# --- a connection: the SDK client and what it knows that must stay secret ---------------------------------


@dataclass
class Connection:
    """An SDK client for one provider, ready to send Messages requests."""

    provider: Provider
    client: Any  # anthropic.Anthropic, AnthropicBedrock or AnthropicVertex
    secrets: Callable[[], list[str]]  # every credential value it holds now (tokens are refreshed)
    endpoint_hint: str  # what to check when the host cannot be resolved
    # the provider's own auth failures raised while signing a request: mapped to our errors, or None
    auth_failure: Callable[[BaseException], Exception | None] = field(default=lambda _exc: None)

    @property
    def host(self) -> str:
        return str(self.client.base_url.host)


@dataclass(frozen=True)
class ProviderSettings:
    """What a run says about its provider; the rest comes from the provider's usual environment."""

    provider: Provider = "anthropic"
    api_key: str | None = None  # the Anthropic API only; default ANTHROPIC_API_KEY
    aws_region: str | None = None  # default AWS_REGION, AWS_DEFAULT_REGION, the profile's region
    vertex_project: str | None = None  # default ANTHROPIC_VERTEX_PROJECT_ID, the credentials' project
    vertex_region: str | None = None  # default CLOUD_ML_REGION


def connect(
    settings: ProviderSettings, *, timeout: float, environ: Mapping[str, str] | None = None
) -> Connection:
    """The provider's client, after checking its credentials are there and well formed. Raises UsageError
    (exit 2) when they are missing or malformed, ModelAPIError (exit 3) when a token service cannot be
    reached."""
    env = os.environ if environ is None else environ
    if settings.provider == "bedrock":
        return _bedrock(settings, timeout, env)
    if settings.provider == "vertex":
        return _vertex(settings, timeout, env)
    return _anthropic(settings, timeout, env)


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _well_formed(name: str, value: str) -> None:
    if _CONTROL_OR_SPACE.search(value) or not value.isascii():
        raise UsageError(
            f"{name} is malformed (it holds a space, a line break, a control or a non-ASCII character); "
            "set it to the credential alone"
        )


def _anthropic(settings: ProviderSettings, timeout: float, env: Mapping[str, str]) -> Connection:
    import anthropic

    key = settings.api_key or env.get("ANTHROPIC_API_KEY")
    if not key:
        raise UsageError(
            "ANTHROPIC_API_KEY is not set; export your Anthropic API key "
            "(or use `be-agent replay`, which needs none)"
        )
    if settings.api_key is None:
        _well_formed("ANTHROPIC_API_KEY", key)
    client = anthropic.Anthropic(api_key=key, max_retries=0, timeout=timeout)
    return Connection("anthropic", client, lambda: [key], "check ANTHROPIC_BASE_URL and the network's DNS")


# --- Amazon Bedrock -----------------------------------------------------------------------------------------

_AWS_SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def _bedrock(settings: ProviderSettings, timeout: float, env: Mapping[str, str]) -> Connection:
    try:
        import boto3
        import botocore.exceptions
    except ImportError:
        raise UsageError(
            "--provider bedrock needs boto3: pip install 'backend-engineer-agent[bedrock]'"
        ) from None
    region = settings.aws_region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    try:
        session = boto3.Session()
        region = region or session.region_name
    except botocore.exceptions.BotoCoreError as exc:  # e.g. AWS_PROFILE names no profile
        raise UsageError(f"the AWS configuration cannot be read: {one_line(str(exc))}") from None
    if not region:
        raise UsageError(
            "no AWS region for Bedrock: set AWS_REGION (e.g. us-east-1), or aws-region in be-agent's config"
        )
    _checked("the AWS region", region, region_shape)
    bearer = env.get("AWS_BEARER_TOKEN_BEDROCK")
    if bearer:
        _well_formed("AWS_BEARER_TOKEN_BEDROCK", bearer)
        from anthropic import AnthropicBedrock

        client = AnthropicBedrock(api_key=bearer, aws_region=region, max_retries=0, timeout=timeout)
        return Connection("bedrock", client, lambda: [bearer], _bedrock_hint(region), _bedrock_failure)
    key_id = env.get("AWS_ACCESS_KEY_ID")
    if key_id:
        _well_formed("AWS_ACCESS_KEY_ID", key_id)
        if not _AWS_KEY_ID.fullmatch(key_id):
            raise UsageError(
                "AWS_ACCESS_KEY_ID is malformed (an access key id is 16 or more capitals and digits)"
            )
    for name in _AWS_SECRET_VARIABLES:
        if env.get(name):
            _well_formed(name, env[name])
    try:
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as exc:  # partial keys, a broken profile or credentials file
        raise UsageError(f"the AWS credentials cannot be loaded: {one_line(str(exc))}") from None
    if credentials is None:
        raise UsageError(
            "no AWS credentials for Bedrock: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (in GitHub "
            "Actions, aws-actions/configure-aws-credentials with an OIDC role), AWS_PROFILE, or a Bedrock "
            "API key in AWS_BEARER_TOKEN_BEDROCK"
        )
    known = [env[name] for name in ("AWS_ACCESS_KEY_ID", *_AWS_SECRET_VARIABLES) if env.get(name)]
    if getattr(credentials, "method", "") in ("shared-credentials-file", "config-file"):
        # static keys read from a file (no refresh involved): redact them like the environment's
        known += [v for v in (credentials.access_key, credentials.secret_key, credentials.token) if v]
    from anthropic import AnthropicBedrock

    client = AnthropicBedrock(aws_region=region, max_retries=0, timeout=timeout)
    return Connection("bedrock", client, lambda: list(known), _bedrock_hint(region), _bedrock_failure)


def _bedrock_hint(region: str) -> str:
    return f"check the AWS region ({region}), ANTHROPIC_BEDROCK_BASE_URL and the network's DNS"


def _bedrock_failure(exc: BaseException) -> Exception | None:
    """botocore failing while it signs a request: credentials that expired or could not be refreshed."""
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.HTTPClientError | botocore.exceptions.ConnectionError):
        return TransientFailure("AWS credentials could not be refreshed", one_line(str(exc)))
    if isinstance(exc, botocore.exceptions.BotoCoreError) or (
        isinstance(exc, RuntimeError) and "AWS credentials" in str(exc)
    ):
        return ModelAPIError(f"the AWS credentials stopped working: {one_line(str(exc))}")
    return None


# --- Google Vertex AI ---------------------------------------------------------------------------------------


def _vertex(settings: ProviderSettings, timeout: float, env: Mapping[str, str]) -> Connection:
    try:
        import google.auth
        import google.auth.exceptions
        from google.auth.transport.requests import Request
    except ImportError:
        raise UsageError(
            "--provider vertex needs google-auth: pip install 'backend-engineer-agent[vertex]'"
        ) from None
    region = settings.vertex_region or env.get("CLOUD_ML_REGION")
    if not region:
        raise UsageError(
            "no Vertex AI region: set CLOUD_ML_REGION (e.g. us-east5, or global), or vertex-region in "
            "be-agent's config"
        )
    _checked("the Vertex AI region", region, region_shape)
    try:
        credentials, found_project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise UsageError(
            f"no usable Google credentials for Vertex AI ({one_line(str(exc))}); run `gcloud auth "
            "application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS (in GitHub Actions, "
            "google-github-actions/auth with workload identity)"
        ) from None
    project = settings.vertex_project or env.get("ANTHROPIC_VERTEX_PROJECT_ID") or found_project
    if not project:
        raise UsageError(
            "no Google Cloud project for Vertex AI: set ANTHROPIC_VERTEX_PROJECT_ID (or "
            "GOOGLE_CLOUD_PROJECT), or vertex-project in be-agent's config"
        )
    _checked("the Google Cloud project", project, project_shape)
    try:
        # mint the first token now: bad credentials stop the run here
        credentials.refresh(Request())  # type: ignore[no-untyped-call]
    except google.auth.exceptions.RefreshError as exc:
        raise UsageError(f"Google refused the credentials for Vertex AI: {one_line(str(exc))}") from None
    except google.auth.exceptions.TransportError as exc:
        raise ModelAPIError(f"Google's token service cannot be reached: {one_line(str(exc))}") from None
    from anthropic import AnthropicVertex

    client = AnthropicVertex(
        region=region, project_id=project, credentials=credentials, max_retries=0, timeout=timeout
    )

    def secrets() -> list[str]:
        found = [getattr(credentials, name, None) for name in ("token", "refresh_token", "client_secret")]
        return [value for value in found if isinstance(value, str) and value]

    hint = f"check the Vertex AI region ({region}), ANTHROPIC_VERTEX_BASE_URL and the network's DNS"
    return Connection("vertex", client, secrets, hint, _vertex_failure)


def _vertex_failure(exc: BaseException) -> Exception | None:
    """google-auth failing while it refreshes the token for a request."""
    import google.auth.exceptions

    if isinstance(exc, google.auth.exceptions.TransportError):
        return TransientFailure("Google token refresh failed", one_line(str(exc)))
    if isinstance(exc, google.auth.exceptions.GoogleAuthError):
        return ModelAPIError(f"the Google credentials stopped working: {one_line(str(exc))}")
    return None
