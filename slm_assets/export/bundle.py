"""What a model version carries besides weights: a data manifest and a model card."""

import json
from pathlib import Path

from slm_assets.versioning import code_version


def bundle_manifest(con, spec, sft_dir: Path, run_id: str, best_model: str) -> dict:
    """Dataset hash, QA ids per split, document ids and sources: the data lineage of the version."""
    sft = json.loads((sft_dir / "manifest.json").read_text())
    splits = {}
    for split in ("train", "val", "test"):
        splits[split] = [r[0] for r in con.execute(
            "select qa_id from sft_examples where domain = ? and split = ? order by qa_id", [spec.name, split]
        ).fetchall()]
    documents = con.execute(
        """select distinct d.doc_id, d.source, d.title from sft_examples s
           join raw_documents d on d.domain = s.domain and d.doc_id = s.doc_id
           where s.domain = ? order by d.doc_id""", [spec.name]
    ).fetchall()
    return {
        "domain": spec.name, "topic": spec.topic, "base_model": spec.base_model, "exported_model": best_model,
        "dagster_run_id": run_id, "code_version": code_version(), "dataset_hash": sft["dataset_hash"],
        "qa_ids": splits, "documents": [{"doc_id": d, "source": s, "title": t} for d, s, t in documents],
    }


def model_card(spec, report: dict, manifest: dict, ggufs: dict, parity: dict, name: str, version: str) -> str:
    metric = report["primary_metric"]
    rows = "\n".join(
        f"| {m} | {s['rouge_l']:.3f} | {s['bleu']:.3f} | {s['exact_match']:.3f} | {s['token_f1']:.3f} |"
        for m, s in report["models"].items()
    )
    files = "\n".join(f"- `{Path(g['path']).name}` ({q}, {g['bytes'] / 2**20:.1f} MiB, parity "
                      f"{'passed' if parity[q]['passed'] else 'FAILED'})" for q, g in ggufs.items())
    return f"""# {name} v{version}

A small model specialised in **{spec.topic}**, fine-tuned by slm_assets from `{spec.base_model}`
(exported variant: `{manifest['exported_model']}`).

## Benchmark (held-out documents, {report['n_questions']} questions; primary metric {metric})

| model | ROUGE-L | BLEU | exact match | token F1 |
|---|---|---|---|---|
{rows}

## Files
- `merged/`: merged weights (safetensors) and tokenizer
- `adapter/`: the LoRA adapter
{files}
- `Modelfile`: `ollama create {name} -f Modelfile`
- `manifest.json`: dataset hash {manifest['dataset_hash']}, QA ids per split, {len(manifest['documents'])} source documents

## Lineage
Dagster run `{manifest['dagster_run_id']}`, code version `{manifest['code_version']}`.

## Limits
Trained on synthetic QA generated from the domain's documents; answers outside those documents are not reliable.
"""
