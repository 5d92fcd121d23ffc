"""ROUGE-L F-measure with stemming (rouge-score), averaged over pairs: the slm_assets benchmark's `rouge_l`.

Loaded offline with `evaluate.load("<this folder>")`; equal to `slm_assets.evaluate.metrics.rouge_l` averaged.
"""

import evaluate
from rouge_score import rouge_scorer

from slm_assets.evaluate.metric_info import string_pair_metric_info


class RougeL(evaluate.Metric):
    def _info(self):
        return string_pair_metric_info(
            description="ROUGE-L F-measure (longest common subsequence) with Porter stemming, mean over pairs.",
            citation="Lin, C.-Y. (2004). ROUGE: A Package for Automatic Evaluation of Summaries.",
            returns="rouge_l: mean ROUGE-L F-measure (0-1).",
            reference_urls=("https://github.com/google-research/google-research/tree/master/rouge",),
        )

    def _compute(self, predictions, references):
        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
        scores = [scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(predictions, references, strict=True)]
        return {"rouge_l": sum(scores) / len(scores)}
