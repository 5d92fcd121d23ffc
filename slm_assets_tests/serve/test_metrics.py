"""/metrics after real requests: counters by route and status, token counters, model and version labels."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from slm_assets_tests.serve.helpers import TUNED


def scrape(server: str, auth: dict) -> dict[tuple, float]:
    response = httpx.get(f"{server}/metrics", headers=auth, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_tokens_and_errors(server, auth):
    before = scrape(server, auth)
    chat = {"model": TUNED, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0}
    with httpx.Client(base_url=server, headers=auth, timeout=60) as http:
        usages = [http.post("/v1/chat/completions", json=chat).json()["usage"] for _ in range(2)]
        assert http.post("/v1/chat/completions", json={**chat, "max_tokens": 500}).status_code == 422
    assert httpx.get(f"{server}/v1/models", headers={"x-api-key": "bad"}, timeout=30).status_code == 403
    after = scrape(server, auth)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    ok = {"route": "/v1/chat/completions", "method": "POST", "model": TUNED, "version": "3"}
    assert delta("slm_requests_total", status="200", **ok) == 2
    assert delta("slm_requests_total", status="422", **ok) == 1
    assert delta("slm_request_errors_total", status="422", **ok) == 1
    assert delta("slm_request_errors_total", status="403", route="/v1/models", method="GET", model="",
                 version="") == 1
    assert delta("slm_prompt_tokens_total", model=TUNED, version="3") == sum(u["prompt_tokens"] for u in usages)
    assert delta("slm_completion_tokens_total", model=TUNED, version="3") == 8
    assert delta("slm_request_duration_seconds_count", route="/v1/chat/completions", model=TUNED, version="3") == 3
    assert delta("slm_queue_wait_seconds_count", model=TUNED, version="3") == 2
    assert value(after, "slm_model_info", model=TUNED, version="3", backend="llama.cpp") == 1
    assert value(after, "slm_model_info", model="base", version="base", backend="llama.cpp") == 1


def test_streaming_records_tokens_and_time_to_first_token(server, auth):
    before = scrape(server, auth)
    body = {"model": "base", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "stream": True}
    with httpx.stream("POST", f"{server}/v1/chat/completions", json=body, headers=auth, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    after = scrape(server, auth)

    assert value(after, "slm_completion_tokens_total", model="base", version="base") - value(
        before, "slm_completion_tokens_total", model="base", version="base") == 3
    assert value(after, "slm_time_to_first_token_seconds_count", model="base", version="base") - value(
        before, "slm_time_to_first_token_seconds_count", model="base", version="base") == 1
