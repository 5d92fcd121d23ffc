"""`slm-assets init-domain`: a new domain YAML with sensible defaults and the sources left to fill in."""

import re
from pathlib import Path

from slm_assets.domains import DOMAIN_NAME_RE, load_domain_file

TEMPLATE = """\
# Domain: {topic}
# One partition of every asset. Fill in `sources`, then materialise:
#   slm-assets materialize --domain {name}
name: {name}
topic: {topic}
use_case: qa
description: >
  A small model that answers questions about {topic}.
base_model: bundled:smollm2-135m-instruct   # or a hub id (TinyLlama/TinyLlama-1.1B-Chat-v1.0) or a local dir

sources:
  folders: []              # e.g. [docs/{name}] — .html .htm .md .rst .txt .pdf
  crawl:
    seed_urls: []          # e.g. [https://example.org/guide/]
    allowed_hosts: []      # default: the seeds' hosts
    max_depth: 1
    max_pages: 200
    delay_s: 1.0           # per host; robots.txt is obeyed

teacher:
  provider: offline        # groq (GROQ_API_KEY), openai (base_url of Ollama/vLLM/llama.cpp), local
  model: llama-3.3-70b-versatile

synth:
  n_pairs: 5000

split:
  val_fraction: 0.1
  test_fraction: 0.15
  context:
    open_book_ratio: 0.5       # share of train/val examples asked with passages, as the server asks
    k_distractors: 1
    k_retrieve: 2              # passages per question when serving and benchmarking
    unanswerable_ratio: 0.15   # open-book examples whose passages do not answer: "The documents do not say."

train:
  preset: demo             # smoke (tests), demo (CPU minutes), full (GPU)
  # dpo: {{enabled: true}}   # preference phase after SFT against the model's own bad answers
  backend: auto            # unsloth on CUDA when installed, else transformers + PEFT
  packing: auto            # padding-free packing where FlashAttention is installed (CUDA)

distill:
  student_init: lora_adapter   # start the student from the trained adapter (or: fresh)
  # teacher_model: HuggingFaceTB/SmolLM2-1.7B-Instruct   # same tokenizer; default: the merged lora_adapter

benchmark:
  # gold_questions: domains/gold/{name}.jsonl   # questions written by people; the gate then decides on them
  primary_metric: rouge_l
  min_improvement: 0.0     # the gate's paired-bootstrap lower bound must exceed this
  compare_teacher: true    # an LLM teacher also answers the benchmark questions (and judges)

grounding:                 # every open-book answer is checked against its passages
  enabled: true
  min_relevance: 0.25      # below it: "The documents do not say."

export:
  quantizations: [q4_k_m, q8_0]   # GGUF files; the first is served (also: f16, q6_k, q5_k_m)
"""


def name_from_topic(topic: str) -> str:
    words = re.findall(r"[a-z0-9]+", topic.lower())
    name = "_".join(words)[:40].strip("_") or "domain"
    return name if name[0].isalpha() else f"d_{name}"


def init_domain(topic: str, name: str | None, domains_dir: Path, force: bool = False) -> Path:
    name = name or name_from_topic(topic)
    if not DOMAIN_NAME_RE.match(name):
        raise ValueError(f"domain name {name!r} must match {DOMAIN_NAME_RE.pattern}")
    path = domains_dir / f"{name}.yaml"
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists (use --force to overwrite)")
    domains_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(TEMPLATE.format(topic=topic.strip().replace("\n", " "), name=name), encoding="utf-8")
    load_domain_file(path)  # the scaffold must itself be a valid domain
    return path
