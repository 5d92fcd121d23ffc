"""The no-model baseline: the single corpus sentence that best matches the question by BM25.

Any tuned model must beat it on the gold questions to be worth serving (benchmark row `bm25_sentence`).
"""


from slm_assets.retrieval.index import tokenize
from slm_assets.text import split_sentences


class SentenceIndex:
    """BM25 (bm25s) over every sentence of the domain's chunks."""

    def __init__(self, chunk_texts: dict[str, str], min_words: int = 4):
        import bm25s

        self.sentences: list[str] = []
        self.chunk_ids: list[str] = []
        for chunk_id, text in sorted(chunk_texts.items()):
            for sentence in split_sentences(text):
                if len(sentence.split()) >= min_words:
                    self.sentences.append(sentence)
                    self.chunk_ids.append(chunk_id)
        self.vocab: dict[str, int] = {}
        ids = [[self.vocab.setdefault(t, len(self.vocab)) for t in tokenize(s)] for s in self.sentences]
        self.bm25 = bm25s.BM25()
        if self.sentences:
            self.bm25.index(bm25s.tokenization.Tokenized(ids=ids, vocab=self.vocab), show_progress=False)

    def best(self, question: str) -> tuple[str, str | None]:
        """(sentence, its chunk id); an empty sentence when nothing matches."""
        import numpy as np

        query = [self.vocab[t] for t in tokenize(question) if t in self.vocab]
        if not query or not self.sentences:
            return "", None
        scores = self.bm25.get_scores(query)
        i = int(np.argmax(scores))
        return (self.sentences[i], self.chunk_ids[i]) if scores[i] > 0 else ("", None)
