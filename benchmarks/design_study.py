"""Design study for the TAFA rule (issue: make the fingerprint discriminate).

Regenerates the ablation table on the warfarin scenario: the same owner, the
same headline zoo (PROTOCOL.md, utility-filtered) and, within each block, the
same query budget. For each variant: ARUC, ROC-AUC, TPR@1%FPR, the worst
positive kind's mean score, the highest negative score, and queries per suspect.

    python benchmarks/design_study.py [--out benchmarks/results] [--quick]

``--quick`` uses the small zoo and fewer candidates (a smoke run, minutes).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tafa_jax.data.domains import Domain, standardised_normal_domain  # noqa: E402
from tafa_jax.fingerprint import GenerationConfig, SelectConfig, generate  # noqa: E402
from tafa_jax.io import atomic_write_bytes, write_json  # noqa: E402
from tafa_jax.pipeline import (  # noqa: E402
    load_data,
    machine_info,
    make_zoo,
    metrics_of,
    train_owner,
    verify_zoo,
)
from tafa_jax.scenarios import WARFARIN  # noqa: E402
from tafa_jax.verify import MatchConfig  # noqa: E402

Variant = tuple[str, str, GenerationConfig, MatchConfig, Domain]


class Rules(NamedTuple):
    """The generation settings the study compares against, at one candidate budget."""

    previous: GenerationConfig  # before the base-point study: box, d = 0.3, 33 groups of 3
    three: GenerationConfig  # near the data: d = 0.2, 33 groups of 3
    steep: GenerationConfig  # 20 groups of 5 at d = 0.4, steepest boundaries first
    default: GenerationConfig  # WARFARIN.generation: the same, largest kinks first


def rules(quick: bool) -> Rules:
    default = dataclasses.replace(WARFARIN.generation, n_candidates=4096 if quick else 16384)
    steep = dataclasses.replace(default, select=dataclasses.replace(default.select, rule="steep"))
    return Rules(dataclasses.replace(steep, distances=(0.3,), n_pairs=33, siblings=3),
                 dataclasses.replace(steep, distances=(0.2,), n_pairs=33, siblings=3),
                 steep, default)


def variants(quick: bool, box: Domain, normal: Domain) -> list[Variant]:
    prev, three, steep, default = rules(quick)
    m = default.n_candidates
    paper = GenerationConfig(n_pairs=99, n_candidates=m, distances=(0.1,), direction="line",
                             move_binary=False, siblings=1, chunk=2048,
                             select=SelectConfig("margin", 1, 1.0, 0.0))
    rel = MatchConfig(mode="relative", rho=0.5)
    absm = MatchConfig(mode="absolute", beta=0.1)
    sign = WARFARIN.match
    owner_sign = dataclasses.replace(absm, min_cos=0.0, abs_cos=False)
    rel_sign = dataclasses.replace(rel, same_sign=True)
    normal_dir = dataclasses.replace(paper, direction="normal")
    mb = dataclasses.replace(normal_dir, move_binary=True)
    mb_bend = dataclasses.replace(mb, select=SelectConfig("margin", 1, 1.0, 0.2))
    out: list[Variant] = [
        ("rule", "TAFA.md first rule: line pairs, d=0.1, relative rho=0.5", paper, rel, box),
        ("rule", "+ pairs along the boundary normal", normal_dir, rel, box),
        ("rule", "+ pairs may move binary covariates", mb, rel, box),
        ("rule", "+ absolute kink test (beta=0.1), owner bend >= 0.2", mb_bend, absm, box),
        ("rule", "+ d=0.3", dataclasses.replace(mb_bend, distances=(0.3,)), absm, box),
        ("rule", "+ 3 sibling pairs per group, steepest boundaries first", prev, absm, box),
        ("rule", "+ base points from N(0, I) in standardised units, d=0.2", three, absm,
         normal),
        ("rule", "+ a group's bends all the same way vs the owner's", three, sign, normal),
        ("rule", "+ 20 groups of 5 siblings (100 pairs), d=0.4", steep, sign, normal),
        ("rule", "+ largest kinks first (DEFAULT)", default, sign, normal),
        ("rule", "default, but bends must agree with the owner's sign", default,
         owner_sign, normal),
        ("rule", "default, selection by margin", dataclasses.replace(
            default, select=SelectConfig("margin", 1, 1.0, 0.2)), sign, normal),
        ("rule", "default, random selection", dataclasses.replace(
            default, select=SelectConfig("random", 1, 1.0, 0.2)), sign, normal),
        ("rule", "default, relative rule rho=0.5", default, rel_sign, normal),
    ]
    for d in (0.2, 0.3, 0.4, 0.5):
        out.append(("distance", f"default rule, d={d}",
                    dataclasses.replace(default, distances=(d,)), sign, normal))
    for ds in ((0.2, 0.5), (0.2, 0.4, 0.6)):  # several distances at once, groups split evenly
        out.append(("distance", f"default rule, d in ({', '.join(map(str, ds))})",
                    dataclasses.replace(default, distances=ds), sign, normal))
    t = default.siblings
    for k in (2, 6, 20, 60):
        out.append(("budget", f"default rule, {k} groups ({t * k} pairs)",
                    dataclasses.replace(default, n_pairs=k), sign, normal))
    for t_, k in ((3, 33), (4, 25)):  # pairs per group at the same budget
        out.append(("budget", f"default rule, {k} groups of {t_} siblings ({t_ * k} pairs)",
                    dataclasses.replace(default, n_pairs=k, siblings=t_), sign, normal))
    # where base points come from: the feature-range box puts the fingerprint centres
    # far from the data (see the last column); shrink the box towards its centre, or
    # sample N(0, s^2) in standardised units (the owner's mean/std, no rows). Near the
    # data the owner's boundaries are denser, so clean pairs need shorter d there.
    for scale in (0.25, 0.5, 0.75):
        out.append(("base points", f"box (d=0.3) shrunk to {scale} of its half-width",
                    dataclasses.replace(prev, base_scale=scale), absm, box))
    for sd, d in ((0.5, 0.1), (0.75, 0.15), (1.0, 0.1), (2.0, 0.3)):
        near = standardised_normal_domain(box.size, sd, name=f"warfarin-normal-{sd}")
        out.append(("base points", f"N(0, {sd}^2) in standardised units, d={d}",
                    dataclasses.replace(three, distances=(d,)), absm, near))
    out += [("profile (4100 queries)", name, g, mm, normal)
            for name, g, mm in profile_variants(m)]
    return out


def profile_variants(m: int) -> list[tuple[str, GenerationConfig, MatchConfig]]:
    """The default's pairs at the profile rule's query count, then the profile rule
    (``WARFARIN.rule("profile")``, 4100 queries) built up one step at a time, and the
    same rule on candidate lines of the default length (far from the data)."""
    pairs = dataclasses.replace(WARFARIN.generation, n_pairs=273, n_candidates=4 * m)
    prof, prof_match = profile_as_measured()
    prof = dataclasses.replace(prof, n_candidates=m)
    every = dataclasses.replace(prof_match, profile_quorum=1.0)
    twenty = dataclasses.replace(prof, n_pairs=20, siblings=5)  # 20 groups of 5 lines
    steep = dataclasses.replace(twenty, select=dataclasses.replace(prof.select, rule="steep"))
    return [("default rule, 273 groups of 5 (4095 queries)", pairs, WARFARIN.match),
            ("profile lines, 20 groups of 5, steepest first, kinks lined up", steep,
             dataclasses.replace(every, profile_jump_tol=None)),
            ("+ the same jump relative to the owner's", steep, every),
            ("+ largest kinks first (20 groups of 5)", twenty, every),
            ("+ 5 groups of 20 lines, kink on every line", prof, every),
            ("+ kink on 16 of the 20 lines (PROFILE RULE)", prof, prof_match),
            ("profile rule on 64-long candidate lines (far out)",
             dataclasses.replace(prof, line_length=None), prof_match)]


def study_parser(doc: str, keys: int | None = None,
                 quick: str = "small zoo (a smoke run)") -> argparse.ArgumentParser:
    """The warfarin studies' command line: ``--out``, ``--quick`` and, with ``keys``,
    ``--keys`` (fingerprint keys, that default)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results")
    if keys is not None:
        ap.add_argument("--keys", type=int, default=keys)
    ap.add_argument("--quick", action="store_true", help=quick)
    return ap


def owner_and_zoos(out: Path, quick: bool, zoo_dir: str | None = None):
    """The warfarin owner and the two zoos of the studies: the design zoo and a
    held-out zoo built from another key, in ``zoo_dir`` (default
    ``out/design_zoo_<size>``) and ``zoo_dir + "_heldout"`` (built if missing;
    ``quick``: a 300-step owner, small zoos).

    Returns ``(data, (net, params, test_mae), fingerprint_key, [(name, zoo), ...])``.
    """
    k_owner, k_zoo, k_fp = jax.random.split(jax.random.key(0), 3)
    data = load_data(WARFARIN)
    net, params, mae = train_owner(WARFARIN, data, k_owner, steps=300 if quick else None)
    size = "small" if quick else "headline"
    zoo_dir = zoo_dir or str(out / f"design_zoo_{size}")
    zoos = []
    for name, k in (("design", k_zoo), ("heldout", jax.random.fold_in(k_zoo, 1))):
        zdir = zoo_dir + ("" if name == "design" else "_heldout")
        zoos.append((name, make_zoo(WARFARIN, zdir, net, params, data, k, size=size)))
    return data, (net, params, mae), k_fp, zoos


def profile_as_measured(scenario=WARFARIN):
    """The scenario's profile rule ``(generation, match)`` as the studies before
    ``benchmarks/prune_choice.py`` measured it: the first groups of the selection,
    no pool chosen by pruning (``choose_from=0``), so their tables regenerate."""
    gen, match = scenario.rule("profile")
    return dataclasses.replace(gen, choose_from=0), match


def spread_of(values) -> dict:
    """``{"mean", "sd", "runs"}`` of one metric over fingerprint keys (sd 0 for one key)."""
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "runs": v.tolist()}


def study_result(data, mae: float, **fields) -> dict:
    """The header every warfarin study writes (data, owner, machine), then ``fields``."""
    return {"scenario": "warfarin", "data": data.source, "owner_test_mae": mae,
            "machine": machine_info(), **fields}


def keyed_row(name: str, net, params, domain: Domain, gcfg: GenerationConfig,
              mcfg: MatchConfig, zoo, key, n_keys: int) -> dict:
    """One rule scored with ``n_keys`` fingerprint keys: mean, sd and every run of ARUC,
    ROC-AUC and TPR@1%FPR (how much of a difference between rows is key noise)."""
    runs, queries = [], 0
    for i in range(n_keys):
        fps = generate(net, params, domain, gcfg, jax.random.fold_in(key, i))
        queries = fps.queries_per_suspect
        runs.append(metrics_of(verify_zoo(fps, zoo, (net, params), mcfg)[0]))
    row: dict = {"variant": name, "keys": n_keys, "queries_per_suspect": queries}
    for metric in ("aruc", "roc_auc", "tpr_at_1fpr"):
        row[metric] = spread_of([r[metric] for r in runs])
    print(f"{name:58s} q={queries:5d} " + " ".join(
        f"{k} {row[k]['mean']:.3f}+-{row[k]['sd']:.3f}" for k in ("aruc", "roc_auc",
                                                                   "tpr_at_1fpr")), flush=True)
    return row


def key_spread(net, params, zoo, box: Domain, normal: Domain, quick: bool, key,
               n_keys: int = 5) -> list[dict]:
    """The previous and the new default, each with ``n_keys`` fingerprint keys."""
    absm = MatchConfig(mode="absolute", beta=0.1)
    prev, three, steep, default = rules(quick)
    return [keyed_row(name, net, params, dom, gcfg, mcfg, zoo, key, n_keys)
            for name, gcfg, dom, mcfg in (
                ("box base points, d=0.3", prev, box, absm),
                ("N(0, I) base points, d=0.2", three, normal, absm),
                ("N(0, I) base points, d=0.2, same-sign groups", three, normal,
                 WARFARIN.match),
                ("... 20 groups of 5 siblings, d=0.4", steep, normal, WARFARIN.match),
                ("... largest kinks first (default)", default, normal, WARFARIN.match))]


def boundary_shifts(net, params, domain, gcfg, zoo, key) -> dict[str, dict[str, float]]:
    """White-box diagnosis (first-layer MLP): how far each positive kind moves the owner's
    boundary at the fingerprints' centres, and how parallel it stays.

    shift_k = |w'_k . c + b'_k| / ||w'_k|| at the centre c of a pair on neuron k.
    """
    fps = generate(net, params, domain, gcfg, key)
    c, k = fps.probes[:, fps.n_probes // 2], fps.neuron
    w = np.asarray(params["params"]["dense0"]["kernel"])[:, k]
    out: dict[str, dict[str, float]] = {}
    for rec in zoo.records:
        m = rec.member
        if m.group != "positive" or m.architecture.get("hidden") != [100]:
            continue
        p = zoo.member_params(rec.id)["params"]["dense0"]
        w2, b2 = np.asarray(p["kernel"])[:, k], np.asarray(p["bias"])[k]
        norm = np.linalg.norm(w2, axis=0)
        ok = norm > 0
        shift = np.abs(np.einsum("kd,dk->k", c, w2) + b2)[ok] / norm[ok]
        cos = (np.sum(w * w2, 0)[ok] / (np.linalg.norm(w, axis=0)[ok] * norm[ok]))
        d = out.setdefault(m.kind, {"shift_median": [], "shift_p90": [], "cos_median": []})
        d["shift_median"].append(float(np.median(shift)))
        d["shift_p90"].append(float(np.percentile(shift, 90)))
        d["cos_median"].append(float(np.median(np.abs(cos))))
    return {kind: {s: float(np.mean(v)) for s, v in d.items()} for kind, d in out.items()}


def kind_means(rows) -> dict[str, float]:
    by: dict[str, list[float]] = {}
    for r in rows:
        if r["group"] in ("positive", "negative", "distillation") and not r["failed"]:
            by.setdefault(f"{r['group']}:{r['kind']}", []).append(r["score"])
    return {k: float(np.mean(v)) for k, v in by.items()}


def score_variant(block: str, name: str, net, params, domain: Domain, gcfg: GenerationConfig,
                  mcfg: MatchConfig, zoo, key, owner_check: bool = False) -> dict:
    """Generate one variant's fingerprints and score the zoo: one table row (or an
    ``error`` row when generation refuses, e.g. too few clean pairs). With
    ``owner_check`` generation replaces the groups the owner fails under ``mcfg``
    (``generate(match=...)``, as ``tafa-jax run`` does); the warfarin studies' tables
    were made without it."""
    t0 = time.perf_counter()
    try:
        fps = generate(net, params, domain, gcfg, key, match=mcfg if owner_check else None)
    except ValueError as err:
        print(f"{name}: {err}", flush=True)
        return {"block": block, "variant": name, "error": str(err)}
    gen_s = time.perf_counter() - t0
    rows, _ = verify_zoo(fps, zoo, (net, params), mcfg)
    s = metrics_of(rows)
    km = kind_means(rows)
    pos_kinds = {k: v for k, v in km.items() if k.startswith("positive:")}
    if not pos_kinds:
        return {"block": block, "variant": name, "error": "no positive suspect was scored"}
    worst = min(pos_kinds, key=lambda k: pos_kinds[k])
    centres = fps.probes[:, fps.n_probes // 2].reshape(fps.n_pairs, -1)
    row = {"block": block, "variant": name, "aruc": s["aruc"], "roc_auc": s["roc_auc"],
           "tpr_at_1fpr": s["tpr_at_1fpr"], "worst_positive_kind": worst.split(":")[1],
           "worst_positive_mean": pos_kinds[worst],
           "max_negative": max(r["score"] for r in rows if r["label"] == 0),
           "distillation_mean": km.get("distillation:distill"),
           "owner_rate": rows[0]["score"], "pairs": fps.n_pairs,
           "owner_failed": sum(c.get("owner_failed", 0) for c in fps.meta["search"]),
           "queries_per_suspect": fps.queries_per_suspect, "generation_s": gen_s,
           "centre_norm_mean": float(np.linalg.norm(centres, axis=-1).mean()),
           "kind_means": km}
    print(f"{name:58s} ARUC {s['aruc']:.3f} AUC {s['roc_auc']:.3f} TPR1 "
          f"{s['tpr_at_1fpr']:.2f} worst {row['worst_positive_kind']}="
          f"{row['worst_positive_mean']:.2f} maxneg {row['max_negative']:.2f} "
          f"q={fps.queries_per_suspect}", flush=True)
    return row


def main(argv=None) -> int:
    ap = study_parser(__doc__)
    ap.add_argument("--zoo-dir", default=None, help="zoo directory (built if missing)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    sc = WARFARIN
    # the held-out zoo: the same recipe and owner, every pirate and independent model
    # trained from other keys. The rule was chosen on the design zoo; the held-out one
    # checks that its gains are not fitted to those particular models.
    data, (net, params, mae), k_fp, [(_, zoo), (_, held)] = owner_and_zoos(
        out, args.quick, args.zoo_dir)
    size = "small" if args.quick else "headline"
    rows_out = []
    box = load_data(dataclasses.replace(sc, fingerprint_domain="box")).domain
    for block, name, gcfg, mcfg, domain in variants(args.quick, box, data.domain):
        rows_out.append(score_variant(block, name, net, params, domain, gcfg, mcfg, zoo, k_fp))
    r = rules(args.quick)
    shifts = {"previous": boundary_shifts(net, params, box, r.previous, zoo, k_fp),
              "default": boundary_shifts(net, params, data.domain, r.default, zoo, k_fp)}
    spread = key_spread(net, params, zoo, box, data.domain, args.quick, k_fp)
    print("held-out zoo:", flush=True)
    spread_held = key_spread(net, params, held, box, data.domain, args.quick, k_fp)
    n_pos = sum(1 for r in zoo.records if r.member.group == "positive" and not r.excluded)
    n_neg = sum(1 for r in zoo.records if r.member.group == "negative")
    row_norm = float(np.linalg.norm(np.asarray(data.zoo_data.x_owner), axis=-1).mean())
    result = study_result(
        data, mae, owner_row_norm_mean=row_norm,
        zoo={"size": size, "positives": n_pos, "negatives": n_neg,
             "kinds": sorted({r.member.kind for r in zoo.records})},
        rows=rows_out, boundary_shifts=shifts, key_spread=spread,
        key_spread_heldout_zoo=spread_held)
    write_result(out, "design_study_quick" if args.quick else "design_study", result,
                 to_markdown)
    return 0


def write_result(out: Path, stem: str, result: dict, to_md) -> None:
    """``out/stem.json`` (every number) and ``out/stem.md`` (the tables), atomically."""
    write_json(out / f"{stem}.json", result)
    atomic_write_bytes(out / f"{stem}.md", to_md(result).encode())
    print(f"wrote {out / stem}.json and .md")


def to_markdown(result) -> str:
    z = result["zoo"]
    lines = [f"# Design study: warfarin ({z['size']} zoo: {z['positives']} positives, "
             f"{z['negatives']} negatives, utility-filtered)", "",
             f"Owner test MAE {result['owner_test_mae']:.2f} mg/week. Data: {result['data']}.",
             "", "Blocks: *rule* adds one change per row, up to the pairs rule (marked "
             "DEFAULT and called the default rule below: it was the default until the "
             "profile rule, the last block's PROFILE RULE row, measured better at every "
             "budget and became the default); *distance* and *budget* vary the pairs rule; "
             "*base points* compare where candidate lines start, with the plain "
             "absolute test and 33 groups of 3 siblings (no same-sign groups); *profile "
             "(4100 queries)* compares profile lines (41 probes per line, `--rule profile`, "
             "the default) with the pairs rule at as many queries.",
             "", f"Mean norm of an owner training row (standardised): "
             f"{result['owner_row_norm_mean']:.1f}; the last column gives the fingerprint "
             "centres' mean norm.",
             "", "| block | variant | ARUC | ROC-AUC | TPR@1%FPR | worst positive kind (mean) "
             "| max negative | distillation | queries | mean centre norm |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['block']} | {r['variant']} | error: {r['error'][:80]} ||||||||")
            continue
        dist = r["distillation_mean"]
        lines.append(
            f"| {r['block']} | {r['variant']} | {r['aruc']:.3f} | {r['roc_auc']:.3f} | "
            f"{r['tpr_at_1fpr']:.2f} | {r['worst_positive_kind']} ({r['worst_positive_mean']:.2f})"
            f" | {r['max_negative']:.2f} | {'-' if dist is None else f'{dist:.2f}'} | "
            f"{r['queries_per_suspect']} | {r['centre_norm_mean']:.1f} |")
    lines += ["", "## Key-to-key spread", "",
              "The same owner and zoo, five fingerprint keys per rule (mean +- sd):", "",
              "| rule | ARUC | ROC-AUC | TPR@1%FPR |", "|---|---|---|---|"]
    for r in result.get("key_spread", []):
        lines.append(f"| {r['variant']} | " + " | ".join(
            f"{r[k]['mean']:.3f} +- {r[k]['sd']:.3f}" for k in ("aruc", "roc_auc",
                                                              "tpr_at_1fpr")) + " |")
    if result.get("key_spread_heldout_zoo"):
        lines += ["", "## Held-out zoo", "",
                  "A second headline zoo from other keys (same recipe and owner), never used "
                  "to choose the rule; five fingerprint keys per rule (mean +- sd):", "",
                  "| rule | ARUC | ROC-AUC | TPR@1%FPR |", "|---|---|---|---|"]
        for r in result["key_spread_heldout_zoo"]:
            lines.append(f"| {r['variant']} | " + " | ".join(
                f"{r[k]['mean']:.3f} +- {r[k]['sd']:.3f}" for k in ("aruc", "roc_auc",
                                                                  "tpr_at_1fpr")) + " |")
    shifts = result.get("boundary_shifts", {})
    lines += ["", "## Why the hard positives escape: boundary shifts at the fingerprint centres",
              "", "White-box, first hidden layer. Previous default: box base points, d/2 = "
              "0.15; default: N(0, I) base points, d/2 = 0.2.", "",
              "| positive kind | previous: median shift | p90 | median cos(w, w') "
              "| default: median shift | p90 | median cos(w, w') |",
              "|---|---|---|---|---|---|---|"]
    prev, new = shifts.get("previous", {}), shifts.get("default", {})
    for kind in sorted(set(prev) | set(new)):
        if kind == "permute":  # neuron k is another index in a permuted copy: not comparable
            continue
        cells = []
        for src in (prev, new):
            v = src.get(kind)
            cells += (["-"] * 3 if v is None else
                      [f"{v['shift_median']:.3f}", f"{v['shift_p90']:.3f}",
                       f"{v['cos_median']:.3f}"])
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
