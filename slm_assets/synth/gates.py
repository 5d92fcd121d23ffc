"""Quality gates for QA pairs: grounded, sensible length, no refusals, no near-duplicate questions."""

import re

from slm_assets.synth.config import SynthConfig
from slm_assets.synth.records import QAPair
from slm_assets.text import YES_NO_OPENING, content_words, is_echo, support_score

__all__ = ["QuestionDeduper", "content_words", "gate_failure", "support_score"]
REFUSAL = re.compile(
    r"\b(as an ai|i cannot|i can't|i'm sorry|i am sorry|not (mentioned|provided|stated) in the (passage|text)|"
    r"the (passage|text) does not|no information|unable to answer)\b",
    re.IGNORECASE,
)


def gate_failure(pair: QAPair, chunk_text: str, config: SynthConfig) -> str | None:
    """The first gate the pair fails, as a reason string, or None."""
    n_answer = len(pair.answer.split())
    if n_answer < config.min_answer_words:
        return f"answer_too_short ({n_answer} words)"
    if n_answer > config.max_answer_words:
        return f"answer_too_long ({n_answer} words)"
    if len(pair.question.split()) < 4:
        return "question_too_short"
    if REFUSAL.search(pair.answer) or REFUSAL.search(pair.question):
        return "refusal_or_boilerplate"
    if is_echo(pair.question, pair.answer):
        return "answer_restates_question"
    support = support_score(claim_of(pair), chunk_text)
    if support < config.min_support:
        return f"ungrounded (support {support:.2f} < {config.min_support})"
    return None


def claim_of(pair: QAPair) -> str:
    """The words whose support in the chunk the gate checks: the answer, or for a bare polar answer that names
    nothing ("No, they are not.") the question it affirms or denies together with it."""
    if YES_NO_OPENING.match(pair.answer) and not set(content_words(pair.answer)) - {"yes", "no"}:
        return f"{pair.question} {pair.answer}"
    return pair.answer


class QuestionDeduper:
    """Near-duplicate questions across the domain (MinHash LSH over word bigrams)."""

    def __init__(self, threshold: float = 0.85, num_perm: int = 64):
        from datasketch import MinHashLSH

        self.num_perm = num_perm
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.exact: dict[str, str] = {}
        self.inserted: set[str] = set()

    def _minhash(self, question: str):
        from datasketch import MinHash

        words = re.findall(r"\w+", question.lower())
        grams = {f"{a} {b}".encode() for a, b in zip(words, words[1:], strict=False)} or {question.lower().encode()}
        minhash = MinHash(num_perm=self.num_perm, seed=3)
        minhash.update_batch(list(grams))
        return minhash

    def duplicate_of(self, question: str) -> str | None:
        key = " ".join(re.findall(r"\w+", question.lower()))
        if key in self.exact:
            return self.exact[key]
        matches = self.lsh.query(self._minhash(question))
        return matches[0] if matches else None

    def add(self, qa_id: str, question: str) -> None:
        key = " ".join(re.findall(r"\w+", question.lower()))
        self.exact.setdefault(key, qa_id)
        if qa_id not in self.inserted:
            self.inserted.add(qa_id)
            self.lsh.insert(qa_id, self._minhash(question))
