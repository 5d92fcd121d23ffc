"""Batches of similar length, for every batched pass over texts of mixed lengths (sentence embeddings, greedy
generation, distillation steps), so a short question is not padded to a long passage in the same call."""


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


def length_grouped_batches(lengths: list[int], batch_size: int, rng, pool_batches: int = 8):
    """Endless random training batches (lists of indices) of similar length, as transformers' `group_by_length`:
    draw `pool_batches` batches' worth of examples at random, sort them by length, cut them into batches and yield
    those in random order. Each example is drawn at most once per pool; padding stays near the real length."""
    pool_size = min(len(lengths), batch_size * pool_batches)
    while True:
        pool = sorted(rng.sample(range(len(lengths)), pool_size), key=lambda i: lengths[i])
        batches = [pool[i : i + batch_size] for i in range(0, len(pool), batch_size)]
        rng.shuffle(batches)
        yield from batches
