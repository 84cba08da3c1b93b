"""A small GitHub REST client: the few endpoints `fix-issue` needs, with timeouts and bounded retries.

Every call has a timeout. Retries are bounded in count and in total wait, back off exponentially, and honour
`retry-after` and `x-ratelimit-reset`. Writes (POST/PATCH) are retried only when GitHub certainly did not act
on them (the connection never opened, or a rate limit / 503 answered), so a retry cannot open a second pull
request or post a comment twice. Errors say which call failed and what GitHub answered; the token never
appears in them.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2

from agent.errors import AgentError, ExitCode

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
MAX_PAGES = 10  # 1,000 comments is more than any issue the agent should take on


class GitHubError(AgentError):
    """A GitHub call failed for good (after retries, or with an answer retries cannot change)."""

    exit_code = ExitCode.MODEL_API  # 3: a remote service failed

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
    details = [str(e.get("message") or e.get("code") or "") for e in body.get("errors", []) if isinstance(e, dict)]
    details = [d for d in details if d]
    return message + (f" ({'; '.join(details)})" if details else "")


class GitHubClient:
    def __init__(self, repository: str, token: str, *, api_url: str | None = None, timeout: float = 30.0,
                 retry: RetryPolicy | None = None, sleep: Sleeper = time.sleep,
                 clock: Callable[[], float] = time.time):
        self.owner, self.name = parse_repo_slug(repository)
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._token = token
        self._http = httpx2.Client(
            timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION,
                     "User-Agent": "be-agent"},
            follow_redirects=True,  # renamed repositories answer 301; auth is dropped on a change of host
        )

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
        return self._json("GET", self._repo_path(f"/issues/{number}"))

    def list_issue_comments(self, number: int) -> list[dict[str, Any]]:
        return self._paged(self._repo_path(f"/issues/{number}/comments"))

    def create_issue_comment(self, number: int, body: str) -> dict[str, Any]:
        return self._json("POST", self._repo_path(f"/issues/{number}/comments"), body={"body": body})

    def list_pulls(self, *, head_branch: str, state: str = "open") -> list[dict[str, Any]]:
        """Pull requests whose head is `head_branch` of this repository."""
        return self._paged(self._repo_path("/pulls"),
                           params={"state": state, "head": f"{self.owner}:{head_branch}"})

    def create_pull(self, *, title: str, head: str, base: str, body: str, draft: bool) -> dict[str, Any]:
        return self._json("POST", self._repo_path("/pulls"),
                          body={"title": title, "head": head, "base": base, "body": body, "draft": draft,
                                "maintainer_can_modify": True})

    def update_pull(self, number: int, **fields: Any) -> dict[str, Any]:
        return self._json("PATCH", self._repo_path(f"/pulls/{number}"), body=fields)

    # --- transport -------------------------------------------------------------------------------------

    def _repo_path(self, suffix: str = "") -> str:
        return f"/repos/{self.owner}/{self.name}{suffix}"

    def _json(self, method: str, path: str, *, params: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None) -> Any:
        return self._request(method, self.api_url + path, params=params, body=body).json()

    def _paged(self, path: str, *, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        url: str | None = self.api_url + path
        query: dict[str, Any] | None = {**(params or {}), "per_page": 100}
        for _ in range(MAX_PAGES):
            if url is None:
                break
            response = self._request("GET", url, params=query)
            page = response.json()
            if not isinstance(page, list):
                raise GitHubError(f"GitHub API GET {urlsplit(url).path}: expected a list, got {type(page).__name__}")
            items.extend(page)
            url = response.links.get("next", {}).get("url")
            query = None  # the next link carries its own query
            if url is not None and not self._same_origin(url):
                raise GitHubError(f"GitHub API: refusing to follow a pagination link to another host ({url})")
        return items

    def _same_origin(self, url: str) -> bool:
        a, b = urlsplit(url), urlsplit(self.api_url)
        return (a.scheme, a.netloc) == (b.scheme, b.netloc)

    def _request(self, method: str, url: str, *, params: dict[str, Any] | None = None,
                 body: dict[str, Any] | None = None) -> httpx2.Response:
        label = f"GitHub API {method} {urlsplit(url).path}"
        idempotent = method in ("GET", "HEAD")
        waited = 0.0
        last_problem = ""
        for attempt in range(1, self.retry.attempts + 1):
            delay = min(self.retry.max_delay, self.retry.base_delay * 2 ** (attempt - 1))
            try:
                response = self._http.request(method, url, params=params, json=body,
                                              headers={"Authorization": f"Bearer {self._token}"})
            except httpx2.ConnectError as exc:
                last_problem = f"could not connect ({type(exc).__name__})"
            except httpx2.TimeoutException as exc:
                if not idempotent and not isinstance(exc, httpx2.ConnectTimeout):
                    raise GitHubError(f"{label}: timed out waiting for an answer; not retried because the "
                                      "request may have been acted on") from None
                last_problem = f"timed out ({type(exc).__name__})"
            except httpx2.TransportError as exc:
                if not idempotent:
                    raise GitHubError(f"{label}: connection failed mid-request ({type(exc).__name__}); "
                                      "not retried because the request may have been acted on") from None
                last_problem = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if status < 400:
                    return response
                message = _github_message(response)
                rate_limited = _is_rate_limited(response)
                retryable = rate_limited or status == 503 or (idempotent and status in (500, 502, 504))
                if not retryable:
                    raise GitHubError(f"{label}: HTTP {status}: {message or response.reason_phrase}",
                                      status=status)
                last_problem = f"HTTP {status}" + (" (rate limited)" if rate_limited else "") + \
                    (f": {message}" if message else "")
                asked = _retry_after(response, self._clock())
                if asked is not None:
                    if waited + asked > self.retry.max_total_wait:
                        raise GitHubError(f"{label}: {last_problem}; GitHub asks to wait {asked:.0f}s, more "
                                          f"than the {self.retry.max_total_wait:.0f}s allowed", status=status)
                    delay = asked
            if attempt == self.retry.attempts or waited + delay > self.retry.max_total_wait:
                break
            self._sleep(delay)
            waited += delay
        raise GitHubError(f"{label}: {last_problem} (gave up after {attempt} attempt(s))")


def client_from_env(repository: str, token: str, **kwargs: Any) -> GitHubClient:
    """A client for `repository` at GITHUB_API_URL (as GitHub Actions sets it) or api.github.com."""
    return GitHubClient(repository, token, api_url=os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL, **kwargs)
