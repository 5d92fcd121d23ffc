"""Continuous batching in the llama.cpp backend, on the bundled SmolLM2 GGUF: with a KV cache per slot every
request in a batch gets its one-at-a-time greedy answer token for token; with the default shared cache a batched
answer leaves its one-at-a-time answer only at a near-tie; stop strings and max_tokens hold per request, a slot
reuses the cached prefix of its previous prompt, a cancelled request frees its slot, and streaming over HTTP serves
several clients at once."""

import threading
import time

import httpx
import pytest

from slm_assets_tests.serve.helpers import API_KEY, make_app

PROMPTS = [
    "<|im_start|>user\nWhat is the difference between AC and DC charging?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nName a connector used for fast charging.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nWhy does charging slow down near a full battery?<|im_end|>\n<|im_start|>assistant\n",
    "The capital of France is",
]
MAX_TOKENS = [24, 9, 17, 12]  # different lengths: requests leave the batch at different steps
WAIT_S = 120  # a bound for a hang, not a timing assertion
# Logit margin between the one-at-a-time run's first and second choice under which the shared KV cache may pick
# the other one: the shared cache moved this model's prompt-end logits by at most 0.66 (bench/kv_unified_drift.py).
NEAR_TIE = 1.0


@pytest.fixture(scope="module")
def gguf():
    from slm_assets.models import bundled_gguf

    return bundled_gguf("smollm2-135m-instruct")


@pytest.fixture(scope="module")
def one_at_a_time(gguf) -> list[dict]:
    """llama-cpp-python's own `Llama`, one greedy completion after another: the reference answers. Opened by
    `open_llama` (Llama with its defaults, on an AMX build without the AMX backend that crashes there)."""
    from slm_assets.llama_models import open_llama

    llm = open_llama(gguf, n_ctx=512, n_threads=1)
    try:
        return [llm.create_completion(p, max_tokens=n, temperature=0) for p, n in zip(PROMPTS, MAX_TOKENS, strict=True)]
    finally:
        llm.close()


@pytest.fixture(scope="module")
def choice_margins(gguf) -> list[list[tuple[str, float]]]:
    """Per prompt, the one-at-a-time greedy tokens with the logit margin of each choice over the runner-up."""
    from slm_assets.llama_models import open_llama

    llm = open_llama(gguf, n_ctx=512, n_threads=1, logits_all=True)
    try:
        out = []
        for prompt, n in zip(PROMPTS, MAX_TOKENS, strict=True):
            logprobs = llm.create_completion(prompt, max_tokens=n, temperature=0, logprobs=2)["choices"][0]["logprobs"]
            out.append([(token, float(top[token] - min(top.values()))) if len(top) > 1 else (token, float("inf"))
                        for token, top in zip(logprobs["tokens"], logprobs["top_logprobs"], strict=True)])
        return out
    finally:
        llm.close()


@pytest.fixture(scope="module")
def batching(gguf):
    """A cache per slot: the batch mechanics (joining, leaving, stops, limits) checked token for token."""
    from slm_assets.serve.backends import LlamaCppBackend

    backend = LlamaCppBackend(gguf, n_threads=1, n_ctx=512, slots=4, version="1", kv_unified=False)
    yield backend
    backend.close()


def _collect(stream) -> tuple[str, object]:
    pieces = list(stream)
    return "".join(p.text for p in pieces), pieces[-1]


def test_each_request_in_a_batch_equals_its_one_at_a_time_greedy_output(batching, one_at_a_time):
    # two requests start together; two more join while the first two are decoding
    streams = [batching.complete(p, n, 0.0, stream=True) for p, n in zip(PROMPTS[:2], MAX_TOKENS[:2], strict=True)]
    early = [next(streams[0]), next(streams[1])]
    streams += [batching.complete(p, n, 0.0, stream=True) for p, n in zip(PROMPTS[2:], MAX_TOKENS[2:], strict=True)]
    results = [_collect(s) for s in streams]

    for i, ((text, last), reference) in enumerate(zip(results, one_at_a_time, strict=True)):
        text = (early[i].text + text) if i < 2 else text
        assert text == reference["choices"][0]["text"], f"request {i}"
        assert last.finish_reason == reference["choices"][0]["finish_reason"]
        assert last.completion_tokens == reference["usage"]["completion_tokens"]
        assert last.prompt_tokens == reference["usage"]["prompt_tokens"]
    assert batching.active_slots == 0


def test_non_streamed_and_sampled_requests_share_a_batch(batching, one_at_a_time):
    results: dict[int, object] = {}

    def run(i: int) -> None:
        if i < len(PROMPTS):
            results[i] = batching.complete(PROMPTS[i], MAX_TOKENS[i], 0.0)
        else:  # a sampled request in the same batch: same seed, same answer
            results[i] = batching.complete(PROMPTS[0], 16, 0.9, top_p=0.9, seed=7)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(PROMPTS) + 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)

    for i, reference in enumerate(one_at_a_time):
        assert results[i].text == reference["choices"][0]["text"]
    assert results[len(PROMPTS)].text == results[len(PROMPTS) + 1].text
    assert results[len(PROMPTS)].completion_tokens > 0


def test_stop_string_and_max_tokens_per_request(batching, one_at_a_time):
    full = one_at_a_time[0]["choices"][0]["text"]
    stop = full.split()[3]  # a word from the middle of the greedy answer
    cut = batching.complete(PROMPTS[0], MAX_TOKENS[0], 0.0, stop=[stop])
    assert cut.text == full[:full.index(stop)] and cut.finish_reason == "stop"

    streamed, last = _collect(batching.complete(PROMPTS[0], MAX_TOKENS[0], 0.0, stream=True, stop=[stop]))
    assert streamed == cut.text and last.finish_reason == "stop"

    short = batching.complete(PROMPTS[0], 3, 0.0)
    assert short.completion_tokens == 3 and short.finish_reason == "length" and full.startswith(short.text)


def test_a_slot_reuses_the_cached_prompt_prefix_and_answers_the_same(gguf, one_at_a_time):
    from slm_assets.serve.backends import LlamaCppBackend

    backend = LlamaCppBackend(gguf, n_threads=1, n_ctx=512, slots=1)
    try:
        scheduler = backend._scheduler
        tokens = [backend._llm.tokenize(p.encode(), special=True) for p in PROMPTS[:2]]
        shared = next(i for i, (a, b) in enumerate(zip(*tokens, strict=False)) if a != b)  # the template's opening
        assert 0 < shared < len(tokens[0]) - 1

        first = backend.complete(PROMPTS[0], MAX_TOKENS[0], 0.0)
        assert scheduler.reused_tokens == 0
        again = backend.complete(PROMPTS[0], MAX_TOKENS[0], 0.0)  # all but the last prompt token from the cache
        assert scheduler.reused_tokens == len(tokens[0]) - 1
        other = backend.complete(PROMPTS[1], MAX_TOKENS[1], 0.0)  # only the shared opening from the cache
        assert scheduler.reused_tokens == len(tokens[0]) - 1 + shared

        assert first.text == again.text == one_at_a_time[0]["choices"][0]["text"]
        assert other.text == one_at_a_time[1]["choices"][0]["text"]
        assert again.prompt_tokens == first.prompt_tokens == one_at_a_time[0]["usage"]["prompt_tokens"]
    finally:
        backend.close()


def _first_divergence(text: str, tokens: list[tuple[str, float]]) -> int | None:
    """Index of the first reference token `text` does not continue with; None when it holds them all."""
    prefix = ""
    for i, (piece, _) in enumerate(tokens):
        if not text.startswith(prefix + piece):
            return i
        prefix += piece
    return None


def test_with_the_default_shared_kv_cache_a_batched_answer_leaves_its_one_at_a_time_answer_only_at_a_near_tie(
        gguf, one_at_a_time, choice_margins):
    from slm_assets.serve.backends import LlamaCppBackend

    backend = LlamaCppBackend(gguf, n_threads=1, n_ctx=512, slots=4)
    try:
        assert backend._scheduler.context.kv_unified  # the default, as in llama.cpp's server
        alone = backend.complete(PROMPTS[0], MAX_TOKENS[0], 0.0)  # no other sequence: exactly one-at-a-time
        assert alone.text == one_at_a_time[0]["choices"][0]["text"]
        streams = [backend.complete(p, n, 0.0, stream=True) for p, n in zip(PROMPTS, MAX_TOKENS, strict=True)]
        for i, ((text, last), reference, margins) in enumerate(
                zip(map(_collect, streams), one_at_a_time, choice_margins, strict=True)):
            assert "".join(piece for piece, _ in margins) == reference["choices"][0]["text"]
            step = _first_divergence(text, margins)
            if step is None:
                assert text == reference["choices"][0]["text"], f"request {i}"
            else:  # it left the reference where the reference's own choice was nearly tied
                assert margins[step][1] < NEAR_TIE, f"request {i} left at step {step}: {margins[step]}"
            assert last.completion_tokens <= MAX_TOKENS[i]
            assert last.prompt_tokens == reference["usage"]["prompt_tokens"]
        assert backend.active_slots == 0
    finally:
        backend.close()


def test_a_prompt_longer_than_a_slot_is_a_value_error(batching):
    with pytest.raises(ValueError, match="exceed context window of 512"):
        batching.complete("charging " * 600, 4, 0.0)


def test_stop_scanner_holds_back_a_possible_stop_string():
    from slm_assets.serve.slots import StopScanner

    scanner = StopScanner(["</end>"])
    assert scanner.feed("Hello </") == ("Hello ", False)
    assert scanner.feed("en") == ("", False)
    assert scanner.feed("d> more") == ("", True)
    other = StopScanner(["</end>"])
    assert other.feed("a </e") == ("a ", False)
    assert other.feed("x") == ("</ex", False)
    assert other.flush() == ""


def test_a_cancelled_request_frees_its_slot(gguf):
    from slm_assets.serve.backends import LlamaCppBackend

    backend = LlamaCppBackend(gguf, n_threads=1, n_ctx=512, slots=1)
    try:
        long = backend.complete(PROMPTS[0], 400, 0.0, stream=True)
        assert next(long).text
        waiting = backend.complete(PROMPTS[3], 5, 0.0, stream=True)  # queued behind the only slot
        long.cancel()
        assert list(long) == []  # nothing more comes

        text, last = _collect(waiting)
        assert text and last.finish_reason == "length"
        # the waiting request got the only slot because the long one left it, not because it finished
        left = []
        while not long.request.out.empty():
            left.append(long.request.out.get())
        assert not [d for d in left if getattr(d, "finish_reason", None)]
        assert backend._scheduler.cancelled == 1
        assert backend.active_slots == 0 and backend.queue_depth == 0
    finally:
        backend.close()


def _stream_text(url: str, body: dict) -> tuple[str, list[str]]:
    import json

    texts, finishes = [], []
    with httpx.stream("POST", f"{url}/v1/chat/completions", json={**body, "stream": True},
                      headers={"Authorization": f"Bearer {API_KEY}"}, timeout=WAIT_S) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: {"):
                choice = json.loads(line[6:])["choices"][0]
                texts.append(choice["delta"].get("content") or "")
                if choice["finish_reason"]:
                    finishes.append(choice["finish_reason"])
    return "".join(texts), finishes


def test_streaming_over_http_with_concurrent_clients_and_a_disconnect(gguf):
    from slm_assets.serve.backends import LlamaCppBackend
    from slm_assets.serve.server import background_server

    # a cache per slot, so that each concurrent answer must equal the one given alone
    backend = LlamaCppBackend(gguf, n_threads=1, n_ctx=512, slots=2, version="1", kv_unified=False)
    questions = ["What is AC charging?", "What is a kWh?", "Why charge at night?", "What is a plug?"]
    bodies = [{"model": "smol", "max_tokens": 12, "temperature": 0, "messages": [{"role": "user", "content": q}]}
              for q in questions]
    try:
        app = make_app({"smol": backend}, max_tokens_cap=400)
        with background_server(app) as url, httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=WAIT_S) as http:
            alone = [http.post("/v1/chat/completions", json=b).json()["choices"][0]["message"]["content"]
                     for b in bodies]
            # a client that leaves after the first event: its slot must come back
            with httpx.stream("POST", f"{url}/v1/chat/completions", timeout=WAIT_S,
                              json={**bodies[0], "max_tokens": 400, "stream": True},
                              headers={"Authorization": f"Bearer {API_KEY}"}) as response:
                next(response.iter_lines())
            # the server notices the disconnect and drops the request: from its slot (the scheduler counts it), or,
            # when the client left before a worker had started the request, before it ever reached a slot (the
            # runner counts it: 1 of 12 module runs here; the test used to wait out WAIT_S for the scheduler then)
            runner = app.state.models["smol"].runner
            deadline = time.monotonic() + WAIT_S  # a bound for a hang
            while backend._scheduler.cancelled + runner.abandoned == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert backend._scheduler.cancelled + runner.abandoned == 1 and backend.active_slots == 0
            results: dict[int, tuple] = {}
            threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, _stream_text(url, bodies[i])))
                       for i in range(len(bodies))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(WAIT_S)
            metrics = http.get("/metrics").text

        for i, answer in enumerate(alone):
            assert results[i][0] == answer and len(results[i][1]) == 1, f"client {i}"
        assert 'slm_active_slots{model="smol",version="1"}' in metrics
        assert 'slm_generated_tokens_per_second{model="smol",version="1"}' in metrics
        assert 'slm_queue_depth{model="smol",version="1"} 0.0' in metrics
    finally:
        backend.close()


def test_free_cores_starts_afresh_with_every_core_when_decoding_resumes(monkeypatch):
    """A count taken while this process was idle and others filled the cores does not carry over to the next
    request: it starts with every core and is counted again from that moment."""
    from slm_assets.serve.slots import FreeCores

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    samples = iter([(0.0, 0, 0, 0.0), (1.0, 200, 0, 0.0), (5.0, 1000, 0, 0.0), (5.5, 1100, 50, 0.5),
                    (6.5, 1300, 150, 1.5)])
    monkeypatch.setattr(FreeCores, "_sample", staticmethod(lambda: next(samples)))
    cores = FreeCores(most=2, interval=0.0)
    assert cores.update() == 1  # others kept both cores busy while we were idle
    assert cores.restart() == 2 and cores.threads == 2  # a request arrives: every core again
    assert cores.restart() is None  # already there
    # counted from the last restart's sample (t=5.5), not from t=1: ours used 1 core, the other one was idle
    assert cores.update() is None and cores.threads == 2


def test_free_cores_follows_what_other_processes_leave_free(monkeypatch):
    """Samples are (when, all ticks, idle ticks, own CPU s): other processes busy on 1.5 of 2 cores -> 1 thread;
    the machine quiet again -> back to 2."""
    from slm_assets.serve.slots import FreeCores

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    samples = iter([(0.0, 0, 0, 0.0), (1.0, 200, 50, 0.0), (2.0, 400, 250, 0.0)])
    monkeypatch.setattr(FreeCores, "_sample", staticmethod(lambda: next(samples)))
    cores = FreeCores(most=2, interval=0.0)
    assert cores.threads == 2
    assert cores.update() == 1 and cores.threads == 1  # 75 % of 2 cores busy, none of it ours
    assert cores.update() == 2 and cores.threads == 2  # all idle


def test_coalesced_deltas_join_what_arrives_within_the_interval_and_pass_cancel_on():
    from slm_assets.serve.backends import CoalescedDeltas, Delta

    class Pieces:
        def __init__(self):
            self.items = iter([Delta(""), Delta("A"), Delta("b"), Delta("c"), Delta("d", "stop", 5, 4)])
            self.cancelled = False

        def __next__(self):
            time.sleep(0.01)
            return next(self.items)

        def cancel(self):
            self.cancelled = True

    joined = list(CoalescedDeltas(Pieces(), interval_s=60.0))
    assert joined == [Delta("A"), Delta("bcd", "stop", 5, 4)]  # the first text at once, the rest at the end
    assert [d.text for d in CoalescedDeltas(Pieces(), interval_s=0.0)] == ["A", "b", "c", "d"]
    pieces = Pieces()
    CoalescedDeltas(pieces, interval_s=1.0).cancel()
    assert pieces.cancelled
