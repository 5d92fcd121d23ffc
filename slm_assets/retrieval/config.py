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
    min_relevance: float = Field(
        default=0.25, ge=0, le=1, description="Share of the question's content words that the best passage sentence "
        "must contain for it to be returned as the fallback; below it the reply says the documents do not say. "
        "Chosen on the dev part of the gold questions (README, 'Grounded answers').")
    fallback_sentences: int = Field(
        default=1, ge=1, le=3, description="Best-matching passage sentences returned by the extractive fallback.")
