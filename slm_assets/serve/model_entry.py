"""One served model name: its backend, its registry version and the worker its generations queue on."""

import time
from dataclasses import dataclass, field

from slm_assets.serve.backends import Backend
from slm_assets.serve.runner import Runner


@dataclass
class ModelEntry:
    """One served model name: its backend, its registry version and the worker it queues on."""

    name: str
    backend: Backend
    runner: Runner
    loaded_at: float = field(default_factory=time.time)

    @property
    def version(self) -> str:
        return str(getattr(self.backend, "version", "") or "")

    @property
    def system_prompt(self) -> str | None:
        return getattr(self.backend, "system_prompt", None)

    @property
    def kind(self) -> str:
        return getattr(self.backend, "kind", type(self.backend).__name__)

    def with_system(self, messages: list[dict]) -> list[dict]:
        """The model's system prompt first, unless the request brings its own (as Ollama's SYSTEM does)."""
        if self.system_prompt and not any(m.get("role") == "system" for m in messages):
            return [{"role": "system", "content": self.system_prompt}, *messages]
        return messages
