"""Latency and throughput on a tiny random Llama: transformers and its GGUF in llama.cpp, batch 1 and batched."""

import math

import pytest

from slm_assets.evaluate.latency import measure_latency
from slm_assets.evaluate.latency_llama_cpp import BatchedGreedy
from slm_assets.evaluate.timed_run import Workload, percentile
from slm_assets_tests.evaluate.rows import sft_rows

PROMPTS = [r["prompt"] for r in sft_rows()[:3]]
FIELDS = ("ttft_p50_s", "ttft_p95_s", "latency_p50_s", "latency_p95_s", "decode_tokens_per_s",
          "throughput_tokens_per_s", "peak_memory_mb")


def test_percentile_interpolates_between_ranks():
    assert percentile([1.0], 95) == 1.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    assert math.isnan(percentile([], 50))


def test_every_runtime_reports_positive_latency_fields(tiny_model, tiny_smollm2_f16_gguf):
    model, tokenizer = tiny_model

    workload = Workload(max_new_tokens=6, batch_size=3, fixed_length=True, warmup=1, threads=1)
    latency = measure_latency(model, tokenizer, PROMPTS, workload, gguf_path=tiny_smollm2_f16_gguf, model_name="tiny")

    assert set(latency["runs"]) == {"hf_batch1", "hf_batch3", "gguf_f16_batch1", "gguf_f16_batch3"}
    for name, run in latency["runs"].items():
        for field in FIELDS:
            assert run[field] > 0, (name, field, run[field])
        assert run["ttft_p95_s"] >= run["ttft_p50_s"] and run["latency_p95_s"] >= run["latency_p50_s"], name
        assert run["latency_p50_s"] >= run["ttft_p50_s"]
        # fixed length: every request decoded exactly the asked tokens, end-of-sequence suppressed
        assert run["samples"]["new_tokens"] == [6, 6, 6], name
        assert len(run["samples"]["ttft_s"]) == len(run["samples"]["latency_s"]) == 3
    assert latency["runs"]["hf_batch3"]["batch_size"] == 3 and latency["runs"]["hf_batch1"]["batch_size"] == 1
    gguf = latency["runs"]["gguf_f16_batch1"]
    assert gguf["runtime"] == "llama.cpp" and gguf["qtype"] == "f16" and gguf["gguf_mb"] > 0 and gguf["threads"] == 1
    assert gguf["memory_kind"].startswith("process_peak_rss")
    batched = latency["runs"]["gguf_f16_batch3"]
    assert batched["runtime"] == "llama.cpp" and batched["batch_size"] == 3
    # one static batch: the three requests share their first-token and end times
    assert len(set(batched["samples"]["ttft_s"])) == 1 and len(set(batched["samples"]["latency_s"])) == 1


def _llama(tiny_smollm2_f16_gguf):
    import llama_cpp

    return llama_cpp.Llama(model_path=str(tiny_smollm2_f16_gguf), n_ctx=256, n_threads=1, seed=0, verbose=False)


def _prompt_ids(tokenizer, prompts):
    return [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=False)
            for p in prompts]


def test_batched_llama_cpp_decoding_matches_one_sequence_at_a_time(tiny_model, tiny_smollm2_f16_gguf):
    """Three prompts decoded together give each prompt the tokens greedy decoding gives it alone."""
    import numpy as np

    _, tokenizer = tiny_model
    ids = _prompt_ids(tokenizer, PROMPTS)
    llm = _llama(tiny_smollm2_f16_gguf)
    try:
        alone = []
        for prompt in ids:
            llm.reset()
            steps = llm.generate(prompt, top_k=1, temp=0.0, repeat_penalty=1.0, reset=True)
            alone.append([next(steps) for _ in range(8)])
        decoder = BatchedGreedy(llm, n_seq=3, n_ctx_per_seq=256, n_batch=sum(map(len, ids)), threads=1)
        try:
            _, times, together = decoder.generate(ids, 8, np.array([], dtype=np.int64), end_tokens=set())
            _, _, again = decoder.generate(ids, 8, np.array([], dtype=np.int64), end_tokens=set())
        finally:
            decoder.close()
    finally:
        llm.close()
    assert [len(t) for t in together] == [8, 8, 8] and [len(t) for t in times] == [8, 8, 8]
    assert together == again, "the KV cache must be cleared between batches"
    assert together == alone
    assert len({tuple(t) for t in together}) > 1, "different prompts should not all decode alike"


def test_batched_llama_cpp_stops_each_sequence_at_its_end_token(tiny_model, tiny_smollm2_f16_gguf):
    """Without fixed length a sequence leaves the batch at its end token while the others go on."""
    import numpy as np

    _, tokenizer = tiny_model
    ids = _prompt_ids(tokenizer, PROMPTS)
    llm = _llama(tiny_smollm2_f16_gguf)
    decoder = BatchedGreedy(llm, n_seq=3, n_ctx_per_seq=256, n_batch=sum(map(len, ids)), threads=1)
    try:
        _, _, free = decoder.generate(ids, 6, np.array([], dtype=np.int64), end_tokens=set())
        # declare the second prompt's third token an end token: only that sequence stops there
        stop = free[1][2]
        _, _, stopped = decoder.generate(ids, 6, np.array([], dtype=np.int64), end_tokens={stop})
    finally:
        decoder.close()
        llm.close()
    assert stopped[1] == free[1][: free[1].index(stop) + 1]
    for seq in (0, 2):
        expected = free[seq][: free[seq].index(stop) + 1] if stop in free[seq] else free[seq]
        assert stopped[seq] == expected
