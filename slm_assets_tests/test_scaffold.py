"""`slm-assets init-domain` writes every setting of the domain models, with its description, and reads back as
the defaults; presets are the only source of the values they set."""

import re

import pytest
import yaml
from pydantic import BaseModel

from slm_assets.domains import DomainSpec, load_domain_file, parse_domain
from slm_assets.scaffold import init_domain, scaffold_text
from slm_assets.train.config import DISTILL_PRESETS, PRESETS, DistillConfig, TrainConfig

TOPIC = "Residential heat pumps: sizing {and} COP"


def _nested(info) -> type[BaseModel] | None:
    annotation = info.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def field_lines(model: type[BaseModel], depth: int = 0):
    """(indent, field name, field info) for every field, depth first, in declaration order."""
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        yield "  " * depth, name, info
        if (nested := _nested(info)) is not None:
            yield from field_lines(nested, depth + 1)


def uncommented(text: str) -> str:
    """The scaffold with its commented-out fields (the preset-set ones) switched on."""
    wanted = {(indent, name) for indent, name, _ in field_lines(DomainSpec)}
    out = []
    for line in text.splitlines():
        match = re.match(r"^(\s*)# ([a-z_]+): ", line)
        out.append(line.replace("# ", "", 1) if match and (match[1], match[2]) in wanted else line)
    return "\n".join(out)


def defaults(**train) -> dict:
    raw = {"name": "heat_pumps", "topic": TOPIC, "description": f"A small model that answers questions about {TOPIC}."}
    return parse_domain({**raw, "train": train} if train else raw).model_dump()


def test_every_field_of_the_models_is_in_the_scaffold_in_order_with_its_description():
    lines = scaffold_text(TOPIC, "heat_pumps").splitlines()
    position = 0
    for indent, name, info in field_lines(DomainSpec):
        key = re.compile(rf"^{indent}(# )?{name}:( |$)")
        found = next((i for i in range(position, len(lines)) if key.match(lines[i])), None)
        assert found is not None, f"{indent}{name} missing (or out of order) in the scaffold"
        comment = " ".join(line.strip().removeprefix("# ") for line in lines[position:found]
                           if line.startswith(f"{indent}# "))
        assert info.description and info.description.split()[0] in comment, (name, comment)
        position = found + 1


def test_the_scaffold_reads_back_as_the_defaults(tmp_path):
    path = init_domain(TOPIC, "heat_pumps", tmp_path)
    assert load_domain_file(path).model_dump() == defaults()
    # the commented-out preset fields carry the preset's own values
    text = uncommented(path.read_text(encoding="utf-8"))
    assert parse_domain(yaml.safe_load(text)).model_dump() == defaults()


@pytest.mark.parametrize("preset", ["smoke", "full"])
def test_a_scaffold_follows_its_preset(preset):
    text = scaffold_text(TOPIC, "heat_pumps").replace("  preset: demo\n", f"  preset: {preset}\n")
    spec = parse_domain(yaml.safe_load(text))
    assert spec.model_dump() == defaults(preset=preset)
    assert spec.train.max_steps == PRESETS[preset]["max_steps"]
    assert spec.distill.max_steps == DISTILL_PRESETS[preset]["max_steps"]


def _models(model: type[BaseModel]):
    yield model
    for _, _, info in field_lines(model):
        if (nested := _nested(info)) is not None:
            yield nested


def test_every_setting_has_a_description():
    missing = [f"{model.__name__}.{name}" for model in set(_models(DomainSpec))
               for name, info in model.model_fields.items() if not info.description]
    assert missing == []


@pytest.mark.parametrize(("model", "presets"), [(TrainConfig, PRESETS), (DistillConfig, DISTILL_PRESETS)])
def test_a_value_every_preset_sets_has_no_class_default_under_it(model, presets):
    always = set.intersection(*(set(values) for values in presets.values()))
    assert always
    assert {name for name in always if not model.model_fields[name].is_required()} == set()
    # and a model built without a domain is the default preset, not some third set of numbers
    assert model().model_dump() == model.model_validate({**presets["demo"]}).model_dump()
