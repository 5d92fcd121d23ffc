"""Grounded answers or an honest fallback: keep a generated answer only when the retrieved passages support it.

Three outcomes, named in every reply (`answer_mode`):
- `generated`: the model's answer, whose content words occur in the passages and which does not restate the question;
- `extractive`: the passage sentence(s) that best match the question, when the model's answer was unsupported or an
  echo of the question but the passages do address it;
- `not_covered`: "The documents do not say.", when the model says so itself or no passage sentence addresses the
  question.
"""

from dataclasses import dataclass

from slm_assets.retrieval.config import GroundingConfig
from slm_assets.retrieval.prompting import sentence_match
from slm_assets.text import ABSTAIN, content_words, is_abstention, is_echo, split_sentences, support_score


@dataclass(frozen=True)
class GroundedReply:
    text: str
    mode: str  # generated | extractive | not_covered
    support: float  # the generated answer's support in the passages
    relevance: float  # share of the question's content words in the best passage sentence
    passage: int | None  # index of the passage the extractive sentence came from

    def as_dict(self) -> dict:
        return {"answer_mode": self.mode, "support": round(self.support, 3), "relevance": round(self.relevance, 3)}


def best_sentences(question: str, passages: list[str], n: int = 1) -> list[tuple[float, str, int]]:
    """(relevance, sentence, passage index) of the n passage sentences that best match the question; relevance is
    the share of the question's content words the sentence contains."""
    asked = set(content_words(question))
    scored = []
    for p, passage in enumerate(passages):
        for sentence in split_sentences(passage):
            if len(sentence.split()) < 4:
                continue
            share = len(asked & set(content_words(sentence))) / len(asked) if asked else 0.0
            scored.append((share, sentence_match(asked, sentence), sentence, p))
    scored.sort(key=lambda s: (-s[0], -s[1]))
    return [(share, sentence, p) for share, _, sentence, p in scored[:n]]


def ground_answer(question: str, answer: str, passages: list[str], config: GroundingConfig) -> GroundedReply:
    """Keep, replace by the best passage sentence(s), or replace by the abstention (see the module docstring)."""
    best = best_sentences(question, passages, config.fallback_sentences)
    relevance = best[0][0] if best else 0.0
    support = support_score(answer, "\n".join(passages)) if passages else 0.0
    if not config.enabled or not passages:
        return GroundedReply(answer, "generated", support, relevance, None)
    if is_abstention(answer) or relevance < config.min_relevance:
        return GroundedReply(ABSTAIN, "not_covered", support, relevance, None)
    if support >= config.min_support and not is_echo(question, answer):
        return GroundedReply(answer, "generated", support, relevance, None)
    text = " ".join(sentence for _, sentence, _ in best)
    return GroundedReply(text, "extractive", support, relevance, best[0][2])
