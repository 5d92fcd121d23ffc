"""One open-book prompt format, shared by training, evaluation, serving and `slm-assets ask`.

Each retrieved chunk is cut to a window of whole sentences around the sentence that best matches the question
(instead of the chunk's first N words), so the passage the model reads holds the answer where the chunk does.
"""

from slm_assets.text import content_words, split_sentences

PASSAGE_WORDS = 80  # the window served prompts use
SHORTEST_PASSAGE_WORDS = 30  # the narrowest window a training example is fitted down to


def sentence_match(question_words: set[str], sentence: str) -> float:
    """Distinct question content words in the sentence, lightly favouring short sentences."""
    words = set(content_words(sentence))
    return len(question_words & words) / (1.0 + 0.01 * len(sentence.split()))


def passage_window(question: str, text: str, max_words: int = PASSAGE_WORDS) -> str:
    """The sentences around the best-matching one, extended forward then backward while under `max_words`."""
    sentences = split_sentences(text)
    if sum(len(s.split()) for s in sentences) <= max_words:
        return " ".join(sentences)
    asked = set(content_words(question))
    scores = [sentence_match(asked, s) for s in sentences]
    best = max(range(len(sentences)), key=lambda i: (scores[i], -i))
    lo = hi = best
    used = len(sentences[best].split())
    grew = True
    while grew:
        grew = False
        for step in (hi + 1, lo - 1):
            if 0 <= step < len(sentences) and used + len(sentences[step].split()) <= max_words:
                used += len(sentences[step].split())
                lo, hi = min(lo, step), max(hi, step)
                grew = True
    window = " ".join(sentences[lo : hi + 1])
    words = window.split()
    return window if len(words) <= max_words else " ".join(words[:max_words]) + " ..."


def open_book_question(question: str, passages: list[str], max_words: int = PASSAGE_WORDS) -> str:
    """The user message: numbered passage windows, then the question."""
    numbered = "\n\n".join(f"[{i}] {passage_window(question, p, max_words)}" for i, p in enumerate(passages, start=1))
    return f"Use the passages to answer.\n\n{numbered}\n\nQuestion: {question}"
