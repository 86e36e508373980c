"""From a parsed client request to what the forwarder serves: the canonical request, the
candidate models (task, fallbacks, API key, context window) and the request class. Pure.

Every refusal is a ClientError in the client's terms: 400 naming the field, 404 for an unknown
model or task, 403 for a model the key may not use, 400 with the sizes when no candidate can
hold the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelops.api.router_config import RouterConfig
from modelops.router.adapters import Operation, client_to_canonical
from modelops.router.auth import KeyRing
from modelops.router.context_fit import ContextTooLong, fitting_candidates, request_need
from modelops.router.errors import ClientError
from modelops.router.proxy import InferenceRequest
from modelops.router.routing import RoutingError, model_chain, parse_target, request_class
from modelops.router.translate_common import TranslationError


def inference_request(
    op: Operation,
    parsed: Mapping[str, Any],
    body: bytes,
    headers: Mapping[str, str],
    config: RouterConfig,
    keys: KeyRing,
) -> InferenceRequest:
    authorization = headers.get("authorization")
    try:
        canonical = client_to_canonical(op, parsed)
    except TranslationError as error:
        raise ClientError(400, str(error), error.param) from None
    if not canonical.get("model") and headers.get("x-model"):
        canonical["model"] = headers["x-model"]
    try:
        target = parse_target(canonical.get("model"), headers.get("x-task"), config.default_model)
        chain = model_chain(target, config)
    except RoutingError as error:
        raise ClientError(
            404 if "not found" in str(error) or "unknown" in str(error) else 400,
            str(error),
            "model",
        ) from None
    if keys.enabled:
        allowed = [name for name in chain if keys.may_use(authorization, name)]
        if not allowed or (target.model is not None and allowed[0] != chain[0]):
            raise ClientError(403, f"this API key may not use {chain[0]!r}")
        chain = allowed
    windows = {name: config.models[name].context_length for name in chain}
    if any(windows.values()):
        try:
            chain = fitting_candidates(chain, windows, request_need(op.kind, canonical))
        except ContextTooLong as error:
            param = {"chat": "messages", "completion": "prompt"}.get(op.kind, "input")
            raise ClientError(400, str(error), param, "context_length_exceeded") from None
    timeouts = config.timeouts_for(chain[0])
    max_tokens = canonical.get("max_tokens", canonical.get("max_completion_tokens"))
    return InferenceRequest(
        op=op,
        canonical=canonical,
        raw_body=body,
        chain=chain,
        request_class=request_class(
            max_tokens, headers.get("x-request-class"), timeouts.long_request_tokens
        ),
    )
