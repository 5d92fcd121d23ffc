"""Corpus BLEU (sacrebleu, default 13a tokenisation) on a 0-1 scale: the slm_assets benchmark's `bleu`.

Loaded offline with `evaluate.load("<this folder>")`; equal to `slm_assets.evaluate.metrics.corpus_bleu`.
"""

import evaluate
import sacrebleu

from slm_assets.evaluate.metric_info import string_pair_metric_info


class Bleu(evaluate.Metric):
    def _info(self):
        return string_pair_metric_info(
            description="Corpus-level BLEU from sacrebleu, divided by 100.",
            citation="Post, M. (2018). A Call for Clarity in Reporting BLEU Scores.",
            returns="bleu: corpus BLEU / 100 (0-1).",
            references="reference answers, one string each (one reference per prediction).",
            reference_urls=("https://github.com/mjpost/sacrebleu",),
        )

    def _compute(self, predictions, references):
        return {"bleu": sacrebleu.corpus_bleu(list(predictions), [list(references)]).score / 100}
