"""The evaluate-library modules shipped in the repo give the plain functions' numbers, offline."""

import statistics

import pytest

from slm_assets.evaluate.metrics import (
    METRIC_MODULES,
    METRIC_MODULES_DIR,
    corpus_bleu,
    exact_match,
    load_metric,
    rouge_l,
    token_f1,
)

PREDICTIONS = ["The Type 2 plug.", "CCS2 supports 350 kW DC power", "bananas are yellow", "a level two home charger", ""]
REFERENCES = ["type 2 plug", "CCS2 supports up to 350 kW of DC power", "Type 2 is the European standard",
              "level two charger", "level two charger"]


def _mean(fn) -> float:
    return statistics.fmean(fn(p, r) for p, r in zip(PREDICTIONS, REFERENCES, strict=True))


@pytest.mark.parametrize("name", METRIC_MODULES)
def test_evaluate_module_equals_the_plain_function(name):
    expected = {"rouge_l": _mean(rouge_l), "bleu": corpus_bleu(PREDICTIONS, REFERENCES),
                "exact_match": _mean(exact_match), "token_f1": _mean(token_f1)}[name]

    metric = load_metric(name)
    result = metric.compute(predictions=PREDICTIONS, references=REFERENCES)

    assert set(result) == {name}
    assert result[name] == pytest.approx(expected, abs=1e-12)
    assert 0.0 < expected < 1.0  # the strings were chosen so no metric is trivially 0 or 1


def test_modules_are_files_in_the_package_with_one_import_per_line():
    for name in METRIC_MODULES:
        source = (METRIC_MODULES_DIR / name / f"{name}.py").read_text()
        assert "class " in source and "evaluate.Metric" in source
        # evaluate's import scanner misreads `import a, b`
        assert not [line for line in source.splitlines() if line.startswith("import ") and "," in line]


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="rouge_l, bleu"):
        load_metric("meteor")
