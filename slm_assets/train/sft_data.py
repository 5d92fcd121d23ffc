"""QA pairs -> chat-formatted train/val/test, split by source document."""

import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path

from slm_assets.retrieval.prompting import PASSAGE_WORDS, SHORTEST_PASSAGE_WORDS, open_book_question
from slm_assets.text import ABSTAIN, is_echo, support_score
from slm_assets.train.config import SplitConfig

SPLITS = ("train", "val", "test")


class SplitError(ValueError):
    pass


def split_position(doc_id: str, seed: int) -> float:
    """A document's fixed place in [0, 1): a hash of (seed, document id), so it never depends on the other
    documents of the corpus."""
    digest = hashlib.sha256(f"{seed}\x00{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(position: float, config: SplitConfig) -> str:
    """[0, test_fraction) is test, the next val_fraction is val, the rest train."""
    if position < config.test_fraction:
        return "test"
    return "val" if position < config.test_fraction + config.val_fraction else "train"


def split_documents(doc_ids: list[str], config: SplitConfig) -> dict[str, str]:
    """doc_id -> split, by a hash of (seed, document id) against the fractions: a document's split never changes
    across versions, and a new document joins its split without moving any other (every pair of one document
    lands in the same split).

    A small corpus can leave a split empty by chance. Then the document whose position lies nearest that split's
    range is moved into it, taken from a split that keeps at least one document: deterministic, and it happens
    only while the split is empty, so once each split holds a document by its own hash the rule is purely the
    hash."""
    docs = sorted(set(doc_ids))
    if len(docs) < 3:
        raise SplitError(f"need at least 3 source documents for a train/val/test split, got {len(docs)}")
    position = {d: split_position(d, config.seed) for d in docs}
    assignment = {d: split_of(position[d], config) for d in docs}
    ranges = {"test": (0.0, config.test_fraction),
              "val": (config.test_fraction, config.test_fraction + config.val_fraction),
              "train": (config.test_fraction + config.val_fraction, 1.0)}
    for split in ("test", "val", "train"):
        if split in assignment.values():
            continue
        low, high = ranges[split]
        sizes = {s: sum(v == s for v in assignment.values()) for s in SPLITS}
        movable = [d for d in docs if sizes[assignment[d]] > 1]
        nearest = min(movable, key=lambda d: (max(low - position[d], position[d] - high, 0.0), d))
        assignment[nearest] = split
    return assignment


def chat_example(pair: dict, system_prompt: str, passages: list[tuple[str, str]] | None = None,
                 passage_words: int = PASSAGE_WORDS) -> dict:
    """TRL conversational prompt/completion: loss on the completion only, under the model's chat template.

    With `passages` [(chunk_id, text)], the question is asked open book (source chunk + distractors), each passage
    cut to a window of at most `passage_words` around its sentence that best matches the question.
    """
    user = (open_book_question(pair["question"], [t for _, t in passages], passage_words) if passages
            else pair["question"])
    answerable = not passages or pair["chunk_id"] in {c for c, _ in passages}
    return {
        "qa_id": pair["qa_id"],
        "doc_id": pair["doc_id"],
        "chunk_id": pair["chunk_id"],
        "mode": ("open_book" if answerable else "unanswerable") if passages else "closed_book",
        "context_chunk_ids": [c for c, _ in passages or []],
        "question": pair["question"],
        "prompt": [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": user},
        ],
        "completion": [{"role": "assistant", "content": pair["answer"] if answerable else ABSTAIN}],
        "passage_words": passage_words if passages else None,
    }


def fitted_chat_example(pair: dict, system_prompt: str, passages: list[tuple[str, str]] | None,
                        fits: Callable[[dict], bool] | None) -> dict:
    """`chat_example` with the widest passage windows, from the served PASSAGE_WORDS down to SHORTEST_PASSAGE_WORDS
    in steps of 10, for which `fits(example)` (the whole example inside training's max_length), so the answer is
    trained instead of cut or dropped by the trainer. A window is narrowed only while the prompt still holds the
    answer's words as fully as the widest one does: when narrowing would lose them, the last window that kept them
    stays (the trainer then cuts the example) rather than teaching an answer the passages no longer show. Closed
    book, or without `fits`, the example as it is."""
    example = chat_example(pair, system_prompt, passages)
    if not passages or fits is None:
        return example
    held = answer_support(example)
    for words in range(PASSAGE_WORDS - 10, SHORTEST_PASSAGE_WORDS - 1, -10):
        if fits(example):
            break
        narrower = chat_example(pair, system_prompt, passages, words)
        if answer_support(narrower) < held:
            break
        example = narrower
    return example


def answer_support(example: dict) -> float:
    """How fully the prompt shows the answer's words (1.0 for examples that answer "the documents do not say")."""
    if example["mode"] != "open_book":
        return 1.0
    return support_score(example["completion"][0]["content"], example["prompt"][-1]["content"])


def alpaca_example(example: dict, split: str, passages_text: dict[str, str]) -> dict:
    """instruction = question, input = the context passages (empty when closed book), output = answer."""
    context = "\n\n".join(passages_text[c] for c in example["context_chunk_ids"] if c in passages_text)
    return {"instruction": example["question"], "input": context, "output": example["completion"][0]["content"],
            "split": split, "qa_id": example["qa_id"]}


def passages_for(pair: dict, index, chunk_texts: dict[str, str], k_distractors: int, rng: random.Random,
                 answerable: bool = True, allowed_docs: set[str] | None = None):
    """The source chunk and k retrieved chunks from other documents, in a seeded random order. Unanswerable: only
    the chunks of other documents (k + 1 of them). `allowed_docs`: distractors come only from these documents (the
    train documents, so no test passage is ever shown in training)."""
    passages = [(pair["chunk_id"], chunk_texts[pair["chunk_id"]])] if answerable else []
    wanted = k_distractors + (0 if answerable else 1)
    if index is not None and wanted:
        hits = index.search(pair["question"], wanted + 8, exclude_doc=pair["doc_id"])
        hits = [h for h in hits if (allowed_docs is None or h.doc_id in allowed_docs)
                and (answerable or support_score(pair["answer"], h.text) < 0.5)][:wanted]  # really unanswerable
        passages += [(h.chunk_id, h.text) for h in hits]
    rng.shuffle(passages)
    return passages


def build_splits(pairs: list[dict], system_prompt: str, config: SplitConfig, index=None,
                 chunk_texts: dict[str, str] | None = None,
                 fits: Callable[[dict], bool] | None = None) -> dict[str, list[dict]]:
    """Group split by document; a seeded share of train/val examples carries passages (the test split never:
    the benchmark retrieves its own), fitted to the training length by `fits` (see `fitted_chat_example`)."""
    assignment = split_documents([p["doc_id"] for p in pairs], config)
    train_docs = {d for d, s in assignment.items() if s == "train"}
    splits: dict[str, list[dict]] = {s: [] for s in SPLITS}
    ratio = config.context.open_book_ratio if chunk_texts else 0.0
    rng = random.Random(config.seed)
    for pair in sorted(pairs, key=lambda p: p["qa_id"]):
        if is_echo(pair["question"], pair["answer"]):
            continue  # an answer that restates its question teaches parroting
        split = assignment[pair["doc_id"]]
        open_book = split != "test" and rng.random() < ratio and pair["chunk_id"] in (chunk_texts or {})
        answerable = not open_book or rng.random() >= config.context.unanswerable_ratio
        passages = passages_for(pair, index, chunk_texts, config.context.k_distractors, rng, answerable,
                                train_docs) if open_book else None
        if open_book and not passages:
            passages = None
        splits[split].append(fitted_chat_example(pair, system_prompt, passages, fits))
    if config.max_test_questions is not None:
        # the questions with the lowest hashes: a new question displaces at most one, never reshuffles the rest
        kept = sorted(splits["test"], key=lambda e: split_position(e["qa_id"], config.seed))
        splits["test"] = sorted(kept[: config.max_test_questions], key=lambda e: e["qa_id"])
    return splits


def dataset_hash(splits: dict[str, list[dict]]) -> str:
    digest = hashlib.sha256()
    for split in SPLITS:
        for example in splits[split]:
            digest.update(f"{split}:{json.dumps(example, sort_keys=True)}\n".encode())
    return digest.hexdigest()[:16]


def write_sft_dataset(splits: dict[str, list[dict]], passages_text: dict[str, str], out_dir: Path) -> dict[str, str]:
    """JSONL per split, an HF DatasetDict on disk, and an alpaca-style export."""
    from datasets import Dataset, DatasetDict

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, examples in splits.items():
        path = out_dir / f"{split}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for example in examples:
                handle.write(json.dumps(example, ensure_ascii=False) + "\n")
        paths[split] = str(path)
    DatasetDict({s: Dataset.from_list(e) if e else Dataset.from_dict({}) for s, e in splits.items()}).save_to_disk(
        str(out_dir / "hf")
    )
    paths["hf"] = str(out_dir / "hf")
    alpaca = out_dir / "alpaca.jsonl"
    with alpaca.open("w", encoding="utf-8") as handle:
        for split, examples in splits.items():
            for example in examples:
                handle.write(json.dumps(alpaca_example(example, split, passages_text), ensure_ascii=False) + "\n")
    paths["alpaca"] = str(alpaca)
    return paths


def write_manifest(out_dir: Path, digest: str, splits: dict[str, list[dict]], document_splits: dict[str, str],
                   dropped: dict[str, list[str]], snapshot: dict | None = None) -> None:
    """manifest.json: the dataset hash, counts, every document's split (the leakage check reads it: a test document
    whose pairs were all dropped is still a test document), what decontamination dropped and the warehouse snapshot."""
    from slm_assets.storage import write_text_atomically

    write_text_atomically(out_dir / "manifest.json", json.dumps({
        "dataset_hash": digest, "counts": {k: len(v) for k, v in splits.items()},
        "test_docs": sorted(d for d, s in document_splits.items() if s == "test"),
        "document_splits": dict(sorted(document_splits.items())),
        "dropped_for_leakage": dropped["test"], "dropped_for_gold_evidence": dropped["train_val"],
        **({"snapshot": snapshot} if snapshot else {}),
    }, indent=2))


def manifest_dataset_hash(out_dir: Path) -> str:
    """The dataset hash that the manifest of the dataset written to `out_dir` records."""
    return json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))["dataset_hash"]


def read_split(out_dir: Path, split: str) -> list[dict]:
    path = out_dir / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
