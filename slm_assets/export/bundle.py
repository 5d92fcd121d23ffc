"""What a model version carries besides weights: a data manifest and a model card."""

import json
from pathlib import Path

from slm_assets.export.lineage_record import lineage_record, registration_tags, snapshot_chain
from slm_assets.snapshots import snapshot_table_sql
from slm_assets.storage import write_text_atomically
from slm_assets.versioning import code_version
from slm_assets.warehouse import fetch_dicts


def bundle_manifest(con, spec, sft_dir: Path, run_id: str, best_model: str) -> dict:
    """Dataset hash, QA ids per split, document ids and sources: the data lineage of the version, read from
    the SFT dataset's own snapshot (and the document snapshot it came from), not from whatever is current."""
    sft = json.loads((sft_dir / "manifest.json").read_text())
    chain = snapshot_chain(con, sft["snapshot"]["snapshot_id"])
    examples = con.execute(f"select qa_id, split, doc_id from ({snapshot_table_sql('sft_examples')}) order by qa_id",
                           [chain["sft_dataset"]["snapshot_id"]]).fetchall()
    splits = {split: [q for q, s, _ in examples if s == split] for split in ("train", "val", "test")}
    doc_ids = {d for _, _, d in examples}
    documents = sorted({(d["doc_id"], d["source"], d["title"]) for d in _rows(con, "raw_documents", chain, "raw_docs")
                        if d["doc_id"] in doc_ids})
    return {
        "domain": spec.name, "topic": spec.topic, "base_model": spec.base_model, "exported_model": best_model,
        "dagster_run_id": run_id, "code_version": code_version(), "dataset_hash": sft["dataset_hash"],
        "qa_ids": splits, "documents": [{"doc_id": d, "source": s, "title": t} for d, s, t in documents],
    }


def _rows(con, table: str, chain: dict, asset: str) -> list[dict]:
    return fetch_dicts(con, snapshot_table_sql(table), [chain[asset]["snapshot_id"]]) if asset in chain else []


def write_bundle_manifest(con, spec, domain_yaml: str, bundle: Path, artifact_dirs: dict[str, Path],
                          dagster_run_id: str, best_model: str, models_cache: Path) -> tuple[dict, dict[str, str]]:
    """Write `bundle/manifest.json` (data manifest + lineage record) and `bundle/config.json` (the domain's settings
    as resolved, presets applied); returns the manifest and the registry tags for it."""
    manifest = bundle_manifest(con, spec, artifact_dirs["sft"], dagster_run_id, best_model)
    manifest["lineage"] = lineage_record(con, spec, domain_yaml, artifact_dirs["sft"], artifact_dirs,
                                         dagster_run_id, models_cache)
    write_text_atomically(bundle / "manifest.json", json.dumps(manifest, indent=2, default=str))
    write_text_atomically(bundle / "config.json", spec.model_dump_json(indent=2))
    return manifest, registration_tags(manifest["lineage"])


def model_card(spec, report: dict, manifest: dict, ggufs: dict, parity: dict, name: str, version: str | None) -> str:
    """README.md of the bundle (and of the logged MLflow model, written before its version number exists)."""
    title = f"{name} v{version}" if version else name
    metric = report["primary_metric"]
    rows = "\n".join(
        f"| {m} | {s['rouge_l']:.3f} | {s['bleu']:.3f} | {s['exact_match']:.3f} | {s['token_f1']:.3f} |"
        for m, s in report["models"].items()
    )
    files = "\n".join(f"- `{Path(g['path']).name}` ({q}, {g['bytes'] / 2**20:.1f} MiB, parity "
                      f"{'passed' if parity[q]['passed'] else 'FAILED'})" for q, g in ggufs.items())
    return f"""# {title}

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
