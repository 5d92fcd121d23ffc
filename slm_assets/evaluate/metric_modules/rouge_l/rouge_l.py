"""ROUGE-L F-measure with stemming (rouge-score), averaged over pairs: the slm_assets benchmark's `rouge_l`.

Loaded offline with `evaluate.load("<this folder>")`; equal to `slm_assets.evaluate.metrics.rouge_l` averaged.
"""

import datasets
import evaluate
from rouge_score import rouge_scorer

_INPUTS = """
Args:
    predictions: model answers, one string each.
    references: reference answers, one string each.
Returns:
    rouge_l: mean ROUGE-L F-measure (0-1).
"""


class RougeL(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="ROUGE-L F-measure (longest common subsequence) with Porter stemming, mean over pairs.",
            citation="Lin, C.-Y. (2004). ROUGE: A Package for Automatic Evaluation of Summaries.",
            inputs_description=_INPUTS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            reference_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
        )

    def _compute(self, predictions, references):
        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
        scores = [scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(predictions, references, strict=True)]
        return {"rouge_l": sum(scores) / len(scores)}
