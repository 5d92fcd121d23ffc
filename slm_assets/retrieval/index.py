"""A hybrid index over a domain's clean_chunks, stored beside them in the warehouse: BM25 + dense embeddings.

Search fuses the BM25 ranking with the cosine ranking of all-MiniLM-L6-v2 embeddings by reciprocal rank fusion
(RRF, k=60): BM25 finds the exact terms (connector names, standards, numbers), the embedder finds paraphrases
("my wallbox keeps tripping" vs "the RCD trips"). Without embeddings (built with `dense=False`) it is BM25 alone.

Incremental: the tokens and the embedding of every chunk are kept with the index, so a rebuild only tokenises and
embeds chunks that are new (a chunk's id changes whenever its text does). BM25 statistics are corpus-wide, so the
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
RRF_K = 60  # reciprocal rank fusion constant (Cormack et al. 2009)
MIN_COSINE = 0.25  # below this a chunk is no dense hit (all-MiniLM-L6-v2: unrelated sentences score ~0-0.2)
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

    def __init__(self, chunk_ids: list[str], doc_ids: list[str], texts: list[str], tokens: list[list[str]],
                 embeddings=None):
        import bm25s

        self.chunk_ids, self.doc_ids, self.texts, self.tokens = chunk_ids, doc_ids, texts, tokens
        self.embeddings = embeddings  # (n_chunks, 384) float32 unit vectors, or None: BM25 only
        self.position = {c: i for i, c in enumerate(chunk_ids)}
        self.bm25 = bm25s.BM25()
        if chunk_ids:
            vocab: dict[str, int] = {}
            ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in tokens]
            self.vocab = vocab
            self.bm25.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)

    @classmethod
    def build(cls, rows: list[dict], previous: "ChunkIndex | None" = None,
              dense: bool = True) -> tuple["ChunkIndex", BuildStats]:
        """rows: dicts with chunk_id, doc_id, text (in a stable order). `dense`: also embed the chunks."""
        import numpy as np

        started = time.perf_counter()
        old = {c: i for c, i in previous.position.items()} if previous else {}
        tokens = [previous.tokens[old[r["chunk_id"]]] if r["chunk_id"] in old else tokenize(r["text"]) for r in rows]
        reused = sum(1 for r in rows if r["chunk_id"] in old)
        embeddings = None
        if dense and rows:
            embeddings = np.zeros((len(rows), 384), dtype=np.float32)
            reusable = previous is not None and previous.embeddings is not None
            fresh = [i for i, r in enumerate(rows) if not (reusable and r["chunk_id"] in old)]
            for i in sorted(set(range(len(rows))) - set(fresh)):
                embeddings[i] = previous.embeddings[old[rows[i]["chunk_id"]]]
            if fresh:
                from slm_assets.retrieval.embedder import embed

                embeddings[fresh] = embed([rows[i]["text"] for i in fresh]).numpy()
        index = cls([r["chunk_id"] for r in rows], [r["doc_id"] for r in rows], [r["text"] for r in rows], tokens,
                    embeddings)
        return index, BuildStats(len(rows), len(rows) - reused, reused, time.perf_counter() - started)

    def bm25_scores(self, query: str):
        """(n_chunks,) BM25 scores; all zero when no query term is in the vocabulary."""
        import numpy as np

        query_ids = [self.vocab[t] for t in tokenize(query) if t in self.vocab]
        return self.bm25.get_scores(query_ids) if query_ids else np.zeros(len(self.chunk_ids))

    def fused_scores(self, query: str):
        """(n_chunks,) reciprocal rank fusion of the BM25 and the embedding rankings (BM25 alone without
        embeddings). Chunks with no query term and no embeddings score 0."""
        import numpy as np

        bm25 = self.bm25_scores(query)
        if self.embeddings is None:
            return bm25
        from slm_assets.retrieval.embedder import embed

        cosine = self.embeddings @ embed([query]).numpy()[0]  # (n_chunks,)
        fused = np.zeros(len(self.chunk_ids))
        for scores, present in ((bm25, bm25 > 0), (cosine, cosine >= MIN_COSINE)):
            ranks = np.empty(len(scores), dtype=np.int64)
            ranks[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
            fused += np.where(present, 1.0 / (RRF_K + 1 + ranks), 0.0)
        return fused

    def search(self, query: str, k: int = 5, exclude_doc: str | None = None) -> list[Hit]:
        """Top-k chunks for a query; `exclude_doc` drops one document's chunks (for distractors)."""
        import numpy as np

        if not self.chunk_ids or not query.strip():
            return []
        scores = self.fused_scores(query)
        if exclude_doc is not None:
            scores = np.where(np.array(self.doc_ids) == exclude_doc, -np.inf, scores)
        top = np.argsort(-scores, kind="stable")[:k]
        return [Hit(self.chunk_ids[i], self.doc_ids[i], float(scores[i]), self.texts[i]) for i in top if scores[i] > 0]

    def vectors(self, hits: list[Hit]):
        """The stored embeddings of these hits, (len(hits), 384), or None for a BM25-only index."""
        if self.embeddings is None:
            return None
        return self.embeddings[[self.position[h.chunk_id] for h in hits]]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / "chunks.jsonl.tmp"
        with staging.open("w", encoding="utf-8") as handle:
            for c, d, t, tok in zip(self.chunk_ids, self.doc_ids, self.texts, self.tokens, strict=True):
                handle.write(json.dumps({"chunk_id": c, "doc_id": d, "text": t, "tokens": tok}) + "\n")
        staging.replace(folder / "chunks.jsonl")
        vectors = folder / "embeddings.npy"
        if self.embeddings is not None:
            import numpy as np

            with (folder / "embeddings.npy.tmp").open("wb") as handle:
                np.save(handle, self.embeddings)
            (folder / "embeddings.npy.tmp").replace(vectors)
        elif vectors.exists():
            vectors.unlink()

    @classmethod
    def load(cls, folder: Path) -> "ChunkIndex | None":
        path = folder / "chunks.jsonl"
        if not path.exists():
            return None
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        embeddings = None
        if (folder / "embeddings.npy").exists():
            import numpy as np

            embeddings = np.load(folder / "embeddings.npy")
            if len(embeddings) != len(rows):  # written by an interrupted save: BM25 alone until the next build
                log.warning(f"{folder}: {len(embeddings)} embeddings for {len(rows)} chunks; ignoring them")
                embeddings = None
        return cls([r["chunk_id"] for r in rows], [r["doc_id"] for r in rows], [r["text"] for r in rows],
                   [r["tokens"] for r in rows], embeddings)


def recall_at_k(index: ChunkIndex, queries: list[tuple[str, str]], k: int) -> float:
    """Share of (question, source chunk id) pairs whose source chunk is among the top k."""
    if not queries:
        return 0.0
    found = sum(1 for q, chunk in queries if chunk in {h.chunk_id for h in index.search(q, k)})
    return found / len(queries)
