"""Served answers grounded in the domain's stored chunks, with their sources; retrieval off = closed book."""

import openai
import pytest

from slm_assets.retrieval.index import ChunkIndex
from slm_assets.serve.app import create_app
from slm_assets.serve.auth import ApiKeys
from slm_assets.serve.open_book import load_retriever
from slm_assets.serve.server import background_server
from slm_assets.serve.settings import ServeSettings
from slm_assets.snapshots import write_snapshot
from slm_assets.warehouse import connect
from slm_assets_tests.serve.helpers import API_KEY, SETTINGS, TUNED

FACTS = {
    "rcd": "A type B RCD detects smooth DC residual currents above 6 mA in EV chargers.",
    "ccs": "CCS2 adds two large DC pins below the Type 2 inlet for fast charging.",
    "ocpp": "OCPP lets a charging station talk to its central management system.",
}


@pytest.fixture
def grounded_server(tmp_path, tiny_models):
    """A warehouse with three stored chunks and their index, and a server that retrieves from them."""
    with connect(tmp_path / "slm.duckdb") as con:
        write_snapshot(con, "ev", "raw_docs", {"ingest_failures": [], "raw_documents": [{
            "domain": "ev", "doc_id": f"doc-{k}", "source": f"/docs/{k}.pdf", "source_type": "file", "title": k,
            "text": t, "parser": "pdf", "fetched_at": "2026-01-01 00:00:00"} for k, t in FACTS.items()]}, None, [])
        write_snapshot(con, "ev", "clean_chunks", {"clean_documents": [], "curation_rejections": [], "clean_chunks": [{
            "domain": "ev", "chunk_id": k, "doc_id": f"doc-{k}", "chunk_index": 0, "text": t, "n_tokens": 15,
            "heading": None, "page_start": 3, "page_end": 4, "char_start": 0, "char_end": len(t),
            "source": f"/docs/{k}.pdf", "cluster_id": k} for k, t in FACTS.items()]}, None, [])
    index, _ = ChunkIndex.build([{"chunk_id": k, "doc_id": f"doc-{k}", "text": t} for k, t in FACTS.items()])
    index.save(tmp_path / "artifacts" / "ev" / "index")
    retriever = load_retriever(tmp_path, "ev", k=2)
    app = create_app(tiny_models, ServeSettings(**SETTINGS), api_keys=ApiKeys.from_keys([API_KEY]), retriever=retriever)
    with background_server(app) as url:
        yield url


def test_answers_carry_sources_that_are_stored_chunks_and_retrieval_can_be_turned_off(grounded_server):
    client = openai.OpenAI(base_url=grounded_server + "/v1", api_key=API_KEY)
    question = [{"role": "user", "content": "What does a type B RCD detect?"}]
    reply = client.chat.completions.create(model=TUNED, messages=question, max_tokens=8, temperature=0)
    sources = reply.model_extra["sources"]
    assert sources and sources[0]["chunk_id"] == "rcd"
    assert {s["chunk_id"] for s in sources} <= set(FACTS)
    assert sources[0]["source"] == "/docs/rcd.pdf" and (sources[0]["page_start"], sources[0]["page_end"]) == (3, 4)
    grounded_tokens = reply.usage.prompt_tokens

    closed = client.chat.completions.create(model=TUNED, messages=question, max_tokens=8, temperature=0,
                                            extra_body={"retrieval": False})
    assert closed.model_extra["sources"] == []
    assert closed.usage.prompt_tokens < grounded_tokens  # no passages in the prompt

    stream = client.chat.completions.create(model=TUNED, messages=question, max_tokens=4, temperature=0, stream=True)
    first = next(iter(stream))
    assert first.model_extra["sources"][0]["chunk_id"] == "rcd"
    for _ in stream:
        pass
