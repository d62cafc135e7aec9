"""The design study's rule ablation on the fashion and skin scenarios.

The same owner, zoo and key for every variant of one scenario; for each: ARUC,
ROC-AUC, TPR@1%FPR, the worst positive kind's mean score, the highest negative
score, distillation on its own column, queries per suspect. Real data when it
is there; on this project's offline machines only fixtures are, and the output
says which data each table used:

    python benchmarks/fixture_study.py --scenario fashion --synthetic
    python benchmarks/fixture_study.py --scenario skin --synthetic   # DermaMNIST-format
                                                                     # npz of random images
    python benchmarks/fixture_study.py --scenario skin --data-dir dermamnist.npz  # real
    python benchmarks/fixture_study.py --scenario fashion --synthetic \
        --blocks length --key-index 1      # one block again, with another fingerprint key
    python benchmarks/fixture_study.py --scenario skin --synthetic \
        --blocks length --owner-check     # the owner checked against its own groups
    tafa-jax run --scenario skin --synthetic --zoo-size headline --calibrate data --out RUN
    python benchmarks/fixture_study.py --scenario skin --run-dir RUN --blocks length \
        --owner-check --candidates 8192     # re-score a finished run's owner and zoo

Owner and zoo are the small configuration (``--zoo-size small``) with few owner
steps, as the ``tafa-jax run`` smoke commands in docs/method.md; with ``--run-dir``
they are a finished run's (any zoo size; nothing is trained). The skin tables
committed before skin's owner recipe took its cosine schedule (every
``fixture_study_skin*`` table) were measured with owners trained at a constant
rate; a rerun trains with the scenario's recipe of now, and its table says which.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from design_study import score_variant, write_result  # noqa: E402

from tafa_jax.data import Domain, write_dermamnist_fixture  # noqa: E402
from tafa_jax.fingerprint import GenerationConfig, SelectConfig  # noqa: E402
from tafa_jax.io import read_json  # noqa: E402
from tafa_jax.pipeline import (  # noqa: E402
    load_data,
    load_owner,
    machine_info,
    make_zoo,
    owner_training_steps,
    train_owner,
)
from tafa_jax.scenarios import Scenario, get_scenario  # noqa: E402
from tafa_jax.verify import MatchConfig  # noqa: E402
from tafa_jax.zoo import load_zoo  # noqa: E402

OWNER_STEPS = {"fashion": 20, "skin": 30}


def variants(sc: Scenario, n_layers: int = 1
             ) -> list[tuple[str, str, GenerationConfig, MatchConfig]]:
    """The rule steps of the warfarin study that carry over to any network; with
    ``n_layers`` > 1 (the owner's ReLU layers), the default rule on the neurons of
    ``Network.kink_layout()``'s layers 0, 1 and ``n_layers - 1`` alone (depth order
    for the generator; for the ResNet 0 and 1 are block layer1_0's ReLUs and the
    last is the stem's)."""
    g, m = sc.generation, sc.match
    d = g.distances[0]
    single = dataclasses.replace(g, n_pairs=g.n_pairs * g.siblings, siblings=1)
    paper = dataclasses.replace(single, direction="line",
                                select=SelectConfig("margin", 1, 1.0, 0.0))
    rel = MatchConfig(mode="relative", rho=0.5)
    plain = dataclasses.replace(m, same_sign=False)
    kink = dataclasses.replace(g, select=dataclasses.replace(g.select, rule="kink"))
    t = g.siblings
    out = [
        ("rule", f"TAFA.md first rule: line pairs, d={d:g}, relative rho=0.5", paper, rel),
        ("rule", "+ pairs along the boundary normal",
         dataclasses.replace(paper, direction="normal"), rel),
        ("rule", f"+ absolute kink test (beta={m.beta:g}), steepest first", single, plain),
        ("rule", f"+ {t} sibling pairs per group", g, plain),
        ("rule", "+ a group's bends all the same way vs the owner's (DEFAULT)", g, m),
        ("rule", "default, largest kinks first", kink, m),
        ("rule", "default, bend directions agree (min_cos=0.9)", g,
         dataclasses.replace(m, min_cos=0.9)),
    ]
    for i in sorted({0, 1, n_layers - 1} if n_layers > 1 else set()):
        out.append(("layer", f"default rule, ReLU layer {i} of {n_layers} only",
                    dataclasses.replace(g, select=dataclasses.replace(g.select, layers=(i,))),
                    m))
    for k in (3, 10):
        out.append(("budget", f"default rule, {k} groups ({k * t} pairs)",
                    dataclasses.replace(g, n_pairs=k), m))
    for f in (0.5, 2.0):
        out.append(("distance", f"default rule, d={f * d:g}",
                    dataclasses.replace(g, distances=(f * d,)), m))
    # warfarin's profile lines carried over by scale: 41 probes over 5 d on the pairs'
    # candidate lines, lined-up kinks with the same jump (not tuned here)
    prof = dataclasses.replace(g, probes=41, distances=(5 * d,), line_length=g.grid * d)
    prof_match = dataclasses.replace(m, same_sign=False, profile_tol=1, profile_jump_tol=0.5)
    prof_kink = dataclasses.replace(prof, select=dataclasses.replace(prof.select, rule="kink"))
    # and warfarin's layout: 5 groups of 20 lines, the kink on 16 of them
    few = dataclasses.replace(prof_kink, n_pairs=5, siblings=20)
    out += [("profile", "profile lines: 41 probes over 5 d, same jump", prof, prof_match),
            ("profile", "profile lines, largest kinks first", prof_kink, prof_match),
            ("profile", "largest kinks, 5 groups of 20 lines, kink on 16 of 20", few,
             dataclasses.replace(prof_match, profile_quorum=0.8))]
    # the profile's length: warfarin's 2.0 is 5 of its pair distances, but a deep
    # network's boundaries move further under pruning and fine-tuning; longer lines
    # need more lines per group to keep chance kinks out (every line of 5, 8 of 10);
    # 10 clean siblings are rarer on the ResNet: at least 2048 candidate lines
    for mult, (groups, lines) in LENGTHS:
        lay = dataclasses.replace(prof, distances=(mult * d,), n_pairs=groups, siblings=lines,
                                  line_length=max(prof.line_length, 4 * mult * d),
                                  n_candidates=max(g.n_candidates, 2048) if lines > 5
                                  else g.n_candidates)
        out.append(("length", f"profile lines over {mult} d, {groups} groups of {lines}", lay,
                    dataclasses.replace(prof_match,
                                        profile_quorum=0.8 if lines >= 10 else 1.0)))
    return out


# (length in pair distances d, (groups, lines per group)); 41 probes, ~4100 queries
LENGTHS = ((10, (20, 5)), (20, (20, 5)), (30, (20, 5)), (40, (20, 5)), (60, (20, 5)),
           (80, (20, 5)), (20, (10, 10)))


def fixture(sc: Scenario, out: Path, synthetic: bool, data_dir: str | None,
            heldout: bool = False, run_dir: str | None = None) -> dict:
    """The scenario's data (labelled), fixture owner and small zoo (built in
    ``out/fixture_zoo_<scenario>`` if missing), and the fingerprint key; with
    ``heldout`` also a second zoo of the same recipe from another key
    (``..._heldout``). With ``run_dir``, the owner and zoo of a finished ``tafa-jax
    run`` instead (:func:`from_run`). Keys: domain, source, label, net, params,
    utility, owner_steps, zoo_size, zoos (name, zoo), k_fp."""
    if run_dir is not None:
        return from_run(sc, Path(run_dir), heldout)
    label = "real data"
    if sc.name == "skin" and synthetic and data_dir is None:
        # the loader reads a file in the official format: a small npz of made-up images
        data_dir = str(write_dermamnist_fixture(out / "fixture_data" / "dermamnist.npz",
                                                200, 50, 100))
        synthetic = False
        label = "FIXTURE: DermaMNIST-format npz of random images (not real data)"
    elif synthetic:
        label = "SYNTHETIC Fashion-MNIST-shaped data (requested with --synthetic)"
    k_owner, k_zoo, k_fp = jax.random.split(jax.random.key(0), 3)
    data = load_data(sc, data_dir=data_dir, synthetic=synthetic)
    net, params, utility = train_owner(sc, data, k_owner, steps=OWNER_STEPS[sc.name])
    zoos = [("design", make_zoo(sc, out / f"fixture_zoo_{sc.name}", net, params, data, k_zoo,
                                size="small"))]
    if heldout:
        zoos.append(("heldout", make_zoo(sc, out / f"fixture_zoo_{sc.name}_heldout", net, params,
                                         data, jax.random.fold_in(k_zoo, 1), size="small")))
    return {"domain": data.domain, "source": data.source, "label": label, "net": net,
            "params": params, "utility": utility, "owner_steps": OWNER_STEPS[sc.name],
            "owner_schedule": None if sc.name == "fashion" else sc.owner_train.schedule,
            "zoo_size": "small", "zoos": zoos, "k_fp": k_fp}


def from_run(sc: Scenario, run: Path, heldout: bool = False) -> dict:
    """The owner, zoo and fingerprint key of a finished ``tafa-jax run --out RUN``
    (seed in its report); with ``heldout`` its reference zoo (``--calibrate data``:
    the same recipe from another key, as the fixture's held-out zoo) as the second zoo.
    Nothing is trained: a study re-scores the run's zoo under other rules."""
    if not (run / "report.json").is_file():
        raise SystemExit(f"{run}: not a finished `tafa-jax run` directory (no report.json)")
    report = read_json(run / "report.json")
    if report.get("scenario") != sc.name:
        raise SystemExit(f"{run} is a {report.get('scenario')!r} run, not {sc.name!r}")
    net, params, meta = load_owner(run / "owner")
    zoos = [("design", load_zoo(run / "zoo"))]
    if heldout:
        if not (run / "reference_zoo" / "manifest.json").is_file():
            raise SystemExit(f"{run} has no reference_zoo/: a held-out zoo needs the run's "
                             "reference zoo, trained on the data (`tafa-jax run --calibrate "
                             "data`)")
        zoos.append(("heldout", load_zoo(run / "reference_zoo")))
    seed = report["config"]["seed"]
    label = (f"SYNTHETIC {sc.name} data ({meta['data_source']}; requested with --synthetic)"
             if meta["synthetic"] else f"real data ({meta['data_source']})")
    return {"domain": Domain.from_json(meta["domain"]), "source": meta["data_source"],
            "label": label, "net": net, "params": params, "utility": meta["utility"],
            # reports before the steps were recorded ran the scenario's own
            "owner_steps": owner_training_steps(sc, report["config"].get("owner_steps")),
            # reports before the owner's recipe was recorded trained at a constant rate
            "owner_schedule": (report["config"].get("owner_train") or {}).get(
                "schedule", None if sc.name == "fashion" else "constant"),
            "zoo_size": report["config"]["zoo_size"],
            "zoos": zoos, "k_fp": jax.random.split(jax.random.key(seed), 3)[2]}


def zoo_counts(zoo) -> tuple[int, int]:
    """Utility-filtered positives and negatives of a zoo."""
    return (sum(1 for r in zoo.records if r.member.group == "positive" and not r.excluded),
            sum(1 for r in zoo.records if r.member.group == "negative"))


def fixture_parser(doc: str) -> argparse.ArgumentParser:
    """The fixture scripts' command line: --scenario, --synthetic, --data-dir, --out."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--scenario", required=True, choices=["fashion", "skin"])
    ap.add_argument("--synthetic", action="store_true",
                    help="fashion: synthetic Fashion-MNIST-shaped data; skin: a generated "
                         "DermaMNIST-format npz of random images. Labelled in every output.")
    ap.add_argument("--data-dir", help="real data (skin: dermamnist.npz; fashion: tfds dir)")
    ap.add_argument("--run-dir", help="re-score the owner and zoo of a finished `tafa-jax run "
                                       "--out DIR` (its reference zoo as the held-out zoo) "
                                       "instead of building the small fixture")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--tag", type=_tag,
                    help="appended to the table's file name, e.g. owner2000, so that the "
                         "tables of two runs do not overwrite each other")
    return ap


def _tag(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9-]+", text):
        raise argparse.ArgumentTypeError(f"a tag is letters, digits and '-', got {text!r}")
    return text


def main(argv=None) -> int:
    ap = fixture_parser(__doc__)
    ap.add_argument("--blocks", help="comma-separated blocks to run (default: all), e.g. "
                                     "length,layer")
    ap.add_argument("--owner-check", action="store_true",
                    help="generation replaces the groups the owner itself fails under the "
                         "variant's matching rule (as tafa-jax run does); output *_checked")
    ap.add_argument("--candidates", type=int,
                    help="candidate lines for every variant (default: each variant's own); "
                         "output *_c<N>")
    ap.add_argument("--key-index", type=int, default=0,
                    help="fingerprint key: 0 = the tables' key, i > 0 = fold_in(key, i); "
                         "the zoo and owner stay the same")
    args = ap.parse_args(argv)
    if args.key_index < 0:
        ap.error(f"--key-index must be >= 0, got {args.key_index}")
    if args.candidates is not None and args.candidates < 1:
        ap.error(f"--candidates must be >= 1, got {args.candidates}")
    sc = get_scenario(args.scenario)
    blocks = None if args.blocks is None else sorted(set(args.blocks.split(",")))
    known = {v[0] for v in variants(sc, n_layers=2)}
    if blocks is not None and not set(blocks) <= known:
        ap.error(f"unknown blocks {sorted(set(blocks) - known)}; expected some of "
                 f"{sorted(known)}")
    out = Path(args.out)
    fx = fixture(sc, out, args.synthetic, args.data_dir, run_dir=args.run_dir)
    domain, label, net, params, utility, zoo = (fx["domain"], fx["label"], fx["net"],
                                                fx["params"], fx["utility"], fx["zoos"][0][1])
    k_fp = fx["k_fp"]
    if args.key_index:
        k_fp = jax.random.fold_in(k_fp, args.key_index)
    n_pos, n_neg = zoo_counts(zoo)
    print(f"{sc.name}: {label}; {n_pos} positives, {n_neg} negatives", flush=True)
    todo = variants(sc, len(net.kink_layout()))
    if blocks is not None:
        todo = [v for v in todo if v[0] in blocks]
        if not todo:
            raise SystemExit(f"no variant of blocks {blocks} applies to this owner "
                             f"({len(net.kink_layout())} ReLU layers)")
    if args.candidates is not None:
        todo = [(b, n, dataclasses.replace(g, n_candidates=args.candidates), m)
                for b, n, g, m in todo]
    rows = [score_variant(block, name, net, params, domain, gcfg, mcfg, zoo, k_fp,
                          owner_check=args.owner_check)
            for block, name, gcfg, mcfg in todo]
    result = {"scenario": sc.name, "data": label, "data_source": fx["source"],
              "owner_utility": utility, "utility_metric": sc.utility_metric,
              "owner_steps": fx["owner_steps"], "owner_schedule": fx["owner_schedule"],
              "key_index": args.key_index,
              "owner_check": args.owner_check, "run_dir": args.run_dir,
              "candidates": args.candidates,
              "zoo": {"size": fx["zoo_size"], "positives": n_pos, "negatives": n_neg},
              "machine": machine_info(), "rows": rows}
    stem = (f"fixture_study_{sc.name}" + ("_run" if args.run_dir else "")
            + (f"_{'_'.join(blocks)}" if blocks else "")
            + (f"_key{args.key_index}" if args.key_index else "")
            + ("_checked" if args.owner_check else "")
            + (f"_c{args.candidates}" if args.candidates else "")
            + (f"_{args.tag}" if args.tag else ""))
    write_result(out, stem, result, to_markdown)
    return 0


def to_markdown(result) -> str:
    z = result["zoo"]
    lines = [f"# Rule ablation: {result['scenario']} ({z['size']} zoo: {z['positives']} "
             f"positives, {z['negatives']} negatives, utility-filtered)", "",
             f"**Data: {result['data']}.** Owner: {result['owner_steps']} training steps"
             + (f" ({result['owner_schedule']} rate)" if result.get("owner_schedule") else "")
             + ", "
             f"{result['utility_metric']} {result['owner_utility']:.3f}. Fingerprint key "
             f"index {result.get('key_index', 0)}"
             + ("; groups the owner fails replaced at generation (--owner-check)"
                if result.get("owner_check") else "")
             + (f"; {result['candidates']} candidate lines for every variant"
                if result.get("candidates") else "")
             + (f"; the owner and zoo of `tafa-jax run --out {result['run_dir']}`"
                if result.get("run_dir") else "") + ". Command: "
             f"`python benchmarks/fixture_study.py --scenario {result['scenario']} ...` "
             "(see its docstring). DEFAULT and \"default rule\" name the pairs rule, the "
             "default when the first fixture tables were measured; the default is now the "
             "scenario's "
             "profile rule (`--rule profile`: fashion's is the *length* block's 40 d row, "
             "skin's its 40 d row with 8192 candidate lines, measured on the headline zoo "
             "of synthetic images: `fixture_study_skin_run_length_checked_c8192.md`).", "",
             "| block | variant | ARUC | ROC-AUC | TPR@1%FPR | worst positive kind (mean) | "
             "max negative | distillation | owner | queries |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['block']} | {r['variant']} | error: {r['error'][:80]} ||||||||")
            continue
        dist = r["distillation_mean"]
        lines.append(f"| {r['block']} | {r['variant']} | {r['aruc']:.3f} | {r['roc_auc']:.3f} | "
                     f"{r['tpr_at_1fpr']:.2f} | {r['worst_positive_kind']} "
                     f"({r['worst_positive_mean']:.2f}) | {r['max_negative']:.2f} | "
                     f"{'-' if dist is None else f'{dist:.2f}'} | {r['owner_rate']:.2f} | "
                     f"{r['queries_per_suspect']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
