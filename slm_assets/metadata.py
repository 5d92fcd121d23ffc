"""Asset metadata that several stages' assets show in the Dagster UI, as plain strings (the assets wrap them in
`dg.MetadataValue`), so this module imports nothing from Dagster and sits below every stage."""

import base64
from pathlib import Path


def png_markdown(path: Path, alt: str) -> str:
    """Markdown with the PNG inlined, so the Dagster UI shows it without opening files."""
    data = base64.b64encode(path.read_bytes()).decode()
    return f"![{alt}](data:image/png;base64,{data})"
