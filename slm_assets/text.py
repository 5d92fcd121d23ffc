"""Plain-text measures shared by every stage: content words, lexical support, echo, abstention, sentences,
language.

The lowest module of the package: it imports nothing from slm_assets, so synthesis, retrieval, evaluation and
serving can all use the same definitions (an answer is "grounded" or "an echo" in one sense only).
"""

import re

STOPWORDS = frozenset(
    "the be to of and that have with this from they will would there their what about which when make can "
    "like time just him know take people into year your good some could them see other than then now look "
    "only come its over think also back after use two how our work first well way even new want because any "
    "these give day most is are was were a an in on for it as at by or not be does do did i my me we you".split()
)
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-./]*")
YES_NO_OPENING = re.compile(r"^\s*(yes|no)\b", re.IGNORECASE)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"(])")
ABSTAIN = "The documents do not say."
ABSTENTION = re.compile(
    r"\b(documents? (do|does) not (say|cover|mention|state)|not (covered|mentioned|stated) in the documents|"
    r"the (passages?|documents?|text) (do|does) not (say|answer|mention|cover))\b",
    re.IGNORECASE,
)
ECHO_SHARE = 0.75  # an answer whose content words come at least this much from the question restates it
ECHO_MIN_WORDS = 4  # shorter answers ("Yes.", "350 kW", "Type 2") are never called an echo


def content_words(text: str) -> list[str]:
    """Lower-cased words that carry meaning: no stop words, no 1-2 letter words unless they hold a digit."""
    words = (w.lower().strip(".,/-") for w in WORD.findall(text))
    return [w for w in words if w not in STOPWORDS and (len(w) > 2 or any(c.isdigit() for c in w))]


def support_score(answer: str, source_text: str) -> float:
    """Share of the answer's content words that occur in the source text (1.0 = fully lexically grounded)."""
    words = content_words(answer)
    if not words:
        return 0.0
    source_words = set(content_words(source_text))
    return sum(1 for w in words if w in source_words) / len(words)


def stem(word: str) -> str:
    """Crude plural/third-person folding, enough to see 'detects' in 'detect'."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def echo_score(question: str, answer: str) -> float:
    """Share of the answer's content words that the question already contains (0 = all new)."""
    words = [stem(w) for w in content_words(answer)]
    if not words:
        return 0.0
    asked = {stem(w) for w in content_words(question)}
    return sum(1 for w in words if w in asked) / len(words)


def _normalised(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def is_echo(question: str, answer: str) -> bool:
    """The answer mostly repeats the question: it starts with the question verbatim, or (with at least
    ECHO_MIN_WORDS content words) at least ECHO_SHARE of its content words are the question's."""
    q, a = _normalised(question), _normalised(answer)
    if q and a.startswith(q):
        return True
    return len(content_words(answer)) >= ECHO_MIN_WORDS and echo_score(question, answer) >= ECHO_SHARE


def is_abstention(answer: str) -> bool:
    """The answer says the documents do not cover the question."""
    return bool(ABSTENTION.search(answer))


def split_sentences(text: str) -> list[str]:
    """Sentences of running text; every line of a table, list or heading is a unit of its own. Prose that was
    hard-wrapped at a fixed width (reStructuredText, Markdown, plain text) is joined again first, so a sentence is
    never cut at a line end. An item's number ("2.", "b.") stays with the item's text, also when it stands on a
    line of its own."""
    out = []
    number = ""  # a bare item number waiting for the text it numbers
    for line in unwrapped_lines(text):
        for sentence in SENTENCE_END.split(line):
            if not sentence:
                continue
            if BARE_ITEM_NUMBER.fullmatch(sentence):
                if number:
                    out.append(number)
                number = sentence
                continue
            out.append(f"{number} {sentence}" if number else sentence)
            number = ""
    if number:
        out.append(number)
    return out


LIST_ITEM = re.compile(r"^(?:[*+\-\u2022]|\d{1,3}[.)]|[a-z][.)])\s")
BARE_ITEM_NUMBER = re.compile(r"(?:\d{1,3}|[A-Za-z])\.")  # "2." split off its item at ". "
ITEM_NUMBER = re.compile(r"^(?:\d{1,3}|[A-Za-z])\.\s+")  # an item's number, as split_sentences keeps it
ADORNMENT = frozenset("=-~^\"'`*#+_:|. ")  # rules, table borders and reStructuredText title underlines
CLAUSE_END = (".", "!", "?", ":", ";")
WRAP_WIDTH = 60  # a line at least this long that stops mid-sentence was wrapped at a fixed width


def unwrapped_lines(text: str) -> list[str]:
    """The non-empty lines of `text`, whitespace collapsed, with hard-wrapped prose joined into one line per
    paragraph. Rules and title underlines are dropped."""
    lines: list[str] = []
    previous = ""  # the line before, as written; "" after a blank line or a rule
    for raw in text.split("\n"):
        line = " ".join(raw.split())
        if not line or set(line) <= ADORNMENT:
            previous = ""
            continue
        if previous and continues(previous, line):
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
        previous = line
    return lines


def continues(previous: str, line: str) -> bool:
    """`line` carries on the sentence that the line before it, `previous`, left open: it starts in lower case, or
    `previous` is as long as a wrapped line. Never after a heading or table row, never before a list item, table
    row or heading."""
    if (previous.endswith(CLAUSE_END) or previous.startswith(("|", "#")) or is_heading(previous)
            or line.startswith(("|", "#")) or LIST_ITEM.match(line)):
        return False
    return line[0].islower() or (len(previous) >= WRAP_WIDTH and not is_heading(line))


INLINE_MARKUP = re.compile(  # links (Markdown, reStructuredText), roles, literals, code, bold and emphasis
    r"!?\[(?P<link>[^\]]+)\]\([^)\s]*\)|`(?P<rst_link>[^`<]+?)\s*<[^>`]+>`_{1,2}"
    r"|:[\w-]+:`(?P<role_titled>[^`<]+?)\s*<[^>`]+>`|:[\w-]+:`(?P<role>[^`]*)`"
    r"|``(?P<literal>[^`]+)``|`(?P<code>[^`]+)`|\*\*(?P<bold>[^*]+)\*\*"
    r"|(?<![\w*])\*(?P<em>[^*\s][^*]*)\*(?![\w*])")


def plain_text(sentence: str) -> str:
    """A sentence as a reader is shown it: without its list marker and inline markup (``code``, **bold**); a link
    keeps its text and loses its address (the reply names its sources separately)."""
    sentence = LIST_ITEM.sub("", sentence, count=1).lstrip()
    return INLINE_MARKUP.sub(lambda m: next(g for g in m.groups() if g is not None), sentence)


TITLE_SMALL_WORDS = frozenset("a an and as at by for from in of on or the to vs with".split())
MAX_TITLE_WORDS = 12


def is_heading(line: str) -> bool:
    """A heading, not a statement: a Markdown heading, or a line in title case with no digits and no closing
    punctuation ("Home Wallbox Installation Checklist"). "Up to 80 A at 240 V" and "Reseat the plug; try another
    cable" are statements."""
    line = line.strip()
    if line.startswith("#"):
        return True
    words = [w for w in line.split() if w[0].isalnum()]
    if (not 2 <= len(words) <= MAX_TITLE_WORDS or line.endswith((".", "!", "?", ";", ":"))
            or any(ch.isdigit() for ch in line)):
        return False
    return all(w[0].isupper() or w.lower() in TITLE_SMALL_WORDS for w in words)


def rate(flags: list[bool]) -> float:
    """Share of True in a list (0.0 for an empty one)."""
    return sum(flags) / len(flags) if flags else 0.0


# A small stop-word language identifier: enough to keep a domain's corpus in the languages it asks for.
LANGUAGE_STOPWORDS = {
    "en": "the and of to in is that for it with as on are be this by or from which an at can not",
    "de": "der die und das ist nicht ein eine den mit von zu auf für sich dem des im auch wird oder",
    "fr": "le la les et des est une un du que pour dans qui pas sur au par avec ce sont ou",
    "es": "el la los las de que y en es un una por para con no del se al lo como más",
    "it": "il lo la gli le di che e è un una per con non del della sono nel al come",
    "nl": "de het een en van is dat niet op te zijn met voor die aan er ook als bij",
    "pt": "o a os as de que e é um uma para com não do da no em por se mais",
}
_LANGUAGE_SETS = {lang: set(words.split()) for lang, words in LANGUAGE_STOPWORDS.items()}
LANGUAGE_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def detect_language(text: str, sample_words: int = 2000) -> tuple[str | None, float]:
    """(language code, share of words that are its stop words); (None, 0.0) when nothing matches."""
    words = [w.lower() for w in LANGUAGE_WORD.findall(text[: sample_words * 8])][:sample_words]
    if not words:
        return None, 0.0
    scores = {lang: sum(1 for w in words if w in stop) / len(words) for lang, stop in _LANGUAGE_SETS.items()}
    lang = max(scores, key=scores.get)
    return (lang, scores[lang]) if scores[lang] >= 0.05 else (None, scores[lang])
