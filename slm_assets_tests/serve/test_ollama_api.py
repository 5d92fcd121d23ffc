"""Ollama-compatible routes over HTTP with httpx: NDJSON streams ending in `done: true`, and `stream: false`."""

import json

import httpx

from slm_assets_tests.serve.helpers import TUNED


def _lines(response: httpx.Response) -> list[dict]:
    return [json.loads(line) for line in response.iter_lines() if line.strip()]


def test_chat_streams_ndjson_by_default(server, auth):
    body = {"model": f"{TUNED}:latest", "messages": [{"role": "user", "content": "Hello?"}],
            "options": {"num_predict": 6, "temperature": 0}}
    with httpx.stream("POST", f"{server}/api/chat", json=body, headers=auth, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = _lines(response)

    assert len(lines) >= 3 and all(not line["done"] for line in lines[:-1])
    last = lines[-1]
    assert last["done"] is True and last["done_reason"] == "length" and last["eval_count"] == 6
    assert last["prompt_eval_count"] > 0 and last["total_duration"] > 0
    text = "".join(line["message"]["content"] for line in lines)
    assert text and all(line["model"] == TUNED and line["message"]["role"] == "assistant" for line in lines)

    whole = httpx.post(f"{server}/api/chat", json={**body, "stream": False}, headers=auth, timeout=60).json()
    assert whole["done"] is True and whole["message"]["content"] == text and whole["eval_count"] == 6


def test_generate_streams_and_answers_whole(server, auth):
    body = {"model": TUNED, "prompt": "Why is the sky blue?", "options": {"num_predict": 5, "temperature": 0}}
    with httpx.stream("POST", f"{server}/api/generate", json=body, headers=auth, timeout=60) as response:
        lines = _lines(response)
    assert lines[-1]["done"] is True and lines[-1]["eval_count"] == 5
    streamed = "".join(line["response"] for line in lines)

    whole = httpx.post(f"{server}/api/generate", json={**body, "stream": False}, headers=auth, timeout=60).json()
    assert whole["done"] is True and whole["response"] == streamed

    raw = httpx.post(f"{server}/api/generate", json={**body, "stream": False, "raw": True}, headers=auth,
                     timeout=60).json()
    assert raw["prompt_eval_count"] < whole["prompt_eval_count"]  # no chat template, no system prompt


def test_tags_and_errors(server, auth):
    tags = httpx.get(f"{server}/api/tags", headers=auth, timeout=30).json()
    assert {m["name"] for m in tags["models"]} == {"base:latest", f"{TUNED}:latest"}
    assert all(m["size"] > 0 and m["details"]["format"] == "gguf" for m in tags["models"])

    missing = httpx.post(f"{server}/api/chat", json={"model": "nope", "messages": []}, headers=auth, timeout=30)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]  # Ollama's {"error": "..."}
    too_long = httpx.post(f"{server}/api/generate", headers=auth, timeout=30,
                          json={"model": TUNED, "prompt": "hi", "options": {"num_predict": 1000}})
    assert too_long.status_code == 422 and "num_predict" in too_long.json()["error"]
