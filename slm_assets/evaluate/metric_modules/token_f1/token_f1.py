"""Token-overlap F1 after SQuAD-style normalisation (slm_assets' own), averaged: the benchmark's `token_f1`.

Loaded offline with `evaluate.load("<this folder>")`. The scoring function is imported, not copied, so the
module and `slm_assets.evaluate.metrics.token_f1` cannot drift apart.
"""

import evaluate

from slm_assets.evaluate.metric_info import string_pair_metric_info
from slm_assets.evaluate.metrics import token_f1


class TokenF1(evaluate.Metric):
    def _info(self):
        return string_pair_metric_info(
            description="Mean token-overlap F1 between prediction and reference after SQuAD-style normalisation.",
            citation="Rajpurkar et al. (2016). SQuAD: 100,000+ Questions for Machine Comprehension of Text.",
            returns="token_f1: mean F1 of the bag of normalised tokens (two empty strings score 1).",
        )

    def _compute(self, predictions, references):
        scores = [token_f1(p, r) for p, r in zip(predictions, references, strict=True)]
        return {"token_f1": sum(scores) / len(scores)}
