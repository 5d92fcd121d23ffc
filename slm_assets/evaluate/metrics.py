"""Answer-quality metrics on (prediction, reference) string pairs. Deterministic.

The plain functions here are the fast path the benchmark uses. The same metrics ship as Hugging Face
`evaluate` modules in `metric_modules/<name>/<name>.py` (`load_metric`), loaded from the repository,
so they work offline; a test holds the two equal.
"""

import re
import string
from collections import Counter
from pathlib import Path

ARTICLES = re.compile(r"\b(a|an|the)\b")
METRIC_MODULES_DIR = Path(__file__).resolve().parent / "metric_modules"
METRIC_MODULES = ("rouge_l", "bleu", "exact_match", "token_f1")


def normalize(text: str) -> str:
    """SQuAD-style: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    return " ".join(ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize(prediction) == normalize(reference))


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalize(prediction).split(), normalize(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


_ROUGE = None


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (rouge-score, with stemming)."""
    global _ROUGE
    if _ROUGE is None:
        from rouge_score import rouge_scorer

        _ROUGE = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return _ROUGE.score(reference, prediction)["rougeL"].fmeasure


def sentence_bleu(prediction: str, reference: str) -> float:
    """sacrebleu sentence BLEU on a 0-1 scale (effective order, so short answers are not zeroed)."""
    import sacrebleu

    return sacrebleu.sentence_bleu(prediction, [reference], use_effective_order=True).score / 100


def corpus_bleu(predictions: list[str], references: list[str]) -> float:
    import sacrebleu

    return sacrebleu.corpus_bleu(predictions, [references]).score / 100


def score_pair(prediction: str, reference: str) -> dict[str, float]:
    return {
        "rouge_l": rouge_l(prediction, reference),
        "bleu": sentence_bleu(prediction, reference),
        "exact_match": exact_match(prediction, reference),
        "token_f1": token_f1(prediction, reference),
    }


def load_metric(name: str):
    """The `evaluate.Metric` for one of METRIC_MODULES, from the module shipped in this package (no hub).

    `load_metric("rouge_l").compute(predictions=[...], references=[...])` -> {"rouge_l": mean}; `bleu` is corpus
    BLEU on a 0-1 scale, as `corpus_bleu`.
    """
    if name not in METRIC_MODULES:
        raise ValueError(f"unknown metric {name!r}; shipped as evaluate modules: {', '.join(METRIC_MODULES)}")
    script = METRIC_MODULES_DIR / name / f"{name}.py"
    if not script.exists():
        raise FileNotFoundError(f"{script} is missing: is the package installed with its package data?")
    import evaluate

    return evaluate.load(str(script.parent))
