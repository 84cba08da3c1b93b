"""Stand-ins for Claude on Amazon Bedrock and on Google Vertex AI, on loopback, for the SDK's own clients.

They serve the same scripts as `tests.standin.StandinServer` (its script entries, prompt-cache accounting
and request validation), on the request shapes `AnthropicBedrock` and `AnthropicVertex` send:

Bedrock (`ANTHROPIC_BEDROCK_BASE_URL=srv.base_url`):
- `POST /model/{model id}/invoke-with-response-stream` (and `/invoke`); the body is a Messages request
  without `model` and `stream`, with an `anthropic_version`;
- signed with AWS Signature Version 4 for the service `bedrock`: the stand-in recomputes the signature
  from the credentials it was given and answers 403 when it differs (as Bedrock does);
- the stream is AWS event-stream framing (`application/vnd.amazon.eventstream`): each Messages event is the
  base64 `bytes` of a `chunk` frame; a fault mid-stream is an `exception` frame (`throttlingException`);
- errors are `{"message": ...}` with the `x-amzn-ErrorType` header.

Vertex AI (`ANTHROPIC_VERTEX_BASE_URL=srv.base_url + "/v1"`):
- `POST /v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:streamRawPredict`
  (and `:rawPredict`); the body has no `model`, and an `anthropic_version`; the stream is the Messages
  API's SSE;
- `Authorization: Bearer <token>` with a token this stand-in issued at `POST /token`, the OAuth 2.0 token
  endpoint of a service account (the JWT bearer grant, the assertion signed with the account's key):
  write `srv.service_account_file(path)` and point `GOOGLE_APPLICATION_CREDENTIALS` at it.

Only the standard library is used, and `cryptography` (google-auth's own dependency) for the service
account's key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import urllib.parse
import zlib
from typing import Any

from tests.standin import (
    Fault,
    RecordedRequest,
    Reply,
    StandinServer,
    _Handler,
    estimate_tokens,
    message_json,
    prompt_segments,
    stream_events,
    validate,
)

# The body names the Messages API version: the SDK sends its own (`anthropic._constants`), the clouds'
# documentation shows `bedrock-2023-05-31` and `vertex-2023-10-16`; any of these is accepted.
_API_VERSION = re.compile(r"(bedrock-|vertex-)?\d{4}-\d{2}-\d{2}")


def _has_version(body: Any) -> bool:
    return isinstance(body, dict) and bool(_API_VERSION.fullmatch(str(body.get("anthropic_version", ""))))


AMAZON_ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    429: "RESOURCE_EXHAUSTED",
}


# --- AWS Signature Version 4, as botocore computes it -------------------------------------------------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_problem(
    request: RecordedRequest, *, access_key: str, secret_key: str, session_token: str | None, region: str
) -> tuple[str, str] | None:
    """(error type, message) when the request is not signed with these credentials for `bedrock` in
    `region`, else None."""
    headers = request.headers
    match = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
        r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})",
        headers.get("authorization", ""),
    )
    if match is None:
        return "MissingAuthenticationTokenException", "Missing Authentication Token"
    key_id, day, scope_region, service, signed, signature = match.groups()
    if key_id != access_key:
        return "UnrecognizedClientException", "The security token included in the request is invalid."
    if session_token is not None and headers.get("x-amz-security-token") != session_token:
        return "UnrecognizedClientException", "The security token included in the request is invalid."
    if scope_region != region or service != "bedrock":
        return "InvalidSignatureException", f"Credential should be scoped to {region}/bedrock"
    amz_date = headers.get("x-amz-date", "")
    names = signed.split(";")
    if not amz_date.startswith(day) or "host" not in names or any(n not in headers for n in names):
        return "InvalidSignatureException", "The request signature is missing signed headers."
    path, _, query = request.path.partition("?")
    canonical_query = "&".join(
        sorted(
            f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
            for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)
        )
    )
    canonical_headers = "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names)
    canonical = "\n".join(
        [
            request.method,
            urllib.parse.quote(path, safe="/~"),
            canonical_query,
            canonical_headers,
            signed,
            hashlib.sha256(request.raw).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/bedrock/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + secret_key).encode(), day)
    for part in (region, "bedrock", "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return (
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        )
    return None


# --- AWS event-stream framing -------------------------------------------------------------------------------


def _string_header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return bytes([len(raw_name)]) + raw_name + b"\x07" + len(raw_value).to_bytes(2, "big") + raw_value


def event_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total and header lengths, CRC), headers, payload, CRC."""
    encoded = b"".join(_string_header(k, v) for k, v in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = total.to_bytes(4, "big") + len(encoded).to_bytes(4, "big")
    message = prelude + zlib.crc32(prelude).to_bytes(4, "big") + encoded + payload
    return message + zlib.crc32(message).to_bytes(4, "big")


def chunk_frame(event: dict[str, Any]) -> bytes:
    payload = json.dumps({"bytes": base64.b64encode(json.dumps(event).encode()).decode(), "p": "abcd"})
    headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    return event_frame(headers, payload.encode())


def exception_frame(kind: str, message: str) -> bytes:
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return event_frame(headers, json.dumps({"message": message}).encode())


# --- Bedrock ------------------------------------------------------------------------------------------------

_BEDROCK_PATH = re.compile(r"/model/([^/]+)/(invoke|invoke-with-response-stream)")


class _BedrockHandler(_Handler):
    standin: BedrockStandin

    def do_POST(self) -> None:
        request = self._read_and_record()
        srv = self.standin
        match = _BEDROCK_PATH.fullmatch(request.path.split("?", 1)[0])
        if match is None:
            return self._amazon_error(request, 404, "UnknownOperationException", "Unknown operation")
        problem = sigv4_problem(
            request,
            access_key=srv.access_key,
            secret_key=srv.secret_key,
            session_token=srv.session_token,
            region=srv.region,
        )
        if problem is not None:
            return self._amazon_error(request, 403, *problem)
        body = request.body
        if not isinstance(body, dict) or not _has_version(body):
            return self._amazon_error(request, 400, "ValidationException", "anthropic_version is required")
        if "model" in body or "stream" in body:
            return self._amazon_error(
                request, 400, "ValidationException", "extraneous key [model] is not permitted"
            )
        model = urllib.parse.unquote(match.group(1))
        request.model = model  # type: ignore[attr-defined]
        invalid = validate({**body, "model": model}, context_window=srv.context_window)
        if invalid is not None:
            return self._amazon_error(request, 400, "ValidationException", invalid)
        entry = srv._next_entry(request)
        streaming = match.group(2) == "invoke-with-response-stream"
        if isinstance(entry, Fault):
            return self._bedrock_fault(request, entry, model)
        usage = self._usage(request, entry)
        request.status, request.outcome = 200, "reply"
        if not streaming:
            return self._send_json(200, message_json(entry, model, usage), {"x-amzn-requestid": "standin"})
        self._start_eventstream()
        for _name, data in stream_events(entry, model, usage):
            self._write_chunk(chunk_frame(data))
        self._end_stream()

    def _amazon_error(self, request: RecordedRequest, status: int, kind: str, message: str) -> None:
        request.status, request.outcome = status, "rejected"
        headers = {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
        self._send_json(status, {"message": message}, headers)

    def _bedrock_fault(self, request: RecordedRequest, fault: Fault, model: str) -> None:
        request.outcome = fault.kind
        if fault.kind == "status":
            request.status = fault.status
            kind = fault.error_type or AMAZON_ERROR_TYPES.get(fault.status, "ServiceUnavailableException")
            headers = {"x-amzn-ErrorType": kind}
            if fault.retry_after is not None:
                headers["retry-after"] = str(fault.retry_after)
            return self._send_json(fault.status, {"message": fault.message or kind}, headers)
        turn = Reply(content=[{"type": "text", "text": "This turn is interrupted by a fault."}])
        events = stream_events(turn, model, self._usage(request, turn))
        request.status = 200
        self._start_eventstream()
        for _name, data in events[: fault.after_events]:
            self._write_chunk(chunk_frame(data))
        if fault.kind == "drop":
            return self._close_abruptly()
        if fault.kind == "stream_error":
            self._write_chunk(
                exception_frame(fault.error_type or "throttlingException", fault.message or "slow down")
            )
        self._end_stream()

    def _start_eventstream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/vnd.amazon.eventstream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-amzn-requestid", "standin")
        self.end_headers()


class BedrockStandin(StandinServer):
    """Claude on Bedrock, for these AWS credentials and region."""

    handler_class = _BedrockHandler

    def __init__(
        self,
        script: Any = (),
        *,
        access_key: str,
        secret_key: str,
        session_token: str | None = None,
        region: str = "us-east-1",
        **options: Any,
    ):
        super().__init__(script, **options)
        self.access_key, self.secret_key, self.session_token = access_key, secret_key, session_token
        self.region = region

    @property
    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if _BEDROCK_PATH.fullmatch(r.path.split("?", 1)[0])]


def bedrock_throttled(*, count: int = 1) -> Fault:
    """Bedrock's 429: a ThrottlingException."""
    return Fault(
        "status", status=429, error_type="ThrottlingException", message="Too many requests", count=count
    )


def bedrock_stream_exception(kind: str = "throttlingException", *, after_events: int = 2) -> Fault:
    """A `chunk` stream that breaks off with an exception frame."""
    return Fault(
        "stream_error",
        status=200,
        error_type=kind,
        message="Too many tokens, please wait.",
        after_events=after_events,
    )


# --- Vertex AI ----------------------------------------------------------------------------------------------

_VERTEX_PATH = re.compile(
    r"/v1/projects/([^/]+)/locations/([^/]+)/publishers/anthropic/models/([^/:]+):(streamRawPredict|rawPredict)"
)


class _VertexHandler(_Handler):
    standin: VertexStandin

    def do_POST(self) -> None:
        request = self._read_and_record()
        srv = self.standin
        path = request.path.split("?", 1)[0]
        if path == "/token":
            return self._token(request)
        match = _VERTEX_PATH.fullmatch(path)
        if match is None:
            return self._google_error(request, 404, "Not found")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in srv.issued:
            return self._google_error(request, 401, "Request had invalid authentication credentials.")
        project, region, model = match.group(1), match.group(2), urllib.parse.unquote(match.group(3))
        if (project, region) != (srv.project, srv.region):
            return self._google_error(request, 403, f"Permission denied on {project}/{region}")
        body = request.body
        if not isinstance(body, dict) or not _has_version(body) or "model" in body:
            return self._google_error(request, 400, "anthropic_version is required; model is not allowed")
        request.model = model  # type: ignore[attr-defined]
        invalid = validate({**body, "model": model}, context_window=srv.context_window)
        if invalid is not None:
            return self._google_error(request, 400, invalid)
        entry = srv._next_entry(request)
        if isinstance(entry, Fault):
            return self._fault(request, entry)
        self._reply(request, entry)

    def _token(self, request: RecordedRequest) -> None:
        """OAuth 2.0's JWT bearer grant (RFC 7523), as Google's token endpoint answers a service account:
        the assertion must be signed with the account's key and name the account, Google's token service
        (its audience, wherever the file's `token_uri` points) and the cloud-platform scope."""
        srv = self.standin
        form = dict(urllib.parse.parse_qsl(request.raw.decode()))
        claims = (
            srv.verified_claims(form.get("assertion", "")) if form.get("grant_type") == JWT_GRANT else None
        )
        if (
            claims is None
            or claims.get("iss") != srv.client_email
            or claims.get("aud") != GOOGLE_TOKEN_AUDIENCE
            or CLOUD_PLATFORM not in str(claims.get("scope", "")).split()
        ):
            request.status, request.outcome = 400, "rejected"
            return self._send_json(
                400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            )
        token = "ya29.standin-" + secrets.token_urlsafe(24)
        srv.issued.append(token)
        request.status, request.outcome = 200, "token"
        self._send_json(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _google_error(self, request: RecordedRequest, status: int, message: str) -> None:
        request.status, request.outcome = status, "rejected"
        status_name = GOOGLE_STATUSES.get(status, "UNKNOWN")
        self._send_json(status, {"error": {"code": status, "message": message, "status": status_name}})


class VertexStandin(StandinServer):
    """Claude on Vertex AI in one project and region, with the token endpoint of its service account."""

    handler_class = _VertexHandler

    def __init__(
        self,
        script: Any = (),
        *,
        project: str = "standin-project",
        region: str = "us-east5",
        client_email: str = "be-agent@standin-project.iam.gserviceaccount.com",
        **options: Any,
    ):
        super().__init__(script, **options)
        self.project, self.region, self.client_email = project, region, client_email
        self.issued: list[str] = []
        self._public_key: Any = None

    @property
    def api_base_url(self) -> str:
        return f"{self.base_url}/v1"

    def service_account_file(self, path: Any, *, client_email: str | None = None) -> tuple[Any, str]:
        """Write a service account's key file (what `gcloud iam service-accounts keys create` writes) whose
        token endpoint is this stand-in; returns (the path, the private key as written)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public_key = key.public_key()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": self.project,
                    "private_key_id": secrets.token_hex(20),
                    "private_key": pem,
                    "client_email": client_email or self.client_email,
                    "client_id": "123456789012345678901",
                    "token_uri": f"{self.base_url}/token",
                }
            )
        )
        return path, pem

    def verified_claims(self, assertion: str) -> dict[str, Any] | None:
        """The claims of a JWT signed (RS256) with the key `service_account_file` made, else None."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        parts = assertion.split(".")
        if len(parts) != 3 or self._public_key is None:
            return None

        def decoded(part: str) -> bytes:
            return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

        try:
            self._public_key.verify(
                decoded(parts[2]), f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
            claims = json.loads(decoded(parts[1]))
        except (InvalidSignature, ValueError):
            return None
        return claims if isinstance(claims, dict) else None

    @property
    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if _VERTEX_PATH.fullmatch(r.path.split("?", 1)[0])]

    @property
    def token_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/token"]


__all__ = [
    "BedrockStandin",
    "VertexStandin",
    "bedrock_stream_exception",
    "bedrock_throttled",
    "estimate_tokens",
    "prompt_segments",
]
