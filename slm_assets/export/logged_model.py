"""The merged model as an MLflow `transformers` model in the active run.

Logged with task `llm/v1/chat`: `mlflow.transformers.load_model` gives back a text-generation pipeline, and
`mlflow.pyfunc.load_model` answers OpenAI-style chat requests (`{"messages": [...], "max_tokens": N}`) with the
model's own chat template, so the registered version is a model any MLflow user can load and ask, offline.
"""

import logging
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

log = logging.getLogger(__name__)

MODEL_PATH = "model"  # the logged model's name in the run


def pinned_requirements() -> list[str]:
    """transformers and torch (accelerate when installed) at the installed versions.

    Given explicitly because MLflow's default list for torch models names torchvision, which this project
    does not install (log_model raised ModuleNotFoundError), and its inference of the rest loads the model
    again in a subprocess."""
    pinned = []
    for package in ("transformers", "torch", "accelerate"):
        try:
            pinned.append(f"{package}=={version(package).split('+')[0]}")  # 2.13.0+cpu: the local build tag
        except PackageNotFoundError:
            continue
    return pinned


def log_merged_model(merged_dir: Path, served_name: str, card: str, max_new_tokens: int):
    """Log `merged_dir` (safetensors, tokenizer and chat template, as save_merged writes it) into the active
    MLflow run; returns MLflow's ModelInfo (model_uri `models:/<model_id>`, model_id, run_id)."""
    import mlflow
    from huggingface_hub import ModelCard
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(merged_dir))  # the dtype it was saved in
    tokenizer = AutoTokenizer.from_pretrained(str(merged_dir))
    model.name_or_path = served_name  # what chat responses name as `model` (else a local folder)
    info = mlflow.transformers.log_model(
        transformers_model={"model": model, "tokenizer": tokenizer}, name=MODEL_PATH, task="llm/v1/chat",
        model_card=ModelCard(card),  # ours; without one MLflow asks the hub for a card named after the folder
        model_config={"max_new_tokens": max_new_tokens, "do_sample": False},
        pip_requirements=pinned_requirements())
    log.info("logged %s as %s (%s)", merged_dir, info.model_uri, served_name)
    return info
