"""The teacher LLM that writes QA pairs: Groq, any OpenAI-compatible server, a local model, or the offline teacher."""

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from slm_assets.synth.config import TeacherConfig
from slm_assets.synth.local_teacher import LocalTeacher, load_local_teacher
from slm_assets.synth.offline_teacher import OfflineTeacher
from slm_assets.synth.teachers import ChatTeacher, make_chat_teacher


class TeacherResource(dg.ConfigurableResource):
    """Builds the teacher a domain asks for. `provider_override` forces one (e.g. `offline` in tests)."""

    groq_api_key: str | None = Field(default=None, description="From GROQ_API_KEY via dg.EnvVar; never logged.")
    provider_override: str | None = Field(
        default=None, description="offline | groq | openai | local, overriding every domain."
    )
    base_url_override: str | None = Field(default=None, description="Server root overriding the domain's base_url.")
    models_cache: str | None = Field(
        default=None, description="Where a local teacher's converted model is cached (default: the settings' cache)."
    )

    def for_domain(self, config: TeacherConfig, topic: str, seed: int) -> OfflineTeacher | ChatTeacher | LocalTeacher:
        provider = self.provider_override or config.provider
        if provider == "offline":
            return OfflineTeacher()
        if provider == "local":
            from slm_assets.settings import get_settings

            cache = Path(self.models_cache) if self.models_cache else get_settings().models_cache_dir
            return load_local_teacher(config.model, cache, topic, config.temperature, config.max_tokens, seed)
        if provider == "groq":
            key = self.groq_api_key
        else:
            key = os.environ.get(config.api_key_env) if config.api_key_env != "GROQ_API_KEY" else None
        return make_chat_teacher(config, key, topic, seed, provider=provider, base_url=self.base_url_override)
