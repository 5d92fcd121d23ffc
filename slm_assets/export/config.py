"""Export settings: which GGUF files a version carries and the registry name."""

from typing import Literal

from pydantic import BaseModel, Field, field_validator

# What a domain may ask for: the converter's f16 and llama.cpp quantizer outputs.
QType = Literal["f16", "q8_0", "q6_k", "q5_k_m", "q4_k_m"]
# ggml types one tensor may be given (export.gguf.TENSOR_TYPES)
TensorType = Literal["f32", "f16", "bf16", "q8_0", "q6_k", "q5_k", "q4_k", "q5_1", "q5_0", "q4_1", "q4_0"]


class ExportConfig(BaseModel):
    """GGUF files per registered version and their parity checks."""

    quantizations: list[QType] = Field(
        default_factory=lambda: ["q4_k_m", "q8_0"], min_length=1,
        description="GGUF files written per version, first = the one served and put in the Modelfile; each is "
        "made by llama.cpp's quantizer from the converter's f16 file and must pass its parity tolerance before "
        "registration.",
    )
    convert_outtype: Literal["f16", "bf16"] = Field(
        default="f16", description="16-bit type convert_hf_to_gguf writes; the quantisations start from it.",
    )
    importance_texts: int = Field(
        default=0, ge=0,
        description="SFT training examples (spread over the train split, under the model's chat template: passages, "
        "question, answer) the merged model reads to compute an importance matrix, as llama.cpp's imatrix tool does; "
        "the quantizer then rounds the weight columns that carry large activations more carefully (K-quants and "
        "their q5_0 fallbacks). 0 = quantise without one, the default: on the demo (64 examples) it lowered q4_k_m's "
        "held-out perplexity excess but not the gold answers' loss against q8_0 (README, 'Importance matrix').",
    )
    tensor_types: dict[str, TensorType] = Field(
        default_factory=lambda: {"attn_v|ffn_down": "q8_0"},
        description="{regular expression on GGUF tensor names: type}: these tensors take this type instead of "
        "llama.cpp's choice in every quantised file (llama-quantize's --tensor-type); a type a tensor's row size "
        "does not allow falls back as llama.cpp decides; {} = llama.cpp's own mix. The default keeps the attention "
        "values and FFN down-projections, which llama.cpp's q4_k_m already favours in some layers, at q8_0 in all: "
        "on the demo's tuned SmolLM2 it halved q4_k_m's KL from the merged model (0.047 -> 0.023 mean, 24 test "
        "prompts) for 10 % more bytes and brought gold open book from -0.013 to +0.003 against q8_0; on the tuned "
        "Gemma 3 270M q4_k_m passes gguf_parity with it (max logit difference 12.6 -> 5.7) (README, 'Tensor types').",
    )
    parity_prompts: int = Field(
        default=3, ge=1, description="Held-out test prompts the gguf_parity check compares per quantisation.",
    )
    parity_max_new_tokens: int = Field(
        default=16, ge=1, description="Greedy tokens per parity prompt (HF's continuation, teacher-forced too).",
    )
    registered_model_prefix: str = Field(default="slm", description="Registry name = <prefix>-<domain>.")

    @field_validator("tensor_types")
    @classmethod
    def _patterns(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"tensor_types pattern {pattern!r} is not a regular expression: {exc}") from exc
        return value

    @field_validator("quantizations")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"quantizations lists a type twice: {value}")
        return value
