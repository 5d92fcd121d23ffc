"""raw_documents rows -> clean documents + chunks, with every rejection kept and named."""

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from slm_assets.process.chunk import chunk_document
from slm_assets.process.clean import clean_text
from slm_assets.process.config import ProcessConfig
from slm_assets.process.dedup import exact_key, near_duplicate_clusters
from slm_assets.process.quality import quality_failure

log = logging.getLogger(__name__)


@dataclass
class CurationResult:
    documents: list[dict] = field(default_factory=list)  # clean_documents rows
    chunks: list[dict] = field(default_factory=list)  # clean_chunks rows
    rejections: list[dict] = field(default_factory=list)  # curation_rejections rows
    counts: Counter = field(default_factory=Counter)


def clean_with_spans(text: str, page_spans: list) -> tuple[str, list[tuple[int, int, int]]]:
    """Clean page by page so that page attribution survives cleaning."""
    if not page_spans:
        return clean_text(text), []
    parts, spans, offset = [], [], 0
    for page, start, end in page_spans:
        cleaned = clean_text(text[start:end])
        if not cleaned:
            continue
        if parts:
            offset += 2
        spans.append((page, offset, offset + len(cleaned)))
        parts.append(cleaned)
        offset += len(cleaned)
    return "\n\n".join(parts), spans


def chunk_id_of(doc_id: str, start: int, end: int, text: str) -> str:
    """Content-addressed: a chunk whose text or span changes gets a new id."""
    return hashlib.sha256(f"{doc_id}:{start}:{end}:{text}".encode()).hexdigest()[:16]


def settings_fingerprint(config: ProcessConfig, tokenizer: str) -> str:
    """What a document's chunks depend on besides its text: chunking settings and the tokenizer."""
    return hashlib.sha256(f"{config.chunking.model_dump_json()}|{tokenizer}|clean-v1".encode()).hexdigest()[:16]


Reject = Callable[..., None]  # (item id, level, rule, detail="") -> None: records a named rejection


def clean_documents(raw_documents: list[dict], config: ProcessConfig, reject: Reject) -> list[tuple[dict, str, list]]:
    """Step 1: clean, document quality, exact duplicates. (document, clean text, page spans) of those kept."""
    kept: list[tuple[dict, str, list]] = []
    seen_exact: dict[str, str] = {}
    for doc in sorted(raw_documents, key=lambda d: (d["source"], d["doc_id"])):
        spans = json.loads(doc["page_spans"]) if isinstance(doc["page_spans"], str) else (doc["page_spans"] or [])
        text, spans = clean_with_spans(doc["text"], spans)
        failure = quality_failure(text, config.quality)
        if failure:
            reject(doc["doc_id"], "document", *failure)
            continue
        key = exact_key(text)
        if key in seen_exact:
            reject(doc["doc_id"], "document", "exact_duplicate", f"same text as {seen_exact[key]}")
            continue
        seen_exact[key] = doc["doc_id"]
        kept.append((doc, text, spans))
    return kept


def drop_near_duplicate_documents(kept: list[tuple[dict, str, list]], config: ProcessConfig, reject: Reject):
    """Step 2: the first document of each near-duplicate cluster survives; (survivors, their cluster ids)."""
    clusters = near_duplicate_clusters([(d["doc_id"], t) for d, t, _ in kept], config.dedup)
    survivors = []
    for doc, text, spans in kept:
        cluster = clusters[doc["doc_id"]]
        if cluster != doc["doc_id"]:
            reject(doc["doc_id"], "document", "near_duplicate", f"cluster {cluster}")
            continue
        survivors.append((doc, text, spans))
    return survivors, clusters


def chunk_candidates(domain: str, survivors: list[tuple[dict, str, list]], config: ProcessConfig,
                     count_tokens: Callable[[list[str]], list[int]], previous_chunks: dict[str, list[dict]],
                     counts: Counter) -> list[dict]:
    """Step 3: every surviving document's chunks, reused unchanged from `previous_chunks` when it has them."""
    candidates = []
    for doc, text, spans in survivors:
        reused = previous_chunks.get(doc["doc_id"])
        if reused:
            candidates += [{k: v for k, v in row.items() if k != "cluster_id"} | {"source": doc["source"]}
                           for row in sorted(reused, key=lambda r: r["chunk_index"])]
            counts["documents_chunks_reused"] += 1
            continue
        counts["documents_chunked"] += 1
        for chunk in chunk_document(text, spans, count_tokens, config.chunking):
            chunk_text = text[chunk.char_start : chunk.char_end]
            candidates.append({
                "domain": domain,
                "chunk_id": chunk_id_of(doc["doc_id"], chunk.char_start, chunk.char_end, chunk_text),
                "doc_id": doc["doc_id"], "chunk_index": chunk.index, "text": chunk_text,
                "n_tokens": chunk.n_tokens, "heading": chunk.heading,
                "page_start": chunk.page_start, "page_end": chunk.page_end,
                "char_start": chunk.char_start, "char_end": chunk.char_end, "source": doc["source"],
            })
    return candidates


def deduplicate_chunks(candidates: list[dict], config: ProcessConfig, reject: Reject) -> list[dict]:
    """Step 4: too-short, exact-duplicate and near-duplicate chunks across the domain dropped; the rest kept
    with their cluster id."""
    seen_chunks: dict[str, str] = {}
    unique = []
    for row in candidates:
        if row["n_tokens"] < config.chunking.min_tokens:
            reject(row["chunk_id"], "chunk", "too_few_tokens", f"{row['n_tokens']} < {config.chunking.min_tokens}")
            continue
        key = exact_key(row["text"])
        if key in seen_chunks:
            reject(row["chunk_id"], "chunk", "exact_duplicate", f"same text as {seen_chunks[key]}")
            continue
        seen_chunks[key] = row["chunk_id"]
        unique.append(row)
    chunk_clusters = near_duplicate_clusters([(r["chunk_id"], r["text"]) for r in unique], config.dedup)
    kept = []
    for row in unique:
        row["cluster_id"] = chunk_clusters[row["chunk_id"]]
        if row["cluster_id"] != row["chunk_id"]:
            reject(row["chunk_id"], "chunk", "near_duplicate", f"cluster {row['cluster_id']}")
            continue
        kept.append(row)
    return kept


def curate(
    domain: str,
    raw_documents: list[dict],
    config: ProcessConfig,
    count_tokens: Callable[[list[str]], list[int]],
    fingerprint: str = "",
    previous_chunks: dict[str, list[dict]] | None = None,
) -> CurationResult:
    """`previous_chunks` (doc_id -> chunk rows made with the same `fingerprint`) are reused as they are:
    a document's id is the hash of its bytes, so an unchanged document is not chunked again."""
    result = CurationResult()

    def reject(item_id: str, level: str, rule: str, detail: str = "") -> None:
        result.rejections.append({"domain": domain, "item_id": item_id, "level": level, "rule": rule, "detail": detail})
        result.counts[f"rejected_{level}_{rule}"] += 1

    kept = clean_documents(raw_documents, config, reject)
    result.counts["documents_in"] = len(raw_documents)
    survivors, clusters = drop_near_duplicate_documents(kept, config, reject)
    result.documents = [{
        "domain": domain, "doc_id": doc["doc_id"], "text": text, "page_spans": json.dumps(spans),
        "cluster_id": clusters[doc["doc_id"]], "config_hash": fingerprint,
    } for doc, text, spans in survivors]
    result.counts["documents_kept"] = len(survivors)
    candidates = chunk_candidates(domain, survivors, config, count_tokens, previous_chunks or {}, result.counts)
    result.counts["chunks_in"] = len(candidates)
    result.chunks = deduplicate_chunks(candidates, config, reject)
    result.counts["chunks_kept"] = len(result.chunks)
    kept_ids = {c["chunk_id"] for c in result.chunks}
    rejected_per_doc = Counter(r["doc_id"] for r in candidates if r["chunk_id"] not in kept_ids)
    for row in result.documents:
        row["chunks_rejected"] = rejected_per_doc[row["doc_id"]]
    return result
