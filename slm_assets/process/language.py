"""A small stop-word language identifier: enough to keep a domain's corpus in the languages it asks for."""

import re

STOPWORDS = {
    "en": "the and of to in is that for it with as on are be this by or from which an at can not",
    "de": "der die und das ist nicht ein eine den mit von zu auf für sich dem des im auch wird oder",
    "fr": "le la les et des est une un du que pour dans qui pas sur au par avec ce sont ou",
    "es": "el la los las de que y en es un una por para con no del se al lo como más",
    "it": "il lo la gli le di che e è un una per con non del della sono nel al come",
    "nl": "de het een en van is dat niet op te zijn met voor die aan er ook als bij",
    "pt": "o a os as de que e é um uma para com não do da no em por se mais",
}
_SETS = {lang: set(words.split()) for lang, words in STOPWORDS.items()}
WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def detect_language(text: str, sample_words: int = 2000) -> tuple[str | None, float]:
    """(language code, share of words that are its stop words); (None, 0.0) when nothing matches."""
    words = [w.lower() for w in WORD.findall(text[: sample_words * 8])][:sample_words]
    if not words:
        return None, 0.0
    scores = {lang: sum(1 for w in words if w in stop) / len(words) for lang, stop in _SETS.items()}
    lang = max(scores, key=scores.get)
    return (lang, scores[lang]) if scores[lang] >= 0.05 else (None, scores[lang])
