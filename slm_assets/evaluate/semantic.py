"""Semantic similarity to the reference with all-MiniLM-L6-v2 (retrieval/embedder.py)."""

from slm_assets.retrieval.embedder import embed


def semantic_similarity(predictions: list[str], references: list[str]) -> list[float]:
    """Cosine similarity of each prediction to its reference (empty prediction -> 0)."""
    if not predictions:
        return []
    a, b = embed([p or " " for p in predictions]), embed(references)
    return [0.0 if not p.strip() else float(x) for p, x in zip(predictions, (a * b).sum(-1).tolist(), strict=True)]
