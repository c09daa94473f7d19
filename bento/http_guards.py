"""ASGI middleware around the valuation endpoints: the API key, request limits, and error
statuses a client can act on.

BentoML answers every pydantic validation error with HTTP 400, malformed JSON included, and
reads any body size in any media type it knows (multipart, form, pickle between services).
The contract here: 401 without the key (when one is set), 413 above the body limit (for one
listing, the listing limit the scorer applies too), 415 for a body that is not JSON, 400 for
malformed JSON (NaN and Infinity literals included, which pydantic's parser accepts), 422
naming each bad field.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable

from autovalue.schema import LISTING_ENVELOPE_BYTES, too_large
from autovalue.service_paths import READY_PATH
from autovalue.strict_json import non_finite_literal

# The probes, and the pages a browser opens (it sends no key): nothing secret is on them.
OPEN_PATHS = frozenset({"/healthz", "/livez", READY_PATH, "/", "/docs", "/docs.json"})
OPEN_PREFIXES = ("/docs/static/",)
JSON_TYPES = frozenset({"", "application/json"})


async def _send_json(send, status: int, body: dict, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()), *headers]})
    await send({"type": "http.response.body", "body": data})


class ApiKeyMiddleware:
    """Every path but the health probes and the pages needs `X-API-Key: <key>` or `Authorization: Bearer <key>`
    (what bentoml.SyncHTTPClient(url, token=...) sends) when a key is configured."""

    def __init__(self, app, api_key: str | None):
        self.app = app
        self.api_key = api_key.encode() if api_key else None

    def _given(self, headers) -> bytes:
        for name, value in headers:
            if name == b"x-api-key":
                return value
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                return value[7:]
        return b""

    async def __call__(self, scope, receive, send):
        if (self.api_key is None or scope["type"] != "http" or scope["path"] in OPEN_PATHS
                or scope["path"].startswith(OPEN_PREFIXES)
                or hmac.compare_digest(self._given(scope["headers"]), self.api_key)):
            return await self.app(scope, receive, send)
        await _send_json(send, 401, {"error": "unauthorized", "message": "missing or wrong API key"},
                         [(b"www-authenticate", b"ApiKey")])


def body_limits(single_paths: Iterable[str], batch_paths: Iterable[str], listing_max_bytes: int,
                max_body_bytes: int) -> dict[str, tuple[int, str]]:
    """Per path: the body limit and the words of its 413. One listing's body gets the listing
    limit (plus its {"listing": ...} wrapper), in the words the scorer's dead letters use."""
    limits = {path: (listing_max_bytes + LISTING_ENVELOPE_BYTES, too_large(listing_max_bytes))
              for path in single_paths}
    limits.update({path: (max_body_bytes, too_large(max_body_bytes, "a request body")) for path in batch_paths})
    return limits


class RequestGuardMiddleware:
    """For POSTs to the API paths: limit and type-check the body, then turn BentoML's validation
    400s into 422s that name each bad field (malformed JSON stays 400)."""

    def __init__(self, app, limits: dict[str, tuple[int, str]]):
        self.app = app
        self.limits = limits  # path -> (max body bytes, why a larger one is refused)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.limits:
            return await self.app(scope, receive, send)
        max_body_bytes, refusal = self.limits[scope["path"]]
        too_large_body = {"error": "request too large", "message": refusal}
        headers = dict(scope["headers"])
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        if media_type not in JSON_TYPES:
            return await _send_json(send, 415, {"error": "unsupported media type",
                                                "message": "send the body as application/json"})
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_body_bytes):
            return await _send_json(send, 413, too_large_body)
        # Read the body here (BentoML reads it whole anyway) so a chunked body is limited too.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_body_bytes:
                return await _send_json(send, 413, too_large_body)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        literal = non_finite_literal(body)  # a byte scan; parses only a body that may hold one
        if literal is not None:
            return await _send_json(send, 400, {"error": "malformed JSON", "message": literal})
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, _ValidationStatus(send))


class _ValidationStatus:
    """A `send` that holds back a 400 response and rewrites it if it is a validation error."""

    def __init__(self, send):
        self.send = send
        self.held: dict | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message):
        if message["type"] == "http.response.start":
            if message["status"] != 400:
                return await self.send(message)
            self.held = message
            return None
        if self.held is None or message["type"] != "http.response.body":
            return await self.send(message)
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return None
        status, body = rewrite_validation_error(b"".join(self.chunks))
        headers = [(k, v) for k, v in self.held["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.send({**self.held, "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})


def rewrite_validation_error(raw: bytes) -> tuple[int, bytes]:
    """BentoML's 400 body {"error", "detail": [pydantic errors]} -> (status, our body)."""
    try:
        errors = json.loads(raw)["detail"]
        known = isinstance(errors, list) and all(isinstance(e, dict) and "loc" in e and "msg" in e for e in errors)
    except Exception:
        known = False
    if not known:  # (an if, not an assert: `python -O` would skip an assert)
        return 400, raw  # some other 400: leave it as it is
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, json.dumps({"error": "malformed JSON", "message": errors[0]["msg"]}).encode()
    fields = [_field_error(e) for e in errors]
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return 422, json.dumps({"error": "invalid input", "message": message, "fields": fields}).encode()


def _field_error(error: dict) -> dict:
    # Every Listing rule raises on its own field, cross-field ones included: `loc` names it.
    field = ".".join(str(part) for part in error["loc"])
    return {"field": field or "body", "message": error["msg"], "type": error.get("type", "")}
