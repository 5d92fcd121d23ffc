"""Benchmark leakage: nothing a model sees in training may reveal the questions it is benchmarked on.

A train/val example shows the model its prompt (the question, and in open book the passages: the source chunk and
distractors) and its answer. Checked against the test split (questions from documents never trained on):

- `shared_chunks`: a test pair made from a chunk that a train/val pair was also made from;
- `ngram_overlaps`: a test pair (question + answer) sharing a 13-gram with a train/val example's prompt or answer;
- `test_passages`: a train/val prompt showing a passage (source or distractor) of a test document;
- `test_source_overlaps`: a train/val prompt or answer sharing a 13-gram with a test question's source chunk (the
  same text under another document, e.g. a duplicated page);

and against the gold questions (gold_leakage.py says what is checked there and why).

`decontaminate` removes what the corpus itself causes (duplicated text) before the files are written: the test
pairs it touches, and train/val examples that carry a held-out gold question's evidence. A test passage in a
training prompt is never repaired: the split code must not produce one, so the blocking check fails on it.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

WORD = re.compile(r"\w+")
N = 13  # words: long enough that a shared run of them is copied text, not a common phrase


@dataclass
class LeakageReport:
    shared_chunks: list[str] = field(default_factory=list)  # test qa_ids whose chunk is also trained on
    ngram_overlaps: list[tuple[str, str]] = field(default_factory=list)  # (test qa_id, train/val qa_id)
    test_passages: list[tuple[str, str]] = field(default_factory=list)  # (train/val qa_id, test chunk_id shown)
    test_source_overlaps: list[tuple[str, str]] = field(default_factory=list)  # (test qa_id, train/val qa_id)
    gold_questions_in_training: list[tuple[str, str]] = field(default_factory=list)  # (gold id, train/val qa_id)
    held_out_gold_evidence: list[tuple[str, str]] = field(default_factory=list)  # (gold id, train/val qa_id)
    gold_summary: dict = field(default_factory=dict)  # reported, never blocking: see gold_leakage.py

    BLOCKING = ("shared_chunks", "ngram_overlaps", "test_passages", "test_source_overlaps",
                "gold_questions_in_training", "held_out_gold_evidence")

    @property
    def passed(self) -> bool:
        return not any(getattr(self, name) for name in self.BLOCKING)

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in self.BLOCKING}

    def describe(self, limit: int = 10) -> str:
        if self.passed:
            return "no leakage"
        what = {"shared_chunks": "test pairs share a source chunk with training",
                "ngram_overlaps": "test pairs share a 13-gram with a train/val example (test qa_id, train qa_id)",
                "test_passages": "train/val prompts show a passage of a test document (qa_id, chunk_id)",
                "test_source_overlaps": "test questions' source chunks share a 13-gram with a train/val example "
                                        "(test qa_id, train qa_id)",
                "gold_questions_in_training": "gold questions appear verbatim in train/val examples (gold id, qa_id)",
                "held_out_gold_evidence": "evidence sentences of gold questions about test documents appear in "
                                          "train/val examples (gold id, qa_id)"}
        return "; ".join(f"{len(getattr(self, n))} {what[n]}: {getattr(self, n)[:limit]}"
                         for n in self.BLOCKING if getattr(self, n))


def example_text(example: dict) -> str:
    """All the text a model sees of an example: its user turn (question and passages) and its answer."""
    return " ".join(m["content"] for m in example["prompt"] if m["role"] == "user") + " " + \
        example["completion"][0]["content"]


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    tokens = words(text)
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def first_hits(probes: dict[str, set], examples: list[dict], n: int) -> list[tuple[str, str]]:
    """(probe id, qa_id of the first example whose text holds one of the probe's n-grams), per probe that has one."""
    owner: dict[tuple[str, ...], str] = {}
    for key, grams in probes.items():
        for gram in grams:
            owner.setdefault(gram, key)
    found: dict[str, str] = {}
    for example in examples:
        for gram in ngrams(example_text(example), n) & owner.keys():
            found.setdefault(owner[gram], example["qa_id"])
    return sorted(found.items())


def check_leakage(train: list[dict], test: list[dict], n: int = N) -> LeakageReport:
    """Test pairs against train/val examples: a shared source chunk, or a shared n-gram of their text."""
    report = LeakageReport()
    train_chunks = {e["chunk_id"] for e in train}
    report.shared_chunks = [e["qa_id"] for e in test if e["chunk_id"] in train_chunks]
    report.ngram_overlaps = first_hits({e["qa_id"]: ngrams(example_text(e), n) for e in test}, train, n)
    return report


def check_passages(train_val: list[dict], test: list[dict], chunk_docs: dict[str, str], chunk_texts: dict[str, str],
                   test_docs: set[str], n: int = N) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(test_passages, test_source_overlaps): passages of test documents shown in train/val prompts, by chunk id;
    and train/val examples sharing an n-gram with a test question's source chunk, by text."""
    shown = [(e["qa_id"], c) for e in train_val for c in e.get("context_chunk_ids") or []
             if chunk_docs.get(c) in test_docs]
    sources = {e["qa_id"]: ngrams(chunk_texts.get(e["chunk_id"], ""), n) for e in test}
    return shown, first_hits(sources, train_val, n)


def check_everything_seen(splits: dict[str, list[dict]], chunk_docs: dict[str, str], chunk_texts: dict[str, str],
                          document_splits: dict[str, str], gold: list | None = None) -> LeakageReport:
    """Every check of this module on one dataset; `document_splits`: doc_id -> split; `gold`: GoldQuestion list."""
    from slm_assets.train.gold_leakage import check_gold

    train_val = splits["train"] + splits["val"]
    report = check_leakage(train_val, splits["test"])
    test_docs = {d for d, s in document_splits.items() if s == "test"}
    report.test_passages, report.test_source_overlaps = check_passages(train_val, splits["test"], chunk_docs,
                                                                       chunk_texts, test_docs)
    if gold:
        report.gold_questions_in_training, report.held_out_gold_evidence, report.gold_summary = check_gold(
            train_val, gold, document_splits)
    return report


def decontaminate(splits: dict[str, list[dict]], report: LeakageReport) -> tuple[dict[str, list[dict]], dict]:
    """The splits without what duplicated corpus text leaks: test pairs sharing a chunk or text with training, and
    train/val examples carrying a held-out gold question's evidence; and the dropped qa_ids per reason. Test
    passages in training prompts and gold questions in training are left for the check to block."""
    test_ids = set(report.shared_chunks) | {t for t, _ in report.ngram_overlaps + report.test_source_overlaps}
    train_ids = {q for _, q in report.held_out_gold_evidence}
    cleaned = {"train": [e for e in splits["train"] if e["qa_id"] not in train_ids],
               "val": [e for e in splits["val"] if e["qa_id"] not in train_ids],
               "test": [e for e in splits["test"] if e["qa_id"] not in test_ids]}
    return cleaned, {"test": sorted(test_ids), "train_val": sorted(train_ids)}


def check_written_dataset(out_dir: Path, chunk_docs: dict[str, str], chunk_texts: dict[str, str],
                          gold: list | None = None) -> LeakageReport:
    """The checks on the files training and the benchmark read: the split JSONL files and the manifest's
    document splits (so a test document whose pairs were all dropped still counts as test)."""
    from slm_assets.train.sft_data import SPLITS, read_split

    manifest = json.loads((Path(out_dir) / "manifest.json").read_text(encoding="utf-8"))
    splits = {s: read_split(Path(out_dir), s) for s in SPLITS}
    return check_everything_seen(splits, chunk_docs, chunk_texts, manifest["document_splits"], gold)
