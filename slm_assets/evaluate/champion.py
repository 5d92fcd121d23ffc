"""The current champion, re-loaded from its registered files so the benchmark scores it beside the candidate.

The gate never trusts a score stored when the champion was promoted: that score came from another run, maybe on
other questions. It loads the version the `champion` alias points at (its bundle's LoRA adapter on the base, or
the bundle's merged model) and the benchmark asks it the same questions as the candidate, in the same run.
"""

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CHAMPION = "champion"  # the champion's row name in the benchmark


@dataclass(frozen=True)
class ChampionStatus:
    """What the gate compares the candidate with: the champion when it was scored, else base, and why."""

    version: str | None = None  # the registered version `champion` points at; None when there is none yet
    source: str | None = None  # the files it was loaded from
    problem: str | None = None  # why it could not be loaded (the gate then compares with base)

    @property
    def loaded(self) -> bool:
        return self.version is not None and self.problem is None

    def describe(self) -> str:
        if self.version is None:
            return "no champion registered yet: the candidate is compared with base"
        if self.problem:
            return f"champion v{self.version} could not be loaded ({self.problem}): the candidate is compared with base"
        return f"champion v{self.version} re-scored from {self.source}"

    def as_dict(self) -> dict:
        return {**asdict(self), "loaded": self.loaded}


def champion_files(version, base_model: str) -> tuple[Path | None, Path | None, str | None]:
    """(adapter dir, merged model dir, problem): the bundle's adapter when it has one, else its merged model."""
    from slm_assets.artifacts import BundleNotFound, registered_bundle

    trained_on = (version.tags or {}).get("base_model")
    if trained_on and trained_on != base_model:
        return None, None, f"it was trained on {trained_on}, the candidate on {base_model}"
    try:
        bundle = registered_bundle(version)
    except BundleNotFound as exc:
        return None, None, str(exc)
    adapter, merged = bundle / "adapter", bundle / "merged"
    adapter_weights = [adapter / f"adapter_model.{ext}" for ext in ("safetensors", "bin")]
    if (adapter / "adapter_config.json").is_file() and any(p.is_file() for p in adapter_weights):
        return adapter, None, None
    if (merged / "config.json").is_file() and any(merged.glob("*.safetensors")):
        return None, merged, None
    return None, None, f"missing files: neither {adapter} nor {merged} holds model weights"


def load_champion(version, base_model: str, cache_dir: Path, dtype: str = "float32"):
    """(model or None, ChampionStatus) of `version`, the registered model version the `champion` alias points at
    (None when there is none), its weights in `dtype`. Missing or unreadable files give no model and a status that
    says why; they never stop the benchmark."""
    from slm_assets.models import ModelNotAvailable, load_causal_lm, load_tuned_model

    if version is None:
        return None, ChampionStatus()
    number = str(version.version)
    adapter, merged, problem = champion_files(version, base_model)
    if problem:
        log.warning("champion v%s not scored: %s", number, problem)
        return None, ChampionStatus(version=number, problem=problem)
    try:
        model = (load_tuned_model(base_model, cache_dir, adapter, dtype=dtype) if adapter
                 else load_causal_lm(str(merged), cache_dir, dtype=dtype))
    except (OSError, ValueError, ModelNotAvailable) as exc:  # truncated or foreign weights: reported, the gate falls back to base
        log.warning("champion v%s not loaded: %s", number, exc)
        return None, ChampionStatus(version=number, problem=f"its files do not load: {exc}")
    return model, ChampionStatus(version=number, source=str(adapter or merged))


@dataclass
class ModelsToScore:
    """The models a domain benchmark asks, where each came from, and the champion's status."""

    models: dict  # name -> loaded model: base, this run's tuned models, the champion when it loaded
    sources: dict[str, str]  # name -> what it was loaded from
    champion: ChampionStatus


def load_models_to_score(base_model: str, cache_dir: Path, adapters: dict[str, Path], champion_version,
                         registered: str, dtype: str = "float32") -> ModelsToScore:
    """Base, each of `adapters` (this run's lora_adapter and distilled_model) on it, and the registered model
    `registered`'s champion, the version `champion_version` (None: none yet), re-loaded from its files when they
    load; all in `dtype` (benchmark.dtype), which each source names when it is not float32."""
    from slm_assets.models import load_tuned_model

    models = {"base": load_tuned_model(base_model, cache_dir, None, dtype=dtype)}
    models.update({name: load_tuned_model(base_model, cache_dir, adapter, dtype=dtype)
                   for name, adapter in adapters.items()})
    sources = {"base": base_model, **{name: str(adapter) for name, adapter in adapters.items()}}
    champion_model, champion = load_champion(champion_version, base_model, cache_dir, dtype)
    if champion_model is not None:
        models[CHAMPION], sources[CHAMPION] = champion_model, f"{registered} v{champion.version} ({champion.source})"
    if dtype != "float32":
        sources = {name: f"{source}, in {dtype}" for name, source in sources.items()}
    return ModelsToScore(models, sources, champion)
