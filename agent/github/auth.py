"""Which GitHub credentials a command uses, and which account they act as.

- With `BE_AGENT_APP_ID` and `BE_AGENT_APP_PRIVATE_KEY` set, be-agent acts as that GitHub App: it signs a JWT
  with the App's private key (PyJWT, the `github-app` extra; never hand-written signing), asks GitHub for the
  App's installation on the repository, and exchanges the JWT for an installation token limited to that one
  repository. The token is renewed before it expires (GitHub gives an hour), so a long run still pushes. Pull
  requests and pushes made with it start the repository's workflows (its CI); those made with GitHub Actions'
  own `GITHUB_TOKEN` do not.
- Otherwise `GITHUB_TOKEN`.

The private key, every JWT and every token are registered as secrets (redacted from every log line) and go
only to GitHub's API and, for git, to the GitHub server (`agent.remote`). Error messages never show them.

Who the token acts as (`login`) decides which comments are be-agent's own: for an App it is `<slug>[bot]`;
otherwise GitHub says (`GET /user`, or GraphQL's `viewer` for installation tokens); `BE_AGENT_BOT_LOGIN` is
asked only when GitHub says neither.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.errors import UsageError
from agent.github.client import GitHubClient, GitHubError, check_token
from agent.github.event import parse_time
from agent.logs import add_secrets

APP_ID_VAR = "BE_AGENT_APP_ID"
APP_KEY_VAR = "BE_AGENT_APP_PRIVATE_KEY"
BOT_LOGIN_VAR = "BE_AGENT_BOT_LOGIN"
JWT_LIFETIME = 9 * 60  # GitHub accepts at most ten minutes
CLOCK_DRIFT = 60  # the JWT is dated a minute back, as GitHub advises, for a runner's clock running ahead
RENEW_BEFORE = 10 * 60  # renew an installation token this long before it expires


def app_configured(environ: Mapping[str, str]) -> bool:
    return bool(environ.get(APP_ID_VAR, "").strip() or environ.get(APP_KEY_VAR, "").strip())


def check_environment(environ: Mapping[str, str]) -> None:
    """Refuse a credential set-up that cannot work before anything is read or run (exit 2, one line)."""
    if not app_configured(environ):
        check_token(environ.get("GITHUB_TOKEN", ""))
        return
    app_id = environ.get(APP_ID_VAR, "").strip()
    if not app_id:
        raise UsageError(f"{APP_KEY_VAR} is set but {APP_ID_VAR} is not: give both to act as a GitHub App")
    if not app_id.isascii() or not app_id.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"{APP_ID_VAR} must be the App's numeric ID (or its client ID), not {app_id!r}")
    if not environ.get(APP_KEY_VAR, "").strip():
        raise UsageError(f"{APP_ID_VAR} is set but {APP_KEY_VAR} is not: give the App's private key (PEM)")


def private_key(raw: str) -> str:
    """The PEM text as stored in a secret; a key pasted on one line with literal `\\n` is read as meant."""
    key = raw.strip()
    if "\n" not in key and "\\n" in key:
        key = key.replace("\\n", "\n")
    return key + "\n"


def sign_app_jwt(app_id: str, key_pem: str, now: float) -> str:
    """The JWT that authenticates the App itself (RS256, issued by the App, valid for nine minutes)."""
    try:
        import jwt
    except ImportError:
        raise UsageError(
            f"{APP_ID_VAR} is set, and acting as a GitHub App needs PyJWT with its cryptography backend: "
            "pip install 'backend-engineer-agent[github-app]'"
        ) from None
    payload = {"iat": int(now) - CLOCK_DRIFT, "exp": int(now) + JWT_LIFETIME, "iss": app_id}
    try:
        token = jwt.encode(payload, key_pem, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        # the message names the failure, never the key
        raise UsageError(
            f"{APP_KEY_VAR} is not a usable RSA private key in PEM form ({type(exc).__name__}); paste the "
            "whole .pem file GitHub gave for the App, BEGIN and END lines included"
        ) from None
    add_secrets([token])
    return str(token)


@dataclass
class AppTokens:
    """Installation tokens of one App for one repository, renewed before they expire."""

    app_id: str
    key_pem: str
    repository: str
    api_url: str
    clock: Callable[[], float] = time.time
    client_options: dict[str, Any] = field(default_factory=dict)
    slug: str = ""
    _token: str = ""
    _expires: float = 0.0

    def __post_init__(self) -> None:
        add_secrets([self.key_pem.strip()])

    def __call__(self) -> str:
        if not self._token or self._expires - self.clock() < RENEW_BEFORE:
            self._mint()
        return self._token

    @property
    def login(self) -> str:
        if not self.slug:
            self()
        return f"{self.slug}[bot]"

    def _mint(self) -> None:
        jwt_token = sign_app_jwt(self.app_id, self.key_pem, self.clock())
        name = self.repository.split("/", 1)[1]
        with GitHubClient(self.repository, jwt_token, api_url=self.api_url, **self.client_options) as app:
            try:
                self.slug = str(app.get_app().get("slug") or "")
                installation = app.get_repo_installation()
            except GitHubError as exc:
                raise _app_error(exc, self.repository) from None
            answer = app.create_installation_token(int(installation["id"]), [name])
        token = str(answer.get("token") or "")
        if not token or not self.slug:
            raise GitHubError("GitHub gave the App no installation token (or no App slug)")
        add_secrets([token])
        expires = parse_time(answer.get("expires_at"))
        self._token = token
        self._expires = expires.timestamp() if expires is not None else self.clock() + 3600


def _app_error(exc: GitHubError, repository: str) -> Exception:
    if exc.status == 401:
        return UsageError(
            f"GitHub refused the App's signed token (HTTP 401): check {APP_ID_VAR} and that "
            f"{APP_KEY_VAR} is a current private key of that App"
        )
    if exc.status == 404:
        return UsageError(f"the GitHub App ({APP_ID_VAR}) is not installed on {repository}; install it there")
    return exc


@dataclass
class GitHubAuth:
    """The token to send (called for each use: an App's is renewed) and what is known of its account."""

    token: Callable[[], str]
    source: str  # for messages: "GITHUB_TOKEN" or "GitHub App 12345"
    known_login: str | None = None  # an App's bot, known without asking

    def login(self, client: GitHubClient, environ: Mapping[str, str] | None = None) -> str:
        """The account the token acts as. A UsageError when nobody can tell: without it, be-agent could not
        tell its own replies from a pasted copy of them."""
        if self.known_login:
            return self.known_login
        env = os.environ if environ is None else environ
        login = client.authenticated_login() or env.get(BOT_LOGIN_VAR, "").strip()
        if not login:
            raise UsageError(
                f"cannot tell which account {self.source} acts as (GitHub answered neither GET /user nor "
                f"GraphQL viewer): set {BOT_LOGIN_VAR} to its login, e.g. github-actions[bot]"
            )
        self.known_login = login
        return login


def github_auth(
    environ: Mapping[str, str], repository: str, api_url: str, **client_options: Any
) -> GitHubAuth:
    """The credentials the environment gives (module docstring); check_environment has been called."""
    if app_configured(environ):
        tokens = AppTokens(
            environ[APP_ID_VAR].strip(),
            private_key(environ[APP_KEY_VAR]),
            repository,
            api_url,
            client_options=client_options,
        )
        tokens()  # mint now: a wrong key or a missing installation is said before any work
        return GitHubAuth(tokens, f"GitHub App {tokens.app_id}", tokens.login)
    token = check_token(environ.get("GITHUB_TOKEN", ""))
    add_secrets([token])
    return GitHubAuth(lambda: token, "GITHUB_TOKEN")
