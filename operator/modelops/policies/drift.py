"""Does a live object still hold what we applied? (pure)

The API server adds defaults (imagePullPolicy, terminationMessagePath, ...) and other
controllers add their own fields, so a live object is never equal to our manifest. What we
own is every field we set: the object has drifted when one of those differs or is missing.
Quantities the server normalises ("0.5" -> "500m") count as drift and lead to a server-side
apply that changes nothing, which costs one request and no write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Fields never compared: status is the server's, and the cache keeps no apiVersion/kind.
IGNORED_TOP_LEVEL = ("status", "apiVersion", "kind")


def contains(live: Any, wanted: Any) -> bool:
    """True when every field set in `wanted` has the same value in `live`."""
    if isinstance(wanted, Mapping):
        if not isinstance(live, Mapping):
            return False
        return all(contains(live[k], v) if k in live else _is_empty(v) for k, v in wanted.items())
    if isinstance(wanted, Sequence) and not isinstance(wanted, str):
        if not isinstance(live, Sequence) or isinstance(live, str) or len(live) != len(wanted):
            return False
        return all(contains(a, b) for a, b in zip(live, wanted, strict=True))
    return bool(live == wanted) or (_is_empty(wanted) and _is_empty(live))


def _is_empty(value: Any) -> bool:
    """The server drops empty maps and lists, so they match an absent field."""
    return value is None or value == {} or value == []


def needs_apply(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    if live is None:
        return True
    wanted = {k: v for k, v in desired.items() if k not in IGNORED_TOP_LEVEL}
    return not contains(live, wanted)


def plan_applies(
    desired: Sequence[Mapping[str, Any]],
    live_by_kind_name: Mapping[tuple[str, str], Mapping[str, Any]],
) -> list[Mapping[str, Any]]:
    """The manifests to server-side apply, in the given order."""
    return [
        manifest
        for manifest in desired
        if needs_apply(
            manifest, live_by_kind_name.get((manifest["kind"], manifest["metadata"]["name"]))
        )
    ]
