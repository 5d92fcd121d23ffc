"""Opening GGUF files in llama.cpp (`slm_assets.llama_models.open_llama`)."""

import subprocess
import sys

from slm_assets.testing.tiny_models import SMOLLM2_VOCAB, tiny_llama

DECODE = """
import sys
from slm_assets.llama_models import open_llama
llm = open_llama(sys.argv[1], n_ctx=128, n_threads=2)
print(repr(llm.create_completion("The charging station", max_tokens=4, temperature=0)["choices"][0]["text"]))
"""


def test_a_q8_0_file_with_amx_sized_rows_decodes(tmp_path, smollm2_tokenizer_dir):
    """Rows of 256 are what llama.cpp's AMX backend takes: on a Sapphire Rapids build that backend segfaulted in the
    first decode of such a q8_0 file (the demo died in benchmark_report's latency run); on other CPUs this checks
    plain decoding. In a child process, so a crash fails the test instead of ending the run."""
    from slm_assets.export.gguf import export_ggufs

    model_dir = tmp_path / "hf"
    tiny_llama(SMOLLM2_VOCAB, 256, 512, seed=0, max_position_embeddings=1024, tie_word_embeddings=True,
               bos_token_id=1, eos_token_id=2, pad_token_id=2).save_pretrained(model_dir)
    for item in smollm2_tokenizer_dir.iterdir():
        (model_dir / item.name).write_bytes(item.read_bytes())
    gguf = export_ggufs(model_dir, tmp_path, "tiny", ["q8_0"])["q8_0"].path

    done = subprocess.run([sys.executable, "-c", DECODE, str(gguf)], capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, f"decoding {gguf.name} ended with {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.strip().startswith("'")
