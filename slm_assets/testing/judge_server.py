"""A local chat-completions server that plays a pairwise judge, for the real `groq` and `openai` clients.

A request that is not a judge prompt (no answers to compare) is a benchmark question put to the teacher: it
is answered from `answers` (question -> answer), or with "I do not know." for a question not in it.

It reads the question, reference and both answers from the judge prompt and replies by `policy`:
- "first": always prefers answer A (a judge with pure position bias),
- "reference": prefers the answer whose words overlap the reference more; equal overlap is a tie,
- "tie": always a tie.
`script` (consumed one per request, in arrival order) overrides the policy for single replies: "ok",
"malformed" (prose, no JSON), "bad_winner" (JSON with winner "C"), "500" (a server error).
Answers containing MALFORMED_MARKER always get a malformed reply, so a test can target pairs regardless of
the order in which concurrent requests arrive. Every request body is recorded.
"""

import json
import re
import threading

from slm_assets.testing.local_http import LocalServer, QuietHandler

MALFORMED_MARKER = "<<judge-me-badly>>"
SECTION = re.compile(r"\[(Question|Reference answer|Answer A|Answer B)\]\n(.*?)\n\[End of", re.DOTALL)


def sections(body: dict) -> dict[str, str]:
    return dict(SECTION.findall(body["messages"][-1]["content"]))


def _overlap(answer: str, reference: str) -> int:
    return len(set(answer.lower().split()) & set(reference.lower().split()))


class FakeJudgeServer:
    def __init__(self, policy: str = "reference", script: list[str] | None = None,
                 answers: dict[str, str] | None = None):
        self.policy, self.script, self.answers = policy, list(script or []), dict(answers or {})
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, "body": body})
                    behaviour = server.script.pop(0) if server.script else "ok"
                if behaviour == "500":
                    self.send_json(500, {"error": {"message": "judge overloaded"}})
                    return
                content = server.reply(body, behaviour)
                self.send_json(200, {
                    "id": "judge-1", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62},
                })


        self.server = LocalServer(Handler, name=type(self).__name__)

    @property
    def url(self) -> str:
        return self.server.url

    def judge_requests(self) -> list[dict]:
        return [r for r in self.requests if "Answer A" in sections(r["body"])]

    def reply(self, body: dict, behaviour: str) -> str:
        parts = sections(body)
        if "Answer A" not in parts:  # a question for the teacher, not a verdict
            return self.answers.get(body["messages"][-1]["content"], "I do not know.")
        a, b = parts.get("Answer A", ""), parts.get("Answer B", "")
        if behaviour == "malformed" or MALFORMED_MARKER in a + b:
            return "Answer A is clearly better, it mentions the right connector."
        if behaviour == "bad_winner":
            return json.dumps({"winner": "C", "reason": "neither"})
        if self.policy == "first":
            winner = "A"
        elif self.policy == "tie":
            winner = "tie"
        else:
            ref = parts.get("Reference answer", "")
            sa, sb = _overlap(a, ref), _overlap(b, ref)
            winner = "A" if sa > sb else "B" if sb > sa else "tie"
        return "```json\n" + json.dumps({"winner": winner, "reason": "closer to the reference"}) + "\n```"

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.close()
