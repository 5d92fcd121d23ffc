"""Quality rules in the spirit of Gopher (Rae et al. 2021) and C4 (Raffel et al. 2020).

Each rule returns None when the text passes, else the rule name and a detail.

Gopher's rules were written for web crawl; technical documentation breaks two of them without being bad text.
Identifiers, URLs and markup ("StatusNotification.req(Preparing)", ":ref:`...`", "https://...") are long
whitespace tokens, so the mean word length is taken over word-like tokens only (`prose_words`; text glued
together by a broken PDF extraction still fails). Checklists repeated per section ("- [x] SLAC" under every
charger tested) are structure, like table rows, so list items do not count as duplicated lines. On the 45 real
documents of ../shared/corpora/ev_charging_public these two rules rejected 2 documents whole (a test-results
page and a powermeter sequence reference) that hold answers to 4 of its 129 gold questions.
"""

import re
from collections import Counter

from slm_assets.process.config import QualityConfig
from slm_assets.text import LIST_ITEM, detect_language

STOPWORDS = frozenset(
    "the be to of and that have with this from they will would there their what about which when make can "
    "like time just him know take people into year your good some could them see other than then now look "
    "only come its over think also back after use two how our work first well way even new want because any "
    "these give day most is are was were a an in on for it as at by or not be".split()
)
WORD = re.compile(r"\S+")
CODE_LIKE = re.compile(r"[/_<>=(){}\[\]`\\|@]|\w\.\w|->|::")  # paths, URLs, identifiers, calls, markup


def prose_lines(text: str) -> list[str]:
    """Lines of running text: no fenced code, no table rows, no short structural lines (braces, rules)."""
    out, in_code = [], False
    for raw in text.split("\n"):
        line = raw.strip()
        if line.startswith("```") or line.startswith("~~~"):
            in_code = not in_code
            continue
        if in_code or not line or line.startswith("|") or len(line.split()) < 4:
            continue
        out.append(line)
    return out


def prose_words(words: list[str]) -> list[str]:
    """The word-like tokens among whitespace-split `words`: with a letter, surrounding punctuation stripped, and
    nothing that reads as code, a path or markup."""
    stripped = (w.strip(".,;:!?\"'*") for w in words)
    return [w for w in stripped if any(c.isalpha() for c in w) and not CODE_LIKE.search(w)]


def duplicate_line_share(lines: list[str]) -> float:
    """Share of the characters of `lines` that sit in lines occurring more than once."""
    counts = Counter(lines)
    return sum(len(line) * c for line, c in counts.items() if c > 1) / max(1, sum(len(line) for line in lines))


def quality_failure(text: str, config: QualityConfig) -> tuple[str, str] | None:
    """The first rule `text` breaks as (rule, detail), or None."""
    words = WORD.findall(text)
    n = len(words)
    if n < config.min_words:
        return "too_short", f"{n} words < {config.min_words}"
    if n > config.max_words:
        return "too_long", f"{n} words > {config.max_words}"
    wordlike = prose_words(words)
    mean_len = sum(len(w) for w in wordlike) / max(1, len(wordlike))
    low, high = config.mean_word_length
    if not low <= mean_len <= high:
        return "mean_word_length", f"{mean_len:.1f} outside [{low}, {high}]"
    symbols = sum(w.count("#") + w.count("...") + w.count("…") for w in words if not w.startswith("#"))
    if symbols / n > config.max_symbol_ratio:
        return "symbol_ratio", f"{symbols / n:.2f} > {config.max_symbol_ratio}"
    non_alpha = sum(1 for w in words if not any(c.isalpha() for c in w) and w not in "|-:")
    if non_alpha / n > config.max_non_alpha_ratio:
        return "non_alpha_ratio", f"{non_alpha / n:.2f} > {config.max_non_alpha_ratio}"
    if config.languages:
        language, share = detect_language(text)
        if language is not None and language not in config.languages:
            return "language", f"{language} ({share:.2f} stop words) not in {config.languages}"
    stop = sum(1 for w in words if w.lower().strip(".,;:!?()\"'") in STOPWORDS)
    if stop < config.min_stopwords:
        return "few_stopwords", f"{stop} < {config.min_stopwords}"
    lines = [line for line in prose_lines(text) if not LIST_ITEM.match(line)]
    if len(lines) >= 4:
        # Gopher's duplicate-line rule, by characters: repeated prose (footers, spam), not code, tables or lists
        dup = duplicate_line_share(lines)
        if dup > config.max_duplicate_line_fraction:
            return "duplicate_lines", f"{dup:.2f} > {config.max_duplicate_line_fraction}"
    if n >= 30:
        lowered = [w.lower() for w in words]
        grams = Counter(zip(lowered, lowered[1:], lowered[2:], strict=False))
        gram, count = grams.most_common(1)[0]
        covered = count * sum(len(w) for w in gram) / max(1, sum(len(w) for w in words))
        if count > 2 and covered > config.max_top_ngram_fraction:
            return "repeated_ngram", f"{' '.join(gram)!r} covers {covered:.2f}"
    return None
