"""The DPO phase (`train.dpo`) on a materialised domain's newest SFT adapter, outside the graph, so that its effect
on the gold questions can be measured against the SFT adapter it started from (bench/gold.py --adapter).

    SLM_WAREHOUSE_DIR=warehouse .venv/bin/python bench/dpo.py --domain ev_charging
    SLM_WAREHOUSE_DIR=warehouse .venv/bin/python bench/gold.py --domain ev_charging --models lora_adapter \\
        --adapter warehouse/artifacts/ev_charging/dpo_bench/adapter --out bench/results/gold_ev_charging_dpo.json
    .venv/bin/python bench/compare_gold.py SFT_GOLD.json bench/results/gold_ev_charging_dpo.json \
        --gold domains/gold/ev_charging.jsonl --label "SFT -> SFT+DPO" --out bench/results/gold_ev_charging_dpo_vs_sft.json

The domain's own `train` settings apply with `dpo.enabled`; the adapter goes to
<warehouse>/artifacts/<domain>/dpo_bench/adapter. Writes bench/results/dpo_<domain>.json (pairs by rejection reason,
steps, loss and reward margin, wall time, machine).
"""

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domain", required=True)
    args = parser.parse_args()

    from slm_assets.artifacts import latest_run_dir
    from slm_assets.domains import load_domain
    from slm_assets.settings import Settings
    from slm_assets.train.dpo import train_dpo
    from slm_assets.train.sft_data import read_split

    settings, spec = Settings(), load_domain(args.domain)
    artifacts = settings.warehouse_dir / "artifacts" / spec.name
    sft_adapter = latest_run_dir(artifacts / "lora") / "adapter"
    train = spec.train.model_copy(update={"dpo": spec.train.dpo.model_copy(update={"enabled": True})})
    load_before = os.getloadavg()
    summary = train_dpo(spec.base_model, settings.models_cache_dir, read_split(latest_run_dir(artifacts / "sft"), "train"),
                        sft_adapter, artifacts / "dpo_bench", train)
    print(f"{summary.pairs} pairs from {summary.candidates} SFT answers {summary.rejected_by_reason}; {summary.steps} "
          f"steps, loss {summary.loss_first} -> {summary.loss_last}, margin {summary.reward_margin_last}, "
          f"{summary.wall_s:.0f} s")
    out = ROOT / "bench" / "results" / f"dpo_{spec.name}.json"
    out.write_text(json.dumps({
        "domain": spec.name, "sft_adapter": str(sft_adapter), "dpo_adapter": summary.adapter_dir,
        "dpo": train.dpo.model_dump(), "pairs": summary.pairs, "candidates": summary.candidates,
        "rejected_by_reason": summary.rejected_by_reason, "steps": summary.steps, "loss_first": summary.loss_first,
        "loss_last": summary.loss_last, "reward_margin_last": summary.reward_margin_last,
        "wall_s": round(summary.wall_s, 1), "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(), "machine": platform.platform(), "load_average_before": load_before,
        "load_average_after": os.getloadavg()}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
