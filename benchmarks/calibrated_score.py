"""The calibrated score against the matching rate, warfarin, two zoos, many keys.

The matching rate counts groups matched or not. The calibrated score
(:mod:`tafa_jax.verify.calibrate`) pools every group's evidence count (how many
of its lines show the owner's kink) as a likelihood ratio whose table is fitted
on a labelled reference zoo. Here the table is always fitted on the *other*
zoo (design -> held-out and held-out -> design; same recipe, every trained
model from other keys; the deterministic transforms, magnitude pruning alone,
fp16 and int8, give the same model in both zoos and are left out of the
tables), so no suspect scored helped fit its own table:

- with the same fingerprint key only (what a user with one fingerprint set and
  one reference zoo does);
- pooled over all keys (the table belongs to the rule, not to the key);
- pooled, without making the table non-decreasing (to show why it is);
- pooled, every attack (recipe group and variant) weighed alike in the copies'
  distribution, whatever number of copies the zoo made of it (and so with the
  same key only);
- a mixture of the attacks' own distributions, a suspect being one attack's
  copy (pooled over keys, and with the same key only; and pooled without making
  each attack's table non-decreasing, to show why it is).

and, without any table, a graded group score (a group scores from 0, 0.1 T
lines below its quorum, up to 1 at the quorum; the pairs rule's quorum is the
whole group, so there it is the matching rate).

For both rules (profile, pairs); ARUC, ROC-AUC, TPR@1%FPR, kind means,
highest negative score and the distilled copies' mean score, mean ± sd over
keys.

    python benchmarks/calibrated_score.py [--keys 15] [--out benchmarks/results] [--quick]

With ``--layouts 5x20 10x10 20x5`` it scores other layouts of the profile rule
instead: G groups of L lines, the same budget (100 lines, 4100 queries) but
generated anew, so G owner boundaries with L lines on each (other lines than
the rule's); matched as ``WARFARIN.match_for`` says (the quorum for the rule's
own 20 lines, every line otherwise). Writes ``calibrated_score_layouts``.

With ``--budget`` it measures the profile rule at the issue's query budgets, 10,
30, 100 and 300 lines: 1 group of 10, 3 of 10, 5 of 20 (the rule) and 15 of 20,
every layout matched with the rule's quorum (a fraction, 80 % of a group's
lines; ``tafa-jax verify`` matches a file whose groups are not 20 lines on every
line, ``Scenario.match_for``). Writes ``calibrated_score_budget``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from design_study import (  # noqa: E402
    owner_and_zoos,
    profile_as_measured,
    study_parser,
    study_result,
    write_result,
)
from profile_scorer import over_keys, over_keys_cells, run_metrics, zoo_runs  # noqa: E402

from tafa_jax.fingerprint import generate  # noqa: E402
from tafa_jax.scenarios import WARFARIN, Scenario  # noqa: E402
from tafa_jax.verify.calibrate import calibrated_score, fit_calibration  # noqa: E402
from tafa_jax.verify.score import quorum_need  # noqa: E402

KINDS = ("rtal", "ftal_large", "fineprune 0.6", "fineprune 0.8")
BUDGET_LAYOUTS = ("1x10", "3x10", "5x20", "15x20")  # 10, 30, 100 and 300 lines
VARIANTS = ("matching rate (the rule's score)",
            "graded: a group scores 0 -> 1 from 0.1 T below its quorum to the quorum",
            "calibrated on the other zoo, same key",
            "calibrated on the other zoo, all keys pooled",
            "calibrated on the other zoo, all keys pooled, table not monotone",
            "calibrated on the other zoo, all keys pooled, every attack weighed alike",
            "calibrated on the other zoo, same key, every attack weighed alike",
            "calibrated on the other zoo, all keys pooled, mixture of attacks",
            "calibrated on the other zoo, same key, mixture of attacks",
            "calibrated on the other zoo, all keys pooled, mixture of attacks, not monotone")


def _fit(runs: list[dict], size: int, monotone: bool = True, drop=frozenset(),
         model: str = "pooled"):
    """The table (``fit_calibration``'s ``model``) fitted on ``runs``' labelled
    suspects, leaving out members whose params digest is in ``drop``."""
    keep = [~np.isin(r["digest"], list(drop)) for r in runs]
    pos = np.concatenate([r["support"][(r["label"] == 1) & k] for r, k in zip(runs, keep)])
    neg = np.concatenate([r["support"][(r["label"] == 0) & k] for r, k in zip(runs, keep)])
    attacks = np.concatenate([r["attack"][(r["label"] == 1) & k] for r, k in zip(runs, keep)])
    return fit_calibration(pos, neg, size, monotone=monotone, attacks=attacks, model=model)


def score_rows(test: list[dict], ref: list[dict], size: int, quorum: float,
               kinds: tuple[str, ...] = KINDS) -> list[dict]:
    """Every variant on the test zoo's runs, tables fitted on ``ref`` (the other zoo);
    ``quorum``: the fraction of a group's lines its match needs (1 for pairs);
    ``kinds``: the positive kinds whose mean scores are kept. Members of ``ref``
    that are bit-identical to one of the test zoo's (same params digest: the
    deterministic transforms, magnitude pruning alone, fp16, int8) stay out of
    the tables, so no suspect helps fit the table that scores it."""
    drop = frozenset(test[0]["digest"])
    pooled, loose = _fit(ref, size, drop=drop), _fit(ref, size, monotone=False, drop=drop)
    even = _fit(ref, size, drop=drop, model="attacks alike")
    mixed = _fit(ref, size, drop=drop, model="mixture")
    mixed_loose = _fit(ref, size, monotone=False, drop=drop, model="mixture")
    need = quorum_need(quorum, size)

    def graded(support):  # 0 at 0.1 T below the quorum, 1 at it
        part = np.clip((support / size - (quorum - 0.1)) / 0.1, 0.0, 1.0)
        return np.where(support >= need, 1.0, part).mean(axis=-1)

    scorers = dict(zip(VARIANTS, (
        lambda i, t: t["rate"],
        lambda i, t: graded(t["support"]),
        lambda i, t: calibrated_score(t["support"], _fit([ref[i]], size, drop=drop)),
        lambda i, t: calibrated_score(t["support"], pooled),
        lambda i, t: calibrated_score(t["support"], loose),
        lambda i, t: calibrated_score(t["support"], even),
        lambda i, t: calibrated_score(t["support"], _fit([ref[i]], size, drop=drop,
                                                         model="attacks alike")),
        lambda i, t: calibrated_score(t["support"], mixed),
        lambda i, t: calibrated_score(t["support"], _fit([ref[i]], size, drop=drop,
                                                         model="mixture")),
        lambda i, t: calibrated_score(t["support"], mixed_loose))))
    rows = []
    for name, scorer in scorers.items():
        row = over_keys(name, [run_metrics(scorer(i, t), t, kinds) for i, t in enumerate(test)])
        rows.append(row)
        print(f"  {name:66s} ARUC {row['aruc']['mean']:.3f}+-{row['aruc']['sd']:.3f} "
              f"ROC-AUC {row['roc_auc']['mean']:.3f} TPR {row['tpr_at_1fpr']['mean']:.3f} "
              f"maxneg {row['max_negative']['mean']:.2f} {row['kind_means']}", flush=True)
    return rows


def layout_rules(ap: argparse.ArgumentParser, sc: Scenario, layouts: list[str],
                 keep_quorum: bool = False) -> dict[str, tuple]:
    """``{name: (generation, match)}``: the scenario's profile rule regrouped as each
    ``"GxL"`` of ``layouts`` (G groups of L lines), matched as ``sc.match_for`` says
    (``keep_quorum``: with the rule's own quorum); a malformed layout is a usage
    error of ``ap``."""
    gen, match = profile_as_measured(sc)
    rules = {}
    for layout in layouts:
        try:
            groups, size = (int(n) for n in layout.split("x"))
        except ValueError:
            groups = size = 0
        if groups < 1 or size < 1:
            ap.error(f"--layouts takes GxL, groups and lines per group >= 1, got {layout!r}")
        gcfg = dataclasses.replace(gen, n_pairs=groups, siblings=size)
        rules[f"profile, {groups} groups of {size}"] = (
            gcfg, match if keep_quorum else sc.match_for(gcfg.probes, size))
    return rules


def main(argv=None) -> int:
    ap = study_parser(__doc__, 15, "small zoo, two keys (a smoke run)")
    ap.add_argument("--layouts", nargs="+", metavar="GxL",
                    help="regroup the profile rule's lines: G groups of L lines each")
    ap.add_argument("--budget", action="store_true",
                    help="the profile rule at 10, 30, 100 and 300 lines, the rule's quorum")
    args = ap.parse_args(argv)
    if args.budget and args.layouts:
        ap.error("--budget and --layouts are exclusive")
    if args.budget:
        args.layouts = list(BUDGET_LAYOUTS)
    rules = {"profile": profile_as_measured(), "pairs": WARFARIN.rule("pairs")}
    if args.layouts:
        rules = layout_rules(ap, WARFARIN, args.layouts, keep_quorum=args.budget)
    out = Path(args.out)
    t0 = time.perf_counter()
    data, (net, params, mae), k_fp, zoos = owner_and_zoos(out, args.quick)
    n_keys = 2 if args.quick else args.keys
    result = study_result(data, mae, keys=n_keys, rules={})
    result["command"] = " ".join(["python benchmarks/calibrated_score.py",
                                  *(argv if argv is not None else sys.argv[1:])])
    for rule, (gcfg, match) in rules.items():
        fingerprints = [generate(net, params, data.domain, gcfg, jax.random.fold_in(k_fp, i),
                                 match=match)
                        for i in range(n_keys)]
        size = fingerprints[0].lines_per_group
        ev = {name: zoo_runs(zoo, fingerprints, match) for name, zoo in zoos}
        tables = {}
        for name, other in (("design", "heldout"), ("heldout", "design")):
            print(f"{rule}, {name} zoo (tables fitted on the {other} zoo):", flush=True)
            quorum = match.profile_quorum if gcfg.probes > 3 else 1.0
            tables[name] = score_rows(ev[name], ev[other], size, quorum)
        cal = _fit(ev["design"], size, drop=frozenset(ev["heldout"][0]["digest"]))
        kinds = sorted({k for r in ev["design"] for k in r["kind"][r["label"] == 1]})
        hist = {name: {k: np.bincount(np.concatenate(
                    [r["support"][((r["kind"] == k) & (r["label"] == 1)) if k != "independent"
                                  else r["label"] == 0].ravel() for r in runs]),
                    minlength=size + 1).tolist() for k in (*kinds, "independent")}
                for name, runs in ev.items()}
        result["rules"][rule] = {
            "support_histograms_by_kind": hist,
            "queries_per_suspect": fingerprints[0].queries_per_suspect, "group_size": size,
            "zoos": tables,
            "table_fitted_on_design_zoo": {"llr": cal.llr.tolist(),
                                           "copies": cal.copies.tolist(),
                                           "independent": cal.independent.tolist()}}
    result["wall_s"] = time.perf_counter() - t0
    name = ("calibrated_score_budget" if args.budget else
            "calibrated_score_layouts" if args.layouts else "calibrated_score")
    write_result(out, name + "_quick" if args.quick else name, result, to_markdown)
    return 0


def to_markdown(result) -> str:
    lines = ["# The calibrated score against the matching rate (warfarin)", "",
             f"Data: {result['data']}; owner test MAE {result['owner_test_mae']:.2f}. "
             f"Machine: {result['machine'].get('cpu', '?')}. {result['keys']} fingerprint "
             "keys, mean ± sd; kind columns, highest negative and distillation are means "
             "over keys. Every table is fitted on the other zoo. Regenerate: "
             f"`{result.get('command', 'python benchmarks/calibrated_score.py')}`.", ""]
    for rule, r in result["rules"].items():
        for zoo, rows in r["zoos"].items():
            title = f"{rule} rule" if rule in ("profile", "pairs") else rule
            lines += [f"## {title} ({r['queries_per_suspect']} queries, groups of "
                      f"{r['group_size']}), {zoo} zoo", "",
                      "| score | ARUC | ROC-AUC | TPR@1%FPR | highest negative | "
                      + " | ".join(KINDS) + " | distillation |",
                      "|---|---|---|---|---|" + "---|" * len(KINDS) + "---|"]
            for row in rows:
                dist = row["distillation_mean"]
                lines.append(f"| {row['variant']} | {over_keys_cells(row)} | "
                             + " | ".join(f"{row['kind_means'].get(k, float('nan')):.2f}"
                                          for k in KINDS)
                             + f" | {'-' if dist is None else f'{dist:.2f}'} |")
            lines.append("")
        t = r["table_fitted_on_design_zoo"]
        lines += [f"{rule} rule, the table fitted on the design zoo (all keys; members shared "
                  "with the held-out zoo left out), evidence "
                  f"count: llr (copies' groups / independent models' groups):", "",
                  ", ".join(f"{s}: {v:+.1f} ({c}/{n})" for s, (v, c, n) in enumerate(
                      zip(t["llr"], t["copies"], t["independent"]))), "",
                  f"{rule} rule, groups of each kind's copies (and of every independent model) "
                  "by evidence count "
                  f"0..{r['group_size']} (all keys):", ""]
        for zoo, kinds in r["support_histograms_by_kind"].items():
            lines += [f"- {zoo} zoo, {k}: {h}" for k, h in kinds.items()]
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
