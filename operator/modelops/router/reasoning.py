"""Reasoning content: `<think>...</think>` inline (Ollama style) versus `reasoning_content`.

Pure, no I/O. `ThinkSplitter` works on streamed text where a tag may be cut across chunks.
"""

from __future__ import annotations

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


def split_think(text: str) -> tuple[str | None, str]:
    """(reasoning, content) of a complete text; reasoning is None when there is no think block."""
    splitter = ThinkSplitter()
    reasoning, content = splitter.feed(text)
    tail_reasoning, tail_content = splitter.flush()
    reasoning += tail_reasoning
    content += tail_content
    if not splitter.saw_think:
        return None, text
    return reasoning, content.lstrip("\n")


def join_think(reasoning: str | None, content: str) -> str:
    if not reasoning:
        return content
    return f"{OPEN_TAG}{reasoning}{CLOSE_TAG}{content}"


def _partial_tag_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for length in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:length]):
            return length
    return 0


class ThinkSplitter:
    """Feeds streamed text, returns (reasoning, content) pieces ready to send."""

    def __init__(self) -> None:
        self.in_think = False
        self.saw_think = False
        self._tail = ""

    def feed(self, text: str) -> tuple[str, str]:
        buffer = self._tail + text
        self._tail = ""
        reasoning: list[str] = []
        content: list[str] = []
        while buffer:
            tag = CLOSE_TAG if self.in_think else OPEN_TAG
            target = reasoning if self.in_think else content
            index = buffer.find(tag)
            if index >= 0:
                target.append(buffer[:index])
                buffer = buffer[index + len(tag) :]
                self.in_think = not self.in_think
                self.saw_think = True
                continue
            keep = _partial_tag_suffix(buffer, tag)
            target.append(buffer[: len(buffer) - keep])
            self._tail = buffer[len(buffer) - keep :]
            break
        return "".join(reasoning), "".join(content)

    def flush(self) -> tuple[str, str]:
        tail, self._tail = self._tail, ""
        return (tail, "") if self.in_think else ("", tail)


class ThinkJoiner:
    """Streams reasoning and content pieces back into one inline text with `<think>` tags."""

    def __init__(self) -> None:
        self._in_think = False

    def feed(self, reasoning: str | None, content: str | None) -> str:
        parts: list[str] = []
        if reasoning:
            if not self._in_think:
                parts.append(OPEN_TAG)
                self._in_think = True
            parts.append(reasoning)
        if content:
            if self._in_think:
                parts.append(CLOSE_TAG)
                self._in_think = False
            parts.append(content)
        return "".join(parts)

    def flush(self) -> str:
        if self._in_think:
            self._in_think = False
            return CLOSE_TAG
        return ""
