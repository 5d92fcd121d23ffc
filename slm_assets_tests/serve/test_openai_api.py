"""The official `openai` client against the server over HTTP: chat, streaming, completions, models, errors."""

import openai
import pytest

from slm_assets_tests.serve.helpers import API_KEY, SYSTEM_PROMPT, TUNED, make_app

QUESTION = [{"role": "user", "content": "What is the difference between AC and DC charging?"}]


def client(url: str, key: str | None = API_KEY, **kwargs) -> openai.OpenAI:
    # No retries: each test sees the first answer, including 429s.
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60, **kwargs)


def test_chat_non_streaming(server):
    reply = client(server).chat.completions.create(model=TUNED, messages=QUESTION, max_tokens=8, temperature=0)

    assert reply.object == "chat.completion" and reply.model == TUNED
    choice = reply.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason == "length"  # random weights never pick end-of-turn within 8 tokens
    assert reply.usage.completion_tokens == 8
    assert reply.usage.prompt_tokens > len(QUESTION[0]["content"].split())  # system prompt + template added
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 8


def test_chat_streaming_deltas_concatenate_to_the_answer(server):
    api = client(server)
    whole = api.chat.completions.create(model=TUNED, messages=QUESTION, max_tokens=10, temperature=0)

    stream = api.chat.completions.create(model=TUNED, messages=QUESTION, max_tokens=10, temperature=0, stream=True,
                                         stream_options={"include_usage": True})
    chunks = list(stream)

    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) >= 2  # really streamed, not one blob
    assert "".join(pieces) == whole.choices[0].message.content  # greedy: same text either way
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["length"]
    assert chunks[0].choices[0].delta.role == "assistant"
    usage = chunks[-1].usage
    assert usage.completion_tokens == 10 and usage.prompt_tokens == whole.usage.prompt_tokens


def test_system_prompt_is_added_unless_the_request_has_one(server):
    api = client(server)
    default = api.chat.completions.create(model=TUNED, messages=QUESTION, max_tokens=1, temperature=0)
    own = api.chat.completions.create(model=TUNED, max_tokens=1, temperature=0,
                                      messages=[{"role": "system", "content": "Be brief."}, *QUESTION])
    explicit = api.chat.completions.create(model=TUNED, max_tokens=1, temperature=0,
                                           messages=[{"role": "system", "content": SYSTEM_PROMPT}, *QUESTION])

    assert default.usage.prompt_tokens == explicit.usage.prompt_tokens > own.usage.prompt_tokens


def test_completions_and_streamed_completions(server):
    api = client(server)
    done = api.completions.create(model=TUNED, prompt="Charging stations are", max_tokens=6, temperature=0)
    assert done.object == "text_completion" and done.choices[0].text
    assert done.choices[0].finish_reason == "length" and done.usage.completion_tokens == 6

    chunks = list(api.completions.create(model=TUNED, prompt="Charging stations are", max_tokens=6, temperature=0,
                                         stream=True))
    assert "".join(c.choices[0].text for c in chunks) == done.choices[0].text
    assert chunks[-1].choices[0].finish_reason == "length"


def test_models_list(server):
    models = client(server).models.list()
    by_id = {m.id: m for m in models.data}
    assert set(by_id) == {"base", TUNED}
    assert by_id[TUNED].model_extra["version"] == "3"


def test_wrong_key_is_403_and_missing_key_is_401(server):
    with pytest.raises(openai.PermissionDeniedError) as wrong:
        client(server, key="not-a-key").models.list()
    assert wrong.value.status_code == 403 and wrong.value.code == "invalid_api_key"

    # The client insists on a key; omitting its Authorization header sends the request with none.
    with pytest.raises(openai.AuthenticationError) as missing:
        client(server, key="unused").chat.completions.create(
            model=TUNED, messages=QUESTION, max_tokens=2, extra_headers={"Authorization": openai.Omit()})
    assert missing.value.status_code == 401 and missing.value.code == "missing_api_key"


def test_max_tokens_above_the_cap_is_422(server):
    with pytest.raises(openai.UnprocessableEntityError) as too_many:
        client(server).chat.completions.create(model=TUNED, messages=QUESTION, max_tokens=65)
    assert too_many.value.status_code == 422 and "cap of 64" in too_many.value.message


def test_unknown_model_is_404(server):
    with pytest.raises(openai.NotFoundError) as missing:
        client(server).chat.completions.create(model="nope", messages=QUESTION, max_tokens=2)
    assert missing.value.code == "model_not_found"


def test_oversized_body_is_413(server):
    huge = [{"role": "user", "content": "x" * 100_000}]  # the test server accepts 64 KiB
    with pytest.raises(openai.APIStatusError) as too_big:
        client(server).chat.completions.create(model=TUNED, messages=huge, max_tokens=2)
    assert too_big.value.status_code == 413 and too_big.value.code == "request_too_large"


def test_rate_limit_is_429_with_retry_after(tiny_models):
    from slm_assets.serve.server import background_server

    with background_server(make_app(tiny_models, rate_limit_per_minute=2, rate_limit_burst=2)) as url:
        api = client(url)
        api.models.list()
        api.models.list()
        with pytest.raises(openai.RateLimitError) as limited:
            api.models.list()
        other = client(url, key="second-key-abcdef")
        assert other.models.list().data  # buckets are per key
    assert limited.value.status_code == 429
    assert int(limited.value.response.headers["retry-after"]) >= 1


def test_a_stream_interval_joins_the_pieces_decoded_in_between(tiny_models):
    from slm_assets.serve.server import background_server

    with background_server(make_app(tiny_models, stream_interval_ms=60_000)) as url:
        api = client(url)
        whole = api.chat.completions.create(model=TUNED, messages=QUESTION, max_tokens=10, temperature=0)
        chunks = list(api.chat.completions.create(model=TUNED, messages=QUESTION, max_tokens=10, temperature=0,
                                                  stream=True, stream_options={"include_usage": True}))
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    # the first piece goes out at once; the other nine tokens wait for the interval or the end, and end first
    assert len(texts) == 2 and "".join(texts) == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]
    assert chunks[-1].usage.completion_tokens == 10
