"""Layout-aware PDF parsing: reading order, tables, running headers/footers, hyphens, page spans, errors."""

import pytest

from slm_assets.ingest.documents import ParsedDocument, ParseError
from slm_assets.ingest.pdf import parse_pdf, parse_pdfs_parallel
from slm_assets.ingest.pdf_hyphens import Vocabulary, join_lines
from slm_assets.testing import pdfs


@pytest.fixture(scope="module")
def normal() -> ParsedDocument:
    return parse_pdf(pdfs.normal_pdf())


def test_two_columns_are_read_left_then_right():
    document = parse_pdf(pdfs.two_column_pdf())
    text = document.text
    positions_left = [text.index(s) for s in pdfs.LEFT_COLUMN]
    positions_right = [text.index(s) for s in pdfs.RIGHT_COLUMN]
    assert positions_left == sorted(positions_left) and positions_right == sorted(positions_right)
    assert max(positions_left) < min(positions_right)
    assert text.startswith("Two kinds of current")  # the full-width title comes first
    assert document.metadata["two_column_pages"] == [1]


def test_one_column_page_is_not_split(normal):
    assert normal.metadata["two_column_pages"] == []


def test_table_becomes_markdown_and_leaves_the_text():
    document = parse_pdf(pdfs.table_pdf())
    expected = "\n".join([
        "| Connector | Power (kW) | Typical use |",
        "|---|---|---|",
        "| CCS2 | 350 | Highway fast charging |",
        "| Type 2 | 22 | Destination charging |",
        "| CHAdeMO | 50 | Older vehicles |",
    ])
    assert expected in document.text
    assert document.text.count("Highway fast charging") == 1  # not also as loose text
    before, after = document.text.split(expected)
    assert "Connectors differ" in before and "Choose the connector" in after
    assert document.metadata["tables"] == 1


def test_running_header_and_page_footer_are_removed(normal):
    assert pdfs.HEADER not in normal.text
    assert "Page 1 of 3" not in normal.text and "Page 3 of 3" not in normal.text
    assert normal.metadata["removed_headers_footers"] == ["ev charging handbook - draft for review", "page # of #"]


def test_hyphenated_line_break_is_joined_and_real_hyphens_kept(normal):
    assert "makes overnight charging safe and predictable" in normal.text
    assert "charg-" not in normal.text
    assert "A plug-in hybrid needs far less energy" in normal.text  # hyphen inside a line
    assert "A plug-in hybrid can also use these tariffs" in normal.text  # "plug-" at a line end, "plug-in" elsewhere


@pytest.mark.parametrize(
    ("lines", "known", "expected"),
    [
        (["overnight charg-", "ing is cheap"], "", "overnight charging is cheap"),
        (["a well-", "known fact"], "a well-known rule", "a well-known fact"),
        (["a well-", "known fact"], "a well-known rule and wellknown", "a wellknown fact"),
        (["year 2019-", "2020 saw"], "", "year 2019- 2020 saw"),  # not a word break: digits
        (["the CCS-", "Type 2 plug"], "", "the CCS- Type 2 plug"),  # next line starts upper-case
        (["the power-", "versus-state-of-charge plot"], "", "the power-versus-state-of-charge plot"),
        (["Motorway Power pay-as-you-", "go"], "", "Motorway Power pay-as-you-go"),
    ],
)
def test_join_lines(lines, known, expected):
    vocabulary = Vocabulary()
    vocabulary.add(known)
    assert join_lines(lines, vocabulary) == expected


def test_page_spans_map_text_to_pages(normal):
    assert [page for page, _s, _e in normal.page_spans] == [1, 2, 3]
    offset = normal.text.index(pdfs.PAGE2_SENTENCE)
    (page,) = [p for p, start, end in normal.page_spans if start <= offset < end]
    assert page == 2
    for _page, start, end in normal.page_spans:
        assert normal.text[start:end].strip() == normal.text[start:end] != ""
    assert normal.page_spans[-1][2] == len(normal.text)
    assert normal.title == pdfs.TITLE and normal.page_count == 3


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: b"", "empty file (0 bytes)"),
        (pdfs.encrypted_pdf, "encrypted PDF: a password is required"),
        (pdfs.corrupt_pdf, "corrupt PDF: truncated"),
        (lambda: b"<html>not a pdf</html>", "corrupt PDF: no %PDF- header"),
        (lambda: b"%PDF-1.7\n" + b"\xff" * 500 + b"\n%%EOF", "corrupt PDF"),
        (pdfs.image_only_pdf, "no text layer on any of 2 pages (scanned or image-only PDF"),
    ],
    ids=["zero-byte", "encrypted", "truncated", "not-a-pdf", "garbage-body", "image-only"],
)
def test_unreadable_pdfs_raise_parse_error(build, message):
    with pytest.raises(ParseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_pdf(build())


def test_parse_pdfs_parallel_keeps_order_and_returns_errors(tmp_path):
    paths = []
    for name, data in [("a.pdf", pdfs.normal_pdf()), ("b.pdf", pdfs.corrupt_pdf()),
                       ("c.pdf", pdfs.two_column_pdf())]:
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(path)
    paths.append(tmp_path / "missing.pdf")
    results = parse_pdfs_parallel(paths, workers=2)
    assert isinstance(results[0], ParsedDocument) and results[0].title == pdfs.TITLE
    assert isinstance(results[1], ParseError) and "truncated" in str(results[1])
    assert isinstance(results[2], ParsedDocument) and results[2].metadata["two_column_pages"] == [1]
    assert isinstance(results[3], ParseError) and "cannot read" in str(results[3])
    assert [r.text for r in results[:3:2]] == [parse_pdf(p.read_bytes()).text for p in paths[:3:2]]


def test_one_unreadable_page_is_skipped_and_named(monkeypatch):
    from slm_assets.ingest import pdf as pdf_module

    real_read_page = pdf_module.read_page

    def damaged_page_two(page, number):
        if number == 2:
            raise KeyError("broken /Contents")
        return real_read_page(page, number)

    monkeypatch.setattr(pdf_module, "read_page", damaged_page_two)
    document = parse_pdf(pdfs.normal_pdf())
    assert [page for page, _s, _e in document.page_spans] == [1, 3]
    assert document.metadata["unreadable_pages"] == ["page 2: KeyError: 'broken /Contents'"]
    assert pdfs.PAGE2_SENTENCE not in document.text and "Workplace charging" in document.text
