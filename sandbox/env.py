"""The environment a sandboxed command gets: an allow-list of harmless variables, never a secret."""

from __future__ import annotations

import os
from collections.abc import Mapping

SANDBOX_HOME = "/home/agent"
SANDBOX_TMP = "/tmp"
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"

ALLOWED_NAMES = frozenset(
    {
        "PATH",
        "LANG",
        "LANGUAGE",
        "TERM",
        "TZ",
        "COLUMNS",
        "LINES",
        "NO_COLOR",
        "FORCE_COLOR",
        "CI",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONHASHSEED",
        "PYTHONUNBUFFERED",
        "PYTHONIOENCODING",
        "PYTHONUTF8",
        "PYTEST_ADDOPTS",
        "SOURCE_DATE_EPOCH",
    }
)
ALLOWED_PREFIXES = ("LC_",)

_SECRET_EXACT = frozenset(
    {
        "ANTHROPIC_API_KEY",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "TOKEN",
        "KEY",
        "SECRET",
        "APIKEY",
        "API_KEY",
        # the clouds that serve Claude (Amazon Bedrock, Google Vertex AI): keys, tokens, and where they are
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_GHA_CREDS_PATH",
        "CLOUDSDK_AUTH_ACCESS_TOKEN",
        "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE",
        "GOOGLE_OAUTH_ACCESS_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
    }
)
_SECRET_SUFFIXES = ("_TOKEN", "_KEY", "_SECRET", "_APIKEY", "_KEY_ID", "_TOKEN_FILE")
_SECRET_PARTS = ("PASSWORD", "PASSWD", "CREDENTIAL", "SECRET", "CREDS", "BEARER")


def is_secret_name(name: str) -> bool:
    """True for variable names that conventionally hold secrets (API keys, tokens, passwords)."""
    upper = name.upper()
    return (
        upper in _SECRET_EXACT
        or upper.endswith(_SECRET_SUFFIXES)
        or any(part in upper for part in _SECRET_PARTS)
    )


def _allowed(name: str) -> bool:
    return name in ALLOWED_NAMES or name.startswith(ALLOWED_PREFIXES)


def sandbox_environment(
    extra: Mapping[str, str] | None = None,
    *,
    home: str = SANDBOX_HOME,
    tmpdir: str = SANDBOX_TMP,
    source: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Allowed variables from `source` (default: this process's environment), then `extra`, then HOME and
    TMPDIR. A secret-looking name never passes, whichever of them it came from."""
    source = os.environ if source is None else source
    env = {name: value for name, value in source.items() if _allowed(name)}
    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("LANG", "C.UTF-8")
    env.update(extra or {})
    env["HOME"] = home
    env["TMPDIR"] = tmpdir
    return {name: value for name, value in env.items() if not is_secret_name(name)}
