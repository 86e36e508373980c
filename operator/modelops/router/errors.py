"""Error bodies in each client API's own shape. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from modelops.router.streams import dumps

ClientApi = Literal["openai", "ollama", "tgi", "router"]

OPENAI_ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
}
TGI_ERROR_TYPES: Mapping[int, str] = {
    400: "validation",
    401: "authentication",
    403: "authentication",
    404: "not_found",
    504: "timeout",
}


def error_object(api: ClientApi, status: int, message: str) -> dict[str, object]:
    if api == "openai":
        return {
            "error": {
                "message": message,
                "type": OPENAI_ERROR_TYPES.get(status, "api_error"),
                "param": None,
                "code": status,
            }
        }
    if api == "tgi":
        return {"error": message, "error_type": TGI_ERROR_TYPES.get(status, "generation")}
    return {"error": message}


def error_body(api: ClientApi, status: int, message: str) -> bytes:
    return dumps(error_object(api, status, message))


class ClientError(Exception):
    """Raised anywhere in request handling; answered as `status` in the client's shape."""

    def __init__(
        self, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers  # extra response headers, e.g. Retry-After on a 503


class ClientGone(Exception):
    """The client disconnected before we answered."""
