"""One bad document never fails the run: a parser bug on one file becomes that file's `ingest_failures` row."""

import dagster as dg
import duckdb

from slm_assets.definitions import defs
from slm_assets.ingest import local
from slm_assets.ingest.collect import collect_documents
from slm_assets.ingest.config import SourcesConfig
from slm_assets.ingest.documents import ParseError
from slm_assets_tests.helpers import tiny_corpus


def _parser_that_breaks(monkeypatch) -> None:
    """The real HTML parser, except that it raises an unexpected error (a parser bug) on one file."""
    real = local.parse_html

    def parse_html(data: bytes, charset=None):
        if b"<!-- break me -->" in data:
            raise IndexError("list index out of range")
        return real(data, charset)

    monkeypatch.setattr(local, "parse_html", parse_html)


def test_unexpected_parser_error_costs_one_document_only(tmp_path, monkeypatch):
    corpus = tiny_corpus(tmp_path / "corpus", n_html=4, n_pdf=1)
    (corpus / "broken.html").write_text("<html><body><!-- break me --><p>text</p></body></html>")
    (corpus / "empty.pdf").write_bytes(b"")
    _parser_that_breaks(monkeypatch)

    result = collect_documents("d", SourcesConfig(folders=[], use_inbox=False), [corpus])

    assert len(result.documents) == 5  # 4 HTML pages and 1 PDF
    failures = {row["source"].rsplit("/", 1)[-1]: row for row in result.failures}
    assert set(failures) == {"broken.html", "empty.pdf"}
    assert failures["broken.html"]["error_type"] == "IndexError"
    assert failures["broken.html"]["reason"] == "unexpected IndexError: list index out of range"
    assert failures["empty.pdf"]["error_type"] == ParseError.__name__
    assert failures["empty.pdf"]["reason"] == "empty file (0 bytes)"


def test_raw_docs_stores_the_good_documents_and_records_the_bad_one(tiny_domain, resources_for, tmp_path,
                                                                    monkeypatch):
    (tiny_domain["corpus"] / "broken.html").write_text("<html><body><!-- break me --><p>text</p></body></html>")
    _parser_that_breaks(monkeypatch)
    definitions = defs()
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        instance.add_dynamic_partitions("domain", ["tiny"])
        result = dg.materialize([definitions.get_assets_def(dg.AssetKey("raw_docs"))], partition_key="tiny",
                                instance=instance,
                                resources=resources_for(tiny_domain["domains_dir"], tiny_domain["warehouse"]))
    assert result.success
    with duckdb.connect(str(tiny_domain["warehouse"] / "slm.duckdb"), read_only=True) as con:
        stored = con.execute("select count(*) from raw_documents where domain = 'tiny'").fetchone()[0]
        failures = con.execute("select source, stage, error_type, reason from ingest_failures").fetchall()
    assert stored == 9  # the 8 sample pages and the PDF of the tiny corpus
    assert len(failures) == 1
    source, stage, error_type, reason = failures[0]
    assert source.endswith("broken.html") and stage == "parse"
    assert (error_type, reason) == ("IndexError", "unexpected IndexError: list index out of range")
