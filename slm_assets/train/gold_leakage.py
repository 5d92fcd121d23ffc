"""Gold questions against the training data: what counts as a leak, and why only that.

The gold set is written by people about the corpus, and the demo's covers every document, so most gold questions
are about documents the model trains on. That is by design, not a leak: the product exists to teach a model its
documents, and the gold set asks whether it learned them well enough to answer people's phrasings. A rule that
blocked "gold document in training", or "gold evidence sentence in training" for every gold question, would block
every run (open-book training prompts show whole chunks of the training documents, evidence sentences included),
and the only way to satisfy it would be to train on less of the corpus than the product promises. So:

Blocking
- `gold_questions_in_training`: a gold question appearing verbatim (a 10-gram of it, or the whole question when it
  has 8 or 9 words) in a train/val prompt or answer. The questions are people's wording that no document contains
  (domains/gold/README.md), so a model that saw one saw the exam, whichever document it is about. Questions under
  8 words are not checked: "What does CCS stand for?" is what a teacher naturally asks too, and matching it would
  flag coincidence, not copying.
- `held_out_gold_evidence`: an evidence sentence of a gold question whose source document is in the TEST split
  appearing (a 13-gram, or the whole sentence when shorter) in a train/val prompt or answer. Those questions are
  about documents held out of training; their evidence can only reach training through the same text under
  another document, and then the question is no longer about unseen text. `sft_dataset` drops such train/val
  examples before writing (counted), so the check on the written files fails only on a real defect.

Reported, never blocking (metadata `gold_summary`)
- how many gold questions are about train, val and test documents, and how many are unanswerable or name a
  source not in the corpus;
- how many train/val-document gold questions have an evidence sentence in the training data: the share of the
  gold set that measures "learned the documents" rather than "generalises to unseen ones".

Gold answers are not matched: they are short expert answers that may quote the document they come from, so
overlap with training text is expected and says nothing about the exam having been seen.
"""

from dataclasses import dataclass

from slm_assets.train.leakage import N, first_hits, ngrams, words

QUESTION_N = 10  # a 10-gram: no gold question shares one with the demo corpus; 8-grams do (evc-010, evc-036)
MIN_QUESTION_WORDS = 8
MIN_EVIDENCE_WORDS = 8


@dataclass(frozen=True)
class GoldQuestion:
    gold_id: str
    question: str
    evidence: tuple[str, ...]
    doc_id: str | None  # the corpus document its `source` names; None when unanswerable or not in the corpus


def gold_doc_id(source: str | None, doc_sources: dict[str, str]) -> str | None:
    """The document whose stored source (path or URL) ends with the gold `source`'s file name."""
    if not source:
        return None
    name = source.replace("\\", "/").split("/")[-1]
    matches = sorted(d for d, stored in doc_sources.items() if stored and stored.replace("\\", "/").endswith(name))
    return matches[0] if matches else None


def gold_questions(rows: list[dict], doc_sources: dict[str, str]) -> list[GoldQuestion]:
    """user_questions.read_questions rows -> GoldQuestion, each tied to its corpus document."""
    return [GoldQuestion(gold_id=r["id"], question=r["question"], evidence=tuple(r["evidence"]),
                         doc_id=gold_doc_id(r.get("source"), doc_sources)) for r in rows]


def probe(text: str, n: int, min_words: int) -> set[tuple[str, ...]]:
    """The n-grams of `text`, or the whole text as one gram when it is shorter than n but at least min_words."""
    count = len(words(text))
    if count < min_words:
        return set()
    return ngrams(text, min(n, count))


def check_gold(train_val: list[dict], gold: list[GoldQuestion], document_splits: dict[str, str]):
    """(gold_questions_in_training, held_out_gold_evidence, summary) for the train/val examples."""
    split_of = {g.gold_id: document_splits.get(g.doc_id) if g.doc_id else None for g in gold}
    questions = first_hits_by_length(train_val, {g.gold_id: (g.question,) for g in gold}, QUESTION_N,
                                     MIN_QUESTION_WORDS)
    evidence = first_hits_by_length(train_val, {g.gold_id: g.evidence for g in gold}, N, MIN_EVIDENCE_WORDS)
    held_out = [(gid, qa) for gid, qa in evidence if split_of[gid] == "test"]
    seen = [gid for gid, _ in evidence if split_of[gid] in ("train", "val")]
    summary = {"gold_questions": len(gold),
               "by_document_split": {s: sum(v == s for v in split_of.values()) for s in ("train", "val", "test")},
               "unanswerable_or_not_in_corpus": sum(v is None for v in split_of.values()),
               "train_val_document_questions_with_evidence_in_training": len(seen),
               "questions_too_short_to_match": sum(len(words(g.question)) < MIN_QUESTION_WORDS for g in gold)}
    return questions, held_out, summary


def first_hits_by_length(examples: list[dict], texts: dict[str, tuple[str, ...]], n: int,
                         min_words: int) -> list[tuple[str, str]]:
    """first_hits for probes (key -> its sentences) whose grams may be shorter than n (short sentences are matched
    whole): grouped by gram length, since examples are cut into grams of one length at a time."""
    by_length: dict[int, dict[str, set]] = {}
    for key, parts in texts.items():
        for part in parts:
            grams = probe(part, n, min_words)
            if grams:
                size = len(next(iter(grams)))
                by_length.setdefault(size, {}).setdefault(key, set()).update(grams)
    found: dict[str, str] = {}
    for size, probes in sorted(by_length.items()):
        for key, qa_id in first_hits(probes, examples, size):
            found.setdefault(key, qa_id)
    return sorted(found.items())
