"""Keys, rate limits, access log, concurrency and disconnects; and the transformers backend over HTTP."""

import concurrent.futures
import json
import logging
import time

import httpx
import openai

from slm_assets.serve.auth import ApiKeys, RateLimiter, presented_key
from slm_assets_tests.serve.helpers import API_KEY, TUNED, make_app

SECRET_QUESTION = "my-secret-question-4711"


def test_keys_are_kept_only_as_digests():
    keys = ApiKeys.from_sources("alpha, beta,,", None)
    assert len(keys) == 2 and "alpha" not in repr(vars(keys))
    assert keys.identify("alpha") and keys.identify("alpha") != keys.identify("beta")
    assert keys.identify("alph") is None and keys.identify("") is None


def test_keys_file_and_headers(tmp_path):
    path = tmp_path / "keys"
    path.write_text("# comment\n\nfile-key\n")
    keys = ApiKeys.from_sources("", path)
    assert len(keys) == 1 and keys.identify("file-key")
    assert presented_key({"authorization": "Bearer  k1 "}) == "k1"
    assert presented_key({"x-api-key": "k2"}) == "k2"
    assert presented_key({"authorization": "Basic k1"}) == ""  # sent something, but no bearer key: wrong key
    assert presented_key({}) is None


def test_token_bucket_refills():
    limiter = RateLimiter(per_minute=600, burst=2)  # 10 per second
    assert limiter.acquire("a") == 0 and limiter.acquire("a") == 0
    wait = limiter.acquire("a")
    assert 0 < wait <= 0.1
    assert limiter.acquire("b") == 0
    time.sleep(wait + 0.02)
    assert limiter.acquire("a") == 0
    assert RateLimiter(per_minute=0, burst=1).acquire("a") == 0  # disabled


def _chat(url: str, content: str, stream: bool = False) -> dict:
    body = {"model": TUNED, "messages": [{"role": "user", "content": content}], "max_tokens": 4, "stream": stream}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {API_KEY}"},
                      timeout=60)


def _access_lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "slm_assets.serve.access"]


def test_access_log_is_json_and_has_no_prompts_by_default(server, caplog):
    caplog.set_level(logging.INFO, logger="slm_assets.serve.access")
    assert _chat(server, SECRET_QUESTION).status_code == 200
    time.sleep(0.1)  # the line is written after the last byte is sent

    line = [x for x in _access_lines(caplog) if x["path"] == "/v1/chat/completions"][-1]
    assert line["status"] == 200 and line["method"] == "POST" and line["model"] == TUNED
    assert line["completion_tokens"] == 4 and line["prompt_tokens"] > 0 and line["latency_ms"] > 0
    assert line["key_id"] == ApiKeys.from_keys([API_KEY]).identify(API_KEY) and len(line["key_id"]) == 8
    assert SECRET_QUESTION not in caplog.text and API_KEY not in caplog.text


def test_prompts_are_logged_only_when_asked(tiny_models, caplog):
    from slm_assets.serve.server import background_server

    caplog.set_level(logging.INFO, logger="slm_assets.serve.access")
    with background_server(make_app(tiny_models, log_prompts=True)) as url:
        assert _chat(url, SECRET_QUESTION).status_code == 200
    assert SECRET_QUESTION in [x for x in _access_lines(caplog) if "prompt" in x][-1]["prompt"][-1]["content"]


def test_concurrent_requests_all_succeed(server):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: _chat(server, f"question {i}", stream=i % 2 == 0), range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert all(a.text.rstrip().endswith("data: [DONE]") for a in answers[::2])


def test_a_client_leaving_mid_stream_frees_the_model(server):
    body = {"model": TUNED, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 64, "stream": True}
    with httpx.stream("POST", f"{server}/v1/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60) as response:
        first = next(response.iter_lines())
        assert first.startswith("data: ")
    started = time.perf_counter()
    assert _chat(server, "next").status_code == 200
    assert time.perf_counter() - started < 30


def test_health_and_readiness(server):
    assert httpx.get(f"{server}/healthz", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(f"{server}/readyz", timeout=10).json()
    assert ready["status"] == "ready" and set(ready["models"]) == {"base", TUNED}


def test_transformers_backend_over_http(tiny_hf_dir, models_cache):
    from slm_assets.serve.backends import TransformersBackend
    from slm_assets.serve.server import background_server

    backend = TransformersBackend(tiny_hf_dir, cache_dir=models_cache, device="cpu", version="7")
    with background_server(make_app({"hf": backend})) as url:
        api = openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0, timeout=60)
        messages = [{"role": "user", "content": "What is a charger?"}]
        whole = api.chat.completions.create(model="hf", messages=messages, max_tokens=6, temperature=0)
        chunks = list(api.chat.completions.create(model="hf", messages=messages, max_tokens=6, temperature=0,
                                                  stream=True, stream_options={"include_usage": True}))
    assert whole.usage.completion_tokens == 6 and whole.choices[0].finish_reason == "length"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == 6 and chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
