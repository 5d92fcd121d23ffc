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
