"""batching.similar_length_batches: the one grouping of mixed-length texts (embeddings, generation)."""

from slm_assets.batching import similar_length_batches


def test_batches_group_similar_lengths_and_bound_the_padding():
    lengths = [30, 1200, 80, 95, 1100, 70, 85]  # a question, two passages, four sentences
    batches = similar_length_batches(lengths, batch_size=32)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert [1, 4] in batches or [4, 1] in batches  # the passages together, apart from the sentences
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert len(batch) == 1 or len(batch) * longest <= 1.25 * sum(lengths[i] for i in batch)
    assert all(len(b) <= 2 for b in similar_length_batches([10] * 5, batch_size=2))


def test_training_batches_are_random_pools_cut_by_length():
    import itertools
    import random

    from slm_assets.batching import length_grouped_batches

    lengths = [random.Random(i).choice([60, 80, 250, 288]) + i % 7 for i in range(300)]  # closed and open book
    batches = list(itertools.islice(length_grouped_batches(lengths, 8, random.Random(1)), 16))
    assert all(len(b) == 8 for b in batches)
    for pool in (batches[:8], batches[8:]):  # each pool of 8 batches draws 64 distinct examples
        assert len({i for b in pool for i in b}) == 64
    padded = sum(8 * max(lengths[i] for i in b) for b in batches)
    real = sum(lengths[i] for b in batches for i in b)
    assert padded < 1.2 * real  # random batches of this mix pad to ~1.7x
    assert batches == list(itertools.islice(length_grouped_batches(lengths, 8, random.Random(1)), 16))
    assert batches != list(itertools.islice(length_grouped_batches(lengths, 8, random.Random(2)), 16))
