"""Error bodies in each client API's own shape. Pure.

OpenAI: `{"error": {"message", "type", "param", "code"}}` with `code` a string or null (the
spec's `Error` schema; vLLM's integer codes are not passed on). Ollama: `{"error": "..."}`.
TGI: `{"error", "error_type"}`, and validation failures are 422 as TGI answers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from modelops.router.streams import dumps

ClientApi = Literal["openai", "ollama", "tgi", "router"]

OPENAI_ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
}
# OpenAI's own codes for the statuses that have one (its SDKs and tools match on them).
OPENAI_ERROR_CODES: Mapping[int, str] = {
    401: "invalid_api_key",
    404: "model_not_found",
    405: "method_not_allowed",
    504: "timeout",
}
TGI_ERROR_TYPES: Mapping[int, str] = {
    400: "validation",
    401: "authentication",
    403: "authentication",
    404: "not_found",
    405: "method_not_allowed",
    413: "validation",
    422: "validation",
    429: "overloaded",
    504: "timeout",
}


def client_status(api: ClientApi, status: int) -> int:
    """TGI answers input validation errors with 422 where the others say 400."""
    return 422 if api == "tgi" and status == 400 else status


def error_object(
    api: ClientApi, status: int, message: str, param: str | None = None, code: str | None = None
) -> dict[str, object]:
    if api == "openai":
        return {
            "error": {
                "message": message,
                "type": OPENAI_ERROR_TYPES.get(status, "api_error"),
                "param": param,
                "code": code if code is not None else OPENAI_ERROR_CODES.get(status),
            }
        }
    if api == "tgi":
        return {"error": message, "error_type": TGI_ERROR_TYPES.get(status, "generation")}
    return {"error": message}


def error_body(
    api: ClientApi, status: int, message: str, param: str | None = None, code: str | None = None
) -> bytes:
    return dumps(error_object(api, status, message, param, code))


class ClientError(Exception):
    """Raised anywhere in request handling; answered as `status` in the client's shape.

    `param` names the offending request field (OpenAI's `error.param`), `code` is a machine
    readable reason such as `context_length_exceeded`; `headers` are extra response headers,
    e.g. Retry-After on a 503.
    """

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers


class ClientGone(Exception):
    """The client disconnected before we answered."""
