"""An Ollama Modelfile next to an exported GGUF: `ollama create <name> -f Modelfile` serves it.

Ollama's Modelfile parser has no escape sequences: a value opened by three double quotes runs,
verbatim, until the first line break at which the text read so far ends with three double quotes
(trailing spaces ignored). So quotes, backslashes and braces inside the system prompt need no
escaping, and must not get any (they would reach the model); only a line that itself ends in
three double quotes cannot be written, and is refused rather than silently cut short.
"""

import logging
from collections.abc import Mapping
from pathlib import Path

from slm_assets.export.chat_format import CHATML, ChatFormat

log = logging.getLogger(__name__)

CHATML_STOPS = CHATML.stops


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
    chat_format: ChatFormat | None = CHATML,
    params: Mapping[str, object] | None = None,
) -> Path:
    """Write `out_dir/Modelfile` pointing at `./<gguf_filename>` (the GGUF sits beside it).

    `chat_format` (from `chat_format.chat_format_for(model_dir)`) gives TEMPLATE, stops and sampling
    parameters; None writes no TEMPLATE, so Ollama uses the GGUF's embedded chat template. `params`
    add or override `PARAMETER` lines (e.g. num_ctx); stops are listed first.
    """
    if "/" in gguf_filename or not gguf_filename.endswith(".gguf"):
        raise ValueError(f"gguf_filename must be a bare *.gguf file name, got {gguf_filename!r}")
    lines = [f"FROM ./{gguf_filename}", ""]
    if chat_format is not None:
        lines += [f"TEMPLATE {quote_value(chat_format.template)}", ""]
    lines += [f"SYSTEM {quote_value(system_prompt)}", ""]
    lines += [f"PARAMETER stop {_parameter_value(stop)}" for stop in (chat_format.stops if chat_format else ())]
    merged = {**(chat_format.params if chat_format else {}), **(params or {})}
    for key, value in merged.items():
        if not key.replace("_", "").isalnum():
            raise ValueError(f"parameter name {key!r} is not a plain identifier")
        lines.append(f"PARAMETER {key} {_parameter_value(value)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "Modelfile"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    log.info("wrote %s for %s", path, gguf_filename)
    return path
