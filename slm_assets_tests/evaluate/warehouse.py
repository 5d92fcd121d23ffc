"""A small warehouse that benchmark_report can read, for the evaluation asset tests."""

import json

from slm_assets.retrieval.index import ChunkIndex
from slm_assets.snapshots import write_snapshot
from slm_assets.warehouse import connect
from slm_assets_tests.evaluate.rows import EV_QUESTIONS, sft_rows


def _adapter(base_dir, target, seed: int):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(base_dir)),
                               LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(str(target))


def benchmark_warehouse(root, base_dir):
    """A warehouse for benchmark_report: the SFT test split, two random adapters, the index and the chunks."""
    artifacts = root / "artifacts" / "ev"
    rows = sft_rows()
    (artifacts / "sft").mkdir(parents=True)
    (artifacts / "sft" / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    _adapter(base_dir, artifacts / "lora" / "adapter", 1)
    _adapter(base_dir, artifacts / "distilled" / "adapter", 2)
    chunks = [{"chunk_id": r["chunk_id"], "doc_id": r["doc_id"], "text": a} for r, (_, a) in zip(rows, EV_QUESTIONS, strict=True)]
    ChunkIndex.build(chunks)[0].save(artifacts / "index")
    with connect(root / "slm.duckdb") as con:
        write_snapshot(con, "ev", "clean_chunks", {"clean_documents": [], "curation_rejections": [], "clean_chunks": [
            {**c, "domain": "ev", "chunk_index": i, "n_tokens": 10, "heading": None, "page_start": None,
             "page_end": None, "char_start": 0, "char_end": len(c["text"]), "source": "test", "cluster_id": c["chunk_id"]}
            for i, c in enumerate(chunks)]}, None, [])
