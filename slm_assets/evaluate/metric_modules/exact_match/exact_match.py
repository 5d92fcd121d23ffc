"""Exact match after SQuAD-style normalisation (slm_assets' own), averaged: the benchmark's `exact_match`.

Loaded offline with `evaluate.load("<this folder>")`. The normalisation is imported, not copied, so the
module and `slm_assets.evaluate.metrics.exact_match` cannot drift apart.
"""

import evaluate

from slm_assets.evaluate.metric_info import string_pair_metric_info
from slm_assets.evaluate.metrics import normalize


class ExactMatch(evaluate.Metric):
    def _info(self):
        return string_pair_metric_info(
            description="Share of predictions equal to their reference after SQuAD-style normalisation.",
            citation="Rajpurkar et al. (2016). SQuAD: 100,000+ Questions for Machine Comprehension of Text.",
            returns="exact_match: share of pairs equal after lower-casing and removing punctuation, articles and "
            "extra spaces.",
        )

    def _compute(self, predictions, references):
        hits = [float(normalize(p) == normalize(r)) for p, r in zip(predictions, references, strict=True)]
        return {"exact_match": sum(hits) / len(hits)}
