"""Request ids, the access log and the HTTP metrics, as one plain ASGI middleware around the app
(the outermost, so its latency is the whole request's): every response carries ``X-Request-ID``
(the client's own when it sent a well-formed one, else a new random id), the handlers read it and
the request's start time from ``request.state``, each request's method, path, status and
seconds go to ``observe`` (monitoring.HttpMetrics), and with the access log on each request ends
with one JSON line on stderr (stdout may be the prediction log).
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]
HEADER = b"x-request-id"
# What a client's id may be (letters, digits and the punctuation of UUIDs, trace ids and
# base64); anything else, or a longer one, is replaced: it is logged and echoed as is.
WELL_FORMED = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


def request_id_of(scope: Message) -> str:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            sent = value.decode("latin-1")
            return sent if WELL_FORMED.fullmatch(sent) else uuid.uuid4().hex
    return uuid.uuid4().hex


class RequestContext:
    def __init__(
        self,
        app: ASGIApp,
        observe: Callable[[str, str, int, float], None],
        access_log: bool = False,
    ) -> None:
        self.app = app
        self.observe = observe
        self.access_log = access_log

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        scope.setdefault("state", {}).update(request_id=request_id, started=started)
        status = 500  # unless a response starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self.observe(scope["method"], scope["path"], status, seconds)
            if self.access_log:
                self.write(scope, status, seconds * 1000, request_id)

    @staticmethod
    def write(scope: Message, status: int, latency_ms: float, request_id: str) -> None:
        line = {
            "timestamp": datetime.now(UTC).isoformat(),
            "request_id": request_id,
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "latency_ms": round(latency_ms, 3),
        }
        sys.stderr.write(json.dumps(line) + "\n")
