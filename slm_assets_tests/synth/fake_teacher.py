"""A local chat-completions server that imitates Groq/OpenAI, with scripted misbehaviour.

It answers from the passage in the request: the first sentences become grounded QA pairs, so the
pipeline's gates can be exercised for real. `script` is a list of behaviours consumed one per
request: "ok", "429", "500", "invalid_json", "off_topic", "truncated", "stall".
"""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeTeacherServer:
    def __init__(self, script: list[str] | None = None, retry_after: str = "0"):
        self.script = list(script or [])
        self.retry_after = retry_after
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                    behaviour = server.script.pop(0) if server.script else "ok"
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": "not found"}})
                if behaviour == "429":
                    return self._send(429, {"error": {"message": "rate limit"}}, {"retry-after": server.retry_after})
                if behaviour == "500":
                    return self._send(500, {"error": {"message": "boom"}})
                if behaviour == "stall":
                    time.sleep(5)
                content = server.answer(body, behaviour)
                usage = {"prompt_tokens": sum(len(m["content"].split()) for m in body["messages"]),
                         "completion_tokens": len(content.split())}
                self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": content}}],
                                 "usage": {**usage, "total_tokens": sum(usage.values())}})

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, body: dict, behaviour: str) -> str:
        user = body["messages"][-1]["content"]
        passage = user.split('"""')[1] if '"""' in user else user
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(passage.split())) if len(s.split()) >= 6]
        if behaviour == "invalid_json":
            return "Sure! Here are your pairs: question: what? answer: that"
        if behaviour == "truncated":
            return '{"pairs": [{"question": "What is the rated power of'
        if behaviour == "off_topic":
            pairs = [{"question": "Who painted the Mona Lisa?", "answer": "Leonardo da Vinci painted it in Florence."}]
        else:
            pairs = [{"question": f"What is stated about this: {s.rstrip('.')}?", "answer": s}
                     for s in sentences[:2]]
        return "```json\n" + json.dumps({"pairs": pairs}) + "\n```"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
