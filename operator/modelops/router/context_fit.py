"""Context-aware routing: which candidates of a chain can hold a request. Pure.

The router has no tokenizer, so a prompt is estimated at four characters a token (the measure
the simulator uses; English text with real tokenizers comes close). A candidate fits when the
estimated prompt plus the tokens the request may generate fit its context window; models whose
window is unknown are assumed to fit, and the runtime keeps the last word (its own 400 about
context length is passed on).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# What a request may generate when it does not say: the completions API's default, otherwise
# at least one token must fit after the prompt.
DEFAULT_COMPLETION_BUDGET = 16


@dataclass(frozen=True)
class ContextNeed:
    prompt_tokens: int
    budget: int

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.budget


class ContextTooLong(ValueError):
    """No candidate can hold the request; the message gives every size."""


def estimate_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


def _texts(value: Any) -> list[str]:
    """Every string a prompt is made of: message contents, text parts, tool-call arguments."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    if isinstance(value, Mapping):
        texts: list[str] = []
        for key in ("content", "text", "arguments", "function", "tool_calls"):
            if key in value:
                texts += _texts(value[key])
        return texts
    return []


def request_need(kind: str, canonical: Mapping[str, Any]) -> ContextNeed:
    if kind == "chat":
        prompt = "\n".join(_texts(canonical.get("messages")))
    elif kind == "completion":
        prompt = "\n".join(_texts(canonical.get("prompt")))
    else:
        inputs = canonical.get("input")
        texts = _texts(inputs)
        prompt = max(texts, key=len) if texts else ""  # each input is embedded on its own
    budget = canonical.get("max_tokens", canonical.get("max_completion_tokens"))
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
        budget = DEFAULT_COMPLETION_BUDGET if kind == "completion" else 1
    if kind == "embedding":
        budget = 0
    return ContextNeed(estimate_tokens(prompt), budget)


def fitting_candidates(
    chain: Sequence[str], windows: Mapping[str, int | None], need: ContextNeed
) -> list[str]:
    """The chain without the models whose window is too small; ContextTooLong when none is left."""
    fitting = [name for name in chain if (windows.get(name) or need.total) >= need.total]
    if fitting:
        return fitting
    sizes = ", ".join(f"{name!r} ({windows.get(name)} tokens)" for name in chain)
    raise ContextTooLong(
        f"the request needs about {need.total} tokens ({need.prompt_tokens} of prompt + "
        f"{need.budget} to generate), more than the context window of {sizes}"
    )
