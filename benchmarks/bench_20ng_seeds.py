"""How much the 20 Newsgroups quality figures depend on the seed: svi-lda settings and
tomotopy, each run from several seeds, scored at the end.

    python benchmarks/bench_20ng_seeds.py --k 20 --seeds 0 1 2
    python benchmarks/bench_20ng_seeds.py --k 100 --seeds 0 1 2 --iterations 400

Each run is a fresh process of ``bench_20ng.py``'s workers (same data, same scoring):
svi-lda for ``--epochs`` passes with each of ``--settings`` (see ``SVI_SETTINGS`` there),
tomotopy for ``--iterations`` Gibbs iterations. The seed is ``random_state`` for svi-lda
(initial gamma, seeding documents, minibatch order) and ``seed`` for tomotopy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import describe_corpus, load_20ng, print_run_header, run_worker, table  # noqa: E402
from bench_20ng import SCRIPT, SVI_SETTINGS, describe_setting  # noqa: E402


def passes_label(setting: dict, epochs: int) -> str:
    """What a setting runs: its own sweep count (CVB0) or ``--epochs`` passes."""
    if setting.get("method") == "cvb0":
        return f"{setting['epochs']} sweeps"
    return f"{setting.get('epochs', epochs)} epochs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--settings", nargs="+",
                    default=["cvb0-auto", "batch-eta.3-auto", "batch-eta.05-a.5"],
                    help="svi-lda settings: " + " ".join(SVI_SETTINGS))
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--iterations", type=int, default=400, help="tomotopy Gibbs iterations")
    a = ap.parse_args()
    print_run_header("20 Newsgroups: seed dependence")
    print("data: " + describe_corpus(load_20ng()))
    print("settings: " + "; ".join(describe_setting(n) for n in a.settings))
    rows = []
    runs = [(f"svi-lda {n}, {passes_label(SVI_SETTINGS[n], a.epochs)}", "svi",
             {"epochs": a.epochs, **SVI_SETTINGS[n]}) for n in a.settings]
    runs.append((f"tomotopy, {a.iterations} iterations", "tomotopy",
                 {"iterations": [a.iterations]}))
    for name, worker, params in runs:
        for seed in a.seeds:
            r = run_worker(SCRIPT, worker, {"k": a.k, "quick": False, "seed": seed, **params})
            if "error" in r:
                rows.append({"run": name, "seed": seed, "note": r["error"][:100]})
                continue
            scores = r["trace"][-1] if worker == "tomotopy" else r
            rows.append({"run": name, "seed": seed, "wall": scores["wall"],
                         "perplexity": scores["perplexity"], "npmi": scores["npmi"]})
            print(f"  {name}, seed {seed}: {scores['wall']:.1f} s", flush=True)
    print(f"\n### K = {a.k}\n")
    print(table(rows, [("run", "run", ""), ("seed", "seed", ""), ("wall", "wall s", ".2f"),
                       ("perplexity", "held-out ppl", ",.0f"), ("npmi", "NPMI", ".3f"),
                       ("note", "note", "")]))
    print()
    for name, *_ in runs:
        done = [r for r in rows if r["run"] == name and "npmi" in r]
        if done:
            ppl = statistics.median(r["perplexity"] for r in done)
            npmi = [r["npmi"] for r in done]
            print(f"- {name}: perplexity median {ppl:,.0f}, NPMI median "
                  f"{statistics.median(npmi):.3f}, min {min(npmi):.3f}")


if __name__ == "__main__":
    main()
