"""A small GitHub REST client: the few endpoints `fix-issue` needs, with timeouts and bounded retries.

Every call has a timeout. Retries are bounded in count and in total wait, back off exponentially, and honour
`retry-after` and `x-ratelimit-reset`. Creating writes (POST) are retried only when GitHub certainly did not
act on them (the connection never opened, or a rate limit / 503 answered), so a retry cannot open a second
pull request or post a comment twice; PATCH sets fields to given values, so it is retried like a read.
Errors say which call failed and what GitHub answered; the token never appears in them.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx2

from agent.errors import RemoteError, UsageError

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
# bodies as written (`body`), as plain text (`body_text`) and as GitHub renders them (`body_html`)
FULL_BODIES = "application/vnd.github.full+json"
WRITE_ROLES = frozenset({"admin", "maintain", "write"})
MAX_PAGES = 10  # 1,000 comments is more than any issue the agent should take on
MAX_SCAN_PAGES = 100  # when GitHub gives no `last` link, how far we walk to find the newest pages


class GitHubError(RemoteError):
    """A GitHub call failed for good (after retries, or with an answer retries cannot change)."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries of one call
    base_delay: float = 1.0  # seconds; doubles per try
    max_delay: float = 30.0  # cap on one wait
    max_total_wait: float = 120.0  # a longer rate-limit wait fails the call instead of hanging the job


Sleeper = Callable[[float], None]


def parse_repo_slug(text: str) -> tuple[str, str]:
    """'owner/name' -> ('owner', 'name'); anything else raises ValueError."""
    m = re.fullmatch(r"([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)/([A-Za-z0-9._-]+)", text.strip())
    if not m or m.group(2) in (".", ".."):
        raise ValueError(f"not an OWNER/NAME repository: {text!r}")
    return m.group(1), m.group(2)


def check_token(raw: str) -> str:
    """GITHUB_TOKEN as sent in a header: one line of printable ASCII. Anything else is a configuration
    mistake (a pasted newline, a smart quote) that no retry can fix; the message never shows the value."""
    token = raw.strip()
    if not token:
        raise UsageError(
            "GITHUB_TOKEN is not set: be-agent needs a token that can read issues and pull requests, push "
            "branches and open pull requests (in GitHub Actions: `GITHUB_TOKEN: ${{ github.token }}`)"
        )
    if not token.isascii() or not token.isprintable() or any(ch.isspace() for ch in token):
        raise UsageError(
            "GITHUB_TOKEN is malformed: a token is one line of printable ASCII without spaces "
            "(check how the secret was pasted: a line break, a space or a non-ASCII character "
            "is in it)"
        )
    return token


def check_api_url(url: str) -> str:
    """GITHUB_API_URL as an http(s) base URL; a value without a scheme would only fail later, after retries."""
    try:
        parts = urlsplit(url.strip())
        has_host = bool(parts.hostname)
    except ValueError:
        parts, has_host = urlsplit(""), False
    if (
        parts.scheme not in ("http", "https")
        or not has_host
        or not url.isascii()
        or any(ch.isspace() for ch in url.strip())
    ):
        raise UsageError(
            f"GITHUB_API_URL must be an http(s) URL such as {DEFAULT_API_URL}, not {url.strip()!r}"
        )
    return url.strip().rstrip("/")


def api_url_from_env() -> str:
    """GITHUB_API_URL (as GitHub Actions sets it, so GitHub Enterprise works), checked, or api.github.com."""
    return check_api_url(os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL)


def repo_from_remote_url(url: str) -> str | None:
    """The 'owner/name' of a github.com remote URL (https, ssh or scp-like), or None for anything else."""
    patterns = (
        r"(?:https?|git|ssh)://(?:[^@/]+@)?[^/]*github[^/]*/([^/]+)/([^/]+?)(?:\.git)?/?",
        r"[^@/]+@[^:/]*github[^:/]*:([^/]+)/([^/]+?)(?:\.git)?/?",
    )
    for pattern in patterns:
        m = re.fullmatch(pattern, url.strip())
        if m:
            return f"{m.group(1)}/{m.group(2)}"
    return None


def _retry_after(response: httpx2.Response, now: float) -> float | None:
    """Seconds GitHub asked us to wait, from `retry-after` or (when the quota is spent) `x-ratelimit-reset`."""
    value = response.headers.get("retry-after")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = response.headers.get("x-ratelimit-reset")
        if reset is not None:
            try:
                return max(0.0, float(reset) - now) + 1.0
            except ValueError:
                return None
    return None


def _is_rate_limited(response: httpx2.Response) -> bool:
    if response.status_code == 429:
        return True
    if response.status_code != 403:
        return False
    if response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers:
        return True
    return "rate limit" in response.text.lower()


def _github_message(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if not isinstance(body, dict):
        return ""
    message = str(body.get("message", ""))
    details = [
        str(e.get("message") or e.get("code") or "") for e in body.get("errors", []) if isinstance(e, dict)
    ]
    details = [d for d in details if d]
    return message + (f" ({'; '.join(details)})" if details else "")


class GitHubClient:
    def __init__(
        self,
        repository: str,
        token: str | Callable[[], str],
        *,
        api_url: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Sleeper = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self.owner, self.name = parse_repo_slug(repository)
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._token = (
            token  # a token, or what gives the current one (an App token is renewed before it expires)
        )
        self._http = httpx2.Client(
            timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "be-agent",
            },
            follow_redirects=True,  # renamed repositories answer 301; auth is dropped on a change of host
        )

    def _bearer(self) -> str:
        return self._token() if callable(self._token) else self._token

    @property
    def repository(self) -> str:
        return f"{self.owner}/{self.name}"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- endpoints -------------------------------------------------------------------------------------

    def get_repository(self) -> dict[str, Any]:
        return self._json("GET", self._repo_path())

    def get_issue(self, number: int) -> dict[str, Any]:
        """The issue, with its body also as GitHub renders it (`body_html`) when GitHub gives it."""
        return self._json("GET", self._repo_path(f"/issues/{number}"), accept=FULL_BODIES)

    def list_issue_comments(self, number: int) -> list[dict[str, Any]]:
        """Oldest first, bodies also rendered (`body_html`); on a thread longer than MAX_PAGES pages, the
        newest ones."""
        return self._paged(self._repo_path(f"/issues/{number}/comments"), newest=True, accept=FULL_BODIES)

    def has_write_access(self, login: str) -> bool:
        """Whether `login` may push to the repository (write, maintain or admin), as the collaborator
        permission API says; `author_association` alone does not tell. Someone GitHub does not know as a
        collaborator (404) has no write access."""
        path = self._repo_path(f"/collaborators/{quote(login, safe='')}/permission")
        try:
            answer = self._json("GET", path)
        except GitHubError as exc:
            if exc.status == 404:
                return False
            raise
        return answer.get("role_name") in WRITE_ROLES or answer.get("permission") in WRITE_ROLES

    def create_issue_comment(self, number: int, body: str) -> dict[str, Any]:
        return self._json("POST", self._repo_path(f"/issues/{number}/comments"), body={"body": body})

    def get_pull(self, number: int) -> dict[str, Any]:
        return self._json("GET", self._repo_path(f"/pulls/{number}"))

    def list_review_comments(self, number: int) -> list[dict[str, Any]]:
        """The pull request's review comments (on lines of its diff: `path`, `line`, `diff_hunk`), oldest
        first, bodies also rendered; on a very long review, the newest ones."""
        return self._paged(self._repo_path(f"/pulls/{number}/comments"), newest=True, accept=FULL_BODIES)

    def create_review_reply(self, number: int, comment_id: int, body: str) -> dict[str, Any]:
        """Reply in the thread of review comment `comment_id` (GitHub takes only a thread's first comment)."""
        path = self._repo_path(f"/pulls/{number}/comments/{comment_id}/replies")
        return self._json("POST", path, body={"body": body})

    # --- who the token acts as, and GitHub App installations -------------------------------------------

    def authenticated_login(self) -> str | None:
        """The login the token acts as: `GET /user` for a person's token; GraphQL's `viewer` for an
        installation token (GitHub Actions' own, a GitHub App's), which `GET /user` refuses. None when
        GitHub says neither."""
        try:
            return str(self._json("GET", "/user").get("login") or "") or None
        except GitHubError as exc:
            if exc.status not in (403, 404):
                raise
        try:
            answer = self._json(
                "POST", self._graphql_path(), body={"query": "query { viewer { login } }"}, read_only=True
            )
        except GitHubError as exc:
            if exc.status in (400, 403, 404):
                return None
            raise
        viewer = (answer.get("data") or {}).get("viewer") or {}
        return str(viewer.get("login") or "") or None

    def get_app(self) -> dict[str, Any]:
        """The GitHub App a JWT authenticates (its `slug` names its bot: `<slug>[bot]`)."""
        return self._json("GET", "/app")

    def get_repo_installation(self) -> dict[str, Any]:
        """The App's installation on this repository (JWT authentication)."""
        return self._json("GET", self._repo_path("/installation"))

    def create_installation_token(self, installation_id: int, repositories: list[str]) -> dict[str, Any]:
        """A token for the installation, limited to `repositories` (names, without the owner)."""
        path = f"/app/installations/{installation_id}/access_tokens"
        return self._json("POST", path, body={"repositories": repositories})

    def list_pulls(self, *, head_branch: str, state: str = "open") -> list[dict[str, Any]]:
        """Pull requests whose head is `head_branch` of this repository."""
        return self._paged(
            self._repo_path("/pulls"), params={"state": state, "head": f"{self.owner}:{head_branch}"}
        )

    def create_pull(self, *, title: str, head: str, base: str, body: str, draft: bool) -> dict[str, Any]:
        return self._json(
            "POST",
            self._repo_path("/pulls"),
            body={
                "title": title,
                "head": head,
                "base": base,
                "body": body,
                "draft": draft,
                "maintainer_can_modify": True,
            },
        )

    def update_pull(self, number: int, **fields: Any) -> dict[str, Any]:
        return self._json("PATCH", self._repo_path(f"/pulls/{number}"), body=fields)

    # --- transport -------------------------------------------------------------------------------------

    def _repo_path(self, suffix: str = "") -> str:
        return f"/repos/{self.owner}/{self.name}{suffix}"

    def _graphql_path(self) -> str:
        """GraphQL beside the REST API: /graphql on api.github.com, /api/graphql on GitHub Enterprise (whose
        REST API is /api/v3)."""
        return (
            self.api_url.removesuffix("/v3") + "/graphql" if self.api_url.endswith("/api/v3") else "/graphql"
        )

    def _json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        accept: str | None = None,
        read_only: bool = False,
    ) -> dict[str, Any]:
        """`path` below the API URL (or a full URL on the API's own origin). `read_only`: a POST that only
        reads (GraphQL queries), retried like a GET."""
        url = path if path.startswith(("http://", "https://")) else self.api_url + path
        if not self._same_origin(url):
            raise GitHubError(f"GitHub API: refusing to call another host ({url})")
        data = self._request(method, url, params=params, body=body, accept=accept, read_only=read_only).json()
        if not isinstance(data, dict):
            raise GitHubError(
                f"GitHub answered {method} {path} with a JSON {type(data).__name__}, not an object"
            )
        return data

    def _paged(
        self,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        newest: bool = False,
        accept: str | None = None,
    ) -> list[dict[str, Any]]:
        """Up to MAX_PAGES pages, oldest first: the first pages, or with `newest` the last ones."""
        pages: list[list[dict[str, Any]]] = []
        url: str | None = self.api_url + path
        query: dict[str, Any] | None = {**(params or {}), "per_page": 100}
        first_page = True
        for _ in range(MAX_SCAN_PAGES if newest else MAX_PAGES):
            if url is None:
                break
            response = self._request("GET", url, params=query, accept=accept)
            pages.append(_list_page(response, url))
            if newest and len(pages) > MAX_PAGES:
                pages.pop(0)
            url = self._link(response, "next")
            query = None  # the next link carries its own query
            last = self._link(response, "last")
            if newest and first_page and url is not None and last is not None:
                jump = _pages_before(last, MAX_PAGES - 1)
                if jump is not None:  # skip straight to the newest pages instead of walking every one
                    pages, url = [], jump
            first_page = False
        return [item for page in pages for item in page]

    def _link(self, response: httpx2.Response, rel: str) -> str | None:
        url = response.links.get(rel, {}).get("url")
        if url is not None and not self._same_origin(url):
            raise GitHubError(f"GitHub API: refusing to follow a pagination link to another host ({url})")
        return url

    def _same_origin(self, url: str) -> bool:
        a, b = urlsplit(url), urlsplit(self.api_url)
        return (a.scheme, a.netloc) == (b.scheme, b.netloc)

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        accept: str | None = None,
        read_only: bool = False,
    ) -> httpx2.Response:
        label = f"GitHub API {method} {urlsplit(url).path}"
        headers = {"Authorization": f"Bearer {self._bearer()}", **({"Accept": accept} if accept else {})}
        idempotent = read_only or method in ("GET", "HEAD", "PATCH")
        waited = 0.0
        last_problem = ""
        for attempt in range(1, self.retry.attempts + 1):
            delay = min(self.retry.max_delay, self.retry.base_delay * 2 ** (attempt - 1))
            try:
                response = self._http.request(method, url, params=params, json=body, headers=headers)
            except httpx2.ConnectError as exc:
                last_problem = f"could not connect ({type(exc).__name__})"
            except httpx2.TimeoutException as exc:
                if not idempotent and not isinstance(exc, httpx2.ConnectTimeout):
                    raise GitHubError(
                        f"{label}: timed out waiting for an answer; not retried because the "
                        "request may have been acted on"
                    ) from None
                last_problem = f"timed out ({type(exc).__name__})"
            except httpx2.TransportError as exc:
                if not idempotent:
                    raise GitHubError(
                        f"{label}: connection failed mid-request ({type(exc).__name__}); "
                        "not retried because the request may have been acted on"
                    ) from None
                last_problem = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if status < 400:
                    return response
                message = _github_message(response)
                rate_limited = _is_rate_limited(response)
                retryable = rate_limited or status == 503 or (idempotent and status in (500, 502, 504))
                if not retryable:
                    raise GitHubError(
                        f"{label}: HTTP {status}: {message or response.reason_phrase}", status=status
                    )
                last_problem = (
                    f"HTTP {status}"
                    + (" (rate limited)" if rate_limited else "")
                    + (f": {message}" if message else "")
                )
                asked = _retry_after(response, self._clock())
                if asked is not None:
                    if waited + asked > self.retry.max_total_wait:
                        raise GitHubError(
                            f"{label}: {last_problem}; GitHub asks to wait {asked:.0f}s, more "
                            f"than the {self.retry.max_total_wait:.0f}s allowed",
                            status=status,
                        )
                    delay = asked
            if attempt == self.retry.attempts or waited + delay > self.retry.max_total_wait:
                break
            self._sleep(delay)
            waited += delay
        raise GitHubError(f"{label}: {last_problem} (gave up after {attempt} attempt(s))")


def _list_page(response: httpx2.Response, url: str) -> list[dict[str, Any]]:
    page = response.json()
    if not isinstance(page, list):
        raise GitHubError(f"GitHub API GET {urlsplit(url).path}: expected a list, got {type(page).__name__}")
    return page


def _pages_before(last_url: str, count: int) -> str | None:
    """The URL of the page `count` pages before the `last` link's page, when that is after page 1."""
    parts = urlsplit(last_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    page = next((int(v) for k, v in query if k == "page" and v.isdigit()), None)
    if page is None or page - count <= 1:
        return None
    query = [(k, str(page - count) if k == "page" else v) for k, v in query]
    return urlunsplit(parts._replace(query=urlencode(query)))


def client_from_env(repository: str, token: str, **kwargs: Any) -> GitHubClient:
    """A client for `repository` at GITHUB_API_URL (as GitHub Actions sets it) or api.github.com."""
    return GitHubClient(repository, check_token(token), api_url=api_url_from_env(), **kwargs)
