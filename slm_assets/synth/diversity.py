"""How varied the questions are and how often an answer restates its question: measured on the data itself,
because a model learns to parrot from data that parrots."""

import math
from collections import Counter

from slm_assets.text import is_echo, rate


def question_opening(question: str, words: int = 3) -> str:
    return " ".join(question.lower().split()[:words])


def data_quality(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """(question, answer) pairs -> distinct_openings (share of distinct first-three-word openings),
    opening_entropy_bits (of the opening distribution), top_opening_share, echo_rate."""
    if not pairs:
        return {"distinct_openings": 0.0, "opening_entropy_bits": 0.0, "top_opening_share": 0.0, "echo_rate": 0.0}
    openings = Counter(question_opening(q) for q, _ in pairs)
    n = len(pairs)
    entropy = -sum(c / n * math.log2(c / n) for c in openings.values())
    return {"distinct_openings": round(len(openings) / n, 4), "opening_entropy_bits": round(entropy, 3),
            "top_opening_share": round(openings.most_common(1)[0][1] / n, 4),
            "echo_rate": round(rate([is_echo(q, a) for q, a in pairs]), 4)}
