"""The bundled sentence embedder: batches by length, answers in the caller's order."""

from slm_assets.retrieval.embedder import DIMENSIONS, embed


def test_vectors_come_back_in_input_order_whatever_the_batching():
    texts = ["OCPP lets a charging station talk to its central management system. " * 12,
             "What does a type B RCD detect?",
             "A type B RCD detects smooth DC residual currents above 6 mA.",
             "Short.",
             "Load management shares the grid connection between charge points. " * 5]
    together = embed(texts, batch_size=2)  # sorted by length: the batches mix the texts' original positions
    alone = [embed([t])[0] for t in texts]
    assert together.shape == (len(texts), DIMENSIONS)
    for row, single in zip(together, alone, strict=True):
        assert float((row - single).abs().max()) < 1e-5
    assert float(together[1] @ together[2]) > float(together[1] @ together[3])  # the answer is nearer the question
    assert embed([]).shape == (0, DIMENSIONS)


def test_batches_group_similar_lengths_and_bound_the_padding():
    from slm_assets.retrieval.embedder import similar_length_batches

    lengths = [30, 1200, 80, 95, 1100, 70, 85]  # a question, two passages, four sentences
    batches = similar_length_batches(lengths, batch_size=32)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert [1, 4] in batches or [4, 1] in batches  # the passages together, apart from the sentences
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert len(batch) == 1 or len(batch) * longest <= 1.25 * sum(lengths[i] for i in batch)
    assert all(len(b) <= 2 for b in similar_length_batches([10] * 5, batch_size=2))
