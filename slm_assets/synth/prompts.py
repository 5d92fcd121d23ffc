"""Versioned prompt templates for LLM teachers: one per question type, with diversity axes.

The prompts are kept short on purpose: the system prompt and instructions are paid for on every
call, so every token saved there is saved thousands of times (bench/synth.py measures it). The
question type is not asked back from the model: the template already says what it is.
"""

import json
import random
from dataclasses import dataclass

from slm_assets.synth.records import ChunkForSynth, QAPair

PROMPT_VERSION = "v2"  # v2: shorter system prompt and axes, no question_type in the reply


@dataclass(frozen=True)
class Template:
    template_id: str
    version: str
    question_type: str
    instruction: str


TEMPLATES = [
    Template("factual", PROMPT_VERSION, "factual", "Ask about specific facts."),
    Template("definition", PROMPT_VERSION, "definition", "Ask what a named term, component or standard is."),
    Template("procedure", PROMPT_VERSION, "procedure", "Ask how to do something described, step by step."),
    Template("comparison", PROMPT_VERSION, "comparison", "Ask how two things mentioned differ."),
    Template("numeric", PROMPT_VERSION, "numeric", "Ask for a number, limit, rating or unit given."),
    Template("troubleshooting", PROMPT_VERSION, "troubleshooting", "Ask why something happens or how to fix a problem covered."),
]
DIFFICULTIES = ["basic", "intermediate", "expert"]
PERSONAS = ["a beginner", "a practitioner", "an installer", "a manager", "a student"]
PHRASINGS = ["direct", "with a short scenario", "informal"]

SYSTEM = (
    "You write question-answer pairs that train a small assistant on {topic}. Each answer is 1-3 "
    "self-contained sentences, fully supported by the passage, with no outside facts and no mention of "
    '"the passage". Reply with JSON only: {{"pairs":[{{"question":"...","answer":"..."}}]}}'
)
REPLY_SHAPE = json.dumps({"pairs": [{"question": "...", "answer": "..."}]}, separators=(",", ":"))

JUDGE_SYSTEM = (
    "You check question-answer pairs against a passage. A pair is supported only if the passage states "
    'everything its answer says. Reply with JSON only: {"verdicts":[{"id":1,"supported":true}]}'
)


def build_messages(topic: str, chunk: ChunkForSynth, template: Template, n_pairs: int, seed: int) -> list[dict]:
    rng = random.Random(f"{seed}:{chunk.chunk_id}:{template.template_id}")
    axes = f"Level: {rng.choice(DIFFICULTIES)}; asker: {rng.choice(PERSONAS)}; {rng.choice(PHRASINGS)}."
    where = " / ".join(x for x in (chunk.title or chunk.source, chunk.heading) if x)
    user = f"Write {n_pairs} pairs. {template.instruction} {axes}\nSource: {where}\n\"\"\"\n{chunk.text}\n\"\"\""
    return [
        {"role": "system", "content": SYSTEM.format(topic=topic)},
        {"role": "user", "content": user},
    ]


def repair_messages(messages: list[dict], bad_output: str, error: str) -> list[dict]:
    """One retry: show the model its invalid output and the validation error."""
    return messages + [
        {"role": "assistant", "content": bad_output[:4000]},
        {"role": "user", "content": f"That reply was not valid: {error[:300]}. Reply again with JSON only: {REPLY_SHAPE}"},
    ]


def judge_messages(chunk: ChunkForSynth, pairs: list[QAPair]) -> list[dict]:
    """Ask whether each pair is supported by the passage; ids are 1-based positions in `pairs`."""
    listed = "\n".join(f"[{i}] Q: {p.question} A: {p.answer}" for i, p in enumerate(pairs, start=1))
    return [
        {"role": "system", "content": JUDGE_SYSTEM},
        {"role": "user", "content": f"\"\"\"\n{chunk.text}\n\"\"\"\nPairs:\n{listed}"},
    ]


def judge_max_tokens(n_pairs: int) -> int:
    """Room for the verdict list: about 12 tokens per verdict."""
    return 24 + 14 * n_pairs
