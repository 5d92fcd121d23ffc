"""Exact match after SQuAD-style normalisation (slm_assets' own), averaged: the benchmark's `exact_match`.

Loaded offline with `evaluate.load("<this folder>")`. The normalisation is imported, not copied, so the
module and `slm_assets.evaluate.metrics.exact_match` cannot drift apart.
"""

import datasets
import evaluate

from slm_assets.evaluate.metrics import normalize

_INPUTS = """
Args:
    predictions: model answers, one string each.
    references: reference answers, one string each.
Returns:
    exact_match: share of pairs equal after lower-casing and removing punctuation, articles and extra spaces.
"""


class ExactMatch(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Share of predictions equal to their reference after SQuAD-style normalisation.",
            citation="Rajpurkar et al. (2016). SQuAD: 100,000+ Questions for Machine Comprehension of Text.",
            inputs_description=_INPUTS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references):
        hits = [float(normalize(p) == normalize(r)) for p, r in zip(predictions, references, strict=True)]
        return {"exact_match": sum(hits) / len(hits)}
