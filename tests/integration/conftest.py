"""Clients of the real libraries for the integration modules that start their own router:
each such module defines a `router` fixture (anything with a `url`), and these connect to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ollama
import openai
import pytest


@pytest.fixture
def openai_client(router: Any) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=router.url + "/v1", api_key="unused", max_retries=0) as client:
        yield client


@pytest.fixture
def ollama_client(router: Any) -> Iterator[ollama.Client]:
    client = ollama.Client(host=router.url)
    yield client
    client._client.close()
