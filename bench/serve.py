"""Serving benchmark: 64 concurrent clients against the server for a bounded time, and decode tokens/s
through the server (streaming) vs llama-cpp-python called directly on the same GGUF.

    .venv/bin/python bench/serve.py [--gguf PATH] [--duration 30] [--clients 64] [--max-tokens 32]

The server runs in a child process on 127.0.0.1 (its own interpreter, as in production); the
direct baseline runs here, never at the same time as server work. Writes bench/results/serve.json
and prints a Markdown table. Not part of the test suite.
"""

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

QUESTIONS = [
    "Explain in detail how DC fast charging of an electric car works, step by step.",
    "What is the difference between AC and DC charging?",
    "How long does it take to charge a 60 kWh battery at a 7 kW home charger?",
    "Which connector do most European fast chargers use?",
    "Why does charging slow down above 80 percent state of charge?",
    "What does load management do at a site with many chargers?",
]
DECODE_PROMPT = [{"role": "user", "content": QUESTIONS[0]}]


def default_gguf() -> Path:
    from slm_assets.models import bundled_gguf

    return bundled_gguf("smollm2-135m-instruct")


def serve_only(args) -> None:
    """Child process: serve the GGUF as model 'bench' without rate limits."""
    import logging

    from slm_assets.serve.app import create_app
    from slm_assets.serve.backends import LlamaCppBackend
    from slm_assets.serve.context import ServeSettings
    from slm_assets.serve.server import run_server

    logging.basicConfig(level=logging.WARNING)
    backend = LlamaCppBackend(args.gguf, n_threads=args.threads, n_ctx=args.n_ctx)
    settings = ServeSettings(rate_limit_per_minute=0, max_queue=4096, max_tokens_cap=4096,
                             max_body_bytes=1 << 20)
    run_server(create_app({"bench": backend}, settings), host="127.0.0.1", port=args.port)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args, key: str) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    cmd = [sys.executable, __file__, "--serve-only", "--gguf", str(args.gguf), "--port", str(port),
           "--threads", str(args.threads), "--n-ctx", str(args.n_ctx), "--omp-wait-policy", args.omp_wait_policy]
    env = {**os.environ, "SLM_API_KEYS": key, "HF_HUB_OFFLINE": "1"}
    from slm_assets.processes import die_with_parent_preexec

    # own process group, and SIGKILL when this benchmark dies: no server left holding the port and cores
    proc = subprocess.Popen(cmd, env=env, preexec_fn=die_with_parent_preexec())
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("server did not become ready in 120 s")


def direct_decode(llm, max_tokens: int) -> dict:
    """One greedy streamed chat completion with llama-cpp-python directly: timings of the text pieces."""
    started = time.perf_counter()
    stamps, text = [], []
    for chunk in llm.create_chat_completion(messages=DECODE_PROMPT, max_tokens=max_tokens, temperature=0,
                                            stream=True):
        piece = chunk["choices"][0]["delta"].get("content")
        if piece:
            stamps.append(time.perf_counter())
            text.append(piece)
    return {"started": started, "stamps": stamps, "text": "".join(text), "ended": time.perf_counter()}


def server_decode(url: str, key: str, max_tokens: int) -> dict:
    import openai

    api = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=600)
    started = time.perf_counter()
    stamps, text, usage = [], [], None
    for chunk in api.chat.completions.create(model="bench", messages=DECODE_PROMPT, max_tokens=max_tokens,
                                             temperature=0, stream=True, stream_options={"include_usage": True}):
        if chunk.usage:
            usage = chunk.usage
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter())
            text.append(chunk.choices[0].delta.content)
    return {"started": started, "stamps": stamps, "text": "".join(text), "ended": time.perf_counter(),
            "completion_tokens": usage.completion_tokens, "prompt_tokens": usage.prompt_tokens}


def rates(run: dict, tokens: int) -> tuple[float, float]:
    """(decode tokens/s between the first and last text piece, end-to-end tokens/s)."""
    decode = (tokens - 1) / (run["stamps"][-1] - run["stamps"][0]) if len(run["stamps"]) > 1 else 0.0
    return decode, tokens / (run["ended"] - run["started"])


def compare_decode(args, url: str, key: str) -> dict:
    from llama_cpp import Llama

    llm = Llama(model_path=str(args.gguf), n_threads=args.threads, n_ctx=args.n_ctx, verbose=False)
    direct_tokens = llm.create_chat_completion(messages=DECODE_PROMPT, max_tokens=args.decode_tokens,
                                               temperature=0)["usage"]["completion_tokens"]
    server_decode(url, key, args.decode_tokens)  # warm the server's worker thread
    direct, served, same_text = [], [], []
    for _ in range(args.repeats):  # alternate, so background load hits both sides alike
        d = direct_decode(llm, args.decode_tokens)
        s = server_decode(url, key, args.decode_tokens)
        direct.append(rates(d, direct_tokens))
        served.append(rates(s, s["completion_tokens"]))
        same_text.append(d["text"] == s["text"])
    llm.close()
    med = statistics.median
    out = {
        "max_tokens": args.decode_tokens, "repeats": args.repeats,
        "direct_completion_tokens": direct_tokens, "server_completion_tokens": s["completion_tokens"],
        "same_text": all(same_text),
        "direct_decode_tok_s": round(med(r[0] for r in direct), 1),
        "server_decode_tok_s": round(med(r[0] for r in served), 1),
        "direct_end_to_end_tok_s": round(med(r[1] for r in direct), 1),
        "server_end_to_end_tok_s": round(med(r[1] for r in served), 1),
    }
    out["decode_ratio"] = round(out["server_decode_tok_s"] / out["direct_decode_tok_s"], 3)
    out["end_to_end_ratio"] = round(out["server_end_to_end_tok_s"] / out["direct_end_to_end_tok_s"], 3)
    return out


async def load_test(url: str, key: str, clients: int, duration: float, max_tokens: int) -> dict:
    import httpx

    latencies, tokens, errors = [], [], []
    deadline = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients)

    async def client(i: int, http: httpx.AsyncClient) -> None:
        n = 0
        while time.perf_counter() < deadline:
            body = {"model": "bench", "max_tokens": max_tokens, "temperature": 0.7, "seed": i * 1000 + n,
                    "messages": [{"role": "user", "content": QUESTIONS[(i + n) % len(QUESTIONS)]}]}
            n += 1
            started = time.perf_counter()
            try:
                response = await http.post("/v1/chat/completions", json=body)
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            if response.status_code != 200:
                errors.append(f"{response.status_code}: {response.text[:200]}")
                continue
            latencies.append(time.perf_counter() - started)
            tokens.append(response.json()["usage"]["completion_tokens"])

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits,
                                 timeout=httpx.Timeout(900)) as http:
        await asyncio.gather(*(client(i, http) for i in range(clients)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 3) if ordered else float("nan")

    return {"clients": clients, "duration_s": duration, "elapsed_s": round(elapsed, 1), "max_tokens": max_tokens,
            "requests": len(latencies), "errors": len(errors), "error_samples": errors[:5],
            "p50_s": pct(0.50), "p90_s": pct(0.90), "p99_s": pct(0.99), "max_s": round(ordered[-1], 3) if ordered else None,
            "requests_per_s": round(len(latencies) / elapsed, 2), "completion_tokens": sum(tokens),
            "tokens_per_s": round(sum(tokens) / elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, default=None, help="GGUF to serve (default: bundled SmolLM2 Q4_1).")
    parser.add_argument("--duration", type=float, default=30.0, help="Seconds of load (new requests stop then).")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=32, help="max_tokens per load-test request.")
    parser.add_argument("--decode-tokens", type=int, default=128, help="max_tokens of the decode comparison.")
    parser.add_argument("--repeats", type=int, default=3, help="Decode comparison runs per side (median).")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--omp-wait-policy", choices=["PASSIVE", "ACTIVE"], default="PASSIVE",
                        help="OpenMP wait policy (OMP_WAIT_POLICY) for BOTH the server and the direct baseline; "
                        "the server itself defaults to PASSIVE.")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "serve.json")
    parser.add_argument("--serve-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.gguf = args.gguf or default_gguf()
    os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy  # before llama_cpp is imported, here and in the child
    if args.serve_only:
        serve_only(args)
        return

    import llama_cpp

    key = secrets.token_urlsafe(24)
    load_before = os.getloadavg()
    proc, url = start_server(args, key)
    try:
        decode = compare_decode(args, url, key)
        load = asyncio.run(load_test(url, key, args.clients, args.duration, args.max_tokens))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
        "cpus": len(os.sched_getaffinity(0)), "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()], "llama_cpp": llama_cpp.__version__,
        "gguf": str(args.gguf), "threads": args.threads, "omp_wait_policy": args.omp_wait_policy,
        "decode": decode, "load": load,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nServe benchmark ({args.gguf.name}, {args.threads} threads, {result['cpus']} CPUs, "
          f"OMP_WAIT_POLICY {args.omp_wait_policy}, load avg before/after {result['loadavg_before'][0]}/"
          f"{result['loadavg_after'][0]})\n")
    print("| measure | value |\n|---|---|")
    print(f"| load: clients / duration | {load['clients']} / {load['duration_s']} s (ran {load['elapsed_s']} s) |")
    print(f"| load: requests / errors | {load['requests']} / {load['errors']} |")
    print(f"| load: latency p50 / p90 / p99 | {load['p50_s']} / {load['p90_s']} / {load['p99_s']} s |")
    print(f"| load: completion tokens/s | {load['tokens_per_s']} ({load['requests_per_s']} req/s) |")
    print(f"| decode tokens/s: direct llama-cpp | {decode['direct_decode_tok_s']} |")
    print(f"| decode tokens/s: through server (SSE) | {decode['server_decode_tok_s']} "
          f"(ratio {decode['decode_ratio']}) |")
    print(f"| end-to-end tokens/s: direct / server | {decode['direct_end_to_end_tok_s']} / "
          f"{decode['server_end_to_end_tok_s']} (ratio {decode['end_to_end_ratio']}) |")
    print(f"| same greedy text | {decode['same_text']} |")
    print(f"\nwrote {args.out}")
    if load["errors"]:
        raise SystemExit(f"{load['errors']} errors under load, e.g. {load['error_samples'][:2]}")


if __name__ == "__main__":
    main()
