"""Exact and near-duplicate detection. Near duplicates: MinHash over word shingles + LSH (datasketch).

The MinHash signatures are computed in numpy for a batch of texts at once rather than one
datasketch `MinHash` per text: a word is hashed once (crc32, cached), a shingle's hash is
combined from its words' hashes, and datasketch's own "affine32" permutations are applied to
the whole batch. The signatures are the ones `MinHash(scheme="affine32").update_batch` would
give for those shingle hashes, and the clusters the ones `MinHashLSH` would give for them
(slm_assets_tests/ingest/test_ingest_near_dedup.py checks both); 100,000 chunks take seconds, not
minutes (bench/ingest.py).
"""

import hashlib
import re
import zlib

import numpy as np

from slm_assets.process.config import DedupConfig

TOKEN = re.compile(r"\w+")
SEED = 1
SCHEME = "affine32"
BATCH_SHINGLES = 50_000  # shingles per numpy batch: (50k x 128) uint32 is 25 MB
_WORD_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant (golden ratio) for combining word hashes


def exact_key(text: str) -> str:
    """Hash of the text with case and whitespace folded."""
    return hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()


def shingles(text: str, size: int) -> set[bytes]:
    words = TOKEN.findall(text.lower())
    if len(words) <= size:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


def near_duplicate_clusters(items: list[tuple[str, str]], config: DedupConfig) -> dict[str, str]:
    """Map each item id to its cluster id (the id of the first member). Items are (id, text) in priority order.

    The banding is datasketch's `MinHashLSH` (its bands and rows for the threshold); the buckets
    are plain dicts keyed by each band's bytes. A bucket keeps only its first representative: a
    query takes the earliest matching representative anyway, so that is the same answer as
    `MinHashLSH.query` + `insert` of representatives, without its per-call overhead.
    """
    from datasketch import MinHashLSH

    bands = MinHashLSH(threshold=config.near_dup_threshold, num_perm=config.num_perm).hashranges
    signatures = minhash_signatures([text for _id, text in items], config.num_perm, config.shingle_words)
    band_keys = [
        np.ascontiguousarray(signatures[:, lo:hi]).view(np.dtype((np.void, 4 * (hi - lo)))).ravel().tolist()
        for lo, hi in bands
    ]  # one list of N bytes keys per band
    buckets = [({}, keys) for keys in band_keys]  # (band's buckets: key -> first representative's index, keys)
    cluster: dict[str, str] = {}
    ids = [item_id for item_id, _text in items]
    for index, item_id in enumerate(ids):
        # only cluster representatives are in the buckets, so every match is a representative
        matches = [rep for bucket, keys in buckets if (rep := bucket.get(keys[index])) is not None]
        if matches:
            cluster[item_id] = ids[min(matches)]
            continue
        cluster[item_id] = item_id
        for bucket, keys in buckets:
            bucket.setdefault(keys[index], index)
    return cluster


class _WordHashes(dict):
    """crc32 of each word, computed once per distinct word."""

    def __missing__(self, word: str) -> int:
        value = self[word] = zlib.crc32(word.encode())
        return value


def shingle_hashes(words: list[list[int]], size: int) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of every `size`-word shingle of each text, concatenated, and where each text's start.

    A text of `size` words or fewer is one shingle of all its words (as `shingles` does).
    """
    counts = np.array([max(len(w) - size + 1, 1) for w in words], dtype=np.int64)
    # each text's word hashes followed by `size` zeros, so no window reaches into the next text
    padded = np.zeros(sum(len(w) for w in words) + len(words) * size, dtype=np.uint64)
    starts = np.zeros(len(words), dtype=np.int64)
    offset = 0
    for i, text_words in enumerate(words):
        starts[i] = offset
        padded[offset : offset + len(text_words)] = text_words
        offset += len(text_words) + size
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    windows = np.repeat(starts, counts) + (np.arange(counts.sum()) - np.repeat(first, counts))
    combined = np.zeros(len(windows), dtype=np.uint64)
    for j in range(size):  # polynomial in the word hashes: order matters, as in a shingle string
        combined = combined * _WORD_MIX + padded[windows + j]
    combined ^= combined >> np.uint64(32)
    return combined.astype(np.uint32), first


def minhash_signatures(texts: list[str], num_perm: int, shingle_words: int) -> np.ndarray:
    """(len(texts), num_perm) uint32 MinHash signatures, datasketch scheme affine32, seed SEED."""
    from datasketch import MinHash
    from datasketch.minhash import _fmix

    a, b = MinHash(num_perm=num_perm, seed=SEED, scheme=SCHEME).permutations  # (num_perm,) uint32 each
    cache = _WordHashes()
    out = np.empty((len(texts), num_perm), dtype=np.uint32)
    start = 0
    while start < len(texts):
        batch: list[list[int]] = []
        total = 0
        while start + len(batch) < len(texts) and (not batch or total < BATCH_SHINGLES):
            words = [cache[w] for w in TOKEN.findall(texts[start + len(batch)].lower())]
            batch.append(words)
            total += max(len(words) - shingle_words + 1, 1)
        hashes, first = shingle_hashes(batch, shingle_words)
        mixed = _fmix(hashes, 32)  # (S,)
        with np.errstate(over="ignore"):  # multiplication modulo 2^32 is the permutation
            permuted = a[:, None] * mixed[None, :]  # (num_perm, S): each text's shingles are contiguous
            permuted += b[:, None]
        out[start : start + len(batch)] = np.minimum.reduceat(permuted, first, axis=1).T
        start += len(batch)
    return out
