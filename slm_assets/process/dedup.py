"""Exact and near-duplicate detection. Near duplicates: MinHash over word shingles + LSH (datasketch)."""

import hashlib
import re

from slm_assets.process.config import DedupConfig

TOKEN = re.compile(r"\w+")


def exact_key(text: str) -> str:
    """Hash of the text with case and whitespace folded."""
    return hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()


def shingles(text: str, size: int) -> set[bytes]:
    words = TOKEN.findall(text.lower())
    if len(words) <= size:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


def near_duplicate_clusters(items: list[tuple[str, str]], config: DedupConfig) -> dict[str, str]:
    """Map each item id to its cluster id (the id of the first member). Items are (id, text) in priority order."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=config.near_dup_threshold, num_perm=config.num_perm)
    cluster: dict[str, str] = {}
    position: dict[str, int] = {}
    for item_id, text in items:
        minhash = MinHash(num_perm=config.num_perm, seed=1)
        minhash.update_batch(list(shingles(text, config.shingle_words)))
        # only cluster representatives are in the index, so every match is a representative
        matches = lsh.query(minhash)
        if matches:
            cluster[item_id] = min(matches, key=position.__getitem__)
        else:
            cluster[item_id] = item_id
            position[item_id] = len(position)
            lsh.insert(item_id, minhash)
    return cluster
