"""The leakage check on the written files: every passage and answer a model sees in train/val against the test
split and the gold questions; planted leaks of each kind fail it, duplicated corpus text is decontaminated."""

import json

from slm_assets.retrieval.index import ChunkIndex
from slm_assets.train.config import SplitConfig
from slm_assets.train.gold_leakage import GoldQuestion
from slm_assets.train.leakage import check_everything_seen, check_written_dataset, decontaminate
from slm_assets.train.sft_data import (
    build_splits,
    read_split,
    split_documents,
    write_manifest,
    write_sft_dataset,
)

TOPICS = "wallbox inverter cable socket meter tariff roaming pilot contactor breaker".split()
CONFIG = SplitConfig(val_fraction=0.15, test_fraction=0.2, seed=7,
                     context={"open_book_ratio": 1.0, "k_distractors": 2, "unanswerable_ratio": 0.0})


def sentence(d: int, i: int) -> str:
    """A chunk's text: numbers every few words, so no 13 words in a row repeat across chunks."""
    return (f"Document {d} part {i} explains that the {TOPICS[d % 10]} unit {d}u{i} delivers {d * 7 + i} kW "
            f"to the car while pilot line {d}p{i} stays high and contactor {d}c{i} remains closed.")


def corpus(n_docs: int = 20) -> tuple[list[dict], dict[str, str], dict[str, str]]:
    """(QA pairs, chunk_id -> text, chunk_id -> doc_id)."""
    texts = {f"c{d}-{i}": sentence(d, i) for d in range(n_docs) for i in range(2)}
    docs = {c: f"d{c[1:].split('-')[0]}" for c in texts}
    pairs = [{"qa_id": f"q{c}", "doc_id": docs[c], "chunk_id": c, "question": f"What does unit {c} deliver?",
              "answer": f"It delivers {c[1:].replace('-', ' and ')} kW."} for c in texts]
    return pairs, texts, docs


def gold_for(doc: str) -> GoldQuestion:
    d = int(doc[1:])
    return GoldQuestion(gold_id=f"gold-{doc}", doc_id=doc, evidence=(sentence(d, 0),),
                        question=f"Roughly how much charging power would the box labelled {d}u0 hand over to my car?")


def dataset(tmp_path, pairs, texts, docs, gold=()):
    """Build, decontaminate and write as sft_dataset does; (out_dir, document splits, dropped)."""
    index, _ = ChunkIndex.build([{"chunk_id": c, "doc_id": docs[c], "text": t} for c, t in texts.items()],
                                dense=False)
    built = build_splits(pairs, "system", CONFIG, index, texts)
    document_splits = split_documents([p["doc_id"] for p in pairs], CONFIG)
    splits, dropped = decontaminate(built, check_everything_seen(built, docs, texts, document_splits, list(gold)))
    out_dir = tmp_path / "sft"
    write_sft_dataset(splits, texts, out_dir)
    write_manifest(out_dir, "hash", splits, document_splits, dropped)
    return out_dir, document_splits, dropped


def rewrite(out_dir, split: str, examples: list[dict]) -> None:
    (out_dir / f"{split}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples))


def first_of(document_splits: dict[str, str], split: str) -> str:
    return sorted(d for d, s in document_splits.items() if s == split)[0]


def test_clean_dataset_passes_and_gold_documents_in_training_are_reported_not_blocked(tmp_path):
    pairs, texts, docs = corpus()
    probe_splits = split_documents(sorted(set(docs.values())), CONFIG)
    gold = [gold_for(d) for d in sorted(set(docs.values()))]  # like the demo: every document has gold questions
    out_dir, document_splits, dropped = dataset(tmp_path, pairs, texts, docs, gold)
    assert document_splits == probe_splits and dropped == {"test": [], "train_val": []}
    report = check_written_dataset(out_dir, docs, texts, gold)
    assert report.passed, report.describe()
    summary = report.gold_summary
    assert summary["gold_questions"] == 20 and sum(summary["by_document_split"].values()) == 20
    # open-book training shows the train documents' chunks, evidence sentences included: counted, not a leak
    assert summary["train_val_document_questions_with_evidence_in_training"] >= summary["by_document_split"]["train"]
    for example in read_split(out_dir, "train") + read_split(out_dir, "val"):
        shown = {docs[c] for c in example["context_chunk_ids"]}
        assert all(document_splits[d] == "train" or d == example["doc_id"] for d in shown)


def test_a_test_chunk_planted_as_a_distractor_in_a_train_prompt_fails_the_check(tmp_path):
    pairs, texts, docs = corpus()
    out_dir, document_splits, _ = dataset(tmp_path, pairs, texts, docs)
    test_chunk = f"c{first_of(document_splits, 'test')[1:]}-0"
    train = read_split(out_dir, "train")
    victim = train[0]
    victim["context_chunk_ids"].append(test_chunk)
    victim["prompt"][1]["content"] = texts[test_chunk] + "\n\n" + victim["prompt"][1]["content"]
    rewrite(out_dir, "train", train)
    report = check_written_dataset(out_dir, docs, texts)
    assert not report.passed
    assert (victim["qa_id"], test_chunk) in report.test_passages
    assert (f"q{test_chunk}", victim["qa_id"]) in report.test_source_overlaps
    assert "passage of a test document" in report.describe()


def test_a_test_source_text_under_another_chunk_id_fails_the_check(tmp_path):
    """The same text as a test question's source, shown under a train chunk's id (a duplicated page)."""
    pairs, texts, docs = corpus()
    out_dir, document_splits, _ = dataset(tmp_path, pairs, texts, docs)
    test_chunk = f"c{first_of(document_splits, 'test')[1:]}-1"
    val = read_split(out_dir, "val")
    val[0]["completion"][0]["content"] = texts[test_chunk]
    rewrite(out_dir, "val", val)
    report = check_written_dataset(out_dir, docs, texts)
    assert not report.passed and not report.test_passages
    assert report.test_source_overlaps == [(f"q{test_chunk}", val[0]["qa_id"])]


def test_a_held_out_gold_questions_evidence_in_a_train_example_fails_the_check(tmp_path):
    pairs, texts, docs = corpus()
    probe_splits = split_documents(sorted(set(docs.values())), CONFIG)
    held_out, trained = gold_for(first_of(probe_splits, "test")), gold_for(first_of(probe_splits, "train"))
    out_dir, _, _ = dataset(tmp_path, pairs, texts, docs, [held_out, trained])
    assert check_written_dataset(out_dir, docs, texts, [held_out, trained]).passed
    train = read_split(out_dir, "train")
    train[3]["completion"][0]["content"] += " " + held_out.evidence[0]
    rewrite(out_dir, "train", train)
    report = check_written_dataset(out_dir, docs, texts, [held_out, trained])
    assert not report.passed and report.held_out_gold_evidence == [(held_out.gold_id, train[3]["qa_id"])]
    assert "gold questions about test documents" in report.describe()


def test_a_gold_question_verbatim_in_a_train_example_fails_the_check(tmp_path):
    pairs, texts, docs = corpus()
    probe_splits = split_documents(sorted(set(docs.values())), CONFIG)
    gold = gold_for(first_of(probe_splits, "train"))  # about a train document: its question is still the exam
    out_dir, _, _ = dataset(tmp_path, pairs, texts, docs, [gold])
    train = read_split(out_dir, "train")
    train[1]["prompt"][1]["content"] = train[1]["prompt"][1]["content"].replace(train[1]["question"], gold.question)
    rewrite(out_dir, "train", train)
    report = check_written_dataset(out_dir, docs, texts, [gold])
    assert not report.passed and report.gold_questions_in_training == [(gold.gold_id, train[1]["qa_id"])]


def test_duplicated_corpus_text_is_decontaminated_before_writing(tmp_path):
    """A train document repeating a test chunk and a held-out gold evidence sentence: the test pair and the train
    examples carrying the evidence are dropped (counted), and the written files pass."""
    pairs, texts, docs = corpus()
    probe_splits = split_documents(sorted(set(docs.values())), CONFIG)
    test_doc, train_doc = first_of(probe_splits, "test"), first_of(probe_splits, "train")
    held_out = gold_for(test_doc)
    copy = f"c{train_doc[1:]}-1"
    texts[copy] = texts[f"c{test_doc[1:]}-0"]  # the train document quotes the test document's first chunk
    out_dir, _, dropped = dataset(tmp_path, pairs, texts, docs, [held_out])
    assert f"qc{test_doc[1:]}-0" in dropped["test"]
    assert dropped["train_val"]  # the training examples showing the quoted chunk
    assert not {e["qa_id"] for e in read_split(out_dir, "train")} & set(dropped["train_val"])
    report = check_written_dataset(out_dir, docs, texts, [held_out])
    assert report.passed, report.describe()


def test_sft_dataset_asset_writes_document_splits_and_its_blocking_check_reads_the_files(tmp_path):
    """sft_dataset on a real DuckDB warehouse with a gold file: the check passes on the written files, the manifest
    holds every document's split, and the gold overlap is metadata."""
    from datetime import datetime

    import dagster as dg
    import yaml

    from slm_assets.artifacts import latest_run_dir
    from slm_assets.defs.train import sft_dataset
    from slm_assets.resources.domains import DomainsResource
    from slm_assets.resources.warehouse import WarehouseResource
    from slm_assets.snapshots import write_snapshot
    from slm_assets.warehouse import connect

    pairs, texts, docs = corpus()
    root, now = tmp_path / "warehouse", datetime(2024, 1, 1)
    with connect(root / "slm.duckdb") as con:
        write_snapshot(con, "ev", "raw_docs", {"ingest_failures": [], "raw_documents": [
            {"domain": "ev", "doc_id": d, "source": f"/corpus/{d}.html", "source_type": "file", "text": "x",
             "parser": "html", "fetched_at": now} for d in sorted(set(docs.values()))]}, None, [])
        write_snapshot(con, "ev", "clean_chunks", {"clean_documents": [], "curation_rejections": [], "clean_chunks": [
            {"domain": "ev", "chunk_id": c, "doc_id": docs[c], "chunk_index": 0, "text": t, "n_tokens": 30,
             "char_start": 0, "char_end": len(t), "source": "test", "cluster_id": c} for c, t in texts.items()]},
            None, [])
        write_snapshot(con, "ev", "synthetic_qa_5000", {"qa_pairs": [
            {**p, "domain": "ev", "status": "accepted", "created_at": now} for p in pairs]}, None, [])
    ChunkIndex.build([{"chunk_id": c, "doc_id": docs[c], "text": t} for c, t in texts.items()], dense=False)[0].save(
        root / "artifacts" / "ev" / "index")
    gold_file = tmp_path / "gold.jsonl"
    gold_file.write_text("".join(json.dumps({"id": g.gold_id, "question": g.question, "answer": "Some kW.",
                                             "source": f"samples/{g.doc_id}.html", "evidence": list(g.evidence)}) + "\n"
                                 for g in map(gold_for, sorted(set(docs.values())))))
    domains = tmp_path / "domains"
    domains.mkdir()
    (domains / "ev.yaml").write_text(yaml.safe_dump({"name": "ev", "topic": "EV charging",
                                                     "split": CONFIG.model_dump(),
                                                     "benchmark": {"gold_questions": str(gold_file)}}))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("domain", ["ev"])
        result = dg.materialize([sft_dataset], partition_key="ev", instance=instance, resources={
            "warehouse": WarehouseResource(root=str(root)), "domains": DomainsResource(domains_dir=str(domains))})
    assert result.success
    check = next(e.asset_check_evaluation_data for e in result.all_events
                 if e.event_type_value == "ASSET_CHECK_EVALUATION")
    assert check.check_name == "no_benchmark_leakage" and check.passed
    assert check.metadata["test_passages"].value == 0 and check.metadata["held_out_gold_evidence"].value == 0
    manifest = json.loads((latest_run_dir(root / "artifacts" / "ev" / "sft") / "manifest.json").read_text())
    assert manifest["document_splits"] == split_documents(sorted(set(docs.values())), CONFIG)
    metadata = result.get_asset_materialization_events()[0].step_materialization_data.materialization.metadata
    assert metadata["gold_overlap"].value["gold_questions"] == 20
    assert sum(metadata["gold_overlap"].value["by_document_split"].values()) == 20  # every source found
