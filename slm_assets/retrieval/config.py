"""Settings of grounded answering: when a generated answer is kept, replaced by the documents' own sentence, or
replaced by an honest "the documents do not say"."""

from pydantic import BaseModel, Field


class GroundingConfig(BaseModel):
    """How open-book answers are checked against their passages."""

    enabled: bool = Field(
        default=True, description="Check every open-book answer against its passages (server, `slm-assets ask`, "
        "`eval --retrieval` and the benchmark's `_served` rows); off = return the model's text as it is.")
    min_support: float = Field(
        default=0.7, ge=0, le=1, description="Share of the answer's content words that must occur in the retrieved "
        "passages for the generated answer to be kept.")
    anchor_sentences: int = Field(
        default=2, ge=0, le=5, description="Keep a generated answer only when the passage sentence that supports it "
        "best is one of the this many sentences the extractive fallback would quote for the question (0 = off). A "
        "fluent answer stitched from passage words can be supported and still answer from the wrong sentence. "
        "Re-scored from saved answers (`bench/regrounding.py`): served ROUGE-L +0.03 for base and both tuned models "
        "on the ev_charging gold questions, +0.016 on ev_public, dev and holdout alike.")
    trust_model_abstention: bool = Field(
        default=False, description="Return \"The documents do not say.\" whenever the model says so itself. Off: "
        "the coverage score alone decides, and a model abstention on a covered question becomes the extractive "
        "fallback (on the ev_public gold dev questions the tuned model abstained on 7 % of the answerable and 7 % of "
        "the unanswerable ones: no signal).")
    keep_yes_no_answers: bool = Field(
        default=False, description="Keep a generated answer that opens with \"Yes\" or \"No\" when its words are "
        "supported (on). Off: such an answer is replaced by the extractive fallback, because its polarity is the "
        "one claim the support check cannot see. Of the 24 kept answers that opened so on both gold sets (demo and "
        "ev_public models, saved answers), 5 had the reference's polarity, 13 the opposite and 6 answered a question "
        "whose reference is no yes or no (`bench/results/yes_no_answers_2026-12-03.json`); served ROUGE-L moved by "
        "at most 0.001 over all questions (0.003 on one holdout row).")
    dense: bool = Field(
        default=True, description="Judge whether the passages address the question with the coverage score "
        "(lexical share + MiniLM cosines, weighted below) instead of the lexical share alone.")
    min_coverage: float = Field(
        default=0.975, ge=0, description="Coverage score (sentence cosine + relevance_weight x lexical share + "
        "passage_cosine_weight x passage cosine) below which the reply says the documents do not say. Fitted with "
        "the two weights on the dev part of both gold sets (`bench/grounding.py`).")
    require_asked_quantity: bool = Field(
        default=True, description="A question that asks for a quantity (a price, a weight, a distance, a duration or "
        "frequency, a power, a share, an emission; `retrieval.quantities`) is addressed only when the passages state "
        "a value of that kind (\"how many <things>\": a number just before the things): on-topic passages without one do "
        "not answer it, and the extractive fallback quotes a sentence that states such a value first. On the gold "
        "sets' dev questions (`bench/quantity_check.py`) it declines 4 more of the 18 unanswerable ev_charging ones "
        "(0 of 14 more on ev_public) and 1 of 205 answerable ones, whose passages do not hold its answer.")
    relevance_weight: float = Field(default=0.4, ge=0, description="Weight of the lexical share in the coverage "
                                    "score.")
    passage_cosine_weight: float = Field(default=0.75, ge=0, description="Weight of the question's cosine with "
                                         "its closest whole passage in the coverage score.")
    min_relevance: float = Field(
        default=0.25, ge=0, le=1, description="With `dense: false`: share of the question's content words that the "
        "best passage sentence must contain; below it the reply says the documents do not say.")
    fallback_share_weight: float = Field(
        default=0.25, ge=0, description="With `dense`: the extractive fallback quotes the sentence with the highest "
        "MiniLM cosine + this x its share of the question's content words (chosen on gold dev questions).")
    fallback_length_weight: float = Field(
        default=0.1, ge=0, description="With `dense`: weight of the quoted sentence's log word count in the "
        "fallback's ranking. A short line that shares the question's words (\"eMSP e-Mobility Service Provider\", "
        "\"Identification token distribution\") names a topic; a longer one states something about it.")
    fallback_context_weight: float = Field(
        default=0.2, ge=0, description="With `dense`: weight of the share of the question's content words in the "
        "sentence before the quoted one (same passage) in the fallback's ranking: the answer often follows the "
        "sentence that names its topic (\"A DC powermeter: used for billing if present.\" then \"If not connected, "
        "billing will fall back to the AC side power meter.\"). With `fallback_length_weight`, chosen on the gold "
        "sets' dev questions (`bench/sentence_choice.py`).")
    fallback_sentences: int = Field(
        default=1, ge=1, le=3, description="Best-matching passage sentences returned by the extractive fallback.")
