"""Benchmark leakage: test QA that overlaps training QA (13-gram overlap) or shares a source chunk."""

import re
from dataclasses import dataclass, field

WORD = re.compile(r"\w+")


@dataclass
class LeakageReport:
    shared_chunks: list[str] = field(default_factory=list)  # test qa_ids whose chunk is also trained on
    ngram_overlaps: list[tuple[str, str]] = field(default_factory=list)  # (test qa_id, train qa_id)

    @property
    def passed(self) -> bool:
        return not self.shared_chunks and not self.ngram_overlaps

    def describe(self, limit: int = 10) -> str:
        if self.passed:
            return "no leakage"
        parts = []
        if self.shared_chunks:
            parts.append(f"{len(self.shared_chunks)} test pairs share a source chunk with training: {self.shared_chunks[:limit]}")
        if self.ngram_overlaps:
            parts.append(f"{len(self.ngram_overlaps)} test/train pairs share a 13-gram: {self.ngram_overlaps[:limit]}")
        return "; ".join(parts)


def _text(example: dict) -> str:
    return " ".join(m["content"] for m in example["prompt"] if m["role"] == "user") + " " + example["completion"][0]["content"]


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def check_leakage(train: list[dict], test: list[dict], n: int = 13) -> LeakageReport:
    report = LeakageReport()
    train_chunks = {e["chunk_id"] for e in train}
    index: dict[tuple[str, ...], str] = {}
    for example in train:
        for gram in ngrams(_text(example), n):
            index.setdefault(gram, example["qa_id"])
    for example in test:
        if example["chunk_id"] in train_chunks:
            report.shared_chunks.append(example["qa_id"])
        for gram in ngrams(_text(example), n):
            if gram in index:
                report.ngram_overlaps.append((example["qa_id"], index[gram]))
                break
    return report
