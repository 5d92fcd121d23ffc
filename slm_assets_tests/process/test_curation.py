"""Cleaning, quality rules, dedup and chunking on known text."""

from slm_assets.process.chunk import chunk_document, page_range
from slm_assets.process.clean import clean_text
from slm_assets.process.config import ChunkingConfig, DedupConfig, ProcessConfig, QualityConfig
from slm_assets.process.curate import curate
from slm_assets.process.dedup import near_duplicate_clusters
from slm_assets.process.quality import quality_failure


def count_words(texts):
    return [len(t.split()) for t in texts]


PARAGRAPH = ("A Level 2 charger runs on a 240 volt circuit and can add about forty kilometres of range per hour "
             "to a typical electric car, which is why it is the usual choice for homes and workplaces. ")


def test_clean_text_normalises_unicode_whitespace_and_boilerplate():
    raw = "Ｃharging\u00a0 station\u200b basics\r\n\r\n\r\n\r\nAccept all cookies\nAll rights reserved\nReal text here."
    assert clean_text(raw) == "Charging station basics\n\nReal text here."


def test_quality_rules_name_the_rule_that_failed():
    config = QualityConfig()
    assert quality_failure(PARAGRAPH * 3, config) is None
    assert quality_failure("too few words", config)[0] == "too_short"
    assert quality_failure(" ".join(["1234 5678 #### ||||"] * 30), config)[0] in {"non_alpha_ratio", "symbol_ratio", "few_stopwords", "mean_word_length"}
    assert quality_failure(" ".join(["charging"] * 60), config)[0] in {"few_stopwords", "repeated_ngram"}
    repeated = "\n".join(["Buy our chargers today and save money on your bill."] * 10)
    assert quality_failure(repeated, config)[0] in {"duplicate_lines", "repeated_ngram"}


def test_technical_documents_keep_their_identifiers_and_repeated_checklists():
    """Real documentation that Gopher's web-crawl rules rejected whole: a sequence reference full of identifiers
    and markup (mean whitespace-token length over 10), and test results with the same checklist per charger."""
    config = QualityConfig()
    steps = ["TransactionStarted", "SessionFinished", "PowermeterTransactionStartFailed", "CommunicationLost",
             "TransactionFinished", "StartTransactionRecovered"]
    reference = PARAGRAPH + "\n" + "\n".join(
        f"EvseManager->>OCPP: Event({step}(OCMF_{i})) :ref:`exp-powermeter-ocmf-{step.lower()} "
        f"<reference/interfaces/powermeter_{i}>` StatusNotification.req({step}) https://example.org/ocmf/{step}"
        for i, step in enumerate(steps))
    assert sum(map(len, reference.split())) / len(reference.split()) > 10  # what the old rule measured
    assert quality_failure(reference, config) is None
    sections = "\n\n".join(f"## Charger model {name}\n\nTested at public site number {i} beside the motorway.\n"
                             "- [x] SLAC matching\n- [x] TCP connection set up\n- [x] Cable check passed\n"
                             "- [ ] Welding detection answered\n" for i, name in enumerate("ABCDEFG"))
    assert quality_failure(PARAGRAPH + sections, config) is None
    # text glued together by a broken PDF extraction is still rejected, as are repeated prose lines
    glued = " ".join(["Thechargerrunsona240voltcircuitandaddsrangeperhour to the car"] * 20)
    assert quality_failure(glued, config)[0] == "mean_word_length"
    repeated = PARAGRAPH + "\n" + "\n".join(["Sign up for our newsletter and get ten percent off your charger."] * 12)
    assert quality_failure(repeated, config)[0] == "duplicate_lines"


def test_near_duplicates_cluster_together_and_distinct_texts_do_not():
    base = PARAGRAPH * 4
    near = base.replace("forty", "forty-five", 1)
    other = "Type 2 connectors carry three-phase alternating current and dominate public charging in Europe. " * 4
    clusters = near_duplicate_clusters([("a", base), ("b", near), ("c", other)], DedupConfig())
    assert clusters == {"a": "a", "b": "a", "c": "c"}


def test_chunks_respect_sections_sizes_offsets_and_pages():
    text = "# Home charging\n\n" + PARAGRAPH * 3 + "\n\n# Public charging\n\n" + PARAGRAPH * 3
    middle = text.index("# Public charging")
    spans = [(1, 0, middle - 2), (2, middle, len(text))]
    chunks = chunk_document(text, spans, count_words, ChunkingConfig(target_tokens=60, overlap_tokens=0, min_tokens=10))
    assert len(chunks) >= 2
    assert all(c.n_tokens <= 60 + 40 for c in chunks)
    assert chunks[0].heading == "Home charging" and chunks[-1].heading == "Public charging"
    assert chunks[0].page_start == 1 and chunks[-1].page_end == 2
    for chunk in chunks:  # offsets point at exactly the chunk's text
        assert text[chunk.char_start:chunk.char_end].strip()
    assert page_range(middle + 5, middle + 10, spans) == (2, 2)


def test_curate_keeps_one_of_each_duplicate_and_records_why(tmp_path):
    docs = [
        {"doc_id": "d1", "source": "a.html", "text": "# Intro\n\n" + PARAGRAPH * 5, "page_spans": "[]"},
        {"doc_id": "d2", "source": "b.html", "text": "# Intro\n\n" + PARAGRAPH * 5, "page_spans": "[]"},
        {"doc_id": "d3", "source": "c.html", "text": "short", "page_spans": "[]"},
    ]
    result = curate("t", docs, ProcessConfig(), count_words)
    assert [d["doc_id"] for d in result.documents] == ["d1"]
    rules = {(r["item_id"], r["rule"]) for r in result.rejections}
    assert ("d2", "exact_duplicate") in rules and ("d3", "too_short") in rules
    assert result.chunks and all(c["doc_id"] == "d1" for c in result.chunks)


def test_unchanged_documents_reuse_their_chunks_and_changed_settings_rechunk():
    from slm_assets.process.curate import settings_fingerprint

    docs = [{"doc_id": f"d{i}", "source": f"{i}.html", "page_spans": "[]",
             "text": f"# Part {i}\n\n" + PARAGRAPH.replace("forty", str(40 + i)) * 4} for i in range(3)]
    config = ProcessConfig()
    fingerprint = settings_fingerprint(config, "tok")
    first = curate("t", docs, config, count_words, fingerprint)
    assert first.counts["documents_chunked"] == 3 and all(d["chunks_rejected"] == 0 for d in first.documents)
    previous = {}
    for row in first.chunks:
        previous.setdefault(row["doc_id"], []).append(row)
    calls = []

    def counting(texts):
        calls.append(len(texts))
        return count_words(texts)

    changed = docs[:2] + [{**docs[2], "doc_id": "d2-new", "text": docs[2]["text"] + " A new closing sentence here."}]
    second = curate("t", changed, config, counting, fingerprint, {k: v for k, v in previous.items() if k != "d2"})
    assert second.counts["documents_chunks_reused"] == 2 and second.counts["documents_chunked"] == 1
    assert len(calls) == 1  # only the changed document was tokenised
    assert {c["chunk_id"] for c in second.chunks if c["doc_id"] != "d2-new"} == {
        c["chunk_id"] for c in first.chunks if c["doc_id"] != "d2"}
    assert settings_fingerprint(ProcessConfig(chunking={"target_tokens": 128}), "tok") != fingerprint


def test_language_rule_rejects_other_languages_and_can_be_turned_off():
    german = ("Die Ladestation ist mit dem Netz verbunden und das Auto wird mit elf Kilowatt geladen, "
              "wenn der Fahrer die Karte an das Lesegerät hält und die App den Vorgang freigibt. ") * 3
    assert quality_failure(german, QualityConfig())[0] == "language"
    assert quality_failure(german, QualityConfig(languages=None)) is None
    assert quality_failure(german, QualityConfig(languages=["en", "de"])) is None
