"""How raw documents become clean, deduplicated, token-aware chunks."""

from pydantic import BaseModel, Field


class QualityConfig(BaseModel):
    """Gopher/C4-style heuristics; a document or chunk failing one is kept aside with the rule's name."""

    min_words: int = Field(default=20, ge=0, description="Fewer words than this: rejected (`too_short`).")
    max_words: int = Field(default=200_000, ge=1, description="More words than this: rejected (`too_long`).")
    max_symbol_ratio: float = Field(default=0.1, description="Share of '#' and '...' tokens per word.")
    max_non_alpha_ratio: float = Field(
        default=0.4, description="Share of words with no letter at all (numbers, symbols)."
    )
    max_duplicate_line_fraction: float = Field(
        default=0.3, description="Share of the prose's characters in lines repeated elsewhere (code, table rows, "
        "list items and lines under four words do not count).")
    max_top_ngram_fraction: float = Field(
        default=0.2, description="Characters covered by the most frequent word 3-gram."
    )
    min_stopwords: int = Field(default=2, ge=0, description="English stop words required (C4/Gopher).")
    mean_word_length: tuple[float, float] = Field(
        default=(3.0, 10.0), description="Allowed mean length of the word-like tokens (code, paths, URLs and markup "
        "do not count).")
    languages: list[str] | None = Field(
        default_factory=lambda: ["en"], description="Languages kept (stop-word identification); None keeps all."
    )


class ChunkingConfig(BaseModel):
    """Token-aware chunks measured with the base model's tokenizer."""

    target_tokens: int = Field(default=256, ge=16, description="Chunk size aimed for, in base-model tokens.")
    overlap_tokens: int = Field(default=32, ge=0, description="Tokens repeated from the previous chunk.")
    min_tokens: int = Field(default=24, ge=1, description="Chunks shorter than this are merged or dropped.")


class DedupConfig(BaseModel):
    """Exact and near-duplicate removal (MinHash LSH)."""

    near_dup_threshold: float = Field(default=0.8, gt=0, le=1, description="Estimated Jaccard to call a near duplicate.")
    num_perm: int = Field(default=128, ge=16, description="MinHash permutations.")
    shingle_words: int = Field(default=5, ge=1, description="Words per shingle.")


class ProcessConfig(BaseModel):
    """Raw documents to clean chunks: quality filters, deduplication, token-aware chunking."""

    quality: QualityConfig = Field(
        default_factory=QualityConfig, description="Heuristic filters for documents and chunks.")
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig, description="Chunk sizes in base-model tokens.")
    dedup: DedupConfig = Field(default_factory=DedupConfig, description="Exact and near-duplicate removal.")
