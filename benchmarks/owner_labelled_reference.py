"""A reference zoo without the owner's data: the calibrated score fitted on it (warfarin).

The calibrated score (:mod:`tafa_jax.verify.calibrate`) needs a labelled
reference zoo. ``calibrated_score.py`` fits it on a second zoo trained on the
IWPC data. Here the reference zoo is trained on domain samples labelled by the
owner instead (:func:`tafa_jax.pipeline.owner_labelled_data`, as ``tafa-jax
demo`` does by default): as many ``N(0, I)`` rows as each data split has,
labelled by the owner plus Gaussian noise with the owner's test MAE. The same
recipe, from a key of its own (``run_scenario``'s reference key is the held-out
zoo's here, whose members would then share their initial weights with it).
Each table scores the two real zoos of the studies (design and held-out), with
the profile rule, pooled over keys, with the same key only, and with the same
key and the next two (as ``run_scenario`` pools three keys), as a mixture of
attacks (the default model):

- fitted on the other real zoo (``calibrated_score.py``'s rows, for reference);
- fitted on the owner-labelled zoo, every copy it made in the table (the
  library's choice: on owner-labelled samples every model errs more than on the
  data, so the utility filter measures the samples, not the attack);
- the same, without the copies its utility filter flagged;
- fitted on an owner-labelled zoo without the noise (the owner's own outputs;
  every copy is then flagged, so all are kept), to show why the noise is there;

and the matching rate. Members bit-identical to the scored zoo's (the
deterministic transforms) stay out of every table.

    python benchmarks/owner_labelled_reference.py [--keys 15] [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibrated_score import _fit  # noqa: E402
from design_study import (  # noqa: E402
    owner_and_zoos,
    profile_as_measured,
    study_parser,
    study_result,
    write_result,
)
from profile_scorer import over_keys, over_keys_cells, run_metrics, zoo_runs  # noqa: E402

from tafa_jax.fingerprint import generate  # noqa: E402
from tafa_jax.pipeline import make_zoo, owner_labelled_data  # noqa: E402
from tafa_jax.scenarios import WARFARIN  # noqa: E402
from tafa_jax.verify.calibrate import calibrated_score  # noqa: E402

KINDS = ("rtal", "ftal_large", "fineprune 0.6", "fineprune 0.8")
REFERENCES = ("the other real zoo",
              "owner-labelled, every copy (the library's)",
              "owner-labelled, utility-filtered copies only",
              "owner-labelled without noise, every copy")


def with_excluded(runs: list[dict]) -> list[dict]:
    """``runs`` with the copies the utility filter flagged labelled as copies, as
    ``calibrate_on_zoo`` keeps them (distilled copies stay out)."""
    return [{**r, "label": np.where((r["group"] == "excluded") & (r["kind"] != "distill"), 1,
                                    r["label"])} for r in runs]


def owner_labelled_zoo(out: Path, quick: bool, data, net, params, error: float,
                       name: str = "noise"):
    """The studies' owner-labelled reference zoo, ``out/owner_labelled_zoo_<size>_<name>``
    (built if missing): the headline (``quick``: small) recipe trained on domain
    samples the owner labels with Gaussian noise of std ``error``, from keys of its
    own (:func:`~design_study.owner_and_zoos`' zoo key folded with 2 and 3)."""
    size = "small" if quick else "headline"
    k_zoo = jax.random.split(jax.random.key(0), 3)[1]  # owner_and_zoos' zoo key
    sdata = owner_labelled_data(WARFARIN, data.domain, data.split_sizes, net, params, error,
                                jax.random.fold_in(k_zoo, 2))
    return make_zoo(WARFARIN, out / f"owner_labelled_zoo_{size}_{name}", net, params, sdata,
                    jax.random.fold_in(k_zoo, 3), size=size)


POOLS = {"pooled over keys": None, "same key": 1,
         "same key and the next two (as run_scenario)": 3}


def score_rows(test: list[dict], refs: dict[str, list[dict]], size: int) -> list[dict]:
    """The matching rate, then each reference's mixture on the test zoo's runs, its
    table pooled over every key, fitted on the same key only, or on the same key
    and the next two (:data:`POOLS`); members bit-identical to the test zoo's left
    out."""
    drop = frozenset(test[0]["digest"])
    rows = [over_keys("matching rate", [run_metrics(t["rate"], t, KINDS) for t in test])]
    for name, ref in refs.items():
        pooled = _fit(ref, size, drop=drop, model="mixture")
        for how, k in POOLS.items():
            runs = [run_metrics(calibrated_score(t["support"], pooled if k is None else _fit(
                [ref[(i + j) % len(ref)] for j in range(k)], size, drop=drop,
                model="mixture")), t, KINDS) for i, t in enumerate(test)]
            rows.append(over_keys(f"mixture fitted on {name}, {how}", runs))
    for row in rows:
        print(f"  {row['variant']:78s} ARUC {row['aruc']['mean']:.3f}+-{row['aruc']['sd']:.3f}"
              f" (min {min(row['aruc']['runs']):.3f}) ROC-AUC {row['roc_auc']['mean']:.3f} "
              f"TPR {row['tpr_at_1fpr']['mean']:.3f} maxneg {row['max_negative']['mean']:.2f}",
              flush=True)
    return rows


def main(argv=None) -> int:
    ap = study_parser(__doc__, 15, "small zoos, two keys (a smoke run)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    t0 = time.perf_counter()
    data, (net, params, mae), k_fp, zoos = owner_and_zoos(out, args.quick)
    built = {}
    for name, utility in (("noise", mae), ("noiseless", 0.0)):
        t = time.perf_counter()
        zoo = owner_labelled_zoo(out, args.quick, data, net, params, utility, name)
        built[name] = zoo
        print(f"owner-labelled zoo ({name}): {len(zoo.records)} members, "
              f"{sum(r.excluded for r in zoo.records)} flagged by the utility filter, "
              f"{time.perf_counter() - t:.1f} s", flush=True)
    n_keys = 2 if args.quick else args.keys
    gcfg, match = profile_as_measured()
    fingerprints = [generate(net, params, data.domain, gcfg, jax.random.fold_in(k_fp, i),
                             match=match) for i in range(n_keys)]
    size = fingerprints[0].lines_per_group
    ev = {name: zoo_runs(zoo, fingerprints, match) for name, zoo in zoos}
    noisy, noiseless = (zoo_runs(built[n], fingerprints, match) for n in ("noise", "noiseless"))
    result = study_result(data, mae, keys=n_keys, zoos={}, command=" ".join(
        ["python benchmarks/owner_labelled_reference.py",
         *(argv if argv is not None else sys.argv[1:])]),
        queries_per_suspect=fingerprints[0].queries_per_suspect,
        flagged={n: sum(r.excluded for r in z.records) for n, z in built.items()},
        reference_sizes={n: len(z.records) for n, z in built.items()})
    for name, other in (("design", "heldout"), ("heldout", "design")):
        print(f"{name} zoo:", flush=True)
        refs = dict(zip(REFERENCES, (ev[other], with_excluded(noisy), noisy,
                                     with_excluded(noiseless))))
        result["zoos"][name] = score_rows(ev[name], refs, size)
    result["wall_s"] = time.perf_counter() - t0
    write_result(out, "owner_labelled_reference_quick" if args.quick else
                 "owner_labelled_reference", result, to_markdown)
    return 0


def to_markdown(result) -> str:
    lines = ["# The calibrated score with a reference zoo trained without data (warfarin)", "",
             f"Data: {result['data']}; owner test MAE {result['owner_test_mae']:.2f}. "
             f"Machine: {result['machine'].get('cpu', '?')}. Profile rule "
             f"({result['queries_per_suspect']} queries), {result['keys']} fingerprint "
             "keys, mean ± sd; the lowest key's ARUC and the keys at 0.95 or more "
             "have columns of their own; highest negative and kind columns are means over "
             "keys. The owner-labelled reference zoos "
             f"({result['reference_sizes']['noise']} members) were trained on N(0, I) "
             "rows labelled by the owner, with noise at its test MAE or without; their "
             f"utility filters flagged {result['flagged']['noise']} and "
             f"{result['flagged']['noiseless']} members. Regenerate: "
             f"`{result['command']}`.", ""]
    for zoo, rows in result["zoos"].items():
        lines += [f"## {zoo} zoo", "",
                  "| score | ARUC | ROC-AUC | TPR@1%FPR | highest negative | lowest key | "
                  "keys >= 0.95 | " + " | ".join(KINDS) + " |",
                  "|---|---|---|---|---|---|---|" + "---|" * len(KINDS)]
        for row in rows:
            lines.append(f"| {row['variant']} | {over_keys_cells(row)} | "
                         f"{min(row['aruc']['runs']):.3f} | "
                         f"{sum(a >= 0.95 for a in row['aruc']['runs'])} of {row['keys']} | "
                         + " | ".join(f"{row['kind_means'].get(k, float('nan')):.2f}"
                                      for k in KINDS) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
