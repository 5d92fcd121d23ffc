"""Serving benchmark, all in one run on the same GGUF:

1. threads: single-stream decode tokens/s of llama-cpp-python used directly under three OpenMP wait settings
   (libgomp's default spin, OMP_WAIT_POLICY=PASSIVE, the server's bounded GOMP_SPINCOUNT), on the machine as
   it is and with one competing busy process per core pair (`--busy`), each in its own interpreter;
2. single stream: decode tokens/s through the server (SSE) vs llama-cpp-python directly with its default
   settings, alternated so background load hits both alike; the server uses its own thread settings;
3. load: 64 concurrent clients send the same fixed set of requests to the one-at-a-time server (slots=1)
   and to the batching server (slots=N, the server's default unless given), alternated over `--rounds`:
   aggregate completion tokens/s, p50/p99 latency, errors (medians over the rounds, every round kept).

    .venv/bin/python bench/serve.py [--gguf PATH] [--clients 64] [--requests 128] [--slots N] [--rounds 2]
                                   [--kv-per-slot]

Servers run in a child process on 127.0.0.1 (their own interpreter, as in production). Writes
bench/results/serve.json (machine, load average, versions) and prints a Markdown table. Not part of the tests.
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
OPENMP_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def openmp_settings() -> dict[str, dict[str, str]]:
    from slm_assets.serve.backends import OPENMP_SPIN_COUNT

    return {"default": {}, "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
            f"spin_{OPENMP_SPIN_COUNT}": {"GOMP_SPINCOUNT": str(OPENMP_SPIN_COUNT)}}


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without OpenMP wait settings (llama-cpp-python's defaults), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_VARS}
    return {**env, "HF_HUB_OFFLINE": "1", **extra}


def default_gguf() -> Path:
    from slm_assets.models import bundled_gguf

    return bundled_gguf("smollm2-135m-instruct")


def serve_only(args) -> None:
    """Child process: serve the GGUF as model 'bench' without rate limits, with the server's thread settings."""
    import logging

    from slm_assets.serve.app import create_app
    from slm_assets.serve.backends import LlamaCppBackend
    from slm_assets.serve.server import run_server
    from slm_assets.serve.settings import ServeSettings

    logging.basicConfig(level=logging.WARNING)
    backend = LlamaCppBackend(args.gguf, n_threads=args.server_threads, n_ctx=args.n_ctx, slots=args.slots,
                              kv_unified=args.kv_unified)
    settings = ServeSettings(rate_limit_per_minute=0, max_queue=4096, max_tokens_cap=4096,
                             max_body_bytes=1 << 20, stream_interval_ms=args.stream_interval_ms[0])
    run_server(create_app({"bench": backend}, settings), host="127.0.0.1", port=args.port)


def direct_only(args) -> None:
    """Child process: median decode tokens/s of llama-cpp-python directly, under this process's OpenMP env."""
    from slm_assets.llama_models import open_llama

    llm = open_llama(args.gguf, n_threads=args.threads, n_ctx=args.n_ctx)
    tokens = llm.create_chat_completion(messages=DECODE_PROMPT, max_tokens=args.decode_tokens,
                                        temperature=0)["usage"]["completion_tokens"]
    runs = [rates(direct_decode(llm, args.decode_tokens), tokens) for _ in range(args.repeats)]
    llm.close()
    print(json.dumps({"decode_tok_s": round(statistics.median(r[0] for r in runs), 1), "tokens": tokens}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_args(args) -> list[str]:
    return [sys.executable, __file__, "--gguf", str(args.gguf), "--threads", str(args.threads),
            "--n-ctx", str(args.n_ctx), "--decode-tokens", str(args.decode_tokens), "--repeats", str(args.repeats)]


def start_server(args, key: str, slots: int, interval_ms: float = 0.0) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    cmd = [*child_args(args), "--serve-only", "--port", str(port), "--slots", str(slots),
           "--stream-interval-ms", str(interval_ms), *([] if args.kv_unified else ["--kv-per-slot"])]
    if args.server_threads:
        cmd += ["--server-threads", str(args.server_threads)]
    from slm_assets.processes import die_with_parent_preexec

    # own process group, and SIGKILL when this benchmark dies: no server left holding the port and cores
    proc = subprocess.Popen(cmd, env=clean_env(SLM_API_KEYS=key), preexec_fn=die_with_parent_preexec())
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


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)


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


def thread_settings(args) -> dict:
    """Direct llama-cpp-python decode under each OpenMP setting, as the machine is and with busy processes."""
    out = {}
    for busy in (0, args.busy):
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
        try:
            for name, env in openmp_settings().items():
                try:
                    done = subprocess.run([*child_args(args), "--direct-only"], env=clean_env(**env), check=True,
                                          capture_output=True, text=True, timeout=args.child_timeout)
                    measured = json.loads(done.stdout.strip().splitlines()[-1])
                except subprocess.TimeoutExpired:  # spinning threads on busy cores can crawl: say so, go on
                    measured = {"decode_tok_s": None, "timed_out_after_s": args.child_timeout}
                out[f"{name}{'_busy' if busy else ''}"] = {
                    **measured, "env": env, "busy_processes": busy, "loadavg": [round(x, 2) for x in os.getloadavg()]}
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
    return out


def compare_decode(args, url: str, key: str) -> dict:
    """The server vs llama-cpp-python directly (this process: no OpenMP variables set, its defaults)."""
    from slm_assets.llama_models import open_llama

    llm = open_llama(args.gguf, n_threads=args.threads, n_ctx=args.n_ctx)
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


async def load_test(url: str, key: str, clients: int, requests: int, max_tokens: int) -> dict:
    """`clients` concurrent clients share a fixed list of `requests` (the same list for every server)."""
    import httpx

    latencies, tokens, errors = [], [], []
    todo = list(range(requests))
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        while todo:
            n = todo.pop()
            body = {"model": "bench", "max_tokens": max_tokens, "temperature": 0.7, "seed": n,
                    "messages": [{"role": "user", "content": QUESTIONS[n % len(QUESTIONS)]}]}
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
                                 timeout=httpx.Timeout(1800)) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 3) if ordered else float("nan")

    return {"clients": clients, "elapsed_s": round(elapsed, 1), "max_tokens": max_tokens,
            "requests": len(latencies), "errors": len(errors), "error_samples": errors[:5],
            "p50_s": pct(0.50), "p90_s": pct(0.90), "p99_s": pct(0.99), "max_s": round(ordered[-1], 3) if ordered else None,
            "requests_per_s": round(len(latencies) / elapsed, 2), "completion_tokens": sum(tokens),
            "tokens_per_s": round(sum(tokens) / elapsed, 1), "loadavg_after": [round(x, 2) for x in os.getloadavg()]}


def versions() -> dict:
    import importlib.metadata as md

    def version(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    return {"python": platform.python_version(), "llama_cpp_python": version("llama-cpp-python"),
            "fastapi": version("fastapi"), "uvicorn": version("uvicorn"), "slm_assets_commit": commit}


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "0")
    return {"platform": platform.platform(), "cpu": model, "cpus": len(os.sched_getaffinity(0)),
            "memory_gib": round(int(memory) / 2**20, 1)}


def save(result: dict, out: Path) -> None:
    """Written after every phase: a run cut short on a busy machine still leaves what it measured."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


def load_rounds(args, key: str) -> dict:
    """The load test on the batching server (slots=N) and the one-at-a-time server (slots=1), alternated for
    `--rounds` rounds (N, 1, N, 1, ...) so that a slower spell of a shared machine hits both; each side's
    figures are the medians over its rounds, every round is kept."""
    runs: dict[str, list[dict]] = {f"slots_{args.slots}": [], "one_at_a_time": []}
    for _ in range(args.rounds):
        for name, slots in ((f"slots_{args.slots}", args.slots), ("one_at_a_time", 1)):
            proc, url = start_server(args, key, slots)
            try:
                runs[name].append(asyncio.run(load_test(url, key, args.clients, args.requests, args.max_tokens)))
            finally:
                stop(proc)
    med = statistics.median
    out = {name: {**rounds[-1], **{f: round(med(r[f] for r in rounds), 3) for f in
                                   ("tokens_per_s", "p50_s", "p90_s", "p99_s", "elapsed_s")},
                  "errors": sum(r["errors"] for r in rounds), "rounds": rounds}
           for name, rounds in runs.items()}
    one, batched = out["one_at_a_time"]["tokens_per_s"], out[f"slots_{args.slots}"]["tokens_per_s"]
    out["throughput_ratio"] = round(batched / one, 3) if one else None
    return out


def run_all(args) -> dict:
    key = secrets.token_urlsafe(24)
    result = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
              "versions": versions(), "loadavg_before": [round(x, 2) for x in os.getloadavg()],
              "gguf": str(args.gguf), "threads": args.threads, "slots": args.slots, "rounds": args.rounds,
              "kv_unified": args.kv_unified, "stream_interval_ms": args.stream_interval_ms}
    if args.decode_only:
        runs: dict[str, list[dict]] = {}
        for interval_ms in args.stream_interval_ms:  # a value named again is another round (alternate them)
            proc, url = start_server(args, key, args.slots, interval_ms)
            try:
                runs.setdefault(str(interval_ms), []).append(compare_decode(args, url, key))
            finally:
                stop(proc)
            result["decode_by_stream_interval_ms"] = {
                interval: {"median_decode_ratio": statistics.median(r["decode_ratio"] for r in rounds),
                           "median_end_to_end_ratio": statistics.median(r["end_to_end_ratio"] for r in rounds),
                           "rounds": rounds} for interval, rounds in runs.items()}
            save(result, args.out)
        result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        return result
    result["thread_settings"] = thread_settings(args)
    save(result, args.out)
    proc, url = start_server(args, key, args.slots, args.stream_interval_ms[0])
    try:
        result["decode"] = compare_decode(args, url, key)
    finally:
        stop(proc)
    save(result, args.out)
    result["load"] = load_rounds(args, key)
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def print_table(result: dict, args) -> None:
    decode, load, threads = result["decode"], result["load"], result["thread_settings"]
    one, batched = load["one_at_a_time"], load[f"slots_{args.slots}"]
    print(f"\nServe benchmark ({Path(result['gguf']).name}, {args.threads} threads, {result['machine']['cpus']} CPUs, "
          f"load avg before/after {result['loadavg_before'][0]}/{result['loadavg_after'][0]})\n")
    print(f"| {args.clients} clients, {args.requests} requests x {args.max_tokens} tokens, median of "
          f"{args.rounds} alternated rounds | one at a time | "
          f"{args.slots} slots |\n|---|---|---|")
    for label, field in (("completion tokens/s", "tokens_per_s"), ("latency p50 s", "p50_s"),
                         ("latency p99 s", "p99_s"), ("errors", "errors")):
        print(f"| {label} | {one[field]} | {batched[field]} |")
    print(f"\naggregate ratio {load['throughput_ratio']}x; single-stream decode through the server "
          f"{decode['server_decode_tok_s']} vs llama-cpp-python directly {decode['direct_decode_tok_s']} tokens/s "
          f"(ratio {decode['decode_ratio']}, same text {decode['same_text']})\n")
    print("| llama-cpp-python decode tokens/s | " + " | ".join(threads) + " |")
    print("|---|" + "---|" * len(threads))
    print("| | " + " | ".join(str(v["decode_tok_s"]) for v in threads.values()) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, default=None, help="GGUF to serve (default: bundled SmolLM2 Q4_1).")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=128, help="Requests of the load test, shared by the clients.")
    parser.add_argument("--max-tokens", type=int, default=32, help="max_tokens per load-test request.")
    parser.add_argument("--slots", type=int, default=None, help="Slots of the batching server (default: the "
                        "server's own default).")
    parser.add_argument("--rounds", type=int, default=2, help="Load-test rounds per server, alternated.")
    parser.add_argument("--kv-per-slot", dest="kv_unified", action="store_false",
                        help="Serve with one KV cache per slot instead of the server's default shared cache.")
    parser.add_argument("--decode-tokens", type=int, default=128, help="max_tokens of the decode comparison.")
    parser.add_argument("--repeats", type=int, default=3, help="Decode runs per side (median).")
    parser.add_argument("--busy", type=int, default=1, help="Busy processes competing in the contended runs.")
    parser.add_argument("--child-timeout", type=float, default=120.0,
                        help="Seconds one thread-settings measurement may take before it is recorded as timed out.")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--server-threads", type=int, default=None,
                        help="Fixed server threads (default: the server's own choice, the cores left free).")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "serve.json")
    parser.add_argument("--stream-interval-ms", type=float, nargs="+", default=[0.0],
                        help="The server's SLM_SERVE_STREAM_INTERVAL_MS (the first value, or each with --decode-only).")
    parser.add_argument("--decode-only", action="store_true",
                        help="Only the single-stream comparison, once per --stream-interval-ms value.")
    parser.add_argument("--serve-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--direct-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.gguf = args.gguf or default_gguf()
    if args.slots is None:
        from slm_assets.serve.backends import DEFAULT_SLOTS

        args.slots = DEFAULT_SLOTS
    if args.serve_only:
        serve_only(args)
        return
    if args.direct_only:
        direct_only(args)
        return
    for name in OPENMP_VARS:  # the direct baseline in this process runs with llama-cpp-python's defaults
        os.environ.pop(name, None)
    result = run_all(args)
    save(result, args.out)
    if args.decode_only:
        print("| stream interval | server / direct decode tokens/s per round | decode ratio (median) | end to end |")
        print("|---|---|---|---|")
        for interval_ms, decode in result["decode_by_stream_interval_ms"].items():
            rounds = ", ".join(f"{r['server_decode_tok_s']} / {r['direct_decode_tok_s']}" for r in decode["rounds"])
            same = all(r["same_text"] for r in decode["rounds"])
            print(f"| {interval_ms} ms | {rounds} | {decode['median_decode_ratio']:.3f} | "
                  f"{decode['median_end_to_end_ratio']:.3f} |{'' if same else ' (text differs)'}")
        return
    print_table(result, args)
    print(f"\nwrote {args.out}")
    errors = sum(result["load"][k]["errors"] for k in ("one_at_a_time", f"slots_{args.slots}"))
    if errors:
        raise SystemExit(f"{errors} errors under load")


if __name__ == "__main__":
    main()
