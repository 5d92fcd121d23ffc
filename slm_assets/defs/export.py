"""gguf_export: merged weights, GGUF for llama.cpp/Ollama, a versioned bundle, an MLflow model version."""

import json
import shutil

import dagster as dg

from slm_assets.artifacts import publish_latest
from slm_assets.defs.evaluate import benchmark_report
from slm_assets.defs.partitions import FOLLOW_UPSTREAM, domain_partitions
from slm_assets.export.bundle import model_card, write_bundle_manifest
from slm_assets.export.registry import promote_if_it_won, register_version, registered_name
from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.mlflow_tracking import TrackingResource
from slm_assets.resources.warehouse import WarehouseResource
from slm_assets.storage import write_text_atomically
from slm_assets.train.sft_data import read_split
from slm_assets.versioning import code_version


@dg.asset(
    partitions_def=domain_partitions,
    automation_condition=FOLLOW_UPSTREAM,
    deps=[benchmark_report],
    group_name="export",
    kinds={"gguf", "mlflow"},
    owners=["team:ml"],
    check_specs=[dg.AssetCheckSpec("gguf_parity", asset="gguf_export", blocking=True,
                                   description="llama.cpp on the GGUF matches the merged HF model on benchmark "
                                   "prompts within the quantisation's tolerance, and generates.")],
    description="The benchmark's best tuned model merged into its base (safetensors), converted to GGUF by "
    "llama.cpp's convert_hf_to_gguf and quantised by llama.cpp (q4_k_m and q8_0 by default) with tokenizer and "
    "chat template, an Ollama Modelfile from the model's chat template, a model card and a data manifest, "
    "registered as a new version of the domain's MLflow model (alias candidate; champion when benchmark_report "
    "found it better than the current champion, re-scored in the same run, beyond noise).",
)
def gguf_export(context: dg.AssetExecutionContext, warehouse: WarehouseResource, domains: DomainsResource,
                tracking: TrackingResource):
    from slm_assets.export.chat_format import chat_format_for
    from slm_assets.export.gguf import export_ggufs
    from slm_assets.export.merge import save_merged
    from slm_assets.export.modelfile import write_modelfile
    from slm_assets.export.parity import check_parity

    spec = domains.get(context.partition_key)
    used = {kind: warehouse.latest_artifacts(spec.name, kind) for kind in ("sft", "lora", "distilled", "benchmark")}
    report = json.loads((used["benchmark"] / "report.json").read_text())
    best = report["best_model"]
    adapter = used["lora" if best == "lora_adapter" else "distilled"] / "adapter"
    bundle = warehouse.artifacts(spec.name, "export", f"run-{context.run.run_id[:8]}")
    merged = save_merged(spec.base_model, warehouse.models_cache_dir, adapter, bundle / "merged")
    shutil.copytree(adapter, bundle / "adapter", dirs_exist_ok=True)

    export = spec.export
    infos = export_ggufs(merged, bundle, spec.name, export.quantizations, outtype=export.convert_outtype,
                         name=f"slm-{spec.name}",
                         metadata={"slm_assets.domain": spec.name, "slm_assets.code_version": code_version()})
    ggufs, parity = {}, {}
    test_rows = read_split(used["sft"], "test")
    prompts = [r["prompt"][-1]["content"] for r in test_rows[: export.parity_prompts]] or ["What is this model for?"]
    for qtype, info in infos.items():
        ggufs[qtype] = {"path": str(info.path), "bytes": info.n_bytes, "sha256": info.sha256,
                        "seconds": round(info.seconds, 2)}
        result = check_parity(merged, info.path, prompts, max_new_tokens=export.parity_max_new_tokens)
        parity[qtype] = {"passed": result.passed, "max_logit_diff": round(result.max_logit_diff, 5),
                         "top1_agreement": result.top1_agreement, "greedy_match_rate": result.greedy_match_rate,
                         "forced_top1_agreement": round(result.forced_top1_agreement, 4)}
        context.log.info(f"{qtype}: {info.n_bytes / 2**20:.1f} MiB, parity {parity[qtype]}")
    first = export.quantizations[0]
    write_modelfile(f"{spec.name}-{first}.gguf", bundle, spec.system_prompt, chat_format_for(merged))
    benchmark_dir = used["benchmark"]
    shutil.copy(benchmark_dir / "report.md", bundle / "benchmark.md")
    for png in benchmark_dir.glob("*.png"):  # the plots report.md links to
        shutil.copy(png, bundle / png.name)
    with warehouse.connect(read_only=False) as con:
        manifest, lineage_tags = write_bundle_manifest(con, spec, domains.yaml_text(spec.name), bundle,
                                                       {**used, "export": bundle}, context.run.run_id, best,
                                                       warehouse.models_cache_dir)
    write_text_atomically(bundle / "config.json", spec.model_dump_json(indent=2))

    passed = all(p["passed"] for p in parity.values())
    version = promoted = None
    why = "parity failed: not registered"
    if passed:
        metric = report["primary_metric"]
        compared, against = report.get("compared") or [best, "base"]  # the rows the gate decided on
        score = report["models"][compared][metric]
        base_score = report["models"][against][metric]
        client = tracking.client()
        name = registered_name(spec.export.registered_model_prefix, spec.name)
        tags = {"dagster.run_id": context.run.run_id, "dagster.partition": spec.name, "best_model": best,
                "code_version": code_version(), "dataset_hash": manifest["dataset_hash"],
                "base_model": spec.base_model, f"benchmark.{metric}": f"{score:.6f}",
                "benchmark.base": f"{base_score:.6f}", "bundle": str(bundle), **lineage_tags}
        version = register_version(client, name, bundle.as_uri(), None, tags, description=spec.description.strip())
        promoted, why = promote_if_it_won(client, name, version, report.get("promotion"))
        write_text_atomically(bundle / "README.md", model_card(spec, report, manifest, ggufs, parity, name, version))
    context.log.info(why)
    publish_latest(bundle)
    return dg.MaterializeResult(
        metadata={
            "bundle": dg.MetadataValue.path(str(bundle)),
            "gguf": dg.MetadataValue.json(ggufs),
            "parity": dg.MetadataValue.json(parity),
            "exported_model": best,
            "registered_model": registered_name(spec.export.registered_model_prefix, spec.name),
            "version": version or "not registered",
            "champion": bool(promoted),
            "promotion": why,
        },
        check_results=[dg.AssetCheckResult(check_name="gguf_parity", passed=passed,
                                           metadata={k: v["max_logit_diff"] for k, v in parity.items()})],
    )
