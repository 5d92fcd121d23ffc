"""Batches of similar length: one helper for every batched forward pass over texts of mixed lengths (sentence
embeddings, greedy generation), so a short question is not padded to a long passage in the same call."""


def similar_length_batches(lengths: list[int], batch_size: int, max_padding: float = 0.25) -> list[list[int]]:
    """Indices grouped shortest first into batches of at most `batch_size`, a batch closing before the padding to
    its longest member would exceed `max_padding` of its real length."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        real = sum(lengths[j] for j in current) + lengths[i]
        if current and (len(current) == batch_size or (len(current) + 1) * lengths[i] > (1 + max_padding) * real):
            batches.append(current)
            current = []
        current.append(i)
    return batches + ([current] if current else [])
