"""The version's bundle folder: merged weights, the adapter, GGUF files checked against the merged model, a
Modelfile and the benchmark report. The server and the champion loader read this folder; the export's MLflow
run logs copies of it (export.publish)."""

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from slm_assets.train.sft_data import read_split
from slm_assets.versioning import code_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuiltBundle:
    bundle: Path
    merged: Path
    best: str  # the benchmark row exported: lora_adapter or distilled_model
    report: dict  # the benchmark's report.json
    ggufs: dict[str, dict]  # qtype -> path, bytes, sha256, seconds
    parity: dict[str, dict]  # qtype -> passed, logit and agreement numbers

    @property
    def passed(self) -> bool:
        return all(p["passed"] for p in self.parity.values())

    @property
    def gguf_files(self) -> list[Path]:
        return [Path(g["path"]) for g in self.ggufs.values()]


def build_bundle(spec, used: dict[str, Path], bundle: Path, models_cache: Path) -> BuiltBundle:
    """Merge the benchmark's best adapter into the base, write GGUFs with parity results, the Modelfile and a
    copy of the benchmark report into `bundle`. `used` holds the run folders of sft, lora, distilled, benchmark."""
    from slm_assets.export.chat_format import chat_format_for
    from slm_assets.export.imatrix import chat_calibration_texts
    from slm_assets.export.merge import save_merged
    from slm_assets.export.modelfile import write_modelfile

    report = json.loads((used["benchmark"] / "report.json").read_text())
    best = report["best_model"]
    adapter = used["lora" if best == "lora_adapter" else "distilled"] / "adapter"
    merged = save_merged(spec.base_model, models_cache, adapter, bundle / "merged")
    shutil.copytree(adapter, bundle / "adapter", dirs_exist_ok=True)
    test_rows = read_split(used["sft"], "test")
    prompts = [r["prompt"][-1]["content"] for r in test_rows[: spec.export.parity_prompts]] or ["What is this model for?"]
    calibration = (chat_calibration_texts(merged, read_split(used["sft"], "train"), spec.export.importance_texts)
                   if spec.export.importance_texts else [])
    ggufs, parity = ggufs_with_parity(spec, merged, bundle, prompts, calibration)
    write_modelfile(f"{spec.name}-{spec.export.quantizations[0]}.gguf", bundle, spec.system_prompt,
                    chat_format_for(merged))
    shutil.copy(used["benchmark"] / "report.md", bundle / "benchmark.md")
    for png in used["benchmark"].glob("*.png"):  # the plots report.md links to
        shutil.copy(png, bundle / png.name)
    return BuiltBundle(bundle=bundle, merged=merged, best=best, report=report, ggufs=ggufs, parity=parity)


def ggufs_with_parity(spec, merged: Path, bundle: Path, prompts: list[str],
                      calibration: list[str]) -> tuple[dict, dict]:
    """Each configured quantisation as a GGUF in `bundle` (quantised with an importance matrix from `calibration`
    when given), compared with the merged HF model on `prompts`."""
    from slm_assets.export.gguf import export_ggufs
    from slm_assets.export.parity import check_parity

    export = spec.export
    infos = export_ggufs(merged, bundle, spec.name, export.quantizations, outtype=export.convert_outtype,
                         name=f"slm-{spec.name}",
                         metadata={"slm_assets.domain": spec.name, "slm_assets.code_version": code_version()},
                         calibration=calibration, tensor_types=export.tensor_types)
    ggufs, parity = {}, {}
    for qtype, info in infos.items():
        ggufs[qtype] = {"path": str(info.path), "bytes": info.n_bytes, "sha256": info.sha256,
                        "seconds": round(info.seconds, 2), "importance_tokens": info.importance_tokens,
                        "tensor_types": dict(export.tensor_types)}
        result = check_parity(merged, info.path, prompts, max_new_tokens=export.parity_max_new_tokens)
        parity[qtype] = {"passed": result.passed, "max_logit_diff": round(result.max_logit_diff, 5),
                         "top1_agreement": result.top1_agreement, "greedy_match_rate": result.greedy_match_rate,
                         "forced_top1_agreement": round(result.forced_top1_agreement, 4)}
        log.info("%s: %.1f MiB, parity %s", qtype, info.n_bytes / 2**20, parity[qtype])
    return ggufs, parity
