"""Ingest benchmark: PDF pages/s (layout parser in 2 processes vs plain pdfplumber extract_text in one),
HTML documents/s of parse_html, and near-dedup time for 100,000 synthetic chunks.

    .venv/bin/python bench/ingest.py [--pdfs 40 --pages 5 --workers 2 --chunks 100000]

Writes bench/results/ingest.json and prints a table. Not part of the test suite.
"""

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from slm_assets.ingest.documents import ParsedDocument  # noqa: E402
from slm_assets.ingest.html import parse_html  # noqa: E402
from slm_assets.ingest.pdf import parse_pdf, parse_pdfs_parallel  # noqa: E402
from slm_assets.process.config import DedupConfig  # noqa: E402
from slm_assets.process.dedup import near_duplicate_clusters  # noqa: E402

SAMPLES = ROOT / "samples" / "ev_charging"
WORDS = (
    "charging battery power grid connector vehicle electric station fast slow home public tariff cable current "
    "voltage energy kilowatt hour network inverter phase circuit breaker meter session driver operator site load "
    "capacity demand peak schedule profile protocol wallbox inlet socket plug contactor relay pilot signal the a "
    "of and to in is that for on with as by at from this which when can be are it its their more than"
).split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make_pdf(path: Path, pages: int, rng: random.Random) -> None:
    """A report whose pages cycle one column, two columns, a ruled table; running header and footer."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    from reportlab.platypus import Table, TableStyle

    width, height = A4
    c = canvas.Canvas(str(path), pagesize=A4)
    for page in range(1, pages + 1):
        c.setFont("Helvetica", 8)
        c.drawString(72, height - 36, f"Bench Handbook {path.stem} | Charging infrastructure")
        c.drawString(width / 2 - 25, 28, f"Page {page} of {pages}")
        c.setFont("Helvetica", 9)
        y = height - 70
        kind = page % 3
        if kind == 0:
            table = Table([["Site", "Power", "Sessions", "Uptime"]] + [
                [f"Site {i}", f"{rng.randint(7, 350)} kW", str(rng.randint(10, 900)), f"{rng.randint(90, 99)} %"]
                for i in range(12)])
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, (0, 0, 0))]))
            _w, h = table.wrapOn(c, width - 144, height)
            table.drawOn(c, 72, y - h)
            y -= h + 20
        while y > 60:
            if kind == 1:  # two columns
                c.drawString(50, y, sentence(rng, 9)[:60])
                c.drawString(width / 2 + 12, y, sentence(rng, 9)[:60])
            else:
                c.drawString(72, y, sentence(rng, 16)[:105])
            y -= 12
        c.showPage()
    c.save()


def bench_pdfs(n_docs: int, pages: int, workers: int) -> dict:
    import pdfplumber

    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(n_docs):
            path = Path(tmp) / f"doc{i:03d}.pdf"
            make_pdf(path, pages, rng)
            paths.append(path)
        total_pages = n_docs * pages

        started, cpu = time.perf_counter(), _cpu_seconds()
        for path in paths:
            with pdfplumber.open(path) as pdf:
                for page in pdf.pages:
                    page.extract_text()
        plain_s, plain_cpu = time.perf_counter() - started, _cpu_seconds() - cpu

        started, cpu = time.perf_counter(), _cpu_seconds()
        results = parse_pdfs_parallel(paths, workers=workers)
        parallel_s, parallel_cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        assert all(isinstance(r, ParsedDocument) for r in results), [str(r) for r in results][:3]

        started = time.perf_counter()
        for path in paths[: max(1, n_docs // 4)]:
            parse_pdf(path.read_bytes())
        single_s = (time.perf_counter() - started) * n_docs / max(1, n_docs // 4)
    return {
        "documents": n_docs, "pages": total_pages,
        "plain_extract_text_pages_per_s": total_pages / plain_s,
        "layout_parallel_pages_per_s": total_pages / parallel_s,
        "layout_one_process_pages_per_s": total_pages / single_s,
        "speedup_parallel_vs_plain": plain_s / parallel_s,
        # CPU seconds include the worker processes: pages per CPU-second do not depend on what
        # else the machine is running, wall-clock pages/s do
        "plain_pages_per_cpu_s": total_pages / plain_cpu,
        "layout_parallel_pages_per_cpu_s": total_pages / parallel_cpu,
        "workers": workers,
        "two_column_pages_found": sum(len(r.metadata["two_column_pages"]) for r in results),
        "tables_found": sum(r.metadata["tables"] for r in results),
    }


def _cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished children (the pool's workers)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def synthetic_html(rng: random.Random, i: int) -> bytes:
    paragraphs = "".join(f"<p>{' '.join(sentence(rng, 14) for _ in range(4))}</p>" for _ in range(12))
    rows = "".join(f"<tr><td>Site {r}</td><td>{rng.randint(7, 350)} kW</td></tr>" for r in range(8))
    items = "".join(f"<li>{sentence(rng, 8)}</li>" for _ in range(6))
    return (
        f"<!doctype html><html lang='en'><head><title>Page {i}</title><script>var x={i};</script></head><body>"
        f"<nav><a href='/'>Home</a><a href='/a'>A</a></nav><main><article><h1>Page {i}</h1>{paragraphs}"
        f"<h2>Sites</h2><table>{rows}</table><ul>{items}</ul></article></main><footer>(c) 2025</footer></body></html>"
    ).encode()


def bench_html(n_docs: int) -> dict:
    rng = random.Random(3)
    corpora = {"synthetic": [synthetic_html(rng, i) for i in range(n_docs)]}
    samples = sorted((SAMPLES / "html").glob("*.html")) if (SAMPLES / "html").is_dir() else []
    if samples:
        data = [p.read_bytes() for p in samples]
        corpora["samples_ev_charging"] = (data * (n_docs // len(data) + 1))[:n_docs]
    out = {}
    for name, docs in corpora.items():
        started = time.perf_counter()
        for doc in docs:
            parse_html(doc)
        elapsed = time.perf_counter() - started
        out[name] = {"documents": len(docs), "docs_per_s": len(docs) / elapsed,
                     "mean_kb": sum(map(len, docs)) / len(docs) / 1024}
    return out


def bench_dedup(n_chunks: int) -> dict:
    rng = random.Random(11)
    vocab = [f"{rng.choice(WORDS)}{i}" for i in range(20_000)]
    weights = [1 / (rank + 1) for rank in range(len(vocab))]  # Zipf-like, as in real text
    chunks: list[tuple[str, str]] = []
    for i in range(n_chunks):
        if i % 10 == 9 and chunks:  # 10 % near copies: a few words changed
            words = chunks[rng.randrange(len(chunks))][1].split()
            for _ in range(rng.randint(1, 3)):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            chunks.append((f"c{i}", " ".join(words)))
        else:
            chunks.append((f"c{i}", " ".join(rng.choices(vocab, weights, k=rng.randint(120, 220)))))
    started = time.perf_counter()
    clusters = near_duplicate_clusters(chunks, DedupConfig())
    elapsed = time.perf_counter() - started
    return {"chunks": n_chunks, "seconds": elapsed, "clusters": len(set(clusters.values())),
            "clustered_away": n_chunks - len(set(clusters.values())), "near_copies_made": n_chunks // 10}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pdfs", type=int, default=40)
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--html", type=int, default=400)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest.json")
    args = parser.parse_args()

    load_before = os.getloadavg()
    started = time.perf_counter()
    pdf = bench_pdfs(args.pdfs, args.pages, args.workers)
    html = bench_html(args.html)
    dedup = bench_dedup(args.chunks)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "pdf": pdf, "html": html, "near_dedup": dedup,
        "total_seconds": time.perf_counter() - started,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    rows = [
        ("PDF plain pdfplumber extract_text, 1 process", f"{pdf['plain_extract_text_pages_per_s']:.1f} pages/s"),
        (f"PDF layout parser, {pdf['workers']} processes", f"{pdf['layout_parallel_pages_per_s']:.1f} pages/s"
         f"  ({pdf['speedup_parallel_vs_plain']:.2f}x plain; goal >= 2x)"),
        ("PDF layout parser, 1 process", f"{pdf['layout_one_process_pages_per_s']:.1f} pages/s"),
        ("PDF pages per CPU-second, plain / layout", f"{pdf['plain_pages_per_cpu_s']:.1f} / "
         f"{pdf['layout_parallel_pages_per_cpu_s']:.1f}"),
        *[(f"HTML parse_html ({name})", f"{v['docs_per_s']:.0f} docs/s ({v['mean_kb']:.0f} KB each)")
          for name, v in html.items()],
        (f"Near-dedup, {dedup['chunks']:,} chunks", f"{dedup['seconds']:.1f} s  (goal <= 30 s; "
         f"{dedup['clustered_away']:,} clustered away, {dedup['near_copies_made']:,} near copies made)"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"ingest benchmark: nproc={os.cpu_count()} load {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(f"  wrote {args.out}")


if __name__ == "__main__":
    main()
