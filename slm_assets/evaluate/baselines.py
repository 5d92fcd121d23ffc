"""Answerers without a model, scored beside the models so a report shows what retrieval alone achieves."""

import time

from slm_assets.generation import Generated
from slm_assets.retrieval.sentences import SentenceIndex


class BestSentenceAnswerer:
    """Answers each prompt's question with the corpus sentence that best matches it by BM25 (`bm25_sentence`)."""

    name = "bm25_sentence"

    def __init__(self, chunk_texts: dict[str, str]):
        self.index = SentenceIndex(chunk_texts)

    def __call__(self, prompts: list[list[dict]]) -> list[Generated]:
        out = []
        for prompt in prompts:
            started = time.perf_counter()
            sentence, _ = self.index.best(prompt[-1]["content"])
            out.append(Generated(text=sentence, latency_s=time.perf_counter() - started, new_tokens=0))
        return out
