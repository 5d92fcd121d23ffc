"""Decoding GGUF files of one model on this machine with llama.cpp's extra buffer types (AMX, weight repacking) as
llama-cpp-python sets them by default, and as `open_llama` opens them (off on a build that reports AMX). Each run is
a child process, so a crash is recorded (its exit code) instead of ending the benchmark.

    .venv/bin/python bench/amx_decode.py /tmp/qt/m-q8_0.gguf /tmp/qt/m-q4_k_m.gguf ... [--out FILE]

Writes bench/results/amx_decode.json: per file and way of opening, exit code and greedy decode tokens/s.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = """
import json, sys, time
import llama_cpp
from slm_assets.llama_models import open_llama
path, way, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
kwargs = dict(n_ctx=512, n_threads=2)
llm = open_llama(path, **kwargs) if way == "open_llama" else llama_cpp.Llama(model_path=path, verbose=False, **kwargs)
started = time.perf_counter()
out = llm.create_completion("The charging station", max_tokens=tokens, temperature=0)
print(json.dumps({"tokens": out["usage"]["completion_tokens"], "seconds": time.perf_counter() - started}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ggufs", nargs="+", type=Path)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "amx_decode.json")
    args = parser.parse_args()

    import llama_cpp

    from slm_assets.llama_models import amx_build

    runs = []
    for gguf in args.ggufs:
        for way in ("llama_cpp_defaults", "open_llama"):
            done = subprocess.run([sys.executable, "-c", CHILD, str(gguf), way, str(args.tokens)], capture_output=True,
                                  text=True, timeout=600, cwd=ROOT)
            run = {"gguf": gguf.name, "way": way, "exit_code": done.returncode}
            if done.returncode == 0:
                result = json.loads(done.stdout.strip().splitlines()[-1])
                run["tokens_per_s"] = round(result["tokens"] / result["seconds"], 1)
            runs.append(run)
            print(run, flush=True)
    record = {
        "what": "greedy decode of a fixed prompt, 2 threads, each run in its own process: llama-cpp-python's defaults "
                "(extra buffer types on) against open_llama (off on an AMX build)",
        "tokens": args.tokens, "amx_build": amx_build(), "runs": runs,
        "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "load_average": os.getloadavg(),
        "llama_cpp_python": llama_cpp.__version__, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
