"""GET every source's /metrics at once, each bounded by a timeout and a size. The only I/O.

A source that times out, refuses, answers non-200 or too much text comes back with the reason
instead of text: the caller reports it as unreadable, never as zeros.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from modelops.telemetry.types import Source

DEFAULT_TIMEOUT_SECONDS = 1.0
MAX_BYTES = 8 * 1024 * 1024  # a router with thousands of tracks stays well below this
MAX_CONCURRENCY = 64


@dataclass(frozen=True)
class Fetched:
    source: Source
    text: str | None  # None when it could not be read
    error: str | None = None


async def fetch_one(
    session: aiohttp.ClientSession,
    source: Source,
    timeout_seconds: float,
    max_bytes: int = MAX_BYTES,
) -> Fetched:
    try:
        async with asyncio.timeout(timeout_seconds):
            async with session.get(source.url, allow_redirects=False) as response:
                if response.status != 200:
                    return Fetched(source, None, f"answered HTTP {response.status}")
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > max_bytes:
                        return Fetched(source, None, f"answered more than {max_bytes} bytes")
    except TimeoutError:
        return Fetched(source, None, f"no answer within {timeout_seconds:g}s")
    except (aiohttp.ClientError, OSError) as error:
        return Fetched(source, None, f"unreachable: {error or type(error).__name__}")
    except ValueError as error:  # a URL aiohttp cannot use
        return Fetched(source, None, f"bad URL {source.url!r}: {error}")
    return Fetched(source, body.decode("utf-8", errors="replace"))


async def fetch_all(
    session: aiohttp.ClientSession,
    sources: Sequence[Source],
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_bytes: int = MAX_BYTES,
) -> list[Fetched]:
    """Every source, concurrently (at most MAX_CONCURRENCY at a time), in the given order."""
    limit = asyncio.Semaphore(MAX_CONCURRENCY)

    async def bounded(source: Source) -> Fetched:
        async with limit:
            return await fetch_one(session, source, timeout_seconds, max_bytes)

    return list(await asyncio.gather(*(bounded(source) for source in sources)))
