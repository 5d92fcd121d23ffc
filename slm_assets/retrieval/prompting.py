"""One open-book prompt format, shared by training, evaluation, serving and `slm-assets ask`."""

MAX_PASSAGE_WORDS = 60


def trim(text: str, max_words: int = MAX_PASSAGE_WORDS) -> str:
    words = text.split()
    return " ".join(words[:max_words]) + (" ..." if len(words) > max_words else "")


def open_book_question(question: str, passages: list[str]) -> str:
    """The user message: numbered passages, then the question."""
    numbered = "\n\n".join(f"[{i}] {trim(p)}" for i, p in enumerate(passages, start=1))
    return f"Use the passages to answer.\n\n{numbered}\n\nQuestion: {question}"
