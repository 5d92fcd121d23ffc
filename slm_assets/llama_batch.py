"""Several sequences decoded together in one llama.cpp context, as llama.cpp's `batched` example and its
server's parallel slots do: each sequence has its own KV-cache sequence id, and one `llama_decode` runs a
batch that mixes prompt tokens of some sequences with the next token of others.

The one place that drives llama.cpp's low-level batch API (`Llama.create_completion` drives a single
sequence): the serving backend's continuous batching (`slm_assets.serve.slots`) and the latency
benchmark's static batches (`slm_assets.evaluate.latency_llama_cpp`) both build on it.
"""

import ctypes

# GGUF `general.file_type` (llama.cpp's llama_ftype) per quantisation name: shared by export and benchmark
FILE_TYPES: dict[str, int] = {
    "f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9,
    "q4_k_s": 14, "q4_k_m": 15, "q5_k_s": 16, "q5_k_m": 17, "q6_k": 18, "bf16": 32,
}
FILE_TYPE_NAMES = {value: name for name, value in FILE_TYPES.items()}


def end_of_generation(llm) -> list[int]:
    """Every token id the GGUF's vocabulary marks as end of generation (eos, eot, <|im_end|> ...)."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    return [t for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)]


class BatchContext:
    """A llama.cpp context for up to `n_seq` sequences of `n_ctx_per_seq` tokens each, sharing the weights of
    a loaded `llama_cpp.Llama`, with one reusable batch of up to `n_batch` tokens."""

    def __init__(self, llm, n_seq: int, n_ctx_per_seq: int, n_batch: int, threads: int, threads_batch: int = 0,
                 flash_attn: bool = False, kv_unified: bool = False):
        import llama_cpp

        self._lib = llama_cpp
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_seq * n_ctx_per_seq
        params.n_batch = n_batch
        params.n_ubatch = min(512, n_batch)
        params.n_seq_max = n_seq
        # one KV cache for all sequences (llama.cpp's --kv-unified) or one per sequence: slm_assets.serve.slots
        params.kv_unified = kv_unified
        params.n_threads = threads
        params.n_threads_batch = threads_batch or threads
        params.no_perf = True
        # llama-cpp-python's Llama turns flash attention off where llama.cpp's default is "auto"; the same
        # setting keeps answers token for token equal to llama-cpp-python's
        params.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn
                                  else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        # as quiet as llama-cpp-python's own contexts: with a shared cache llama.cpp warns that each sequence may
        # use the whole context (n_ctx_seq > n_ctx_train), while the scheduler holds each to n_ctx_per_seq
        from llama_cpp._utils import suppress_stdout_stderr

        with suppress_stdout_stderr(disable=llm.verbose):
            self.ctx = llama_cpp.llama_init_from_model(llm.model, params)
        if not self.ctx:
            raise RuntimeError(f"llama.cpp could not create a context for {n_seq} sequences of {n_ctx_per_seq} tokens")
        self.batch = llama_cpp.llama_batch_init(n_batch, 0, n_seq)
        self._memory = llama_cpp.llama_get_memory(self.ctx)
        self.n_vocab = llm.n_vocab()
        self.n_seq, self.n_ctx_per_seq, self.n_batch = n_seq, n_ctx_per_seq, n_batch
        self.kv_unified = kv_unified

    def close(self) -> None:
        if self.ctx:
            self._lib.llama_batch_free(self.batch)
            self._lib.llama_free(self.ctx)
            self.ctx = None

    def set_threads(self, threads: int) -> None:
        """Threads of the next decodes (llama.cpp applies it per call)."""
        self._lib.llama_set_n_threads(self.ctx, threads, threads)

    @property
    def n_tokens(self) -> int:
        return self.batch.n_tokens

    def clear(self) -> None:
        """Forget every sequence's cache."""
        self._lib.llama_memory_clear(self._memory, True)

    def drop(self, seq: int) -> None:
        """Forget one sequence's cache, so its id can start a new sequence at position 0."""
        self._lib.llama_memory_seq_rm(self._memory, seq, -1, -1)

    def trim(self, seq: int, keep: int) -> int:
        """Forget sequence `seq`'s cache from position `keep` on; returns how many tokens it keeps: `keep`, or 0
        when the model's memory cannot remove part of a sequence (recurrent or sliding-window layers) and the
        sequence is dropped whole."""
        if self._lib.llama_memory_seq_rm(self._memory, seq, keep, -1):
            return keep
        self.drop(seq)
        return 0

    def start_batch(self) -> None:
        self.batch.n_tokens = 0

    def add(self, token: int, pos: int, seq: int, logits: bool) -> int:
        """Append one token of sequence `seq` at position `pos`; returns its index in the batch (where its
        logits are, when asked for)."""
        b = self.batch
        j = b.n_tokens
        if j >= self.n_batch:
            raise ValueError(f"batch is full ({self.n_batch} tokens)")
        b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = token, pos, 1, logits
        b.seq_id[j][0] = seq
        b.n_tokens = j + 1
        return j

    def decode(self) -> None:
        rc = self._lib.llama_decode(self.ctx, self.batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode failed with code {rc} (batch of {self.batch.n_tokens} tokens)")

    def logits(self, index: int):
        """The logits of the batch token at `index` as a NumPy view (n_vocab,); the next decode rewrites it."""
        import numpy as np

        return np.ctypeslib.as_array(self._lib.llama_get_logits_ith(self.ctx, index), shape=(self.n_vocab,))


class Sampler:
    """llama.cpp's own sampler chain for one sequence, in the order llama-cpp-python's `create_completion`
    builds it: greedy at temperature 0, else top-k, top-p, min-p, temperature, then a seeded draw."""

    def __init__(self, temperature: float, top_p: float = 1.0, seed: int | None = None, top_k: int = 40,
                 min_p: float = 0.05):
        import llama_cpp

        self._lib = llama_cpp
        self.chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        add = llama_cpp.llama_sampler_chain_add
        if temperature <= 0:
            add(self.chain, llama_cpp.llama_sampler_init_greedy())
        else:
            add(self.chain, llama_cpp.llama_sampler_init_top_k(top_k))
            add(self.chain, llama_cpp.llama_sampler_init_top_p(top_p, 1))
            add(self.chain, llama_cpp.llama_sampler_init_min_p(min_p, 1))
            add(self.chain, llama_cpp.llama_sampler_init_temp(temperature))
            add(self.chain, llama_cpp.llama_sampler_init_dist(llama_cpp.LLAMA_DEFAULT_SEED if seed is None
                                                              else seed & 0xFFFFFFFF))

    def sample(self, context: BatchContext, index: int) -> int:
        """The next token from the logits of batch token `index` (the chain also records it as accepted)."""
        return int(self._lib.llama_sampler_sample(self.chain, context.ctx, index))

    def close(self) -> None:
        if self.chain:
            self._lib.llama_sampler_free(self.chain)
            self.chain = None


def token_bytes(llm, token: int) -> bytes:
    """The bytes a token stands for (special tokens render as nothing), as llama.cpp's detokenizer gives them."""
    import llama_cpp

    buffer = ctypes.create_string_buffer(64)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    n = llama_cpp.llama_token_to_piece(vocab, token, buffer, len(buffer), 0, False)
    if n < 0:  # a longer piece: llama.cpp says how long
        buffer = ctypes.create_string_buffer(-n)
        n = llama_cpp.llama_token_to_piece(vocab, token, buffer, len(buffer), 0, False)
    return buffer.raw[:n]
