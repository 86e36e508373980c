"""API keys: `Authorization: Bearer <key>`, optionally limited to some models. Pure checks.

Keys come from the config (`auth.keys`), a keys file (`auth.keysFile`, YAML/JSON
`keys: [{key, models, name}]` or a bare list) and, in Kubernetes, a Secret the config source
resolves into `auth.keys`. Keys are held as SHA-256 digests so lookups do not compare secrets
character by character.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import ValidationError

from modelops.api.router_config import ApiKey, Auth, RouterConfigError

AuthOutcome = Literal["ok", "missing", "invalid", "forbidden"]


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class KeyRing:
    enabled: bool
    # digest -> allowed models (None means all)
    allowed: Mapping[bytes, frozenset[str] | None]

    def check(self, authorization: str | None, model: str | None) -> AuthOutcome:
        """`model` None means "no specific model" (listing endpoints): any valid key passes."""
        if not self.enabled:
            return "ok"
        if not authorization:
            return "missing"
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "invalid"
        digest = _digest(token.strip())
        if digest not in self.allowed:
            return "invalid"
        models = self.allowed[digest]
        if model is None or models is None or model in models:
            return "ok"
        return "forbidden"

    def may_use(self, authorization: str | None, model: str) -> bool:
        return self.check(authorization, model) == "ok"


def key_ring(keys: Iterable[ApiKey], enabled: bool) -> KeyRing:
    allowed: dict[bytes, frozenset[str] | None] = {}
    for item in keys:
        allowed[_digest(item.key)] = None if "*" in item.models else frozenset(item.models)
    return KeyRing(enabled=enabled, allowed=allowed)


def parse_keys_document(data: object, origin: str) -> list[ApiKey]:
    entries = data.get("keys") if isinstance(data, Mapping) else data
    if not isinstance(entries, list):
        raise RouterConfigError(f"{origin}: expected `keys: [{{key, models}}]`")
    keys = []
    for index, entry in enumerate(entries):
        try:
            keys.append(
                ApiKey(key=entry) if isinstance(entry, str) else ApiKey.model_validate(entry)
            )
        except ValidationError as error:
            reason = error.errors()[0]["msg"]
            raise RouterConfigError(f"{origin}: key #{index + 1}: {reason}") from None
    return keys


def load_key_ring(auth: Auth) -> KeyRing:
    """All keys of the config; raises RouterConfigError (config rejected) when the file is bad."""
    keys = list(auth.keys)
    if auth.keys_file:
        path = Path(auth.keys_file)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as error:
            raise RouterConfigError(f"cannot read keys file {path}: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise RouterConfigError(f"keys file {path} is not valid YAML: {error}") from None
        keys += parse_keys_document(data, str(path))
    # Fail closed: asking for keys (a Secret that was not resolved, an empty file) never means
    # "no auth".
    enabled = auth.enabled or bool(keys) or auth.secret_ref is not None or bool(auth.keys_file)
    if enabled and not keys:
        if auth.secret_ref is not None:
            raise RouterConfigError(
                f"auth.secretRef {auth.secret_ref.name!r} was not resolved into keys (only the "
                "Kubernetes config source reads Secrets; standalone, use auth.keysFile)"
            )
        raise RouterConfigError("auth is enabled but no keys are configured")
    return key_ring(keys, enabled)
