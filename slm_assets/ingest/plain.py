"""Markdown, reStructuredText and plain text files."""

import html
import re

from slm_assets.ingest.documents import ParsedDocument, ParseError
from slm_assets.ingest.html import decode_html

RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")


def parse_plain(data: bytes, suffix: str) -> ParsedDocument:
    if b"\x00" in data[:4096]:
        raise ParseError("binary data, not text")
    text = decode_html(data).replace("\r\n", "\n")
    parser = {".md": "markdown", ".rst": "rst"}.get(suffix, "text")
    if parser == "rst":
        text = _rst_headings_to_markdown(text)
    if parser == "markdown":  # inline HTML in Markdown: keep the words, drop the markup
        text = html.unescape(HTML_TAG.sub("", HTML_COMMENT.sub("", text)))
    if not text.strip():
        raise ParseError("empty file")
    title = _title(text)
    if parser == "markdown" and text.startswith("---\n"):  # drop YAML front matter
        end = text.find("\n---", 4)
        if end > 0:
            text = text[end + 4 :].lstrip()
    return ParsedDocument(title=title, text=text.strip(), parser=parser)


def _rst_headings_to_markdown(text: str) -> str:
    """`Title\\n=====` becomes `# Title`; underline characters map to levels in order of appearance."""
    lines = text.split("\n")
    levels: dict[str, int] = {}
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and RST_UNDERLINE.match(nxt) and len(nxt.strip()) >= len(line.strip()) - 1:
            level = levels.setdefault(nxt.strip()[0], len(levels) + 1)
            if out and RST_UNDERLINE.match(out[-1]):  # overline
                out.pop()
            out.append("#" * min(level, 6) + " " + line.strip())
            i += 2
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


TITLE_SEARCH_LINES = 10  # a heading among the first lines is the title; else the first line of text


def _title(text: str) -> str:
    """The first heading among the first lines, else the first line of text. reStructuredText directives and link
    targets (`.. _exp-pnc-process:`) and front-matter rules are never a title."""
    lines = [line.strip() for line in text.split("\n")]
    lines = [line for line in lines if line and not line.startswith(("---", ".. "))][:TITLE_SEARCH_LINES]
    heading = next((line for line in lines if line.startswith("#")), None)
    if heading is not None:
        return heading.lstrip("#").strip()
    return lines[0][:120] if lines else ""
