"""A loopback stand-in for the GitHub REST endpoints `fix-issue` uses. It keeps state and records requests.

    with GitHubStandin(token="t0ken", repository="acme/widgets") as gh:
        gh.add_issue(6, title="Fix add()", body="...")
        os.environ["GITHUB_API_URL"] = gh.base_url
        ...
        gh.requests     # [RecordedRequest(method, path, query, headers, body)]
        gh.pulls        # pull requests created, as dicts
        gh.comments[6]  # comments on issue 6

Endpoints: GET /repos/O/N, GET /repos/O/N/issues/K, GET+POST /repos/O/N/issues/K/comments (paginated),
GET+POST /repos/O/N/pulls, GET+PATCH /repos/O/N/pulls/K, GET /repos/O/N/pulls/K/comments (review comments,
with path, line and diff_hunk; paginated), POST /repos/O/N/pulls/K/comments/C/replies (only to a thread's
first comment, as GitHub), GET /repos/O/N/collaborators/U/permission (from `permissions`, login -> "admin" |
"maintain" | "write" | "read"; anyone else is "read", and a login mapped to None is unknown: 404), GET /user
and POST /graphql `viewer` (the token's account, `bot_login`; with `installation_token` GET /user answers
403 as it does for installation tokens). Pull requests are issues too, as on GitHub: their conversation is
/issues/K/comments. Any request without `Authorization: Bearer <token>` gets 401. `fail_next(...)` queues
canned error answers to exercise retries and failure paths.

With `app` set (a `StandinApp`), the GitHub App endpoints answer requests signed with the App's key (the JWT
is checked with its public key): GET /app, GET /repos/O/N/installation, POST
/app/installations/I/access_tokens, which hands out `token`.

Like GitHub, issues and comments carry `created_at`/`updated_at` (a stand-in clock, one minute per item
unless given), and with `Accept: application/vnd.github.full+json` also `body_html` and `body_text` when the
test gave them (GitHub's own rendering); without them the answer is what an older GitHub Enterprise gives.
`event_payload(...)` writes the file GitHub Actions points GITHUB_EVENT_PATH at.
"""

from __future__ import annotations

import copy
import json
import os
import re
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class _Failure:
    method: str
    path_pattern: str
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class GitHubStandin:
    token: str = "standin-token-0123456789"
    repository: str = "acme/widgets"
    default_branch: str = "main"
    page_size_cap: int = 100
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    permissions: dict[str, str | None] = field(default_factory=dict)
    # GitHub's clock: it starts now, as be-agent's commits are dated by the real clock
    clock: datetime = field(default_factory=lambda: datetime.now(UTC).replace(second=0, microsecond=0))
    review_comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    bot_login: str = "be-agent-bot"  # the account the token acts as
    installation_token: bool = False  # GET /user refuses, as for GitHub Actions' and Apps' tokens
    app: StandinApp | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._next_id = 1000
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- set-up ----------------------------------------------------------------------------------------

    def add_issue(
        self,
        number: int,
        *,
        title: str,
        body: str = "",
        state: str = "open",
        labels: tuple[str, ...] = (),
        user: str = "reporter",
        is_pull: bool = False,
        body_html: str | None = None,
    ) -> dict[str, Any]:
        now = self.tick()
        issue: dict[str, Any] = {
            "number": number,
            "title": title,
            "body": body,
            "state": state,
            "labels": [{"name": n} for n in labels],
            "user": {"login": user},
            "html_url": f"https://github.example/{self.repository}/issues/{number}",
            "created_at": now,
            "updated_at": now,
        }
        if body_html is not None:
            issue["body_html"] = body_html
        if is_pull:
            issue["pull_request"] = {"url": f"{self.base_url}/repos/{self.repository}/pulls/{number}"}
        self.issues[number] = issue
        self.comments.setdefault(number, [])
        return issue

    def add_comment(
        self,
        number: int,
        body: str,
        *,
        user: str = "commenter",
        association: str | None = None,
        body_html: str | None = None,
    ) -> dict[str, Any]:
        comment = self._comment(number, body, user)
        if association is not None:
            comment["author_association"] = association
        if body_html is not None:
            comment["body_html"] = body_html
        self.comments.setdefault(number, []).append(comment)
        return comment

    def tick(self) -> str:
        """The stand-in clock's next minute, as GitHub writes times."""
        self.clock += timedelta(minutes=1)
        return self.clock.strftime("%Y-%m-%dT%H:%M:%SZ")

    def edit(self, item: dict[str, Any], **fields: Any) -> None:
        """Change an issue or a comment now (its `updated_at` moves on); a new body drops GitHub's old
        rendering of it."""
        item.update(fields, updated_at=self.tick())
        if "body" in fields and "body_html" not in fields:
            item.pop("body_html", None)

    def event_payload(
        self, path: Path, number: int, *, action: str = "labeled", sender: str = "maintainer"
    ) -> Path:
        """The `issues` event payload GitHub Actions would write for issue `number` now, at `path`."""
        issue = self.issues[number]
        issue["updated_at"] = self.tick()  # labelling or assigning updates the issue
        payload = {"action": action, "issue": copy.deepcopy(issue), "sender": {"login": sender}}
        payload["issue"].pop("body_html", None)  # payloads carry the Markdown only
        path.write_text(json.dumps(payload))
        return path

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        message: str = "stand-in failure",
        times: int = 1,
    ) -> None:
        """The next `times` requests matching method and the `path_pattern` regex get this error answer."""
        for _ in range(times):
            self._failures.append(_Failure(method, path_pattern, status, headers or {}, {"message": message}))

    def add_pull(
        self,
        branch: str,
        *,
        base: str = "main",
        title: str = "A change",
        body: str = "",
        user: str | None = None,
        head_repository: str | None = None,
        state: str = "open",
        draft: bool = True,
    ) -> dict[str, Any]:
        """A pull request from `branch` (of `head_repository`, default this repository: another one is a fork)."""
        status, pull, _ = self._create_pull(
            {"title": title, "head": branch, "base": base, "body": body, "draft": draft},
            user=user or self.bot_login,
            head_repository=head_repository,
        )
        assert status == 201, pull
        pull["state"] = state
        return pull

    def add_review_comment(
        self,
        pull: int,
        body: str,
        *,
        user: str = "reviewer",
        path: str = "ledger/accounts.py",
        line: int | None = 10,
        diff_hunk: str = "@@ -1,3 +1,3 @@\n context\n-old\n+new",
        in_reply_to: int | None = None,
        association: str | None = None,
        body_html: str | None = None,
    ) -> dict[str, Any]:
        comment = self._comment(pull, body, user)
        comment.update(path=path, line=line, diff_hunk=diff_hunk, pull_request_review_id=comment["id"] * 10)
        comment["html_url"] = (
            f"https://github.example/{self.repository}/pull/{pull}#discussion_r{comment['id']}"
        )
        if in_reply_to is not None:
            comment["in_reply_to_id"] = in_reply_to
        if association is not None:
            comment["author_association"] = association
        if body_html is not None:
            comment["body_html"] = body_html
        self.review_comments.setdefault(pull, []).append(comment)
        return comment

    # --- queries for tests -----------------------------------------------------------------------------

    def requests_to(self, method: str, path_pattern: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and re.fullmatch(path_pattern, r.path)]

    def open_pulls(self) -> list[dict[str, Any]]:
        return [p for p in self.pulls if p["state"] == "open"]

    # --- server ----------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            return "http://127.0.0.1:0"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> GitHubStandin:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                standin._handle(self)

            def do_POST(self) -> None:
                standin._handle(self)

            def do_PATCH(self) -> None:
                standin._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- request handling ------------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    h.command, split.path, query, {k.lower(): v for k, v in h.headers.items()}, body
                )
            )
            status, payload, headers = self._route(
                h.command, split.path, query, body, h.headers.get("Authorization", "")
            )
            if "full+json" not in (h.headers.get("Accept") or ""):
                payload = _without_rendering(payload)
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _route(
        self, method: str, path: str, query: dict[str, str], body: Any, auth: str
    ) -> tuple[int, Any, dict[str, str]]:
        for failure in self._failures:
            if failure.method == method and re.fullmatch(failure.path_pattern, path):
                self._failures.remove(failure)
                return failure.status, failure.body, failure.headers
        prefix = f"/repos/{self.repository}"
        if self.app is not None and (path.startswith("/app") or path == f"{prefix}/installation"):
            return self.app.route(self, method, path, auth)
        if auth != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}, {}
        if method == "GET" and path == "/user":
            if self.installation_token:
                return 403, {"message": "Resource not accessible by integration"}, {}
            return 200, {"login": self.bot_login}, {}
        if method == "POST" and path == "/graphql":
            if "viewer" not in str((body or {}).get("query")):
                return 400, {"message": "the stand-in answers only the viewer query"}, {}
            return 200, {"data": {"viewer": {"login": self.bot_login}}}, {}
        if not path.startswith(prefix):
            return 404, {"message": "Not Found"}, {}
        rest = path[len(prefix) :]
        if method == "GET" and rest == "":
            return 200, {"full_name": self.repository, "default_branch": self.default_branch}, {}
        m = re.fullmatch(r"/collaborators/([^/]+)/permission", rest)
        if m and method == "GET":
            login = m.group(1)
            level = self.permissions.get(login, "read")
            if level is None:
                return 404, {"message": "Not Found"}, {}
            legacy = {"maintain": "write", "triage": "read"}.get(level, level)
            return 200, {"permission": legacy, "role_name": level, "user": {"login": login}}, {}
        m = re.fullmatch(r"/issues/(\d+)", rest)
        if m and method == "GET":
            issue = self.issues.get(int(m.group(1)))
            return (200, issue, {}) if issue else (404, {"message": "Not Found"}, {})
        m = re.fullmatch(r"/issues/(\d+)/comments", rest)
        if m:
            number = int(m.group(1))
            if number not in self.issues:
                return 404, {"message": "Not Found"}, {}
            if method == "GET":
                return self._page(path, query, self.comments.get(number, []))
            if method == "POST":
                comment = self._comment(number, body["body"], self.bot_login)
                self.comments[number].append(comment)
                return 201, comment, {}
        if rest == "/pulls" and method == "GET":
            matching = [
                p
                for p in self.pulls
                if query.get("state", "open") in ("all", p["state"])
                and ("head" not in query or query["head"] == p["head"]["label"])
            ]
            return self._page(path, query, matching)
        if rest == "/pulls" and method == "POST":
            return self._create_pull(body)
        m = re.fullmatch(r"/pulls/(\d+)", rest)
        if m and method == "GET":
            found = [p for p in self.pulls if p["number"] == int(m.group(1))]
            return (200, found[0], {}) if found else (404, {"message": "Not Found"}, {})
        m = re.fullmatch(r"/pulls/(\d+)/comments", rest)
        if m and method == "GET":
            if not any(p["number"] == int(m.group(1)) for p in self.pulls):
                return 404, {"message": "Not Found"}, {}
            return self._page(path, query, self.review_comments.get(int(m.group(1)), []))
        m = re.fullmatch(r"/pulls/(\d+)/comments/(\d+)/replies", rest)
        if m and method == "POST":
            number, to = int(m.group(1)), int(m.group(2))
            thread = [c for c in self.review_comments.get(number, []) if c["id"] == to]
            if not thread:
                return 404, {"message": "Not Found"}, {}
            if "in_reply_to_id" in thread[0]:
                return (
                    422,
                    {"message": "Validation Failed", "errors": [{"message": "replies to replies"}]},
                    {},
                )
            reply = self.add_review_comment(
                number,
                body["body"],
                user=self.bot_login,
                path=thread[0]["path"],
                line=thread[0]["line"],
                diff_hunk=thread[0]["diff_hunk"],
                in_reply_to=to,
            )
            return 201, reply, {}
        m = re.fullmatch(r"/pulls/(\d+)", rest)
        if m and method == "PATCH":
            for pull in self.pulls:
                if pull["number"] == int(m.group(1)):
                    pull.update({k: v for k, v in body.items() if k in ("title", "body", "state", "base")})
                    return 200, pull, {}
            return 404, {"message": "Not Found"}, {}
        return 404, {"message": "Not Found"}, {}

    def _create_pull(
        self, body: dict[str, Any], *, user: str | None = None, head_repository: str | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        head_repository = head_repository or self.repository
        owner = head_repository.split("/")[0]
        label = f"{owner}:{body['head']}"
        if any(p["head"]["label"] == label and p["state"] == "open" for p in self.pulls):
            return (
                422,
                {
                    "message": "Validation Failed",
                    "errors": [{"message": f"A pull request already exists for {label}."}],
                },
                {},
            )
        number = max([*self.issues, *(p["number"] for p in self.pulls), 0]) + 1
        pull = {
            "number": number,
            "state": "open",
            "title": body["title"],
            "body": body["body"],
            "draft": bool(body.get("draft")),
            "head": {"ref": body["head"], "label": label, "repo": {"full_name": head_repository}},
            "base": {"ref": body["base"], "repo": {"full_name": self.repository}},
            "user": {"login": user or self.bot_login},
            "html_url": f"https://github.example/{self.repository}/pull/{number}",
        }
        self.pulls.append(pull)
        # a pull request is an issue too: its conversation is the issue's comments
        self.add_issue(
            number, title=pull["title"], body=pull["body"], user=pull["user"]["login"], is_pull=True
        )
        return 201, pull, {}

    def _page(
        self, path: str, query: dict[str, str], items: list[dict[str, Any]]
    ) -> tuple[int, Any, dict[str, str]]:
        size = min(int(query.get("per_page", 30)), self.page_size_cap)
        page = int(query.get("page", 1))
        chunk = items[(page - 1) * size : page * size]
        headers: dict[str, str] = {}
        if page * size < len(items):  # like GitHub: `next` and `last` on every page but the last
            rest = {k: v for k, v in query.items() if k != "page"}

            def link(number: int, rel: str) -> str:
                qs = "&".join(f"{k}={v}" for k, v in {**rest, "page": str(number)}.items())
                return f'<{self.base_url}{path}?{qs}>; rel="{rel}"'

            headers["Link"] = f"{link(page + 1, 'next')}, {link(-(-len(items) // size), 'last')}"
        return 200, chunk, headers

    def _comment(self, number: int, body: str, user: str) -> dict[str, Any]:
        self._next_id += 1
        now = self.tick()
        return {
            "id": self._next_id,
            "body": body,
            "created_at": now,
            "updated_at": now,
            "user": {"login": user},
            "html_url": f"https://github.example/{self.repository}/issues/{number}#issuecomment-{self._next_id}",
        }


def _without_rendering(payload: Any) -> Any:
    """An answer as GitHub gives it without the `full` media type: no body_html or body_text."""
    if isinstance(payload, dict):
        return {k: v for k, v in payload.items() if k not in ("body_html", "body_text")}
    if isinstance(payload, list):
        return [_without_rendering(item) for item in payload]
    return payload


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (openssl), for serving https on loopback."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@dataclass
class StandinApp:
    """A GitHub App: its id, its bot's slug, its key pair (RSA, made with cryptography) and its installation
    on the stand-in's repository. `tokens_issued` counts the installation tokens handed out."""

    app_id: str = "424242"
    slug: str = "be-agent-app"
    installation_id: int = 77
    installed: bool = True
    tokens_issued: int = 0
    token_lifetime: timedelta = timedelta(hours=1)
    jwts_seen: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self.public_pem = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def route(self, gh: GitHubStandin, method: str, path: str, auth: str) -> tuple[int, Any, dict[str, str]]:
        import jwt

        try:
            claims = jwt.decode(auth.removeprefix("Bearer "), self.public_pem, algorithms=["RS256"])
        except jwt.PyJWTError as exc:
            return 401, {"message": f"A JSON web token could not be decoded ({type(exc).__name__})"}, {}
        self.jwts_seen.append(claims)
        if str(claims.get("iss")) != self.app_id or claims["exp"] - claims["iat"] > 600:
            return 401, {"message": "'Issuer' claim ('iss') must be an Integer"}, {}
        if method == "GET" and path == "/app":
            return 200, {"id": int(self.app_id), "slug": self.slug}, {}
        if method == "GET" and path == f"/repos/{gh.repository}/installation":
            return (
                (200, {"id": self.installation_id}, {})
                if self.installed
                else (404, {"message": "Not Found"}, {})
            )
        if method == "POST" and path == f"/app/installations/{self.installation_id}/access_tokens":
            self.tokens_issued += 1
            expires = datetime.now(UTC) + self.token_lifetime
            return 201, {"token": gh.token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}, {}
        return 404, {"message": "Not Found"}, {}


class GitHttpServer:
    """Git's smart HTTP protocol on loopback (`git http-backend` as CGI) for the bare repositories under
    `root`, answering 401 unless the request carries exactly one `Authorization` header equal to
    `authorization`. `seen` records every request's Authorization headers, to check what git sent."""

    def __init__(self, root: Path, authorization: str, certificate: tuple[Path, Path] | None = None):
        self.root = root
        self.authorization = authorization
        self.seen: list[list[str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._serve(self)

            def do_POST(self) -> None:
                server._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.scheme = "http"
        if certificate is not None:  # https: git trusts it through GIT_SSL_CAINFO
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(certificate[0]), str(certificate[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, repo_name: str) -> str:
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}/{repo_name}"

    def __enter__(self) -> GitHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        auth = h.headers.get_all("Authorization") or []
        self.seen.append(list(auth))
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        if auth != [self.authorization]:
            h.send_response(401)
            h.send_header("WWW-Authenticate", 'Basic realm="stand-in"')
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        split = urlsplit(h.path)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": "x-access-token",
            "REQUEST_METHOD": h.command,
            "PATH_INFO": split.path,
            "QUERY_STRING": split.query,
            "CONTENT_TYPE": h.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": h.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": h.headers.get("Git-Protocol", ""),
        }
        proc = subprocess.run(["git", "http-backend"], input=body, capture_output=True, env=env, timeout=60)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        h.send_response(status)
        for name, value in headers:
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)
