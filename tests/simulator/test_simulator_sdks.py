"""The vendors' own Python SDKs parse the simulator's answers (wire-format cross-check)."""

from __future__ import annotations

import pytest

from corral.simulator import SimSettings, running_simulator, sim_text

pytestmark = pytest.mark.asyncio

PROMPT = "Tell me about owls"
TOOL_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


async def test_openai_sdk_unary_stream_tools_embeddings() -> None:
    openai = pytest.importorskip("openai")
    async with running_simulator(SimSettings(output_tokens=6, require_key="sk-sim")) as base:
        client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="sk-sim", max_retries=0)
        try:
            messages = [{"role": "user", "content": PROMPT}]
            done = await client.chat.completions.create(model="sim-gpt", messages=messages)
            assert done.choices[0].message.content == sim_text(PROMPT, 6)
            assert done.usage is not None and done.usage.completion_tokens == 6

            stream = await client.chat.completions.create(
                model="sim-gpt", messages=messages, stream=True, stream_options={"include_usage": True}
            )
            text, usage = "", None
            async for chunk in stream:
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
                usage = chunk.usage or usage
            assert text == sim_text(PROMPT, 6)
            assert usage is not None and usage.prompt_tokens_details.cached_tokens == 0

            tools = [{"type": "function", "function": {"name": "weather", "parameters": TOOL_SCHEMA}}]
            called = await client.chat.completions.create(
                model="sim-gpt", messages=messages, tools=tools, tool_choice="required"
            )
            call = called.choices[0].message.tool_calls[0]
            assert call.function.name == "weather" and call.function.arguments == '{"city":"x"}'

            emb = await client.embeddings.create(model="sim-embed", input=["a", "b"], dimensions=16)
            assert [len(d.embedding) for d in emb.data] == [16, 16]

            with pytest.raises(openai.RateLimitError):
                await client.chat.completions.create(
                    model="sim-gpt", messages=messages, extra_headers={"x-sim-fault": "rate_limit"}
                )
            bad = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="wrong", max_retries=0)
            with pytest.raises(openai.AuthenticationError):
                await bad.chat.completions.create(model="sim-gpt", messages=messages)
            await bad.close()
        finally:
            await client.close()


async def test_anthropic_sdk_unary_stream_tools() -> None:
    anthropic = pytest.importorskip("anthropic")
    async with running_simulator(SimSettings(output_tokens=5)) as base:
        client = anthropic.AsyncAnthropic(base_url=base, api_key="k", max_retries=0)
        try:
            messages = [{"role": "user", "content": PROMPT}]
            msg = await client.messages.create(model="sim-claude", max_tokens=100, messages=messages)
            assert msg.content[0].text == sim_text(PROMPT, 5)
            assert msg.stop_reason == "end_turn" and msg.usage.output_tokens == 5

            async with client.messages.stream(
                model="sim-claude", max_tokens=100, messages=messages
            ) as stream:
                text = "".join([t async for t in stream.text_stream])
                final = await stream.get_final_message()
            assert text == sim_text(PROMPT, 5)
            assert final.usage.output_tokens == 5

            tools = [{"name": "weather", "input_schema": TOOL_SCHEMA}]
            async with client.messages.stream(
                model="sim-claude",
                max_tokens=100,
                messages=messages,
                tools=tools,
                tool_choice={"type": "any"},
            ) as stream:
                final = await stream.get_final_message()
            assert final.stop_reason == "tool_use"
            assert final.content[0].name == "weather" and final.content[0].input == {"city": "x"}

            with pytest.raises(anthropic.APIStatusError) as info:
                await client.messages.create(
                    model="sim-claude",
                    max_tokens=10,
                    messages=messages,
                    extra_headers={"x-sim-fault": "overloaded"},
                )
            assert info.value.status_code == 529

            with pytest.raises(anthropic.APIStatusError):
                async with client.messages.stream(
                    model="sim-claude",
                    max_tokens=100,
                    messages=messages,
                    extra_headers={"x-sim-fault": "stream_error"},
                ) as stream:
                    await stream.get_final_message()
        finally:
            await client.close()
