"""The shapes that move through QA generation."""

from dataclasses import dataclass, field

from pydantic import BaseModel, Field, field_validator


class QAPair(BaseModel):
    """One question-answer pair as a teacher must return it."""

    question: str = Field(min_length=8, max_length=600)
    answer: str = Field(min_length=1, max_length=4000)
    question_type: str = Field(default="factual")

    @field_validator("question", "answer")
    @classmethod
    def _strip(cls, value: str) -> str:
        return " ".join(value.split())


class QABatch(BaseModel):
    """The JSON object an LLM teacher answers with."""

    pairs: list[QAPair]


@dataclass
class ChunkForSynth:
    chunk_id: str
    doc_id: str
    text: str
    heading: str | None
    title: str | None
    source: str
    page_start: int | None


@dataclass
class TeacherResult:
    """What one teacher call produced."""

    pairs: list[QAPair]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    invalid: list[str] = field(default_factory=list)  # reasons for unparseable output
    # judge verdicts by position in `pairs` (True supported, False not, None no verdict); None: not judged
    verdicts: dict[int, bool | None] | None = None


class VerdictBatch(BaseModel):
    """The JSON object an LLM judge answers with."""

    class Verdict(BaseModel):
        id: int
        supported: bool

    verdicts: list[Verdict]
