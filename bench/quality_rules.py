"""The document quality rules on a materialised domain's raw documents: for each document, the mean length of its
whitespace tokens (what Gopher's rule measured) and of its word-like tokens (`quality.prose_words`, what the rule
measures now), the duplicated-line share with and without list items, and the verdict of `quality_failure`; then
the documents and chunks clean_chunks kept. No model runs.

    .venv/bin/python bench/quality_rules.py ev_public=/path/to/warehouse [--out FILE]

Writes bench/results/quality_rules.json (or `--out`) and prints the documents nearest a limit.
"""

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere


def document_rows(domain: str, warehouse: Path) -> tuple[list[dict], dict]:
    from slm_assets.process.clean import clean_text
    from slm_assets.process.config import QualityConfig
    from slm_assets.process.quality import (
        WORD,
        duplicate_line_share,
        prose_lines,
        prose_words,
        quality_failure,
    )
    from slm_assets.text import LIST_ITEM
    from slm_assets.warehouse import connect

    config = QualityConfig()
    with connect(warehouse / "slm.duckdb", read_only=True) as con:
        documents = con.execute("select source, text from current_raw_documents where domain = ?", [domain]).fetchall()
        kept = con.execute("select count(distinct doc_id), count(*) from current_clean_chunks where domain = ?",
                           [domain]).fetchone()
    rows = []
    for source, raw in documents:
        text = clean_text(raw)
        words, lines = WORD.findall(text), prose_lines(text)
        wordlike = prose_words(words)
        failure = quality_failure(text, config)
        rows.append({"source": Path(source).name,
                     "mean_token_length": round(sum(map(len, words)) / max(1, len(words)), 2),
                     "mean_wordlike_length": round(sum(map(len, wordlike)) / max(1, len(wordlike)), 2),
                     "duplicate_lines_with_list_items": round(duplicate_line_share(lines), 3),
                     "duplicate_lines": round(duplicate_line_share([x for x in lines if not LIST_ITEM.match(x)]), 3),
                     "rejected": failure[0] if failure else None})
    return rows, {"documents": len(documents), "documents_chunked": kept[0], "chunks": kept[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("domains", nargs="+", help="DOMAIN=WAREHOUSE_DIR")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "quality_rules.json")
    args = parser.parse_args()
    by_domain = {}
    for pair in args.domains:
        domain, warehouse = pair.split("=", 1)
        rows, counts = document_rows(domain, Path(warehouse))
        by_domain[domain] = {**counts, "rejected": sum(r["rejected"] is not None for r in rows), "per_document": rows}
        print(f"{domain}: {counts['documents']} documents, {by_domain[domain]['rejected']} rejected, "
              f"{counts['documents_chunked']} chunked into {counts['chunks']} chunks")
        for r in sorted(rows, key=lambda r: -max(r["mean_token_length"] / 10, r["duplicate_lines_with_list_items"]))[:3]:
            print(f"  {r['source']}: token length {r['mean_token_length']} -> word-like {r['mean_wordlike_length']}, "
                  f"duplicate lines {r['duplicate_lines_with_list_items']} -> {r['duplicate_lines']} without list "
                  f"items, rejected: {r['rejected']}")
    args.out.write_text(json.dumps({
        "what": __doc__.split("\n\n")[0], "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load": os.getloadavg()},
        "domains": by_domain}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
