"""Answer a question from retrieved passages and say where the answer comes from."""

from collections.abc import Callable
from dataclasses import asdict, dataclass

from slm_assets.retrieval.config import GroundingConfig
from slm_assets.retrieval.grounding import ground_answer
from slm_assets.retrieval.index import ChunkIndex
from slm_assets.retrieval.prompting import open_book_question


@dataclass
class Source:
    chunk_id: str
    doc_id: str
    source: str  # URL or path
    title: str | None
    page_start: int | None
    page_end: int | None
    score: float


@dataclass
class Answer:
    text: str
    sources: list[Source]
    open_book: bool
    mode: str = "generated"  # generated | extractive | not_covered (retrieval/grounding.py)
    generated: str = ""  # the model's own text, before the grounding check

    def as_dict(self) -> dict:
        return {"answer": self.text, "answer_mode": self.mode, "open_book": self.open_book,
                "generated": self.generated, "sources": [asdict(s) for s in self.sources]}


def chunk_sources(con, domain: str, chunk_ids: list[str]) -> dict[str, dict]:
    """chunk_id -> source, title and pages, from the warehouse."""
    if not chunk_ids:
        return {}
    placeholders = ", ".join("?" for _ in chunk_ids)
    rows = con.execute(
        f"""select c.chunk_id, c.doc_id, d.source, d.title, c.page_start, c.page_end
            from current_clean_chunks c join current_raw_documents d on d.domain = c.domain and d.doc_id = c.doc_id
            where c.domain = ? and c.chunk_id in ({placeholders})""",
        [domain, *chunk_ids],
    ).fetchall()
    return {r[0]: {"doc_id": r[1], "source": r[2], "title": r[3], "page_start": r[4], "page_end": r[5]} for r in rows}


def answer_question(
    question: str,
    generate: Callable[[list[dict]], str],
    system_prompt: str,
    index: ChunkIndex | None,
    lookup: Callable[[list[str]], dict[str, dict]],
    k: int = 2,
    retrieval: bool = True,
    grounding: GroundingConfig | None = None,
) -> Answer:
    """`generate` takes chat messages and returns the reply; with retrieval off (or no index) it is closed book.
    Open book, the reply goes through the grounding check (kept, the best passage sentence, or "the documents do
    not say"), unless `grounding.enabled` is false."""
    hits = index.search(question, k) if (retrieval and index is not None) else []
    user = open_book_question(question, [h.text for h in hits]) if hits else question
    text = generate([{"role": "system", "content": system_prompt}, {"role": "user", "content": user}])
    meta = lookup([h.chunk_id for h in hits])
    sources = [
        Source(h.chunk_id, h.doc_id, meta.get(h.chunk_id, {}).get("source", "?"), meta.get(h.chunk_id, {}).get("title"),
               meta.get(h.chunk_id, {}).get("page_start"), meta.get(h.chunk_id, {}).get("page_end"), h.score)
        for h in hits
    ]
    reply = ground_answer(question, text.strip(), [h.text for h in hits], grounding or GroundingConfig(),
                          index.vectors(hits) if hits else None)
    return Answer(text=reply.text, sources=sources, open_book=bool(hits), mode=reply.mode, generated=text.strip())
