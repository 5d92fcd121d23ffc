"""A small warehouse that benchmark_report can read, for the evaluation asset tests."""

import json

from slm_assets.retrieval.index import ChunkIndex
from slm_assets.snapshots import write_snapshot
from slm_assets.testing.tiny_models import save_random_lora_adapter
from slm_assets.warehouse import connect
from slm_assets_tests.evaluate.rows import EV_QUESTIONS, sft_rows


def benchmark_warehouse(root, base_dir):
    """A warehouse for benchmark_report: the SFT test split, two random adapters, the index and the chunks."""
    artifacts = root / "artifacts" / "ev"
    rows = sft_rows()
    (artifacts / "sft").mkdir(parents=True)
    (artifacts / "sft" / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    save_random_lora_adapter(base_dir, artifacts / "lora" / "adapter", seed=1)
    save_random_lora_adapter(base_dir, artifacts / "distilled" / "adapter", seed=2)
    chunks = [{"chunk_id": r["chunk_id"], "doc_id": r["doc_id"], "text": a} for r, (_, a) in zip(rows, EV_QUESTIONS, strict=True)]
    ChunkIndex.build(chunks)[0].save(artifacts / "index")
    with connect(root / "slm.duckdb") as con:
        write_snapshot(con, "ev", "clean_chunks", {"clean_documents": [], "curation_rejections": [], "clean_chunks": [
            {**c, "domain": "ev", "chunk_index": i, "n_tokens": 10, "heading": None, "page_start": None,
             "page_end": None, "char_start": 0, "char_end": len(c["text"]), "source": "test", "cluster_id": c["chunk_id"]}
            for i, c in enumerate(chunks)]}, None, [])
