"""Versioned prompt templates for LLM teachers: one per question type, with diversity axes."""

import json
import random
from dataclasses import dataclass

from slm_assets.synth.records import ChunkForSynth

PROMPT_VERSION = "v1"


@dataclass(frozen=True)
class Template:
    template_id: str
    version: str
    question_type: str
    instruction: str


TEMPLATES = [
    Template("factual", PROMPT_VERSION, "factual", "Ask about specific facts stated in the passage."),
    Template("definition", PROMPT_VERSION, "definition", "Ask what a term, component or standard named in the passage is."),
    Template("procedure", PROMPT_VERSION, "procedure", "Ask how to do something the passage describes, step by step."),
    Template("comparison", PROMPT_VERSION, "comparison", "Ask how two things the passage mentions differ."),
    Template("numeric", PROMPT_VERSION, "numeric", "Ask for a number, limit, rating or unit the passage gives."),
    Template("troubleshooting", PROMPT_VERSION, "troubleshooting", "Ask why something happens or how to fix a problem the passage covers."),
]
DIFFICULTIES = ["basic", "intermediate", "expert"]
PERSONAS = ["an EV driver", "a site owner", "an electrician", "a fleet manager", "a student"]
PHRASINGS = ["a direct question", "a question with a short scenario", "an informal question"]

SYSTEM = (
    "You write training data for a small assistant specialised in {topic}. "
    "From the passage you are given, write question-answer pairs that a person interested in {topic} "
    "would ask. Every answer must be fully supported by the passage; do not add outside facts. "
    "Answers are one to three sentences, self-contained, without phrases like 'the passage says'. "
    'Reply with JSON only: {{"pairs": [{{"question": "...", "answer": "...", "question_type": "{qtype}"}}]}}'
)


def build_messages(topic: str, chunk: ChunkForSynth, template: Template, n_pairs: int, seed: int) -> list[dict]:
    rng = random.Random(f"{seed}:{chunk.chunk_id}:{template.template_id}")
    axes = (
        f"Difficulty: {rng.choice(DIFFICULTIES)}. Asked by {rng.choice(PERSONAS)}, "
        f"phrased as {rng.choice(PHRASINGS)}."
    )
    where = f"Document: {chunk.title or chunk.source}" + (f" / section: {chunk.heading}" if chunk.heading else "")
    user = (
        f"{template.instruction} Write {n_pairs} different pairs. {axes}\n"
        f"{where}\n\nPassage:\n\"\"\"\n{chunk.text}\n\"\"\""
    )
    return [
        {"role": "system", "content": SYSTEM.format(topic=topic, qtype=template.question_type)},
        {"role": "user", "content": user},
    ]


def repair_messages(messages: list[dict], bad_output: str, error: str) -> list[dict]:
    """One retry: show the model its invalid output and the validation error."""
    return messages + [
        {"role": "assistant", "content": bad_output[:4000]},
        {
            "role": "user",
            "content": f"That reply was not valid: {error[:500]}. Reply again with JSON only, in exactly this shape: "
            + json.dumps({"pairs": [{"question": "...", "answer": "...", "question_type": "..."}]}),
        },
    ]
