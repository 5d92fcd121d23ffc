"""The model's own chat format for Ollama: a Go template, stop strings and sampling parameters.

The HF chat template (Jinja) is recognised by its markers and mapped to a Go template written for
Ollama's `.Messages` (Ollama puts the Modelfile's SYSTEM in front as a `system` message when a
request brings none). Each Go template renders a conversation to the text the HF template renders
with `add_generation_prompt=True`, less the leading BOS text: llama.cpp and Ollama add BOS as a token
when the GGUF says `tokenizer.ggml.add_bos_token`. HF templates that `| trim` message contents
(Llama-3, Gemma) agree only for contents without surrounding blanks; Go templates have no trim.

Go template constructs used (and no others, so tests can render them): `range .Messages`,
`if`/`else if`/`else`/`end`, `eq .Role "..."`, `.Role`, `.Content`, `$var := ...`, `$var = ...`,
`{{-` trimming. Families whose HF template folds the system prompt into the first user turn
(Gemma 3, Mistral) hold it in `$system` until that turn. Mistral v0.3's own template puts it on the
*last* user turn instead: the two agree for a single question, not for longer conversations.
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatFormat:
    family: str
    template: str  # Go template for the Modelfile's TEMPLATE
    stops: tuple[str, ...]
    params: dict[str, float | int] = field(default_factory=dict)  # PARAMETER lines besides stops


CHATML = ChatFormat(
    "chatml",
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n",
    ("<|im_end|>", "<|im_start|>", "<|endoftext|>"),
)
LLAMA3 = ChatFormat(
    "llama3",
    "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>{{ end }}"
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
    ("<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"),
)
GEMMA = ChatFormat(
    "gemma",
    '{{- $system := "" }}{{- range .Messages }}{{- if eq .Role "system" }}{{ $system = .Content }}'
    '{{- else if eq .Role "user" }}<start_of_turn>user\n{{ if $system }}{{ $system }}\n\n{{ $system = "" }}{{ end }}'
    "{{ .Content }}<end_of_turn>\n{{ else }}<start_of_turn>model\n{{ .Content }}<end_of_turn>\n{{ end }}{{- end }}"
    "<start_of_turn>model\n",
    ("<end_of_turn>", "<start_of_turn>"),
)
PHI3 = ChatFormat(
    "phi3",
    "{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}<|end|>\n{{ end }}<|assistant|>\n",
    ("<|end|>", "<|user|>", "<|assistant|>", "<|endoftext|>"),
)
ZEPHYR = ChatFormat(  # TinyLlama-Chat and other Zephyr-style models
    "zephyr",
    "{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}</s>\n{{ end }}<|assistant|>\n",
    ("</s>", "<|user|>", "<|assistant|>"),
)
MISTRAL = ChatFormat(
    "mistral",
    '{{- $system := "" }}{{- range .Messages }}{{- if eq .Role "system" }}{{ $system = .Content }}'
    '{{- else if eq .Role "user" }}[INST] {{ if $system }}{{ $system }}\n\n{{ $system = "" }}{{ end }}'
    "{{ .Content }}[/INST]{{- else }} {{ .Content }}</s>{{- end }}{{- end }}",
    ("[INST]", "[/INST]", "</s>"),
)
FAMILIES = {f.family: f for f in (CHATML, LLAMA3, GEMMA, PHI3, ZEPHYR, MISTRAL)}
# (marker in the HF template, family); first match wins, so Phi-3's <|end|> is tested before Zephyr's <|assistant|>
_MARKERS = (("<|im_start|>", "chatml"), ("<|start_header_id|>", "llama3"), ("<start_of_turn>", "gemma"),
            ("[INST]", "mistral"), ("<|end|>", "phi3"), ("<|assistant|>", "zephyr"))
# generation_config.json key -> Ollama PARAMETER name
_SAMPLING = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "repetition_penalty": "repeat_penalty"}


def hf_chat_template(model_dir: Path) -> str | None:
    """The chat template saved with the tokenizer (chat_template.jinja or tokenizer_config.json)."""
    jinja = Path(model_dir) / "chat_template.jinja"
    if jinja.exists():
        return jinja.read_text(encoding="utf-8")
    config = Path(model_dir) / "tokenizer_config.json"
    if config.exists():
        template = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
        if isinstance(template, str):
            return template
    return None


def detect_family(chat_template: str) -> str | None:
    for marker, family in _MARKERS:
        if marker in chat_template:
            return family
    return None


def _sampling_params(model_dir: Path) -> dict[str, float | int]:
    path = Path(model_dir) / "generation_config.json"
    config = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if not config.get("do_sample"):
        return {}  # greedy by the model's own defaults: Ollama's sampling defaults stay
    return {ollama: config[hf] for hf, ollama in _SAMPLING.items() if isinstance(config.get(hf), int | float)}


def chat_format_for(model_dir: Path) -> ChatFormat | None:
    """The model's chat format, with its end-of-sequence text among the stops; None when the template
    is missing or of a family not listed here (Ollama then reads the GGUF's own chat template)."""
    template = hf_chat_template(model_dir)
    family = detect_family(template) if template else None
    if family is None:
        log.warning("%s: chat template missing or of an unknown family; the Modelfile gets no TEMPLATE", model_dir)
        return None
    known = FAMILIES[family]
    stops = list(known.stops)
    config = Path(model_dir) / "tokenizer_config.json"
    eos = json.loads(config.read_text(encoding="utf-8")).get("eos_token") if config.exists() else None
    eos = eos.get("content") if isinstance(eos, dict) else eos
    if isinstance(eos, str) and eos and eos not in stops:
        stops.append(eos)
    return ChatFormat(family, known.template, tuple(stops), _sampling_params(model_dir))
