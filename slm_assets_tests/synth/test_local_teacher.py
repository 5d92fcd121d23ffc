"""The local transformers teacher's prompt -> generate -> parse path, with a stub model and tokenizer.

A real run with the bundled SmolLM2 takes minutes on a CPU; the stubs check what the teacher hands
the model (the chat messages, generation settings) and what it does with the reply. A tiny random
model checks where a completion ends, its token counts and its seeding.
"""

import json
import re
from types import SimpleNamespace

import torch

from slm_assets.models import end_of_generation_ids
from slm_assets.synth.config import SynthConfig
from slm_assets.synth.generate import GenerationSummary, generate_qa
from slm_assets.synth.local_teacher import LocalTeacher, load_local_teacher
from slm_assets.synth.prompts import TEMPLATES
from slm_assets.testing.tokenizer_end_of_turn import save_model_with_tokenizer_only_end_of_turn
from slm_assets_tests.synth.helpers import chunks

MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is CCS?"}]


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

    def apply_chat_template(self, messages, add_generation_prompt, tokenize):
        assert add_generation_prompt and not tokenize
        self.conversations.append(messages)
        return " ".join(f"<|{m['role']}|> {m['content']}" for m in messages) + " <|assistant|>"

    def __call__(self, text, add_special_tokens):
        assert not add_special_tokens  # the template wrote them
        return {"input_ids": self.encode_words(text)}

    def decode(self, ids, skip_special_tokens):
        return " ".join(self.vocab[i] for i in ids.tolist())


class StubModel:
    """Replies with the first two sentences of the passage as pairs, or verdicts for a judge prompt."""

    generation_config = SimpleNamespace(eos_token_id=0)

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


def test_local_teacher_stops_at_an_end_of_turn_token_only_its_tokenizer_knows(tiny_smollm2_dir, tmp_path):
    model_dir = tmp_path / "model"
    save_model_with_tokenizer_only_end_of_turn(tiny_smollm2_dir, model_dir, MESSAGES)
    teacher = load_local_teacher(str(model_dir), tmp_path / "cache", "EV charging", 0.0, 8, seed=1)
    assert teacher.tokenizer.eos_token_id not in end_of_generation_ids(teacher.lm)  # the generation config lacks it

    _content, prompt_tokens, completion_tokens = teacher.call(MESSAGES, None, 8)

    assert completion_tokens == 1  # the end-of-turn token itself, then nothing (not all 8)
    prompt = teacher.tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, return_dict=True)
    assert prompt_tokens == len(prompt["input_ids"])


def test_local_teacher_samples_seeded_and_counts_every_new_token(tiny_smollm2_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_smollm2_dir))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_smollm2_dir)).eval()
    sampled = [LocalTeacher(model, tokenizer, "tiny", "EV charging", 1.0, 8, seed).call(MESSAGES, None, 8)
               for seed in (1, 1, 2)]
    assert sampled[0] == sampled[1] and sampled[0][0] != sampled[2][0]  # the same seed, the same answer
    assert {completion_tokens for _, _, completion_tokens in sampled} == {8}  # no end of turn: max_tokens


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
