"""The BM25 index over chunks, recall@k, and answers that cite stored chunks."""

from slm_assets.retrieval.answer import answer_question, chunk_sources
from slm_assets.retrieval.index import ChunkIndex, recall_at_k
from slm_assets.snapshots import write_snapshot
from slm_assets.warehouse import connect

FACTS = {
    "ccs": "CCS2 adds two large DC pins below the Type 2 inlet for fast charging.",
    "chademo": "CHAdeMO is a DC fast charging standard developed in Japan.",
    "level2": "A Level 2 home wallbox delivers 7.4 kW on a single-phase 32 A circuit.",
    "ocpp": "OCPP lets a charging station talk to its central management system.",
    "rcd": "A type B RCD detects smooth DC residual currents above 6 mA.",
    "v2g": "Vehicle-to-grid lets a parked car send energy back to the grid.",
}
QUESTIONS = [
    ("Which standard was developed in Japan for DC fast charging?", "chademo"),
    ("What does a type B RCD detect?", "rcd"),
    ("How much power does a Level 2 home wallbox deliver?", "level2"),
    ("What lets a station talk to a central management system?", "ocpp"),
    ("What lets a parked car send energy back to the grid?", "v2g"),
]


def rows():
    return [{"chunk_id": key, "doc_id": f"doc-{key}", "text": text} for key, text in FACTS.items()]


def test_recall_at_k_on_a_corpus_with_known_answers():
    index, stats = ChunkIndex.build(rows())
    assert stats.chunks == 6 and stats.tokenized == 6
    assert recall_at_k(index, QUESTIONS, 1) == 1.0
    assert index.search("type 2 inlet DC pins", 1)[0].chunk_id == "ccs"
    assert index.search("zebra giraffe", 3) == []


def test_incremental_rebuild_only_tokenises_new_chunks_and_survives_a_reload(tmp_path):
    index, _ = ChunkIndex.build(rows())
    index.save(tmp_path)
    changed = rows()[1:] + [{"chunk_id": "ccs-v2", "doc_id": "doc-ccs", "text": "CCS2 combines Type 2 AC with two DC pins."}]
    rebuilt, stats = ChunkIndex.build(changed, previous=ChunkIndex.load(tmp_path))
    assert (stats.tokenized, stats.reused) == (1, 5)
    assert rebuilt.search("CCS2 DC pins", 1)[0].chunk_id == "ccs-v2"
    assert "ccs" not in rebuilt.position


def test_distractor_search_excludes_the_source_document():
    index, _ = ChunkIndex.build(rows())
    hits = index.search("DC fast charging standard Japan", 3, exclude_doc="doc-chademo")
    assert hits and all(h.doc_id != "doc-chademo" for h in hits)


def test_answers_cite_real_stored_chunks_and_retrieval_off_is_closed_book(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        write_snapshot(con, "ev", "raw_docs", {"ingest_failures": [], "raw_documents": [{
            "domain": "ev", "doc_id": f"doc-{k}", "source": f"https://example.org/{k}", "source_type": "url",
            "title": k.upper(), "text": t, "parser": "html", "fetched_at": "2026-01-01 00:00:00"} for k, t in FACTS.items()]}, None, [])
        write_snapshot(con, "ev", "clean_chunks", {"clean_documents": [], "curation_rejections": [], "clean_chunks": [{
            "domain": "ev", "chunk_id": k, "doc_id": f"doc-{k}", "chunk_index": 0, "text": t, "n_tokens": 12,
            "heading": None, "page_start": 2 if k == "rcd" else None, "page_end": 2 if k == "rcd" else None,
            "char_start": 0, "char_end": len(t), "source": f"https://example.org/{k}", "cluster_id": k}
            for k, t in FACTS.items()]}, None, [])
        index, _ = ChunkIndex.build(rows())
        prompts = []

        def generate(messages):
            prompts.append(messages[-1]["content"])
            return " It detects DC residual currents. "

        answer = answer_question("What does a type B RCD detect?", generate, "system", index,
                                 lambda ids: chunk_sources(con, "ev", ids), k=2)
        assert answer.open_book and answer.text == "It detects DC residual currents."
        top = answer.sources[0]
        assert (top.chunk_id, top.source, top.page_start) == ("rcd", "https://example.org/rcd", 2)
        stored = {r[0] for r in con.execute("select chunk_id from current_clean_chunks").fetchall()}
        assert {s.chunk_id for s in answer.sources} <= stored
        assert "smooth DC residual currents" in prompts[-1]

        closed = answer_question("What does a type B RCD detect?", generate, "system", index,
                                 lambda ids: chunk_sources(con, "ev", ids), retrieval=False)
        assert not closed.open_book and closed.sources == []
        assert prompts[-1] == "What does a type B RCD detect?"
