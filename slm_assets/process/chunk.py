"""Token-aware chunking that respects headings and paragraphs.

A chunk is a contiguous span [char_start, char_end) of the cleaned document text, so every chunk
(and every QA pair made from it) points back to exact characters and pages of its source.
"""

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

from slm_assets.process.config import ChunkingConfig

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"(])")


@dataclass
class Segment:
    start: int
    end: int
    heading: str | None  # the section this segment belongs to
    starts_section: bool
    n_tokens: int = 0


@dataclass
class Chunk:
    index: int
    char_start: int
    char_end: int
    n_tokens: int
    heading: str | None
    page_start: int | None
    page_end: int | None


def segments_of(text: str) -> list[Segment]:
    """Paragraph blocks; long prose paragraphs split into sentences. Headings start sections."""
    segments: list[Segment] = []
    heading: str | None = None
    for match in re.finditer(r"[^\n]+(?:\n(?!\n)[^\n]*)*", text):
        block, start = match.group(), match.start()
        if not block.strip():
            continue
        if block.startswith("#"):
            heading = block.lstrip("#").strip()
            segments.append(Segment(start, match.end(), heading, True))
            continue
        is_structured = block.lstrip().startswith(("|", "-", "*")) or re.match(r"\s*\d+\.\s", block)
        pieces = [(start, match.end())]
        if not is_structured and len(block) > 400:
            pieces, cursor = [], start
            for sep in SENTENCE_END.finditer(block):
                pieces.append((cursor, start + sep.start()))
                cursor = start + sep.end()
            pieces.append((cursor, match.end()))
        elif is_structured and len(block) > 1200:  # long lists/tables: split by lines
            pieces, cursor = [], start
            for line in re.finditer(r"[^\n]+", block):
                pieces.append((start + line.start(), start + line.end()))
            pieces = pieces or [(start, match.end())]
        for i, (s, e) in enumerate(pieces):
            segments.append(Segment(s, e, heading, starts_section=False if i else False))
    return segments


def chunk_document(
    text: str,
    page_spans: list[tuple[int, int, int]],
    count_tokens: Callable[[list[str]], list[int]],
    config: ChunkingConfig,
) -> list[Chunk]:
    """Pack segments into chunks of about `target_tokens`, overlapping by up to `overlap_tokens`."""
    segments = segments_of(text)
    if not segments:
        return []
    for seg, n in zip(segments, count_tokens([text[s.start : s.end] for s in segments]), strict=True):
        seg.n_tokens = n
    chunks: list[Chunk] = []
    i = 0
    while i < len(segments):
        j, total = i, 0
        while j < len(segments):
            seg = segments[j]
            if j > i and total + seg.n_tokens > config.target_tokens:
                break
            if j > i and seg.starts_section and total >= config.min_tokens:
                break  # a new section starts a new chunk
            total += seg.n_tokens
            j += 1
        start, end = segments[i].start, segments[j - 1].end
        heading = segments[i].heading if not segments[i].starts_section else segments[i].heading
        if total >= config.min_tokens or not chunks:
            chunks.append(_make_chunk(len(chunks), start, end, total, heading, page_spans))
        else:  # a short tail joins the previous chunk
            prev = chunks[-1]
            chunks[-1] = _make_chunk(prev.index, prev.char_start, end, prev.n_tokens + total, prev.heading, page_spans)
        if j >= len(segments):
            break
        # step back over trailing segments for overlap, but always move forward
        back, overlap = j, 0
        while back - 1 > i and overlap + segments[back - 1].n_tokens <= config.overlap_tokens:
            back -= 1
            overlap += segments[back].n_tokens
        i = back if not segments[j].starts_section else j
    return chunks


def _make_chunk(index, start, end, n_tokens, heading, page_spans) -> Chunk:
    page_start, page_end = page_range(start, end, page_spans)
    return Chunk(index, start, end, n_tokens, heading, page_start, page_end)


def page_range(start: int, end: int, page_spans: list[tuple[int, int, int]]) -> tuple[int | None, int | None]:
    """First and last page whose text overlaps [start, end)."""
    if not page_spans:
        return None, None
    starts = [s for _, s, _ in page_spans]
    first = max(0, bisect.bisect_right(starts, start) - 1)
    last = max(0, bisect.bisect_left(starts, end) - 1)
    return page_spans[first][0], page_spans[max(first, last)][0]
