"""The batched near-dedup in slm_assets.process.dedup gives datasketch's answers, only faster.

(Here rather than under process/ because it was written with the ingest benchmark, which times it.)
"""

import random

from datasketch import LeanMinHash, MinHash, MinHashLSH

from slm_assets.process.config import DedupConfig
from slm_assets.process.dedup import (
    SCHEME,
    SEED,
    TOKEN,
    _WordHashes,
    minhash_signatures,
    near_duplicate_clusters,
    shingle_hashes,
)


def _corpus(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    vocab = [f"word{i}" for i in range(3000)]
    items: list[tuple[str, str]] = []
    for i in range(n):
        if i % 5 == 4:  # a copy of an earlier text with a few words changed
            words = items[rng.randrange(len(items))][1].split()
            for _ in range(rng.randint(0, 15)):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            items.append((f"c{i}", " ".join(words)))
        else:
            items.append((f"c{i}", " ".join(rng.choices(vocab, k=rng.randint(40, 160)))))
    return items


def test_signatures_equal_datasketch_minhash():
    texts = ["The quick brown fox jumps over the lazy dog, again and again.", "tiny text", "", "a b c d e"]
    signatures = minhash_signatures(texts, 128, 5)
    for text, signature in zip(texts, signatures, strict=True):
        cache = _WordHashes()
        hashes, _first = shingle_hashes([[cache[w] for w in TOKEN.findall(text.lower())]], 5)
        assert len(hashes) == max(len(TOKEN.findall(text)) - 4, 1)
        reference = MinHash(num_perm=128, seed=SEED, scheme=SCHEME, hashfunc=lambda h: h)
        reference.update_batch([int(h) for h in hashes])
        assert (reference.hashvalues == signature).all()


def test_clusters_equal_datasketch_lsh():
    items, config = _corpus(3000), DedupConfig()
    signatures = minhash_signatures([t for _i, t in items], config.num_perm, config.shingle_words)
    lsh, expected, position = MinHashLSH(threshold=config.near_dup_threshold, num_perm=config.num_perm), {}, {}
    for (item_id, _text), hashvalues in zip(items, signatures, strict=True):
        minhash = LeanMinHash(seed=SEED, hashvalues=hashvalues, scheme=SCHEME)
        matches = lsh.query(minhash)
        if matches:
            expected[item_id] = min(matches, key=position.__getitem__)
        else:
            expected[item_id] = item_id
            position[item_id] = len(position)
            lsh.insert(item_id, minhash)
    assert near_duplicate_clusters(items, config) == expected
    assert len(set(expected.values())) < len(items)  # the corpus does hold near duplicates


def test_near_copies_cluster_and_distinct_texts_do_not():
    base = " ".join(f"word{i}" for i in range(200))
    near = base.replace("word100", "changed", 1)
    clusters = near_duplicate_clusters([("a", base), ("b", near), ("c", "completely different " * 30), ("d", "")],
                                       DedupConfig())
    assert clusters == {"a": "a", "b": "a", "c": "c", "d": "d"}
    assert near_duplicate_clusters([], DedupConfig()) == {}
