"""A BM25 index over a domain's clean_chunks, stored beside them in the warehouse.

Incremental: the tokens of every chunk are kept with the index, so a rebuild only tokenises chunks
that are new (a chunk's id changes whenever its text does). BM25 statistics are corpus-wide, so the
sparse matrix itself is always rebuilt; that part takes well under a second per 10,000 chunks.
"""

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
TOKEN = re.compile(r"(?u)\b\w\w+\b")
STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were will with what "
    "which who how why when does do can you your".split()
)


def tokenize(text: str) -> list[str]:
    return [t for t in TOKEN.findall(text.lower()) if t not in STOPWORDS]


@dataclass
class Hit:
    chunk_id: str
    doc_id: str
    score: float
    text: str


@dataclass
class BuildStats:
    chunks: int
    tokenized: int  # new or changed chunks
    reused: int
    seconds: float


class ChunkIndex:
    """BM25 (bm25s) over chunk texts, with chunk and document ids alongside."""

    def __init__(self, chunk_ids: list[str], doc_ids: list[str], texts: list[str], tokens: list[list[str]]):
        import bm25s

        self.chunk_ids, self.doc_ids, self.texts, self.tokens = chunk_ids, doc_ids, texts, tokens
        self.position = {c: i for i, c in enumerate(chunk_ids)}
        self.bm25 = bm25s.BM25()
        if chunk_ids:
            vocab: dict[str, int] = {}
            ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in tokens]
            self.vocab = vocab
            self.bm25.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)

    @classmethod
    def build(cls, rows: list[dict], previous: "ChunkIndex | None" = None) -> tuple["ChunkIndex", BuildStats]:
        """rows: dicts with chunk_id, doc_id, text (in a stable order)."""
        started = time.perf_counter()
        old = {c: previous.tokens[i] for c, i in previous.position.items()} if previous else {}
        tokens, reused = [], 0
        for row in rows:
            if row["chunk_id"] in old:
                tokens.append(old[row["chunk_id"]])
                reused += 1
            else:
                tokens.append(tokenize(row["text"]))
        index = cls([r["chunk_id"] for r in rows], [r["doc_id"] for r in rows], [r["text"] for r in rows], tokens)
        return index, BuildStats(len(rows), len(rows) - reused, reused, time.perf_counter() - started)

    def search(self, query: str, k: int = 5, exclude_doc: str | None = None) -> list[Hit]:
        """Top-k chunks for a query; `exclude_doc` drops one document's chunks (for distractors)."""
        import numpy as np

        if not self.chunk_ids:
            return []
        query_ids = [self.vocab[t] for t in tokenize(query) if t in self.vocab]
        if not query_ids:
            return []
        scores = self.bm25.get_scores(query_ids)  # (n_chunks,)
        if exclude_doc is not None:
            scores = np.where(np.array(self.doc_ids) == exclude_doc, -np.inf, scores)
        top = np.argsort(-scores, kind="stable")[:k]
        return [Hit(self.chunk_ids[i], self.doc_ids[i], float(scores[i]), self.texts[i]) for i in top if scores[i] > 0]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / "chunks.jsonl.tmp"
        with staging.open("w", encoding="utf-8") as handle:
            for c, d, t, tok in zip(self.chunk_ids, self.doc_ids, self.texts, self.tokens, strict=True):
                handle.write(json.dumps({"chunk_id": c, "doc_id": d, "text": t, "tokens": tok}) + "\n")
        staging.replace(folder / "chunks.jsonl")

    @classmethod
    def load(cls, folder: Path) -> "ChunkIndex | None":
        path = folder / "chunks.jsonl"
        if not path.exists():
            return None
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        return cls([r["chunk_id"] for r in rows], [r["doc_id"] for r in rows], [r["text"] for r in rows],
                   [r["tokens"] for r in rows])


def recall_at_k(index: ChunkIndex, queries: list[tuple[str, str]], k: int) -> float:
    """Share of (question, source chunk id) pairs whose source chunk is among the top k."""
    if not queries:
        return 0.0
    found = sum(1 for q, chunk in queries if chunk in {h.chunk_id for h in index.search(q, k)})
    return found / len(queries)
