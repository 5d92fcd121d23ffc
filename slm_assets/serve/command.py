"""`slm-assets serve`: serve a domain's registered model (and its base model, for the playground)."""

import logging
from pathlib import Path

import typer

from slm_assets.serve.backends import DEFAULT_SLOTS, Backend

log = logging.getLogger(__name__)

BACKENDS = ("auto", "llama", "transformers")


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _base_backend(base_model: str | None, use_llama: bool, cache_dir: Path, slots: int,
                  kv_unified: bool = True) -> Backend | None:
    from slm_assets.models import BUNDLED_MODELS, bundled_gguf
    from slm_assets.serve.backends import LlamaCppBackend, TransformersBackend

    if not base_model:
        log.warning("the version has no base_model tag: serving without the base model")
        return None
    if use_llama:
        name = base_model.split(":", 1)[1] if base_model.startswith("bundled:") else None
        if name in BUNDLED_MODELS:
            return LlamaCppBackend(bundled_gguf(name, cache_dir), version="base", slots=slots, kv_unified=kv_unified,
                                   chat_template=BUNDLED_MODELS[name].chat_template)
        log.warning("base model %s has no GGUF here: serving without it (use --backend transformers)", base_model)
        return None
    return TransformersBackend(base_model, cache_dir=cache_dir, version="base", slots=slots)


def build_backends(served, backend: str, with_base: bool, cache_dir: Path,
                   slots: int = DEFAULT_SLOTS, kv_unified: bool = True) -> dict[str, Backend]:
    """{"base": ..., "<registered name>": ...} for a resolved `ServedModel`; llama.cpp models decode up to
    `slots` requests together, in one KV cache with `kv_unified` (else one cache per slot)."""
    from slm_assets.serve.backends import LlamaCppBackend, TransformersBackend

    if backend not in BACKENDS:
        raise typer.BadParameter(f"backend must be one of {', '.join(BACKENDS)}", param_hint="--backend")
    if backend == "auto":
        backend = "transformers" if _cuda() and served.merged_dir is not None else "llama"
    if backend == "llama" and served.gguf_path is None:
        raise typer.BadParameter(f"{served.name} v{served.version} has no GGUF in {served.bundle}")
    if backend == "transformers" and served.merged_dir is None:
        raise typer.BadParameter(f"{served.name} v{served.version} has no merged/ model in {served.bundle}")
    models: dict[str, Backend] = {}
    if with_base:
        base = _base_backend(served.base_model, backend == "llama", cache_dir, slots, kv_unified)
        if base is not None:
            models["base"] = base
    if backend == "llama":
        models[served.name] = LlamaCppBackend(served.gguf_path, version=served.version,
                                              system_prompt=served.system_prompt, slots=slots,
                                              kv_unified=kv_unified)
    else:
        models[served.name] = TransformersBackend(served.merged_dir, cache_dir=cache_dir, version=served.version,
                                                  system_prompt=served.system_prompt, slots=slots)
    return models


def serve(
    domain: str = typer.Option(..., "--domain", "-d", help="Domain whose registered model (slm-<domain>) to serve."),
    alias: str = typer.Option("champion", "--alias", help="Registry alias to serve (champion, candidate)."),
    version: int | None = typer.Option(None, "--version", help="Serve this version number instead of an alias."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    backend: str = typer.Option("auto", "--backend",
                                help="auto (transformers on a GPU, else llama.cpp), llama or transformers."),
    with_base: bool = typer.Option(True, "--with-base/--no-base",
                                   help="Also serve the base model as 'base' (the playground compares both)."),
    api_keys_file: Path | None = typer.Option(None, "--api-keys-file", exists=True, dir_okay=False,
                                              help="File with one API key per line (adds to SLM_API_KEYS)."),
    slots: int = typer.Option(DEFAULT_SLOTS, "--slots", min=1, envvar="SLM_SERVE_SLOTS",
                              help="Requests decoded together per model (continuous batching: llama.cpp, and "
                              "greedy requests on transformers); 1 serves one request at a time."),
    kv_unified: bool = typer.Option(True, "--kv-unified/--kv-per-slot", envvar="SLM_SERVE_KV_UNIFIED",
                                    help="llama.cpp: one KV cache for all slots (default, as llama.cpp's server; "
                                    "2x the throughput under concurrent load on 2 cores; a batched request's "
                                    "greedy tokens may differ from its one-at-a-time tokens at near-ties), or one "
                                    "per slot (every batched answer equals its one-at-a-time answer)."),
) -> None:
    """Serve a domain's model over OpenAI- and Ollama-compatible HTTP APIs, with a playground at /."""
    from slm_assets.serve.backends import bounded_openmp_spin

    bounded_openmp_spin()  # before anything imports llama_cpp
    from slm_assets.serve.app import create_app
    from slm_assets.serve.auth import ApiKeys
    from slm_assets.serve.registry_loader import ServedModelNotFound, resolve_served_model
    from slm_assets.serve.server import run_server
    from slm_assets.serve.settings import ServeSettings
    from slm_assets.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    serve_settings = ServeSettings(api_keys_file=api_keys_file) if api_keys_file else ServeSettings()
    keys = ApiKeys.from_sources(keys_file=serve_settings.api_keys_file)
    if len(keys) == 0:
        typer.echo("no API keys: set SLM_API_KEYS=key1,key2 or pass --api-keys-file", err=True)
        raise typer.Exit(2)
    try:
        served = resolve_served_model(domain, alias=alias, version=version, tracking_uri=settings.tracking_uri)
    except ServedModelNotFound as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    models = build_backends(served, backend, with_base, settings.models_cache_dir, slots, kv_unified)
    from slm_assets.serve.open_book import load_retriever

    k, grounding = retrieval_settings(domain)
    retriever = load_retriever(settings.warehouse_dir, domain, k, grounding)
    app = create_app(models, serve_settings, api_keys=keys, retriever=retriever)
    if retriever is not None:
        typer.echo(f"retrieval on: {len(retriever.index.chunk_ids)} chunks; answers carry `sources`")
    typer.echo(f"serving {', '.join(models)} on http://{host}:{port} (playground at /, OpenAI API at /v1, "
               f"Ollama API at /api)")
    try:
        run_server(app, host=host, port=port)
    finally:  # the backends' own threads (llama.cpp schedulers, transformers' batching manager) stop with it
        for model in models.values():
            model.close()


def retrieval_settings(domain: str):
    """(k, grounding) from the domain file; the defaults when the registered model's domain file is gone."""
    from slm_assets.domains import DomainError, load_domain
    from slm_assets.retrieval.config import GroundingConfig

    try:
        spec = load_domain(domain)
    except (DomainError, FileNotFoundError) as exc:
        logging.getLogger(__name__).info("retrieval settings: defaults (%s)", exc)
        return 2, GroundingConfig()
    return spec.split.context.k_retrieve, spec.grounding
