"""The offline teacher: no LLM at all. It derives natural questions and minimal answers from a chunk's own text.

Honest about what it is: every answer is copied from the chunk (a sentence, the clause that answers, a table
value or a list), and every question is made by a rule (synth/offline_questions.py: definitions, numbers with
units, conditions, reasons, yes/no with the reason, table values, procedures). It lets the whole pipeline run
with no network and no GPU, and gives grounded pairs; a pair whose answer restates its question is dropped by
the echo gate (synth/gates.py), and unanswerable examples are added when the SFT data is built.
"""

import hashlib
import re

from slm_assets.synth.offline_questions import list_pairs, sentence_pairs, table_pairs
from slm_assets.synth.records import ChunkForSynth, QAPair
from slm_assets.text import split_sentences

TEMPLATE_VERSION = "offline-5"  # bump whenever a strategy changes: cached calls of other versions are not reused


def block_pairs(block: str, heading: str | None) -> list[QAPair]:
    """Pairs from one paragraph, table or list."""
    if block.startswith("|"):
        return table_pairs(block)
    if re.match(r"\s*(?:[-*]|\d+\.)\s", block):
        return list_pairs(block, heading)
    return [pair for sentence in split_sentences(block) for pair in sentence_pairs(sentence)]


class OfflineTeacher:
    """Derives grounded QA pairs from a chunk with fixed rules. Deterministic: same chunk, same pairs."""

    provider = "offline"
    model = "extractive-rules"
    template_version = TEMPLATE_VERSION

    def pairs_for_chunk(self, chunk: ChunkForSynth) -> list[QAPair]:
        pairs: list[QAPair] = []
        heading = chunk.heading
        for block in re.split(r"\n\s*\n", chunk.text):
            block = block.strip()
            if block.startswith("#"):
                heading = block.lstrip("#").strip()
            elif block:
                pairs.extend(block_pairs(block, heading))
        seen, unique = set(), []
        for pair in pairs:
            key = hashlib.md5(pair.question.lower().encode()).hexdigest()
            if key not in seen:
                seen.add(key)
                unique.append(pair)
        return unique
