"""Answers grounded in the domain's documents: retrieve top-k chunks per question and report the sources."""

from dataclasses import dataclass
from pathlib import Path

from slm_assets.retrieval.index import ChunkIndex
from slm_assets.retrieval.prompting import open_book_question


@dataclass
class Retriever:
    """The domain's BM25 index plus each chunk's source (URL or path, title, pages), held in memory."""

    index: ChunkIndex
    chunk_meta: dict[str, dict]
    k: int = 2

    def ground(self, messages: list[dict], k: int | None = None) -> tuple[list[dict], list[dict]]:
        """Messages with the last user question asked open book, and the sources used (empty: unchanged)."""
        last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
        if last is None:
            return messages, []
        question = messages[last]["content"]
        hits = self.index.search(question, k or self.k)
        if not hits:
            return messages, []
        grounded = list(messages)
        grounded[last] = {**messages[last], "content": open_book_question(question, [h.text for h in hits])}
        sources = [{"chunk_id": h.chunk_id, "doc_id": h.doc_id, "score": round(h.score, 3),
                    **self.chunk_meta.get(h.chunk_id, {})} for h in hits]
        return grounded, sources


def load_retriever(warehouse_dir: Path, domain: str, k: int = 2) -> Retriever | None:
    """The stored index and chunk sources of a domain, or None when clean_chunks has no index yet."""
    from slm_assets.retrieval.answer import chunk_sources
    from slm_assets.warehouse import connect

    index = ChunkIndex.load(warehouse_dir / "artifacts" / domain / "index")
    if index is None:
        return None
    with connect(warehouse_dir / "slm.duckdb", read_only=True) as con:
        meta = chunk_sources(con, domain, index.chunk_ids)
    return Retriever(index=index, chunk_meta=meta, k=k)
