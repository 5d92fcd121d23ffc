"""HTML to text with structure: main content only, headings/lists/tables kept as Markdown."""

from bs4 import BeautifulSoup, NavigableString, Tag
from charset_normalizer import from_bytes

from slm_assets.ingest.documents import ParsedDocument, ParseError

DROP_TAGS = ["script", "style", "noscript", "nav", "footer", "header", "aside", "form", "iframe", "svg", "button"]
BLOCK_TAGS = {"p", "div", "section", "article", "main", "blockquote", "pre", "figure", "figcaption", "dl", "dd", "dt"}


def decode_html(data: bytes, declared_charset: str | None = None) -> str:
    """Bytes to str: the declared charset if it decodes, else detection."""
    for charset in filter(None, [declared_charset, _meta_charset(data)]):
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        best = from_bytes(data).best()
        if best is None:
            raise ParseError("undecodable bytes: no text encoding fits") from None
        return str(best)


def _meta_charset(data: bytes) -> str | None:
    head = data[:2048].decode("ascii", errors="ignore").lower()
    marker = head.find("charset=")
    if marker < 0:
        return None
    value = head[marker + 8 :].lstrip("\"' ")
    end = next((i for i, ch in enumerate(value) if ch in "\"' ;>/"), len(value))
    return value[:end] or None


def parse_html(data: bytes, declared_charset: str | None = None) -> ParsedDocument:
    """Parse a page: the article's text as Markdown-ish blocks plus title, description, canonical, language, date."""
    if b"\x00" in data[:4096]:
        raise ParseError("binary data, not HTML")
    soup = BeautifulSoup(decode_html(data, declared_charset), "lxml")
    metadata = _page_metadata(soup)
    for tag in soup(DROP_TAGS):
        tag.decompose()
    root = soup.find("article") or soup.find("main") or soup.body or soup
    blocks: list[str] = []
    try:
        _render(root, blocks)
    except RecursionError:  # a hostile page of thousands of nested tags; _render recurses per level
        raise ParseError("HTML nested too deeply to read (about 1,000 levels or more)") from None
    text = "\n\n".join(b for b in (blk.strip() for blk in blocks) if b)
    if not text.strip():
        raise ParseError("no text content in the page")
    title = metadata.pop("title", None) or _first_heading(root) or ""
    return ParsedDocument(
        title=title.strip(), text=text, parser="html", language=metadata.pop("language", None), metadata=metadata
    )


def _page_metadata(soup: BeautifulSoup) -> dict:
    meta: dict = {}
    if soup.title and soup.title.string:
        meta["title"] = soup.title.string.strip()
    if soup.html and soup.html.get("lang"):
        meta["language"] = str(soup.html["lang"]).split("-")[0].lower()
    for tag in soup.find_all("meta"):
        key = (tag.get("name") or tag.get("property") or "").lower()
        content = tag.get("content")
        if not content:
            continue
        if key in ("description", "og:description"):
            meta.setdefault("description", content.strip())
        elif key in ("article:published_time", "date", "dc.date", "pubdate"):
            meta.setdefault("published", content.strip())
        elif key == "author":
            meta["author"] = content.strip()
    canonical = soup.find("link", rel="canonical")
    if canonical and canonical.get("href"):
        meta["canonical_url"] = canonical["href"]
    time_tag = soup.find("time", datetime=True)
    if time_tag:
        meta.setdefault("published", time_tag["datetime"])
    return meta


def _first_heading(root: Tag) -> str | None:
    heading = root.find(["h1", "h2"])
    return heading.get_text(" ", strip=True) if heading else None


def _inline(tag: Tag) -> str:
    return " ".join(tag.get_text(" ", strip=True).split())


def _render(node: Tag, blocks: list[str]) -> None:
    """Walk the tree, appending one string per block (heading, paragraph, list, table)."""
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            joined = " ".join(" ".join(buffer).split())
            if joined:
                blocks.append(joined)
            buffer.clear()

    for child in node.children:
        if isinstance(child, NavigableString):
            if child.strip():
                buffer.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name.lower()
        if name in ("h1", "h2", "h3", "h4", "h5", "h6"):
            flush()
            blocks.append("#" * int(name[1]) + " " + _inline(child))
        elif name in ("ul", "ol"):
            flush()
            items = child.find_all("li", recursive=False)
            lines = [
                (f"{i}. " if name == "ol" else "- ") + _inline(li) for i, li in enumerate(items, start=1)
            ]
            blocks.append("\n".join(line for line in lines if line.strip(" -.0123456789")))
        elif name == "table":
            flush()
            table = table_to_markdown(child)
            if table:
                blocks.append(table)
        elif name == "br":
            buffer.append("\n")
        elif name in BLOCK_TAGS or child.find(["p", "h1", "h2", "h3", "ul", "ol", "table", "div"]):
            flush()
            _render(child, blocks)
        else:
            buffer.append(_inline(child))
    flush()


def table_to_markdown(table: Tag) -> str:
    rows = []
    for tr in table.find_all("tr"):
        cells = [_inline(c).replace("|", "/") for c in tr.find_all(["th", "td"])]
        if any(cells):
            rows.append(cells)
    return rows_to_markdown(rows)


def rows_to_markdown(rows: list[list[str]]) -> str:
    """A Markdown table; the first row is the header."""
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)
