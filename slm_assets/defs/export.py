"""gguf_export: merged weights, GGUF for llama.cpp/Ollama, a versioned bundle, an MLflow run and model version."""

import dagster as dg

from slm_assets.artifacts import publish_latest
from slm_assets.defs.evaluate import benchmark_report
from slm_assets.defs.partitions import FOLLOW_UPSTREAM, domain_partitions
from slm_assets.export.bundle import write_bundle_manifest
from slm_assets.export.registry import registered_name
from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.mlflow_tracking import TrackingResource
from slm_assets.resources.warehouse import WarehouseResource


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
    "chat template, an Ollama Modelfile from the model's chat template, a model card and a data manifest. One "
    "MLflow run logs the merged model (transformers flavour, loads with mlflow.transformers.load_model), the GGUFs, "
    "the report and the manifest; the logged model becomes a new version of the domain's registered model (alias "
    "candidate; champion when benchmark_report found it better than the current champion, re-scored in the same "
    "run, beyond noise).",
)
def gguf_export(context: dg.AssetExecutionContext, warehouse: WarehouseResource, domains: DomainsResource,
                tracking: TrackingResource):
    from slm_assets.export.package import build_bundle
    from slm_assets.export.publish import publish_bundle, published_metadata

    spec = domains.get(context.partition_key)
    used = {kind: warehouse.latest_artifacts(spec.name, kind) for kind in ("sft", "lora", "distilled", "benchmark")}
    bundle = warehouse.artifacts(spec.name, "export", f"run-{context.run.run_id[:8]}")
    built = build_bundle(spec, used, bundle, warehouse.models_cache_dir)
    context.log.info(f"parity {built.parity}")
    with warehouse.connect(read_only=False) as con:
        manifest, lineage_tags = write_bundle_manifest(con, spec, domains.yaml_text(spec.name), bundle,
                                                       {**used, "export": bundle}, context.run.run_id, built.best,
                                                       warehouse.models_cache_dir)
    published = publish_bundle(tracking, spec, built, manifest, lineage_tags, context.run.run_id)
    context.log.info(published.why)
    publish_latest(bundle)
    return dg.MaterializeResult(
        metadata={
            "bundle": dg.MetadataValue.path(str(bundle)),
            "gguf": dg.MetadataValue.json(built.ggufs),
            "parity": dg.MetadataValue.json(built.parity),
            "exported_model": built.best,
            "registered_model": registered_name(spec.export.registered_model_prefix, spec.name),
            **published_metadata(published),
        },
        check_results=[dg.AssetCheckResult(check_name="gguf_parity", passed=built.passed,
                                           metadata={k: v["max_logit_diff"] for k, v in built.parity.items()})],
    )
