"""A local chat-completions server that imitates Groq/OpenAI, with scripted misbehaviour.

It answers from the passage in the request: sentences of the passage become grounded QA pairs, so
the pipeline's gates can be exercised for real. `script` is a list of behaviours consumed one per
request: "ok", "429", "500", "invalid_json", "off_topic", "truncated", "stall", "subtly_wrong"
(answers with one number changed: lexically grounded, factually wrong). `failing_units` /
`failures_per_unit` make the first units seen fail with 500 a given number of times, whatever
else runs in between.
`hold_after=N` answers N requests, then holds every later one until `release` is set (`holding` is set
when the first is held): a run killed while it waits is killed at a known point inside its step.

A judge request (its system prompt asks for "verdicts") is answered by checking each answer
against the passage: supported when every sentence of the answer occurs in the passage verbatim.

For benchmarks it can imitate a hosted API: a per-request latency (fixed or seeded uniform),
requests- and tokens-per-minute limits over a sliding window (429 with retry-after when exceeded),
a pluggable token counter, and `style="varied"`: the number of pairs asked for, questions phrased
from a seeded choice of frames, and a share `flaw_rate` of ungrounded or subtly wrong answers.

Every request is recorded with the path, body, auth header, arrival time, kind (generate, repair,
judge) and a fingerprint: sha256 of the first user message, which is the same for a unit's call
and its repair, and differs between units.
"""

import hashlib
import json
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable

from slm_assets.testing.local_http import LocalServer, QuietHandler

FRAMES = ["What should I know about {kp}?", "Can you explain {kp}?", "How does {kp} work in practice?",
          "What is important about {kp}?", "Tell me about {kp}.", "Why does {kp} matter?",
          "What is meant by {kp}?", "What are the details of {kp}?"]
OFF_TOPIC = "Leonardo da Vinci painted the Mona Lisa in Florence during the Renaissance."


def approx_tokens(text: str) -> int:
    """Words and punctuation marks: close to a BPE count for English prose and JSON."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def figures(sentence: str) -> str:
    """The numbers of a sentence: what tells the test passages apart."""
    return ", ".join(re.findall(r"\d+", sentence)) or "no figures"


def fingerprint(body: dict) -> str:
    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
    return hashlib.sha256((users[0] if users else "").encode()).hexdigest()[:24]


def split_sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if len(s.split()) >= 6]


class FakeTeacherServer:
    def __init__(self, script: list[str] | None = None, retry_after: str = "0", delay_s: float = 0.0,
                 latency: tuple[float, float] | None = None, seed: int = 0,
                 requests_per_minute: int | None = None, tokens_per_minute: int | None = None,
                 window_s: float = 60.0, count_tokens: Callable[[str], int] = approx_tokens,
                 style: str = "echo", flaw_rate: float = 0.0, failing_units: int = 0, failures_per_unit: int = 0,
                 hold_after: int | None = None):
        self.script = list(script or [])
        self.retry_after = retry_after
        self.delay_s, self.latency, self.rng = delay_s, latency, random.Random(seed)
        self.rpm, self.tpm, self.window = requests_per_minute, tokens_per_minute, window_s
        self.count_tokens, self.style, self.flaw_rate, self.seed = count_tokens, style, flaw_rate, seed
        self.window_entries: deque[list] = deque()  # [arrival, tokens] of requests served
        self.requests: list[dict] = []
        self.refused = 0  # 429s sent because of the limits (scripted ones not counted)
        # the first `failing_units` prompts seen answer 500 to their first `failures_per_unit` requests
        self.failing_units, self.failures_per_unit = failing_units, failures_per_unit
        self.failing: dict[str, int] = {}
        self.lock = threading.Lock()
        self.hold_after, self.holding, self.release = hold_after, threading.Event(), threading.Event()
        server = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                kind = server.kind(body)
                with server.lock:
                    server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization"),
                                            "at": time.monotonic(), "kind": kind, "fingerprint": fingerprint(body)})
                    behaviour = server.script.pop(0) if server.script else "ok"
                    print_ = server.requests[-1]["fingerprint"]
                    if print_ not in server.failing and len(server.failing) < server.failing_units:
                        server.failing[print_] = 0
                    if print_ in server.failing and server.failing[print_] < server.failures_per_unit:
                        server.failing[print_] += 1
                        behaviour = "500"
                    delay = server.delay_s + (server.rng.uniform(*server.latency) if server.latency else 0.0)
                if server.hold_after is not None and len(server.requests) > server.hold_after:
                    server.holding.set()
                    server.release.wait(600)
                if not self.path.endswith("/chat/completions"):
                    return self.send_json(404, {"error": {"message": "not found"}})
                if behaviour == "429":
                    return self.send_json(429, {"error": {"message": "rate limit"}}, {"retry-after": server.retry_after})
                if behaviour == "500":
                    return self.send_json(500, {"error": {"message": "boom"}})
                prompt_tokens = sum(server.count_tokens(m["content"]) + 4 for m in body["messages"])
                entry, wait = server.admit(prompt_tokens)
                if entry is None:
                    return self.send_json(429, {"error": {"message": "rate limit reached", "type": "tokens"}},
                                      {"retry-after": str(math.ceil(wait))})
                if behaviour == "stall":
                    time.sleep(5)
                content = server.judge(body) if kind == "judge" else server.answer(body, behaviour)
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": server.count_tokens(content)}
                with server.lock:
                    entry[1] += usage["completion_tokens"]
                time.sleep(delay)
                self.send_json(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": content}}],
                                 "usage": {**usage, "total_tokens": sum(usage.values())}})


        self.server = LocalServer(Handler, name=type(self).__name__)

    @property
    def url(self) -> str:
        return self.server.url

    @staticmethod
    def kind(body: dict) -> str:
        if '"verdicts"' in body["messages"][0]["content"]:
            return "judge"
        return "repair" if sum(m["role"] == "user" for m in body["messages"]) > 1 else "generate"

    def admit(self, prompt_tokens: int) -> tuple[list | None, float]:
        """Count the request in the sliding window, or say how long until it would fit."""
        with self.lock:
            now = time.monotonic()
            while self.window_entries and self.window_entries[0][0] + self.window <= now:
                self.window_entries.popleft()
            waits = []
            if self.rpm is not None and len(self.window_entries) >= self.rpm:
                waits.append(self.window_entries[len(self.window_entries) - self.rpm][0] + self.window - now)
            if self.tpm is not None:
                excess = sum(e[1] for e in self.window_entries) + prompt_tokens - self.tpm
                freed = 0
                for at, tokens in self.window_entries:
                    if excess <= 0:
                        break
                    freed += tokens
                    if freed >= excess:
                        waits.append(at + self.window - now)
                        break
            if waits:
                self.refused += 1
                return None, max(waits)
            entry = [now, prompt_tokens]
            self.window_entries.append(entry)
            return entry, 0.0

    @staticmethod
    def passage(body: dict) -> str:
        for message in body["messages"]:
            if message["role"] == "user" and '"""' in message["content"]:
                return message["content"].split('"""')[1]
        return body["messages"][-1]["content"]

    def answer(self, body: dict, behaviour: str) -> str:
        sentences = split_sentences(self.passage(body))
        if behaviour == "invalid_json":
            return "Sure! Here are your pairs: question: what? answer: that"
        if behaviour == "truncated":
            return '{"pairs": [{"question": "What is the rated power of'
        if behaviour == "off_topic":
            pairs = [{"question": "Who painted the Mona Lisa?", "answer": "Leonardo da Vinci painted it in Florence."}]
        elif self.style == "varied":
            pairs = self.varied_pairs(body, sentences)
        else:
            # the question names the sentence's opening and figures only: an answer that restated it would be an echo
            pairs = [{"question": f"What is stated about {' '.join(s.split()[:2])} ({figures(s)})?", "answer": s}
                     for s in sentences[:2]]
        if behaviour == "subtly_wrong":
            pairs = [{**p, "answer": re.sub(r"\d+", lambda m: str(int(m.group()) + 1), p["answer"], count=1)}
                     for p in pairs]
        return "```json\n" + json.dumps({"pairs": pairs}, indent=2 if self.style == "varied" else None) + "\n```"

    def varied_pairs(self, body: dict, sentences: list[str]) -> list[dict]:
        users = [m["content"] for m in body["messages"] if m["role"] == "user"]
        asked = re.search(r"Write (\d+) pairs", users[0])
        n = int(asked.group(1)) if asked else 5
        rng = random.Random(f"{self.seed}:{fingerprint(body)}")
        if not sentences:
            return []
        start = rng.randrange(len(sentences))
        pairs = []
        for i in range(min(n, len(sentences))):
            sentence = sentences[(start + i) % len(sentences)]
            words = re.findall(r"[\w\-./]+", sentence)
            offset = rng.randrange(max(1, len(words) - 5))
            kp = " ".join(words[offset : offset + rng.randint(3, 6)][:3]).lower()  # short: never an echo
            answer = sentence
            following = sentences[(start + i + 1) % len(sentences)]
            if rng.random() < 0.3 and following != sentence:
                answer += " " + following
            roll = rng.random()
            if roll < self.flaw_rate / 2:
                answer = OFF_TOPIC
            elif roll < self.flaw_rate:
                answer = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), answer, count=1)
            pairs.append({"question": rng.choice(FRAMES).format(kp=kp), "answer": answer})
        return pairs

    def judge(self, body: dict) -> str:
        passage = " ".join(self.passage(body).split())
        listed = re.findall(r"^\[(\d+)\] Q: .*? A: (.*)$", body["messages"][-1]["content"], re.MULTILINE)
        verdicts = [{"id": int(i), "supported": all(s in passage for s in re.split(r"(?<=[.!?])\s+", a.strip()))}
                    for i, a in listed]
        return json.dumps({"verdicts": verdicts})

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.release.set()  # held handler threads end before the server does
        self.server.close()
