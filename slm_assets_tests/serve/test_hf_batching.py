"""Continuous batching in the transformers backend (transformers' ContinuousBatchingManager, on CPU with a tiny
random Llama): every greedy request of a batch gets its one-at-a-time answer, stop strings and max_tokens hold per
request, a client that leaves cancels its request, and sampled requests still run one at a time."""

import threading

import pytest

WAIT_S = 120  # a bound for a hang, not a timing assertion
PROMPTS = ["What is AC charging?", "Name a connector.", "Why charge at night?", "What is a kWh?"]
MAX_TOKENS = [16, 5, 11, 8]  # requests leave the batch at different steps


def _messages(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def one_at_a_time(tiny_hf_dir, models_cache):
    from slm_assets.serve.backends import TransformersBackend

    backend = TransformersBackend(tiny_hf_dir, cache_dir=models_cache, device="cpu", slots=1)
    assert backend._batcher is None  # on CPU the default is one request at a time
    return [backend.chat(_messages(p), n, 0.0) for p, n in zip(PROMPTS, MAX_TOKENS, strict=True)]


@pytest.fixture(scope="module")
def batching(tiny_hf_dir, models_cache):
    from slm_assets.serve.backends import TransformersBackend

    backend = TransformersBackend(tiny_hf_dir, cache_dir=models_cache, device="cpu", slots=4, n_ctx=256)
    yield backend
    backend.close()


def test_each_greedy_request_of_a_batch_equals_its_one_at_a_time_answer(batching, one_at_a_time):
    streams = [batching.chat(_messages(p), n, 0.0, stream=True) for p, n in zip(PROMPTS, MAX_TOKENS, strict=True)]
    results: dict[int, list] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, list(streams[i])))
               for i in range(len(streams))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)

    for i, reference in enumerate(one_at_a_time):
        deltas = results[i]
        assert "".join(d.text for d in deltas) == reference.text, f"request {i}"
        last = deltas[-1]
        assert (last.finish_reason, last.completion_tokens, last.prompt_tokens) == (
            reference.finish_reason, reference.completion_tokens, reference.prompt_tokens)
    assert batching._batcher._queues == {}


def test_stop_strings_and_max_tokens_hold_per_request(batching, one_at_a_time):
    full = one_at_a_time[0].text
    stop = full.split()[2]  # a word from the middle of the greedy answer
    cut = batching.chat(_messages(PROMPTS[0]), MAX_TOKENS[0], 0.0, stop=[stop])
    assert cut.text == full[:full.index(stop)] and cut.finish_reason == "stop"
    short = batching.chat(_messages(PROMPTS[0]), 3, 0.0)
    assert short.completion_tokens == 3 and short.finish_reason == "length" and full.startswith(short.text)


def test_a_client_that_leaves_cancels_its_request(batching, one_at_a_time):
    long = batching.chat(_messages(PROMPTS[0]), 200, 0.0, stream=True)
    assert next(long).text
    long.close()  # the client went away
    assert batching._batcher._queues == {}
    again = batching.chat(_messages(PROMPTS[1]), MAX_TOKENS[1], 0.0)  # the batcher still serves
    assert again.text == one_at_a_time[1].text


def test_sampled_requests_run_one_at_a_time_beside_the_batcher(batching):
    first = batching.chat(_messages(PROMPTS[2]), 8, 0.9, seed=3)
    second = batching.chat(_messages(PROMPTS[2]), 8, 0.9, seed=3)
    assert first.text == second.text and first.completion_tokens > 0  # generate(), seeded under the lock


def test_a_prompt_longer_than_a_slot_is_a_value_error(batching):
    with pytest.raises(ValueError, match="exceed context window of 256"):
        batching.chat(_messages("charging " * 300), 4, 0.0)
