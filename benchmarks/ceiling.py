"""What limits the warfarin fingerprint: a white-box ceiling and the best black-box rules.

For a fingerprint set's boundaries (owner first-layer neurons, at the groups'
centres) it measures, white-box, how every suspect's own first layer sits
there: the best-aligned neuron's ``|cos|`` with the owner's and its distance to
the centre. An *oracle* that may read those weights calls a group matched when
some suspect neuron is aligned (``|cos| >= c``) and within ``H`` of the centre;
its ARUC is what a perfect measurement of the boundary's orientation and
position would reach. It does so for the pairs rule's 20 groups and for the
profile rule's 5 groups, and reports, per suspect kind, how well the best
suspect neuron aligns with each of those boundaries (where the 80 % fine-pruned
copies sit against the independent models). Then it scores, black-box, on the
same zoo and on a held-out zoo, several fingerprint keys each:

- the pairs rule (3-probe pairs, 20 groups of 5, 300 queries; the default when
  this was measured, and labelled so in the table), and the same
  rule with as many queries as the profile rule (273 groups, 4095 queries);
- profile lines (41 probes over a 2.0-long line through each pair's centre,
  4100 queries), 20 groups of 5 on the steepest boundaries, kinks lined up
  across a group's lines; then lined-up kinks must also have the same jump
  relative to the owner's (``MatchConfig(profile_jump_tol=0.5)``); then the
  boundaries with the largest kinks (``SelectConfig("kink")``); then 5 groups of
  20 lines instead of 20 of 5; then a kink on 16 of the 20 lines suffices
  (``profile_quorum=0.8``): ``WARFARIN.rule("profile")``; and that rule on
  candidate lines 64 long (32 x 2.0, the length the line length defaults to),
  whose fingerprints lie far from the data.

    python benchmarks/ceiling.py [--out benchmarks/results] [--keys 5] [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from design_study import (  # noqa: E402
    keyed_row,
    owner_and_zoos,
    profile_as_measured,
    profile_variants,
    study_parser,
    study_result,
    write_result,
)

from tafa_jax.fingerprint import generate  # noqa: E402
from tafa_jax.fingerprint.fpset import group_layout  # noqa: E402
from tafa_jax.scenarios import WARFARIN  # noqa: E402
from tafa_jax.verify import summarize  # noqa: E402

ORACLE_COS = (0.7, 0.8, 0.9)
ORACLE_SHIFT = (0.2, 0.4, 1.0)


def first_layer(params) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(W (in, hidden), b (hidden,), out)`` of an MLP's first Dense layer; ``out`` is
    the next layer's kernel ``(hidden, out)`` when it is the last (one hidden layer)."""
    layers = params["params"]
    p = layers["dense0"]
    out = np.asarray(layers["dense1"]["kernel"]) if set(layers) == {"dense0", "dense1"} else None
    return np.asarray(p["kernel"]), np.asarray(p["bias"]), out


def alignment(owner_w: np.ndarray, centres: np.ndarray, w: np.ndarray, b: np.ndarray,
              out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each owner boundary, every suspect neuron's ``|cos|`` and distance.

    Args:
      owner_w: ``(G, D)`` the owner's boundary normals (first-layer weight vectors).
      centres: ``(G, D)`` a point on each owner boundary.
      w, b: ``(D, J)``, ``(J,)`` the suspect's first layer. Neurons with all-zero
        weights are dropped, and so are those whose outgoing weights ``out``
        ``(J, O)`` (if given) are all zero: they put no kink in the output.

    Returns:
      ``(cos, dist)``, each ``(G, J')`` over the J' kept neurons: ``|cos|`` between
      the owner's normal and neuron j's, and the distance from the centre to
      neuron j's hyperplane.
    """
    norm = np.linalg.norm(w, axis=0)
    live = norm > 0
    if out is not None:
        live &= np.linalg.norm(out, axis=1) > 0
    w, b, norm = w[:, live], b[live], norm[live]
    u = owner_w / np.linalg.norm(owner_w, axis=1, keepdims=True)
    return np.abs(u @ w) / norm, np.abs(centres @ w + b) / norm


def oracle_scores(cos: np.ndarray, dist: np.ndarray, c_min: float, h: float) -> float:
    """Fraction of groups with a suspect neuron aligned within ``c_min`` and ``h``."""
    return float(np.mean(np.any((cos >= c_min) & (dist <= h), axis=1)))


def kind_name(member) -> str:
    """A suspect's kind, with its pruning ratio where it has one (``"fineprune 0.8"``)."""
    ratio = member.settings.get("ratio")
    return member.kind if ratio is None else f"{member.kind} {ratio}"


def oracle(fps, params, zoo) -> dict:
    """White-box oracle rows over ``ORACLE_COS x ORACLE_SHIFT`` at ``fps``'s group centres,
    and per kind the best-aligned suspect neuron's ``|cos|`` (median, 10th percentile,
    max over suspects and boundaries; ``"negative"`` pools the independent models)."""
    w_own, _, _ = first_layer(params)
    n_groups, per = group_layout(fps.group)
    first = np.arange(n_groups) * per  # each group's first pair or line
    centres = fps.probes[first, fps.n_probes // 2].astype(np.float64)
    owner_w = w_own[:, fps.neuron[first]].T
    per = {}
    for rec in zoo.records:
        m = rec.member
        if m.group not in ("positive", "negative", "distillation"):
            continue
        per[rec.id] = (m, rec.excluded,
                       *alignment(owner_w, centres, *first_layer(zoo.member_params(rec.id))))
    rows = []
    for c_min in ORACLE_COS:
        for h in ORACLE_SHIFT:
            pos = [oracle_scores(c, d, c_min, h) for m, ex, c, d in per.values()
                   if m.group == "positive" and not ex]
            neg = [oracle_scores(c, d, c_min, h) for m, ex, c, d in per.values()
                   if m.group == "negative"]
            kinds: dict[str, list[float]] = {}
            for m, ex, c, d in per.values():
                if not ex:
                    kinds.setdefault(kind_name(m), []).append(oracle_scores(c, d, c_min, h))
            s = summarize(np.array(pos), np.array(neg))
            rows.append({"cos_min": c_min, "shift_max": h, "aruc": s["aruc"],
                         "roc_auc": s["roc_auc"], "tpr_at_1fpr": s["tpr_at_1fpr"],
                         "max_negative": max(neg),
                         "kind_means": {k: float(np.mean(v)) for k, v in kinds.items()}})
    best: dict[str, list[np.ndarray]] = {}
    for m, ex, c, _d in per.values():
        if not ex:
            best.setdefault("negative" if m.group == "negative" else kind_name(m),
                            []).append(c.max(axis=1))
    pooled = {k: np.concatenate(v) for k, v in best.items()}
    return {"groups": fps.n_groups, "rows": rows,
            "best_cos": {k: {"median": float(np.median(v)), "p10": float(np.percentile(v, 10)),
                             "p99": float(np.percentile(v, 99)), "max": float(np.max(v))}
                         for k, v in pooled.items()}}


def black_box(net, params, domain, zoo, key, n_keys: int) -> list[dict]:
    rules = [("default: 3-probe pairs, 20 groups of 5, d=0.4", WARFARIN.generation,
              WARFARIN.match)] + profile_variants(WARFARIN.generation.n_candidates)
    return [keyed_row(name, net, params, domain, gcfg, mcfg, zoo, key, n_keys)
            for name, gcfg, mcfg in rules]


def main(argv=None) -> int:
    args = study_parser(__doc__, 5, "small zoo, one key (a smoke run)").parse_args(argv)
    out = Path(args.out)
    t0 = time.perf_counter()
    data, (net, params, mae), k_fp, zoos = owner_and_zoos(out, args.quick)
    n_keys = 1 if args.quick else args.keys
    result = study_result(data, mae, zoos={})
    # the same boundaries for both zoos
    fps_of = {rule: generate(net, params, data.domain, gen, k_fp) for rule, gen in (
        ("pairs", WARFARIN.rule("pairs")[0]), ("profile", profile_as_measured()[0]))}
    for name, zoo in zoos:
        oracles = {}
        for rule, fps in fps_of.items():
            orc = oracles[rule] = oracle(fps, params, zoo)
            print(f"{name} zoo, oracle at the {rule} rule's {orc['groups']} groups:", flush=True)
            for r in orc["rows"]:
                print(f"  |cos|>={r['cos_min']} shift<={r['shift_max']}: ARUC {r['aruc']:.3f} "
                      f"AUC {r['roc_auc']:.3f} TPR1 {r['tpr_at_1fpr']:.2f} "
                      f"maxneg {r['max_negative']:.2f}", flush=True)
            print("  best-aligned |cos| medians:",
                  {k: round(v["median"], 2) for k, v in orc["best_cos"].items()}, flush=True)
        n_pos = sum(1 for r in zoo.records if r.member.group == "positive" and not r.excluded)
        n_neg = sum(1 for r in zoo.records if r.member.group == "negative")
        result["zoos"][name] = {"positives": n_pos, "negatives": n_neg, "oracle": oracles,
                                "black_box": black_box(net, params, data.domain, zoo, k_fp,
                                                       n_keys)}
    result["wall_s"] = time.perf_counter() - t0
    stem = "ceiling_quick" if args.quick else "ceiling"
    write_result(out, stem, result, to_markdown)
    return 0


KIND_COLUMNS = ("ftal_large", "rtal", "fineprune 0.6", "fineprune 0.8")


def to_markdown(result) -> str:
    lines = ["# What limits the warfarin fingerprint", "",
             f"Data: {result['data']}; owner test MAE {result['owner_test_mae']:.2f}. "
             f"Machine: {result['machine'].get('cpu', '?')}. "
             "Regenerate: `python benchmarks/ceiling.py`.", ""]
    cols = KIND_COLUMNS
    for name, z in result["zoos"].items():
        lines += [f"## {name} zoo ({z['positives']} positives, {z['negatives']} negatives)", ""]
        for rule, orc in z["oracle"].items():
            lines += ["White-box oracle (a suspect first-layer neuron, with a non-zero output "
                      "weight, aligned with the owner's boundary and near the group's centre) "
                      f"at the {rule} rule's {orc['groups']} groups; kind columns are mean "
                      "rates:", "",
                      "| aligned | within | ARUC | ROC-AUC | TPR@1%FPR | max negative | "
                      + " | ".join(cols) + " |", "|---|---|---|---|---|---|" + "---|" * len(cols)]
            for r in orc["rows"]:
                km = r["kind_means"]
                lines.append(f"| \\|cos\\| >= {r['cos_min']} | {r['shift_max']} | "
                             f"{r['aruc']:.3f} | {r['roc_auc']:.3f} | {r['tpr_at_1fpr']:.2f} | "
                             f"{r['max_negative']:.2f} | "
                             + " | ".join(f"{km.get(c, float('nan')):.2f}" for c in cols) + " |")
            lines += ["", f"Best-aligned suspect neuron at each of the {rule} rule's boundaries, "
                      "|cos| with the owner's, over suspects and boundaries:", "",
                      "| kind | median | 10th pct | 99th pct | max |", "|---|---|---|---|---|"]
            lines += [f"| {k} | {v['median']:.2f} | {v['p10']:.2f} | {v['p99']:.2f} | "
                      f"{v['max']:.2f} |" for k, v in sorted(orc["best_cos"].items())]
            lines.append("")
        lines += ["Black-box rules (mean ± sd over fingerprint keys):", "",
                  "| rule | queries | ARUC | ROC-AUC | TPR@1%FPR |", "|---|---|---|---|---|"]
        for r in z["black_box"]:
            lines.append(f"| {r['variant']} | {r['queries_per_suspect']} | " + " | ".join(
                f"{r[k]['mean']:.3f} ± {r[k]['sd']:.3f}"
                for k in ("aruc", "roc_auc", "tpr_at_1fpr")) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
