"""Joining a paragraph's lines: words broken at a line end are mended, real compounds keep their hyphen."""

import re
from dataclasses import dataclass, field

WORD = re.compile(r"\w+")
HYPHENATED = re.compile(r"\w+(?:-\w+)+")
HYPHENS = "-\u00ad\u2010"  # hyphen-minus, soft hyphen, hyphen
LINE_END_HYPHEN = re.compile(r"(\w+)[-\u00ad\u2010]$")


@dataclass
class Vocabulary:
    """Words of the whole document, to decide whether a hyphen at a line end is part of the word."""

    words: set[str] = field(default_factory=set)
    hyphenated: set[str] = field(default_factory=set)

    def add(self, text: str) -> None:
        lower = text.lower()
        self.words.update(WORD.findall(lower))
        if "-" in lower:
            self.hyphenated.update(HYPHENATED.findall(lower))


def join_lines(lines: list[str], vocabulary: Vocabulary) -> str:
    """One paragraph from its lines: "charg-" + "ing" -> "charging", but "plug-" + "in" stays "plug-in"
    when the document writes "plug-in" elsewhere and never "plugin"."""
    parts = [lines[0]]
    for previous, nxt in zip(lines, lines[1:], strict=False):
        match = LINE_END_HYPHEN.search(previous) if previous[-1:] in HYPHENS else None
        if not (match and nxt[:1].islower()):
            parts.append(" " + nxt)
            continue
        head = match.group(1)
        tail = WORD.match(nxt)
        tail_word = tail.group(0) if tail else ""
        # "power-" + "versus-state-of-charge" and "pay-as-you-" + "go" are compounds already;
        # "plug-" + "in" is one when the document writes "plug-in" elsewhere and never "plugin";
        # anything else is a word broken by the typesetter
        keep = (
            nxt[len(tail_word) : len(tail_word) + 1] == "-"
            or previous[-len(head) - 2 : -len(head) - 1] == "-"
            or (
                f"{head}-{tail_word}".lower() in vocabulary.hyphenated
                and f"{head}{tail_word}".lower() not in vocabulary.words
            )
        )
        parts[-1] = parts[-1][:-1]  # the line-end hyphen (a soft one too) goes; a compound gets "-" back
        parts.append(("-" if keep else "") + nxt)
    return "".join(parts)
