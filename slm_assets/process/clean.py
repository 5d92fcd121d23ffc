"""Text normalisation: Unicode, whitespace, boilerplate lines."""

import re
import unicodedata

BOILERPLATE = re.compile(
    r"^(cookie|cookies|accept all|privacy policy|terms of (use|service)|all rights reserved|©|copyright|"
    r"subscribe|sign up|log ?in|share this|follow us|skip to (main )?content|back to top|page \d+( of \d+)?$)",
    re.IGNORECASE,
)
CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b\u200c\u200d\ufeff]")
SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")


def clean_text(text: str) -> str:
    """NFKC, no control characters, one space between words, no boilerplate lines, at most one blank line."""
    text = unicodedata.normalize("NFKC", text)
    text = CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = []
    for raw in text.split("\n"):
        line = SPACES.sub(" ", raw).strip()
        if line and len(line) < 80 and BOILERPLATE.match(line.lstrip("#-* ")):
            continue
        lines.append(line)
    cleaned = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", cleaned).strip()
