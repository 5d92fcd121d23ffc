"""The local transformers teacher's prompt -> generate -> parse path, with a stub model and tokenizer.

A real run with the bundled SmolLM2 takes minutes on a CPU; the stubs check what the teacher hands
the model (the chat messages, generation settings) and what it does with the reply.
"""

import json
import re

import torch

from slm_assets.synth.config import SynthConfig
from slm_assets.synth.generate import GenerationSummary, generate_qa
from slm_assets.synth.local_teacher import LocalTeacher
from slm_assets.synth.prompts import TEMPLATES
from slm_assets_tests.synth.helpers import chunks


class StubTokenizer:
    """Token ids are positions in a list of strings: the rendered prompt is one 'token' per word."""

    pad_token_id, eos_token_id, chat_template = 0, 0, "chatml"

    def __init__(self):
        self.vocab: list[str] = ["<pad>"]
        self.conversations: list[list[dict]] = []

    def encode_words(self, text: str) -> list[int]:
        ids = []
        for word in text.split(" "):
            self.vocab.append(word)
            ids.append(len(self.vocab) - 1)
        return ids

    def apply_chat_template(self, messages, add_generation_prompt, tokenize, return_dict, return_tensors):
        assert add_generation_prompt and tokenize and return_dict and return_tensors == "pt"
        self.conversations.append(messages)
        rendered = " ".join(f"<|{m['role']}|> {m['content']}" for m in messages) + " <|assistant|>"
        ids = torch.tensor([self.encode_words(rendered)])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def decode(self, ids, skip_special_tokens):
        return " ".join(self.vocab[i] for i in ids.tolist())


class StubModel:
    """Replies with the first two sentences of the passage as pairs, or verdicts for a judge prompt."""

    def __init__(self, tokenizer: StubTokenizer):
        self.tokenizer, self.calls = tokenizer, []

    def generate(self, input_ids, attention_mask, **kwargs):
        self.calls.append(kwargs)
        messages = self.tokenizer.conversations[-1]
        if '"verdicts"' in messages[0]["content"]:
            n = messages[-1]["content"].count("] Q: ")
            reply = json.dumps({"verdicts": [{"id": i, "supported": i != 2} for i in range(1, n + 1)]})
        else:
            passage = messages[-1]["content"].split('"""')[1]
            sentences = [s.strip() + "." for s in passage.split(". ") if s.strip()][:2]
            reply = json.dumps({"pairs": [{"question": f"Which fact is given in point {i} ({', '.join(re.findall(r'[0-9]+', s))})?", "answer": s}
                                          for i, s in enumerate(sentences)]})
        new = torch.tensor([self.tokenizer.encode_words(reply)])
        return torch.cat([input_ids, new], dim=1)  # (1, prompt + new)


def test_local_teacher_prompts_the_model_with_the_chat_messages_and_parses_its_json():
    tokenizer = StubTokenizer()
    model = StubModel(tokenizer)
    teacher = LocalTeacher(model, tokenizer, "stub-lm", "EV charging", temperature=0.0, max_tokens=300, seed=1)
    result = teacher.generate(chunks(1)[0], TEMPLATES[4], 2)
    system, user = tokenizer.conversations[0]
    assert "EV charging" in system["content"] and "Write 2 pairs." in user["content"]
    assert model.calls[0]["max_new_tokens"] == 300 and model.calls[0]["do_sample"] is False
    assert len(result.pairs) == 2 and not result.invalid
    assert result.pairs[0].answer.startswith("A Level 2 charger delivers between 7 and 22 kW")
    assert {p.question_type for p in result.pairs} == {"numeric"}  # from the template
    assert result.prompt_tokens == len(f"<|system|> {system['content']} <|user|> {user['content']} <|assistant|>".split(" "))
    assert result.completion_tokens > 10


def test_local_teacher_runs_the_generation_loop_with_the_judge(tmp_path):
    tokenizer = StubTokenizer()
    teacher = LocalTeacher(StubModel(tokenizer), tokenizer, "stub-lm", "EV charging", 0.7, 300, 1)
    config = SynthConfig(n_pairs=3, pairs_per_call=2, judge_groundedness=True)
    summary = generate_qa("d", chunks(4), teacher, config, MemoryStore(), concurrency=2)
    assert isinstance(summary, GenerationSummary)
    assert summary.accepted_total == 3 and summary.reject_reasons["judge_unsupported"] >= 2  # verdict 2 is "no"
    assert summary.judge_calls >= 2 and summary.estimated_cost_usd == 0.0
    assert summary.teacher_requests == 2 * summary.calls_made


class MemoryStore:
    def __init__(self):
        self.calls, self.pairs = [], []

    def done_call_keys(self) -> set[str]:
        return {c["call_key"] for c in self.calls}

    def accepted(self) -> list[tuple[str, str]]:
        return [(p["qa_id"], p["question"]) for p in self.pairs if p["status"] == "accepted"]

    def record(self, call_row: dict, pair_rows: list[dict]) -> None:
        self.calls.append(call_row)
        self.pairs.extend(pair_rows)
