"""Latency and throughput on a tiny random Llama: transformers at batch 1 and batched, its GGUF in llama.cpp."""

import math

import pytest

from slm_assets.evaluate.latency import measure_latency, percentile
from slm_assets_tests.evaluate.tiny_models import sft_rows

PROMPTS = [r["prompt"] for r in sft_rows()[:3]]
FIELDS = ("ttft_p50_s", "ttft_p95_s", "latency_p50_s", "latency_p95_s", "decode_tokens_per_s",
          "throughput_tokens_per_s", "peak_memory_mb")


def test_percentile_interpolates_between_ranks():
    assert percentile([1.0], 95) == 1.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    assert math.isnan(percentile([], 50))


def test_every_runtime_reports_positive_latency_fields(tiny_model, tiny_gguf):
    model, tokenizer = tiny_model

    latency = measure_latency(model, tokenizer, PROMPTS, max_new_tokens=6, batch_size=3, fixed_length=True,
                              warmup=1, gguf_path=tiny_gguf, model_name="tiny", threads=1)

    assert set(latency["runs"]) == {"hf_batch1", "hf_batch3", "gguf_f16_batch1"}
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
