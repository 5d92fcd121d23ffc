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
