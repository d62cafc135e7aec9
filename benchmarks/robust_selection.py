"""Exploratory: data-free robustness selection (measured, rejected; see docs/method.md).

Generate a pool of three times the pairs rule's number of fingerprint groups
with the warfarin pairs rule (the default when this was measured), simulate 32
"pirates" by relative weight noise (sigma) on the owner alone (no data), keep
the rule's number of groups that survive most often (under its matching rule),
and compare them with the first groups of the pool on the headline zoo of
``benchmarks/design_study.py``.

    python benchmarks/robust_selection.py
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tafa_jax import nets  # noqa: E402
from tafa_jax.fingerprint import generate  # noqa: E402
from tafa_jax.pipeline import load_data, make_zoo, metrics_of, train_owner, verify_zoo  # noqa: E402
from tafa_jax.scenarios import WARFARIN  # noqa: E402
from tafa_jax.verify import ZooSuspects, verify  # noqa: E402
from tafa_jax.zoo.obfuscate import weight_noise  # noqa: E402


def main() -> int:
    k_owner, k_zoo, k_fp = jax.random.split(jax.random.key(0), 3)
    data = load_data(WARFARIN)
    net, params, _ = train_owner(WARFARIN, data, k_owner)
    zoo = make_zoo(WARFARIN, "benchmarks/results/design_zoo_headline", net, params, data, k_zoo)
    k = WARFARIN.generation.n_pairs
    fps = generate(net, params, data.domain,
                   dataclasses.replace(WARFARIN.generation, n_pairs=3 * k), k_fp)
    for sigma in (0.1, 0.2, 0.3):
        keys = jax.random.split(jax.random.key(42), 32)
        sims = nets.stack([weight_noise(params, k, sigma) for k in keys])
        res = verify(fps, [ZooSuspects(net, sims, [f"s{i}" for i in range(32)])],
                     WARFARIN.match)
        survival = np.stack([r.groups for r in res]).mean(0)
        for name, sel in ((f"most robust {k}", np.argsort(-survival, kind="stable")[:k]),
                          (f"first {k}", np.arange(k))):
            rows, _ = verify_zoo(fps.subset(sel), zoo, (net, params), WARFARIN.match)
            m = metrics_of(rows)
            print(f"sigma={sigma} {name:15s} ARUC {m['aruc']:.3f} AUC {m['roc_auc']:.3f} "
                  f"TPR@1%FPR {m['tpr_at_1fpr']:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
