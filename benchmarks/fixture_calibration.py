"""The calibrated score on the fashion and skin fixtures: two fixture zoos, tables
fitted on the other one.

As ``benchmarks/calibrated_score.py`` does for warfarin. The fixture study's
owner and small zoo, plus a second small zoo of the same recipe built from
another key. Every table is fitted on the other zoo, leaving out the members
that are the same model in both (deterministic transforms: pruning alone, fp16,
int8). For each rule, the
matching rate and the calibrated score are given over ``--keys`` fingerprint
keys: ARUC, ROC-AUC, TPR@1%FPR, the highest negative score, the mean score of
each positive kind, and the distilled copies' mean. The rules are the
scenario's pairs rule and its best profile layout on the fixture (the default): for
fashion and skin their provisional profile rules (40 d and 20 d, the fixture
study's rows). Generation replaces the groups the owner fails; a rule that then finds too
few groups is recorded with the error (``--candidates`` searches more lines, for
every rule; each rule's count is recorded).

    python benchmarks/fixture_calibration.py --scenario fashion --synthetic
    python benchmarks/fixture_calibration.py --scenario skin --synthetic --keys 2 --candidates 2048
    python benchmarks/fixture_calibration.py --scenario skin --run-dir RUN --keys 2
        # a finished `tafa-jax run --calibrate data --out RUN`: its zoo and reference zoo
    python benchmarks/fixture_calibration.py --scenario skin --run-dir RUN --keys 3 \
        --layouts 20x5 25x4 33x3 50x2
        # the scenario's profile rule (its default), its lines regrouped: G groups of L

With ``--layouts`` the rules are the scenario's own profile rule (skin: 40 d, 8192
candidate lines) at each layout, generated anew and matched as
``Scenario.match_for`` says; output ``*_layouts``.

The committed small-fixture skin table (``fixture_calibration_skin.md``) was
measured with an owner trained at a constant rate, before skin's recipe took its
cosine schedule. With 3 (fashion) or 4 (skin) independent models per zoo, a table's independent
side rests on 60-80 groups and each ARUC on 3-4 negatives: these rank scores on
a fixture, they are not results.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibrated_score import layout_rules, score_rows  # noqa: E402
from design_study import write_result  # noqa: E402
from fixture_study import fixture, fixture_parser, variants, zoo_counts  # noqa: E402
from profile_scorer import over_keys_cells, zoo_runs  # noqa: E402

from tafa_jax.fingerprint import generate  # noqa: E402
from tafa_jax.pipeline import machine_info  # noqa: E402
from tafa_jax.scenarios import get_scenario  # noqa: E402

# the profile layouts these tables were measured with: fashion's provisional rule, and
# skin's previous one (its rule is now the 40 d row, chosen on the headline zoo)
BEST_PROFILE = {"fashion": "profile lines over 40 d, 20 groups of 5",
                "skin": "profile lines over 20 d, 20 groups of 5"}


def main(argv=None) -> int:
    ap = fixture_parser(__doc__)
    ap.add_argument("--keys", type=int, default=3)
    ap.add_argument("--candidates", type=int,
                    help="candidate lines per rule (default: each rule's own)")
    ap.add_argument("--layouts", nargs="+", metavar="GxL",
                    help="the scenario's profile rule regrouped: G groups of L lines each")
    ap.add_argument("--choose-from", type=int, default=0, metavar="N",
                    help="profile rules: generate a pool of N groups and keep those the "
                         "owner's own magnitude-pruned copies match most (default 0: none)")
    args = ap.parse_args(argv)
    if args.keys < 1:
        ap.error(f"--keys must be >= 1, got {args.keys}")
    if args.choose_from < 0:
        ap.error(f"--choose-from must be >= 0, got {args.choose_from}")
    sc = get_scenario(args.scenario)
    if args.layouts:
        rules = layout_rules(ap, sc, args.layouts)
    else:
        named = {v[1]: (v[2], v[3]) for v in variants(sc)}
        rules = {"pairs": sc.rule("pairs"),
                 BEST_PROFILE[sc.name]: named[BEST_PROFILE[sc.name]]}
    if args.choose_from:
        rules = {(f"{name}, chosen from {args.choose_from} by pruning" if g.probes > 3
                  else name): ((dataclasses.replace(g, choose_from=args.choose_from), m)
                               if g.probes > 3 else (g, m))
                 for name, (g, m) in rules.items()}
    t0 = time.perf_counter()
    fx = fixture(sc, Path(args.out), args.synthetic, args.data_dir, heldout=True,
                 run_dir=args.run_dir)
    net, params = fx["net"], fx["params"]
    result = {"scenario": sc.name, "data": fx["label"], "data_source": fx["source"],
              "owner_utility": fx["utility"], "keys": args.keys, "machine": machine_info(),
              "zoo_size": fx["zoo_size"], "run_dir": args.run_dir,
              "zoos": {name: dict(zip(("positives", "negatives"), zoo_counts(zoo)))
                       for name, zoo in fx["zoos"]}, "rules": {}}
    print(f"{sc.name}: {fx['label']}; zoos {result['zoos']}", flush=True)
    for rule, (gcfg, mcfg) in rules.items():
        if args.candidates is not None:
            gcfg = dataclasses.replace(gcfg, n_candidates=args.candidates)
        try:
            fingerprints = [generate(net, params, fx["domain"], gcfg,
                                     jax.random.fold_in(fx["k_fp"], i), match=mcfg)
                            for i in range(args.keys)]
        except ValueError as err:  # too few groups: recorded, the other rule still runs
            print(f"{rule}: {err}", flush=True)
            result["rules"][rule] = {"error": str(err), "candidates": gcfg.n_candidates}
            continue
        size = fingerprints[0].lines_per_group
        ev = {name: zoo_runs(zoo, fingerprints, mcfg) for name, zoo in fx["zoos"]}
        kinds = tuple(sorted({k for runs in ev.values() for r in runs
                              for k in r["kind"][r["label"] == 1]}))
        quorum = mcfg.profile_quorum if gcfg.probes > 3 else 1.0
        tables = {}
        for name, other in (("design", "heldout"), ("heldout", "design")):
            print(f"{rule}, {name} zoo (tables fitted on the {other} zoo):", flush=True)
            tables[name] = score_rows(ev[name], ev[other], size, quorum, kinds)
        result["rules"][rule] = {"queries_per_suspect": fingerprints[0].queries_per_suspect,
                                 "candidates": gcfg.n_candidates,
                                 "group_size": size, "zoos": tables,
                                 "owner_failed_per_key": [
                                     sum(c.get("owner_failed", 0) for c in f.meta["search"])
                                     for f in fingerprints]}
    result["wall_s"] = time.perf_counter() - t0
    result["command"] = " ".join(["python benchmarks/fixture_calibration.py",
                                  *(argv if argv is not None else sys.argv[1:])])
    write_result(Path(args.out), f"fixture_calibration_{sc.name}"
                 + ("_run" if args.run_dir else "") + ("_layouts" if args.layouts else "")
                 + (f"_{args.tag}" if args.tag else ""),
                 result, to_markdown)
    return 0


def to_markdown(result) -> str:
    z = result["zoos"]
    few = min(z["design"]["negatives"], z["heldout"]["negatives"]) < 10
    source = (f"the owner, zoo and reference zoo of `tafa-jax run --out {result['run_dir']}`"
              if result.get("run_dir") else "the fixture's owner and zoos")
    what = "headline run" if result.get("run_dir") else "fixture"
    lines = [f"# The calibrated score on the {result['scenario']} {what}", "",
             f"**Data: {result['data']}.** Two {result.get('zoo_size', 'small')} zoos of the "
             f"same recipe ({source}; design: "
             f"{z['design']['positives']} positives, {z['design']['negatives']} negatives; "
             f"held-out: {z['heldout']['positives']}, {z['heldout']['negatives']}); every "
             f"table fitted on the other zoo; {result['keys']} fingerprint keys, mean ± sd "
             "(kind columns, highest negative and distillation: means over keys). "
             + ("With 3-4 negatives per zoo these rank scores; they are not results. "
                if few else "")
             + "Regenerate: `"
             + result.get("command", "python benchmarks/fixture_calibration.py --scenario "
                          f"{result['scenario']} ...") + "`.", ""]
    for rule, r in result["rules"].items():
        if "error" in r:
            lines += [f"## {rule}: not scored ({r['candidates']} candidate lines)", "",
                      f"{r['error']}", ""]
            continue
        for zoo, rows in r["zoos"].items():
            kinds = list(rows[0]["kind_means"])
            lines += [f"## {rule} ({r['queries_per_suspect']} queries, groups of "
                      f"{r['group_size']}), {zoo} zoo", "",
                      "| score | ARUC | ROC-AUC | TPR@1%FPR | highest negative | distillation "
                      "| worst positive kind | " + " | ".join(kinds) + " |",
                      "|---|---|---|---|---|---|---|" + "---|" * len(kinds)]
            for row in rows:
                km = row["kind_means"]
                worst = min(km, key=lambda k: km[k])
                dist = row["distillation_mean"]
                lines.append(f"| {row['variant']} | {over_keys_cells(row)} | "
                    + f"{'-' if dist is None else f'{dist:.2f}'} | {worst} ({km[worst]:.2f}) | "
                    + " | ".join(f"{km[k]:.2f}" for k in kinds) + " |")
            lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
