"""A domain = a topic in plain language + its sources + settings. One YAML file per domain in `domains/`.

Each domain is one partition of every asset.
"""

import re
from pathlib import Path

import dagster as dg
import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from slm_assets.evaluate.config import BenchmarkConfig
from slm_assets.export.config import ExportConfig
from slm_assets.ingest.config import SourcesConfig
from slm_assets.process.config import ProcessConfig
from slm_assets.retrieval.config import GroundingConfig
from slm_assets.settings import PROJECT_ROOT, get_settings
from slm_assets.synth.config import SynthConfig, TeacherConfig
from slm_assets.train.config import (
    DistillConfig,
    SplitConfig,
    TrainConfig,
    distill_config_from,
    train_config_from,
)

BUNDLED_BASE_MODEL = "bundled:smollm2-135m-instruct"
DOMAIN_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

domain_partitions = dg.DynamicPartitionsDefinition(name="domain")


class DomainSpec(BaseModel):
    """Everything that defines one domain's model."""

    name: str = Field(description="Partition key: lower case letters, digits and underscores.")
    topic: str = Field(min_length=3, description="The domain in plain language; goes into every system prompt.")
    use_case: str = Field(default="qa", description="What the model is for (qa).")
    description: str = Field(default="", description="Free text for the UI and the model card.")
    base_model: str = Field(
        default=BUNDLED_BASE_MODEL,
        description="`bundled:smollm2-135m-instruct`, a hub id (e.g. TinyLlama/TinyLlama-1.1B-Chat-v1.0) or a local directory.",
    )
    sources: SourcesConfig = Field(default_factory=SourcesConfig, description="Where the documents come from.")
    process: ProcessConfig = Field(default_factory=ProcessConfig, description="Cleaning, deduplication, chunking.")
    teacher: TeacherConfig = Field(default_factory=TeacherConfig, description="The LLM that writes the QA pairs.")
    synth: SynthConfig = Field(default_factory=SynthConfig, description="The QA budget and its limits.")
    split: SplitConfig = Field(default_factory=SplitConfig, description="Train/val/test split by document.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Supervised fine-tuning (LoRA).")
    distill: DistillConfig = Field(default_factory=DistillConfig, description="Distillation into the student.")
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig, description="Benchmark and promotion gate.")
    export: ExportConfig = Field(default_factory=ExportConfig, description="GGUF export and registration.")
    grounding: GroundingConfig = Field(
        default_factory=GroundingConfig, description="Checking open-book answers against their passages.")
    source_file: Path | None = Field(default=None, exclude=True, description="The YAML this came from.")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not DOMAIN_NAME_RE.match(value):
            raise ValueError(f"domain name {value!r} must match {DOMAIN_NAME_RE.pattern}")
        return value

    @property
    def system_prompt(self) -> str:
        # short on purpose: it is in every training example, and CPU training pays per token
        return f"You answer questions about {self.topic} accurately in one or two sentences."

    def folder_paths(self) -> list[Path]:
        """Source folders as absolute paths (relative ones are taken from the project root)."""
        paths = []
        for folder in self.sources.folders:
            path = Path(folder).expanduser()
            paths.append(path if path.is_absolute() else (PROJECT_ROOT / path))
        return paths


class DomainError(ValueError):
    """A domain file that cannot be used; the message names the file."""


def parse_domain(raw: dict, source_file: Path | None = None) -> DomainSpec:
    """Build a spec from YAML data, applying the training preset before the domain's own fields."""
    raw = dict(raw)
    try:
        train = train_config_from(raw.pop("train", None))
        distill = distill_config_from(raw.pop("distill", None), train.preset)
        return DomainSpec(**raw, train=train, distill=distill, source_file=source_file)
    except ValidationError as exc:
        raise DomainError(f"{source_file or 'domain'}: {exc}") from exc


def load_domain_file(path: Path) -> DomainSpec:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DomainError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise DomainError(f"{path}: expected a mapping at the top level")
    raw.setdefault("name", path.stem)
    if raw["name"] != path.stem:
        raise DomainError(f"{path}: name {raw['name']!r} differs from the file name {path.stem!r}")
    return parse_domain(raw, source_file=path)


def load_domains(domains_dir: Path | None = None) -> dict[str, DomainSpec]:
    """All domains in the folder, by name."""
    folder = domains_dir or get_settings().domains_dir
    return {spec.name: spec for spec in (load_domain_file(p) for p in sorted(folder.glob("*.yaml")))}


def load_domain(name: str, domains_dir: Path | None = None) -> DomainSpec:
    folder = domains_dir or get_settings().domains_dir
    path = folder / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml"))) or "none"
        raise DomainError(f"no domain {name!r}: {path} does not exist (known: {known})")
    return load_domain_file(path)


def sync_domain_partitions(instance: dg.DagsterInstance, domains_dir: Path | None = None) -> tuple[list[str], list[str]]:
    """Make the `domain` partitions equal the YAML files: returns (added, removed)."""
    wanted = set(load_domains(domains_dir))
    current = set(instance.get_dynamic_partitions(domain_partitions.name))
    added, removed = sorted(wanted - current), sorted(current - wanted)
    if added:
        instance.add_dynamic_partitions(domain_partitions.name, added)
    for key in removed:
        instance.delete_dynamic_partition(domain_partitions.name, key)
    return added, removed
