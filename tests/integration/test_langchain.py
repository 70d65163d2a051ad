"""LangChain's OpenAI and Anthropic integrations pointed at Corral, as their users configure them.

`ChatOpenAI` (Chat Completions and, with `use_responses_api=True`, the Responses API),
`ChatAnthropic` (the Messages API) and `OpenAIEmbeddings` with its default settings (which
tokenizes inputs and sends token arrays) against simulated upstreams.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

from corral.core.tokens import _bundled_rank_file
from corral.simulator import SimulatorThread, sim_text
from tests.conftest import RunningServer

PROMPT = "Tell me about corrals please"
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


@pytest.fixture(scope="module", autouse=True)
def offline_tiktoken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """OpenAIEmbeddings counts tokens with tiktoken, which downloads its BPE file on first use:
    the file goes into tiktoken's cache first (what an offline deployment does), from the copy
    Corral ships."""
    cache: Path = tmp_path_factory.mktemp("tiktoken")
    name = hashlib.sha1(CL100K_URL.encode()).hexdigest()
    (cache / name).write_bytes(gzip.decompress(_bundled_rank_file("cl100k_base").read_bytes()))
    mp = pytest.MonkeyPatch()
    mp.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    yield
    mp.undo()


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return "sunny"


def _openai(corral: RunningServer, model: str, **kw: object) -> ChatOpenAI:
    return ChatOpenAI(model=model, base_url=corral.url + "/v1", api_key=corral.app_key,  # type: ignore[arg-type]
                      max_retries=0, **kw)


@pytest.mark.parametrize("responses", [False, True])
@pytest.mark.parametrize("model", ["gpt-sim", "claude-sim"])
def test_chat_openai(corral: RunningServer, sim: SimulatorThread, model: str, responses: bool) -> None:
    chat = _openai(corral, model, use_responses_api=responses, max_tokens=16)  # the Responses API's least
    assert chat.invoke(PROMPT).text == sim_text(PROMPT, 8)  # the simulator's answer: 8 tokens
    streamed = "".join(chunk.text for chunk in chat.stream(PROMPT))
    assert streamed == sim_text(PROMPT, 8)
    call = _openai(corral, model, use_responses_api=responses).bind_tools(
        [get_weather], tool_choice="get_weather").invoke("Weather in Paris?")
    assert [c["name"] for c in call.tool_calls] == ["get_weather"] and "city" in call.tool_calls[0]["args"]


@pytest.mark.parametrize("model", ["claude-sim", "gpt-sim", "gemini-sim"])
def test_chat_anthropic(corral: RunningServer, sim: SimulatorThread, model: str) -> None:
    chat = ChatAnthropic(model=model, base_url=corral.url, api_key=corral.app_key,  # type: ignore[call-arg,arg-type]
                         max_tokens=6, max_retries=0)
    answer = chat.invoke(PROMPT)
    assert answer.text == sim_text(PROMPT, 6) and answer.usage_metadata is not None
    assert answer.usage_metadata["output_tokens"] == 6
    assert "".join(chunk.text for chunk in chat.stream(PROMPT)) == sim_text(PROMPT, 6)
    plain = ChatAnthropic(model=model, base_url=corral.url, api_key=corral.app_key,  # type: ignore[call-arg,arg-type]
                          max_retries=0)
    call = plain.bind_tools([get_weather], tool_choice="get_weather").invoke("Weather?")
    assert [c["name"] for c in call.tool_calls] == ["get_weather"]


def test_openai_embeddings_with_default_settings(corral: RunningServer, sim: SimulatorThread) -> None:
    """The defaults send token arrays (check_embedding_ctx_length=True): Corral embeds their text."""
    embeddings = OpenAIEmbeddings(model="embed-sim", base_url=corral.url + "/v1",  # type: ignore[call-arg]
                                  api_key=corral.app_key, max_retries=0)  # type: ignore[arg-type]
    vectors = embeddings.embed_documents(["a corral for horses", "a pen for sheep"])
    query = embeddings.embed_query("a corral for horses")
    assert len(vectors) == 2 and len(query) == len(vectors[0]) > 0
    assert query == pytest.approx(vectors[0]), "the same text embeds the same, whether sent as tokens or not"
