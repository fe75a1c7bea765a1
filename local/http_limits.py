"""The local server's HTTP protocol: uvicorn's httptools protocol that refuses a request head (request line and
headers) over MAX_HEAD_BYTES as its bytes arrive, with a 431, before it is parsed or held whole.

Deployed, API Gateway refuses more than 10,240 bytes of request line and header values ("Total combined size of
request line and header values", Amazon API Gateway developer guide, quotas for configuring and running a REST
API) before the router sees the request; uvicorn's httptools protocol has no such limit (a 20 MB header was read
in full). Local mode allows 16 KiB of head, names and separators included, so what passes API Gateway passes here.
Bodies are bounded by the app itself (router.http.app.read_body), by their Content-Length or as they arrive.
"""

from __future__ import annotations

import json
import uuid

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 16 * 1024


def head_too_large_response(limit: int = MAX_HEAD_BYTES) -> bytes:
    """The whole 431 response, in the router's error shape, with a request id of its own (no app saw it)."""
    request_id = uuid.uuid4().hex
    body = json.dumps(
        {
            "error": {
                "message": f"the request line and headers are larger than {limit} bytes",
                "type": "invalid_request_error",
                "code": "headers_too_large",
                "param": None,
            },
            "request_id": request_id,
        },
        separators=(",", ":"),
    ).encode()
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        f"x-request-id: {request_id}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


class BoundedHeadProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that counts the bytes of each request's head as they arrive and answers 431 (closing the
    connection) once they pass MAX_HEAD_BYTES."""

    max_head_bytes = MAX_HEAD_BYTES
    _in_head = True
    _head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            end = data.find(b"\r\n\r\n")  # where the head ends, if it ends in this chunk (the body may follow)
            head = self._head_bytes + (end + 4 if end >= 0 else len(data))
            if head > self.max_head_bytes:
                self.transport.write(head_too_large_response(self.max_head_bytes))
                self.transport.close()
                return
            self._head_bytes = head
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0  # a kept-alive connection's next request starts its head
