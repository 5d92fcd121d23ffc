"""`slm-assets init-domain`: a new domain YAML that lists every setting with its default and its description,
written from the config models themselves (so a new field appears here as soon as it exists).

Fields a training preset sets are written commented out, with each preset's value: left as comments they follow
`train.preset`; uncommented they override it.
"""

import re
import textwrap
from pathlib import Path

import yaml
from pydantic import BaseModel

from slm_assets.domains import DOMAIN_NAME_RE, DomainSpec, load_domain_file, parse_domain
from slm_assets.train.config import DISTILL_PRESETS, PRESETS, DistillConfig, TrainConfig

WIDTH = 110
HEADER = """\
# Domain: {topic}
# One partition of every asset. Fill in `sources`, then materialise:
#   slm-assets materialize --domain {name}
# Every setting is listed with its default; delete the ones you leave as they are.
"""
# the preset tables of the models that have them
PRESET_TABLES: dict[type[BaseModel], dict[str, dict]] = {TrainConfig: PRESETS, DistillConfig: DISTILL_PRESETS}


def name_from_topic(topic: str) -> str:
    words = re.findall(r"[a-z0-9]+", topic.lower())
    name = "_".join(words)[:40].strip("_") or "domain"
    return name if name[0].isalpha() else f"d_{name}"


def yaml_value(value) -> str:
    """One value as flow-style YAML on one line (PyYAML's own quoting and float forms, so it reads back equal)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9, allow_unicode=True).strip()
    return text.removesuffix("\n...").strip()


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(text, WIDTH - len(indent) - 2, break_on_hyphens=False)]


def _preset_values(model: type[BaseModel], field: str) -> dict[str, object] | None:
    """{preset: value} when `field` of `model` is set by at least one preset, else None."""
    table = PRESET_TABLES.get(model)
    if not table or not any(field in values for values in table.values()):
        return None
    info = model.model_fields[field]
    return {preset: values.get(field, info.default) for preset, values in table.items()}


def model_lines(model: type[BaseModel], values: dict, depth: int = 0) -> list[str]:
    """`values` (a model_dump of `model`) as YAML lines, each field under its description."""
    indent, lines = "  " * depth, []
    for field, info in model.model_fields.items():
        if info.exclude or field not in values:
            continue
        if depth == 0 and lines:
            lines.append("")
        nested = info.annotation if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel) else None
        lines += _comment(info.description or "", indent)
        by_preset = _preset_values(model, field)
        if nested is not None:
            lines.append(f"{indent}{field}:")
            lines += model_lines(nested, values[field], depth + 1)
        elif by_preset is not None:
            presets = ", ".join(f"{p} {yaml_value(v)}" for p, v in by_preset.items())
            lines += _comment(f"Presets: {presets} (uncomment to override).", indent)
            lines.append(f"{indent}# {field}: {yaml_value(values[field])}")
        else:
            lines.append(f"{indent}{field}: {yaml_value(values[field])}")
    return lines


def scaffold_text(topic: str, name: str) -> str:
    """The YAML of a new domain: the defaults, with `topic` and a description filled in."""
    topic = topic.strip().replace("\n", " ")
    spec = parse_domain({"name": name, "topic": topic, "description": f"A small model that answers questions about "
                         f"{topic}."})
    body = model_lines(DomainSpec, spec.model_dump(mode="json"))
    return HEADER.format(topic=topic, name=name) + "\n" + "\n".join(body) + "\n"


def init_domain(topic: str, name: str | None, domains_dir: Path, force: bool = False) -> Path:
    name = name or name_from_topic(topic)
    if not DOMAIN_NAME_RE.match(name):
        raise ValueError(f"domain name {name!r} must match {DOMAIN_NAME_RE.pattern}")
    path = domains_dir / f"{name}.yaml"
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists (use --force to overwrite)")
    domains_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(scaffold_text(topic, name), encoding="utf-8")
    load_domain_file(path)  # the scaffold must itself be a valid domain
    return path
