"""Document-level splits, chat format, and the leakage check."""

import pytest

from slm_assets.train.config import SplitConfig
from slm_assets.train.leakage import check_leakage
from slm_assets.train.sft_data import SplitError, build_splits, chat_example, split_documents


def pairs(n_docs: int, per_doc: int = 4) -> list[dict]:
    return [{"qa_id": f"q{d}-{i}", "doc_id": f"d{d}", "chunk_id": f"c{d}-{i}",
             "question": f"Question {i} about document {d} and its topic?",
             "answer": f"Answer {i} for document {d} with several distinct words number {d * 100 + i}."}
            for d in range(n_docs) for i in range(per_doc)]


def test_split_is_by_document_seeded_and_complete():
    config = SplitConfig(val_fraction=0.1, test_fraction=0.2, seed=1)
    splits = build_splits(pairs(20), "system", config)
    docs = {s: {e["doc_id"] for e in rows} for s, rows in splits.items()}
    assert not docs["train"] & docs["test"] and not docs["train"] & docs["val"] and not docs["val"] & docs["test"]
    assert sum(len(v) for v in splits.values()) == 80
    assert all(docs[s] for s in ("train", "val", "test"))
    assert build_splits(pairs(20), "system", config) == splits  # same seed, same split
    other = build_splits(pairs(20), "system", SplitConfig(val_fraction=0.1, test_fraction=0.2, seed=2))
    assert {e["doc_id"] for e in other["test"]} != docs["test"]


def test_adding_or_removing_documents_never_moves_another_document():
    config = SplitConfig(val_fraction=0.1, test_fraction=0.15, seed=7)
    corpus = [f"doc-{i}" for i in range(300)]
    before = split_documents(corpus, config)
    grown = split_documents(corpus + [f"new-{i}" for i in range(50)], config)
    shrunk = split_documents([d for i, d in enumerate(corpus) if i % 7], config)
    assert {d: grown[d] for d in corpus} == before
    assert all(shrunk[d] == before[d] for d in shrunk)
    # the order documents arrive in does not matter either
    assert split_documents(list(reversed(corpus)), config) == before


def test_split_fractions_are_roughly_respected_on_1000_documents():
    config = SplitConfig(val_fraction=0.1, test_fraction=0.15, seed=7)
    assignment = split_documents([f"doc-{i}" for i in range(1000)], config)
    counts = {s: sum(v == s for v in assignment.values()) for s in ("train", "val", "test")}
    # binomial standard deviations: ~11 (test), ~9.5 (val); 4 sigma either way
    assert 105 <= counts["test"] <= 195 and 62 <= counts["val"] <= 138
    assert counts["train"] == 1000 - counts["test"] - counts["val"]


def test_a_small_corpus_gets_every_split_non_empty_deterministically():
    config = SplitConfig(val_fraction=0.1, test_fraction=0.15, seed=7)
    for n in range(3, 12):
        docs = [f"d{i}" for i in range(n)]
        assignment = split_documents(docs, config)
        assert set(assignment.values()) == {"train", "val", "test"}, n
        assert split_documents(list(reversed(docs)), config) == assignment


def test_too_few_documents_is_a_clear_error():
    with pytest.raises(SplitError, match="at least 3 source documents"):
        split_documents(["a", "b"], SplitConfig())


def test_chat_example_has_system_prompt_and_completion():
    example = chat_example(pairs(1)[0], "You are an EV charging expert.")
    assert example["prompt"][0] == {"role": "system", "content": "You are an EV charging expert."}
    assert example["prompt"][1]["role"] == "user" and example["completion"][0]["role"] == "assistant"


def test_leakage_check_passes_clean_splits_and_names_a_planted_leak():
    splits = build_splits(pairs(10), "system", SplitConfig(seed=4))
    clean = check_leakage(splits["train"], splits["test"])
    assert clean.passed, clean.describe()
    leaked = dict(splits["train"][0])
    leaked = {**leaked, "qa_id": "planted", "doc_id": "elsewhere"}
    report = check_leakage(splits["train"], splits["test"] + [leaked])
    assert not report.passed
    assert "planted" in report.describe()
    assert "planted" in report.shared_chunks


def test_open_book_examples_carry_the_source_chunk_and_distractors_from_other_documents():
    from slm_assets.retrieval.index import ChunkIndex

    data = pairs(10)
    chunk_texts = {p["chunk_id"]: f"Passage for {p['question']} {p['answer']}" for p in data}
    index, _ = ChunkIndex.build([{"chunk_id": c, "doc_id": c.split("-")[0].replace("c", "d"), "text": t}
                                 for c, t in chunk_texts.items()])
    config = SplitConfig(seed=4, context={"open_book_ratio": 1.0, "k_distractors": 2, "unanswerable_ratio": 0.0})
    splits = build_splits(data, "system", config, index, chunk_texts)
    assert all(e["mode"] == "closed_book" for e in splits["test"])  # the benchmark retrieves its own context
    open_book = [e for s in ("train", "val") for e in splits[s]]
    assert open_book and all(e["mode"] == "open_book" for e in open_book)
    for example in open_book:
        ids = example["context_chunk_ids"]
        assert example["chunk_id"] in ids and len(ids) == 3
        distractor_docs = {c.split("-")[0].replace("c", "d") for c in ids if c != example["chunk_id"]}
        assert example["doc_id"] not in distractor_docs
        assert chunk_texts[example["chunk_id"]].split()[0] in example["prompt"][1]["content"]
        assert example["prompt"][1]["content"].endswith("Question: " + example["question"])
    closed = build_splits(data, "system", SplitConfig(seed=4, context={"open_book_ratio": 0.0}), index, chunk_texts)
    assert all(e["mode"] == "closed_book" for s in closed.values() for e in s)


def _indexed(data):
    from slm_assets.retrieval.index import ChunkIndex

    chunk_texts = {p["chunk_id"]: f"Passage for {p['question']} {p['answer']}" for p in data}
    index, _ = ChunkIndex.build([{"chunk_id": c, "doc_id": c.split("-")[0].replace("c", "d"), "text": t}
                                 for c, t in chunk_texts.items()], dense=False)
    return index, chunk_texts


def test_unanswerable_examples_show_only_other_documents_and_say_so():
    from slm_assets.text import ABSTAIN

    topics = "wallbox inverter cable socket meter tariff roaming pilot contactor breaker".split()
    data = [{**p, "question": f"What about the {topics[int(p['doc_id'][1:])]} question {p['qa_id']}?",
             "answer": f"{topics[int(p['doc_id'][1:])]} {p['qa_id'].replace('-', 'x')} {topics[int(p['doc_id'][1:])]}s matter."}
            for p in pairs(10)]
    index, chunk_texts = _indexed(data)
    config = SplitConfig(seed=4, context={"open_book_ratio": 1.0, "k_distractors": 1, "unanswerable_ratio": 1.0})
    splits = build_splits(data, "system", config, index, chunk_texts)
    examples = [e for s in ("train", "val") for e in splits[s]]
    assert examples and all(e["mode"] == "unanswerable" for e in examples)
    for example in examples:
        assert example["completion"][0]["content"] == ABSTAIN
        assert example["chunk_id"] not in example["context_chunk_ids"] and len(example["context_chunk_ids"]) == 2
        assert all(not c.startswith(example["chunk_id"].split("-")[0] + "-") for c in example["context_chunk_ids"])


def test_distractors_come_only_from_train_documents_and_echo_pairs_are_dropped():
    data = pairs(10)
    echo = {"qa_id": "echo", "doc_id": "d1", "chunk_id": "c1-0", "question": "What does the wallbox charge cable do?",
            "answer": "The wallbox charge cable does charge with the wallbox cable."}
    index, chunk_texts = _indexed(data)
    config = SplitConfig(seed=4, context={"open_book_ratio": 1.0, "k_distractors": 2, "unanswerable_ratio": 0.3})
    splits = build_splits(data + [echo], "system", config, index, chunk_texts)
    train_docs = {e["doc_id"] for e in splits["train"]}
    assert "echo" not in {e["qa_id"] for s in splits.values() for e in s}
    for example in splits["train"] + splits["val"]:
        others = [c for c in example["context_chunk_ids"] if c != example["chunk_id"]]
        assert {c.split("-")[0].replace("c", "d") for c in others} <= train_docs


def test_open_book_windows_narrow_until_the_example_fits_the_training_length():
    from slm_assets.retrieval.prompting import PASSAGE_WORDS, SHORTEST_PASSAGE_WORDS

    filler = " ".join(f"Sentence {i} says the meter reads number {i} on the display." for i in range(40))
    pair = {"qa_id": "q", "doc_id": "d", "chunk_id": "c", "question": "What does sentence 7 say the meter reads?",
            "answer": "Number 7."}
    passages = [("c", filler), ("x", filler.replace("meter", "socket"))]

    def words(example):
        return sum(len(m["content"].split()) for m in example["prompt"] + example["completion"])

    def fits(example):
        return words(example) <= 90

    wide = chat_example(pair, "system", passages)
    assert wide["passage_words"] == PASSAGE_WORDS and words(wide) > 90  # what training would cut or drop
    fitted = build_splits([{**pair, "doc_id": f"d{i}", "qa_id": f"q{i}"} for i in range(12)], "system",
                          SplitConfig(seed=4, context={"open_book_ratio": 1.0, "k_distractors": 1,
                                                       "unanswerable_ratio": 0.0}),
                          None, {"c": filler}, fits)
    example = next(e for s in ("train", "val") for e in fitted[s])
    narrowed = chat_example(pair, "system", [("c", filler)], example["passage_words"])
    assert example["prompt"] == narrowed["prompt"] and fits(example)
    assert SHORTEST_PASSAGE_WORDS <= example["passage_words"] < PASSAGE_WORDS
    assert not fits(chat_example(pair, "system", [("c", filler)], example["passage_words"] + 10))  # the widest that fits
    assert "Sentence 7 says the meter reads number 7" in example["prompt"][1]["content"]  # the window keeps the answer
    never = build_splits([{**pair, "doc_id": f"d{i}", "qa_id": f"q{i}"} for i in range(12)], "system",
                         SplitConfig(seed=4, context={"open_book_ratio": 1.0, "unanswerable_ratio": 0.0}),
                         None, {"c": filler}, lambda example: False)
    assert {e["passage_words"] for s in ("train", "val") for e in never[s]} == {SHORTEST_PASSAGE_WORDS}


def test_a_window_is_not_narrowed_past_the_sentence_that_holds_the_answer():
    # the question matches the first sentence; the answer is in the third, 36 words later
    text = ("The pilot contactor closes when the vehicle requests charging power. " * 1
            + " ".join(f"Filler clause {i} repeats unrelated installation advice here." for i in range(2))
            + " Its coil draws 4.2 watts while held closed by the controller."
            + " ".join(f" Trailing note {i} about cable management and labelling." for i in range(12)))
    pair = {"qa_id": "q", "doc_id": "d", "chunk_id": "c", "question": "When does the pilot contactor close?",
            "answer": "Its coil draws 4.2 watts while held closed."}
    config = SplitConfig(seed=4, context={"open_book_ratio": 1.0, "unanswerable_ratio": 0.0})
    built = build_splits([{**pair, "doc_id": f"d{i}", "qa_id": f"q{i}"} for i in range(12)], "system", config,
                         None, {"c": text}, lambda example: False)
    examples = [e for s in ("train", "val") for e in built[s]]
    assert examples and all("4.2 watts" in e["prompt"][1]["content"] for e in examples)
    assert all(e["passage_words"] > 30 for e in examples)  # 30 words around the first sentence would lose it
