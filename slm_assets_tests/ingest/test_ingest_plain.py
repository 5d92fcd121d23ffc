"""Markdown, reStructuredText and plain text: titles and headings as a reader sees them."""

from slm_assets.ingest.plain import parse_plain


def test_a_rst_file_is_titled_by_its_heading_not_by_the_link_target_above_it():
    data = (b".. _exp-pnc-process:\n\n##########################\nPlug&Charge in EVerest\n##########################\n\n"
            b"Step 1\n======\nThe station asks the CSMS for a certificate.\n")
    parsed = parse_plain(data, ".rst")
    assert parsed.title == "Plug&Charge in EVerest"
    assert "# Plug&Charge in EVerest" in parsed.text and "## Step 1" in parsed.text


def test_a_text_file_without_a_heading_is_titled_by_its_first_line_of_text():
    parsed = parse_plain(b".. comment: generated\n\nCharging etiquette for shared garages\n\nUnplug when full.\n", ".txt")
    assert parsed.title == "Charging etiquette for shared garages"


def test_markdown_front_matter_is_dropped_and_the_heading_is_the_title():
    parsed = parse_plain(b"---\nlayout: page\n---\n# Idle fees\n\nA fee starts 10 minutes after charging ends.\n", ".md")
    assert parsed.title == "Idle fees" and parsed.text.startswith("# Idle fees")
