"""An Ollama Modelfile next to an exported GGUF: `ollama create <name> -f Modelfile` serves it.

Ollama's Modelfile parser has no escape sequences: a value opened by three double quotes runs,
verbatim, until the first line break at which the text read so far ends with three double quotes
(trailing spaces ignored). So quotes, backslashes and braces inside the system prompt need no
escaping, and must not get any (they would reach the model); only a line that itself ends in
three double quotes cannot be written, and is refused rather than silently cut short.
"""

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# Go template equivalent of the ChatML template (SmolLM2 and others). Ollama passes the Modelfile
# SYSTEM as the first message when a request brings none, so system turns come through .Messages.
CHATML_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
    "{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)
TEMPLATES = {"chatml": CHATML_TEMPLATE}
CHATML_STOPS = ("<|im_end|>", "<|im_start|>", "<|endoftext|>")


def quote_value(text: str) -> str:
    """`text` as a triple-quoted Modelfile value that Ollama reads back unchanged."""
    lines = text.split("\n")
    for line in lines[:-1]:
        if line.rstrip(" \t").endswith('"""'):
            raise ValueError(f"a Modelfile value cannot contain a line ending in three quotes: {line!r}")
    return f'"""{text}"""'


def _parameter_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if "\n" in text or '"' in text:
        raise ValueError(f"parameter value {text!r} must be one line without quotes")
    return f'"{text}"'


def write_modelfile(
    gguf_filename: str,
    out_dir: Path,
    system_prompt: str,
    chat_template_kind: str = "chatml",
    stop_tokens: Sequence[str] = CHATML_STOPS,
    params: Mapping[str, object] | None = None,
) -> Path:
    """Write `out_dir/Modelfile` pointing at `./<gguf_filename>` (the GGUF sits beside it).

    `params` become `PARAMETER` lines (e.g. temperature, num_ctx); stops are listed first.
    """
    if chat_template_kind not in TEMPLATES:
        raise ValueError(f"chat template {chat_template_kind!r} unknown; known: {', '.join(TEMPLATES)}")
    if "/" in gguf_filename or not gguf_filename.endswith(".gguf"):
        raise ValueError(f"gguf_filename must be a bare *.gguf file name, got {gguf_filename!r}")
    lines = [
        f"FROM ./{gguf_filename}",
        "",
        f"TEMPLATE {quote_value(TEMPLATES[chat_template_kind])}",
        "",
        f"SYSTEM {quote_value(system_prompt)}",
        "",
    ]
    lines += [f"PARAMETER stop {_parameter_value(stop)}" for stop in stop_tokens]
    for key, value in (params or {}).items():
        if not key.replace("_", "").isalnum():
            raise ValueError(f"parameter name {key!r} is not a plain identifier")
        lines.append(f"PARAMETER {key} {_parameter_value(value)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "Modelfile"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    log.info("wrote %s for %s", path, gguf_filename)
    return path
