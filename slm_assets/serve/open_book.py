"""Answers grounded in the domain's documents: retrieve top-k chunks per question, report the sources, and check
the generated answer against the passages (retrieval/grounding.py) before it is returned."""

from dataclasses import dataclass, field
from pathlib import Path

from slm_assets.retrieval.config import GroundingConfig
from slm_assets.retrieval.grounding import GroundedReply, ground_answer
from slm_assets.retrieval.index import ChunkIndex
from slm_assets.retrieval.prompting import open_book_question


@dataclass
class OpenBook:
    """What retrieval did to one request: the messages sent to the model, the sources, the passages shown."""

    messages: list[dict]
    sources: list[dict] = field(default_factory=list)
    question: str | None = None
    passages: list[str] = field(default_factory=list)
    passage_vectors: object = None  # the passages' stored embeddings (numpy), None without a dense index


@dataclass
class Retriever:
    """The domain's index plus each chunk's source (URL or path, title, pages), held in memory."""

    index: ChunkIndex
    chunk_meta: dict[str, dict]
    k: int = 2
    grounding: GroundingConfig = field(default_factory=GroundingConfig)

    def ground(self, messages: list[dict], k: int | None = None) -> OpenBook:
        """The last user question asked open book, with the sources used (no hit: messages unchanged)."""
        last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
        if last is None:
            return OpenBook(messages)
        question = messages[last]["content"]
        hits = self.index.search(question, k or self.k)
        if not hits:
            return OpenBook(messages, question=question)
        grounded = list(messages)
        grounded[last] = {**messages[last], "content": open_book_question(question, [h.text for h in hits])}
        sources = [{"chunk_id": h.chunk_id, "doc_id": h.doc_id, "score": round(h.score, 4),
                    **self.chunk_meta.get(h.chunk_id, {})} for h in hits]
        return OpenBook(grounded, sources, question, [h.text for h in hits], self.index.vectors(hits))

    def checks(self, book: OpenBook) -> bool:
        """Whether this request's answer goes through the grounding check."""
        return self.grounding.enabled and bool(book.passages)

    def check(self, book: OpenBook, answer: str) -> GroundedReply:
        return ground_answer(book.question or "", answer, book.passages, self.grounding, book.passage_vectors)


def load_retriever(warehouse_dir: Path, domain: str, k: int = 2,
                   grounding: GroundingConfig | None = None) -> Retriever | None:
    """The stored index and chunk sources of a domain, or None when clean_chunks has no index yet."""
    from slm_assets.retrieval.answer import chunk_sources
    from slm_assets.warehouse import connect

    index = ChunkIndex.load(warehouse_dir / "artifacts" / domain / "index")
    if index is None:
        return None
    with connect(warehouse_dir / "slm.duckdb", read_only=True) as con:
        meta = chunk_sources(con, domain, index.chunk_ids)
    return Retriever(index=index, chunk_meta=meta, k=k, grounding=grounding or GroundingConfig())
