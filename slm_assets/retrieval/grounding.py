"""Grounded answers or an honest fallback: keep a generated answer only when the retrieved passages support it.

Three outcomes, named in every reply (`answer_mode`):
- `generated`: the model's answer, whose content words occur in the passages, whose best-supporting sentence is one
  the fallback would quote for this question (`anchor_sentences`), which does not restate the question and which
  does not open with a "Yes" or "No" the passages cannot confirm (`keep_yes_no_answers`);
- `extractive`: the passage sentence(s) that best match the question (never a heading, which shares the question's
  words without answering it), when the model's answer was unsupported, an echo of the question or an
  abstention, but the passages do address it. Quoted as plain text, and a sentence that introduces a list
  (ends with ":") brings the first items of the list (`quoted`);
- `not_covered`: "The documents do not say.", when the passages do not address the question (or, with
  `trust_model_abstention`, when the model says so itself).

"Address the question" is a coverage score of three signals (`coverage_signals`): the share of the question's
content words in the best passage sentence (lexical), and the all-MiniLM-L6-v2 cosine of the question with the
closest passage sentence and with the closest whole passage (dense: paraphrases count). Their weights and the cut
were fitted on the dev part of both gold sets by `bench/grounding.py` (README, "Grounded answers"); with
`dense: false` the lexical share alone is compared with `min_relevance`. A question that asks for a quantity
("how heavy", "how often", "what does it cost") is addressed only by passages that state a value of that kind
(`retrieval.quantities`, `require_asked_quantity`), and the fallback quotes a sentence that states one first.
"""

import math
from dataclasses import dataclass, replace

from slm_assets.retrieval.config import GroundingConfig
from slm_assets.retrieval.prompting import sentence_match
from slm_assets.retrieval.quantities import asked_quantities, states_quantity
from slm_assets.text import (
    ABSTAIN,
    YES_NO_OPENING,
    content_words,
    is_abstention,
    is_echo,
    is_heading,
    plain_text,
    split_sentences,
    stem,
    support_score,
)

MIN_SENTENCE_WORDS = 4  # shorter lines (short headings, table cells) are never an answer sentence
INTRODUCED_ITEMS = 3  # a quoted sentence that ends with ":" brings this many of the lines after it ...
INTRODUCED_WORDS = 60  # ... while they stay under this many words


@dataclass(frozen=True)
class GroundedReply:
    text: str
    mode: str  # generated | extractive | not_covered
    support: float  # the generated answer's support in the passages
    relevance: float  # share of the question's content words in the best passage sentence
    passage: int | None  # index of the passage the extractive sentence came from
    coverage: float = 0.0  # how well the passages address the question (CoverageSignals.score)

    def as_dict(self) -> dict:
        return {"answer_mode": self.mode, "support": round(self.support, 3), "relevance": round(self.relevance, 3),
                "coverage": round(self.coverage, 3)}


@dataclass(frozen=True)
class ScoredSentence:
    text: str
    passage: int  # index of the passage it comes from
    share: float  # share of the question's content words it contains
    match: float  # `sentence_match`: the lexical tie-break, favouring short sentences
    cosine: float  # MiniLM cosine with the question (0.0 when not dense)
    heading: bool = False  # `text.is_heading`: evidence that a passage is on the topic, never an answer to quote
    states_asked_quantity: bool = True  # it states a value of the kind the question asks for (or none is asked)
    # `share` of the sentence before it in its passage, counting only sentences of MIN_SENTENCE_WORDS or more
    # (0.0 for a passage's first)
    preceding_share: float = 0.0

    def fallback_score(self, config: GroundingConfig) -> float:
        """How the dense extractive fallback ranks it: MiniLM cosine, plus the question's words in it, its length
        (an answer states more than a label does) and the question's words in the sentence before it (an answer
        often follows the sentence that names its topic), each weighted by `config`."""
        return (self.cosine + config.fallback_share_weight * self.share
                + config.fallback_length_weight * math.log(len(self.text.split()))
                + config.fallback_context_weight * self.preceding_share)


@dataclass(frozen=True)
class CoverageSignals:
    relevance: float  # share of the question's content words in the best passage sentence
    sentence_cosine: float  # cosine of the question with the closest passage sentence (0 without sentences)
    passage_cosine: float  # cosine of the question with the closest passage
    sentences: tuple[ScoredSentence, ...] = ()  # every passage sentence long enough to count, headings included
    states_asked_quantity: bool = True  # the passages state a value of the kind the question asks for (quantities)

    def score(self, config: GroundingConfig) -> float:
        """The weighted sum compared with `min_coverage` (dense), or the lexical share alone."""
        if not config.dense:
            return self.relevance
        return (self.sentence_cosine + config.relevance_weight * self.relevance
                + config.passage_cosine_weight * self.passage_cosine)

    def covered(self, config: GroundingConfig) -> bool:
        if config.require_asked_quantity and not self.states_asked_quantity:
            return False
        return self.score(config) >= (config.min_coverage if config.dense else config.min_relevance)

    def best(self, config: GroundingConfig, n: int = 1) -> list[ScoredSentence]:
        """The n sentences the extractive fallback quotes, headings never: by `ScoredSentence.fallback_score`
        (dense), else by share then the lexical tie-break. With `require_asked_quantity` the sentences that state a
        value of the kind the question asks for come first."""
        quotable = [s for s in self.sentences if not s.heading]

        def lacks_asked_value(s: ScoredSentence) -> bool:
            return config.require_asked_quantity and not s.states_asked_quantity

        if config.dense:
            return sorted(quotable, key=lambda s: (lacks_asked_value(s), -s.fallback_score(config)))[:n]
        return sorted(quotable, key=lambda s: (lacks_asked_value(s), -s.share, -s.match))[:n]


def passage_sentences(question: str, passages: list[str], kinds: set[str] | None = None) -> list[ScoredSentence]:
    """Every sentence of at least MIN_SENTENCE_WORDS words, scored lexically against the question; headings are
    marked (they show what a passage is about, and share the question's words without answering it). `kinds`:
    the question's `asked_quantities` when the caller has them."""
    asked = set(content_words(question))
    kinds = asked_quantities(question) if kinds is None else kinds

    def share(sentence: str) -> float:
        return len(asked & set(content_words(sentence))) / len(asked) if asked else 0.0

    scored = []
    for p, passage in enumerate(passages):
        preceding = 0.0
        for sentence in split_sentences(passage):
            if len(sentence.split()) < MIN_SENTENCE_WORDS:
                continue
            scored.append(ScoredSentence(sentence, p, share(sentence), sentence_match(asked, sentence), 0.0,
                                         heading=is_heading(sentence), preceding_share=preceding,
                                         states_asked_quantity=states_quantity(sentence, kinds)))
            preceding = scored[-1].share
    return scored


def coverage_signals(question: str, passages: list[str], dense: bool = True,
                     passage_vectors=None) -> CoverageSignals:
    """How well `passages` address `question` (see the module docstring); one embedder call for all texts.
    `passage_vectors`: the passages' embeddings when the caller has them (the index stores every chunk's), so
    only the question and the sentences are embedded."""
    kinds = asked_quantities(question)
    sentences = passage_sentences(question, passages, kinds)
    relevance = max((s.share for s in sentences), default=0.0)
    stated = states_quantity(" ".join(passages), kinds)
    if not dense or not passages:
        return CoverageSignals(relevance, 0.0, 0.0, tuple(sentences), stated)
    from slm_assets.retrieval.embedder import embed

    known = passage_vectors is not None
    vectors = embed([question, *([] if known else passages), *(s.text for s in sentences)]).numpy()
    question_vector, rest = vectors[0], vectors[1:]
    if known:
        passage_cos = float((passage_vectors @ question_vector).max())
    else:
        passage_cos, rest = float((rest[: len(passages)] @ question_vector).max()), rest[len(passages):]
    scored = tuple(replace(s, cosine=float(c)) for s, c in zip(sentences, rest @ question_vector, strict=True))
    return CoverageSignals(relevance, max((s.cosine for s in scored), default=0.0), passage_cos, scored, stated)


def supporting_sentence(answer: str, sentences: tuple[ScoredSentence, ...]) -> ScoredSentence | None:
    """The passage sentence holding the largest share of the answer's content words (the first on ties)."""
    words = [stem(w) for w in content_words(answer)]
    if not words or not sentences:
        return None
    return max(sentences, key=lambda s: sum(w in {stem(v) for v in content_words(s.text)} for w in words))


def quoted(sentence: ScoredSentence, passages: list[str]) -> str:
    """The sentence as the extractive fallback returns it, in plain text. One that ends with ":" introduces what
    follows it ("The safety MCU shall handle at least the following functionality:"), so the lines after it in its
    passage come with it."""
    items: list[str] = []
    if sentence.text.endswith(":"):
        following = split_sentences(passages[sentence.passage])
        start = following.index(sentence.text) + 1 if sentence.text in following else len(following)
        # an item number whose text the passage window cut off ("3." at its end) says nothing
        for item in [f for f in following[start:] if any(ch.isalpha() for ch in f)][:INTRODUCED_ITEMS]:
            if len(" ".join([sentence.text, *items, item]).split()) > INTRODUCED_WORDS:
                break
            items.append(plain_text(item).rstrip(".;"))
    while items and items[-1].endswith(":"):  # a label whose text was cut off says nothing
        items.pop()
    text = plain_text(sentence.text)
    for i, item in enumerate(items):  # "; " between items, a space after a label ("Contactor close signal:")
        text += (" " if i == 0 or items[i - 1].endswith(":") else "; ") + item
    return f"{text}." if items else text


def answers_from_the_best_sentences(answer: str, signals: CoverageSignals, config: GroundingConfig) -> bool:
    """The sentence supporting `answer` best is one of the `anchor_sentences` the fallback would quote."""
    if not config.anchor_sentences:
        return True
    supporting = supporting_sentence(answer, signals.sentences)
    return supporting is not None and supporting in signals.best(config, config.anchor_sentences)


def ground_answer(question: str, answer: str, passages: list[str], config: GroundingConfig,
                  passage_vectors=None, signals: CoverageSignals | None = None) -> GroundedReply:
    """Keep, replace by the best passage sentence(s), or replace by the abstention (see the module docstring).
    `passage_vectors`: see `coverage_signals`. `signals`: coverage_signals(question, passages, config.dense) when
    the caller already has them (they do not depend on the answer: the benchmark grounds every model's answer to
    the same question and passages)."""
    support = support_score(answer, "\n".join(passages)) if passages else 0.0
    if not config.enabled or not passages:
        return GroundedReply(answer, "generated", support, 0.0, None)
    if signals is None:
        signals = coverage_signals(question, passages, config.dense, passage_vectors)
    coverage = signals.score(config)
    if not signals.covered(config) or (config.trust_model_abstention and is_abstention(answer)):
        return GroundedReply(ABSTAIN, "not_covered", support, signals.relevance, None, coverage)
    if (support >= config.min_support and not is_echo(question, answer) and not is_abstention(answer)
            and (config.keep_yes_no_answers or not YES_NO_OPENING.match(answer))
            and answers_from_the_best_sentences(answer, signals, config)):
        return GroundedReply(answer, "generated", support, signals.relevance, None, coverage)
    best = signals.best(config, config.fallback_sentences)
    if not best:  # nothing in the passages is long enough to quote
        return GroundedReply(ABSTAIN, "not_covered", support, signals.relevance, None, coverage)
    text = " ".join(quoted(s, passages) for s in best)
    return GroundedReply(text, "extractive", support, signals.relevance, best[0].passage, coverage)
