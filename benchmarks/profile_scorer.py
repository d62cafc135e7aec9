"""The profile rule's group test, scored over many fingerprint keys on two zoos.

``WARFARIN.rule("profile")`` calls a group of 20 profile lines matched when, at
some position, 16 of its lines have a kink within one cell whose relative jump
is within 50 % of the median jump of those lines (no line is the reference).
The previous test took the group's first line as the reference: its kink had to
be there, and every other line's jump was compared with that line's. One badly
split kink on the first line, or a neighbour's kink merged with it, then failed
the whole group. This script scores both tests, and the kink threshold ``beta``,
on the same suspect outputs (same fingerprints, same zoos), over ``--keys``
fingerprint keys on the design zoo and on the held-out zoo.

    python benchmarks/profile_scorer.py [--keys 15] [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ceiling import kind_name  # noqa: E402
from design_study import (  # noqa: E402
    owner_and_zoos,
    profile_as_measured,
    spread_of,
    study_parser,
    study_result,
    write_result,
)

from tafa_jax.fingerprint import generate  # noqa: E402
from tafa_jax.fingerprint.fpset import group_layout  # noqa: E402
from tafa_jax.pipeline import suspect_table, zoo_suspects  # noqa: E402
from tafa_jax.scenarios import WARFARIN  # noqa: E402
from tafa_jax.verify import MatchConfig, summarize  # noqa: E402
from tafa_jax.verify.score import _shift, profile_group_matches  # noqa: E402
from tafa_jax.verify.verify import verify  # noqa: E402

KINDS = ("rtal", "fineprune 0.6", "fineprune 0.8")


def first_line_matches(r, jumps, group, cfg: MatchConfig) -> np.ndarray:
    """``(..., G)``: the previous test, kept here only to compare with. A kink on the
    group's first line must have, on ``ceil(quorum * T) - 1`` other lines, a kink
    within ``tol`` cells whose jump is within ``jump_tol`` of the first line's."""
    kink = np.asarray(r) >= cfg.beta
    n_groups, per = group_layout(group)
    shape = (*kink.shape[:-2], n_groups, per, kink.shape[-1])
    s = np.where(kink, np.asarray(jumps, np.float32), 0.0)
    jump = (s + _shift(s, 1, 0.0) + _shift(s, -1, 0.0)).reshape(shape)
    kink = kink.reshape(shape)
    j0 = jump[..., :1, :]
    near = np.zeros(kink.shape, bool)
    assert cfg.profile_jump_tol is not None
    for o in range(-cfg.profile_tol, cfg.profile_tol + 1):
        near |= _shift(kink, o, False) & (
            np.abs(_shift(jump, o, 0.0) - j0) <= cfg.profile_jump_tol * np.abs(j0))
    need = math.ceil(cfg.profile_quorum * per - 1e-9) - 1
    together = kink[..., 0, :] & (np.sum(near[..., 1:, :], axis=-2) >= need)
    return np.any(together, axis=-1).astype(np.float32)


def variants(match: MatchConfig) -> list[tuple[str, MatchConfig, bool]]:
    """``(name, config, first-line test?)`` for every scored row."""
    rows = [("first line as reference, beta 0.1 (previous rule)",
             dataclasses.replace(match, beta=0.1), True)]
    for beta in (0.1, 0.05, 0.02):
        tag = " (PROFILE RULE)" if beta == match.beta else ""
        rows.append((f"median reference, beta {beta}{tag}",
                     dataclasses.replace(match, beta=beta), False))
    return rows


def zoo_runs(zoo, fingerprints, match: MatchConfig) -> list[dict]:
    """Verify ``zoo`` against each fingerprint set: per set, every suspect's
    ``bend`` and ``cos`` (for profile lines the kink profile and the relative
    jumps), group evidence ``support`` ``(n, G)``, matching ``rate``, ``label``
    (-1 for unlabelled), report ``group``, ``kind`` (with its pruning ratio), the
    member's params ``digest`` and its ``attack`` (recipe group and variant)."""
    groups = zoo_suspects(zoo)
    out = []
    for fps in fingerprints:
        res = verify(fps, groups, match)
        table = suspect_table(zoo, res)
        out.append({
            "bend": np.stack([x.bend for x in res]), "cos": np.stack([x.cos for x in res]),
            "support": np.stack([np.asarray(x.support) for x in res]),
            "rate": np.array([x.rate for x in res]),
            "label": np.array([-1 if t["label"] is None else t["label"] for t in table]),
            "group": np.array([t["group"] for t in table]),
            "kind": np.array([kind_name(zoo.record(x.id).member) for x in res]),
            "digest": np.array([zoo.record(x.id).digest for x in res]),
            "attack": np.array([zoo.record(x.id).member.attack for x in res])})
    return out


def over_keys_cells(row: dict) -> str:
    """An :func:`over_keys` row's ARUC, ROC-AUC and TPR@1%FPR (mean ± sd) and highest
    negative (mean), as Markdown table cells."""
    return " | ".join(f"{row[k]['mean']:.3f} ± {row[k]['sd']:.3f}"
                      for k in ("aruc", "roc_auc", "tpr_at_1fpr")) + \
        f" | {row['max_negative']['mean']:.2f}"


def run_metrics(score: np.ndarray, run: dict, kinds: tuple[str, ...]) -> dict:
    """One key's figures for the suspects' scores ``(n,)`` of a :func:`zoo_runs` run:
    ARUC, ROC-AUC, TPR@1%FPR, the highest negative, the mean of each positive kind in
    ``kinds`` and of the distilled copies (``None`` without any)."""
    label, kind = run["label"], run["kind"]
    m = summarize(score[label == 1], score[label == 0])
    m["kind_means"] = {k: float(score[(kind == k) & (label == 1)].mean())
                       for k in kinds if np.any((kind == k) & (label == 1))}
    m["max_negative"] = float(score[label == 0].max())
    dist = run["group"] == "distillation"
    m["distillation"] = float(score[dist].mean()) if dist.any() else None
    return m


def over_keys(name: str, runs: list[dict]) -> dict:
    """One table row from :func:`run_metrics` of every key: mean, sd and every run of
    ARUC, ROC-AUC, TPR@1%FPR and the highest negative; kind and distillation means."""
    row: dict = {"variant": name, "keys": len(runs)}
    for metric in ("aruc", "roc_auc", "tpr_at_1fpr", "max_negative"):
        row[metric] = spread_of([m[metric] for m in runs])
    row["kind_means"] = {k: float(np.mean([m["kind_means"][k] for m in runs]))
                         for k in runs[0]["kind_means"]}
    d = [m["distillation"] for m in runs if m["distillation"] is not None]
    row["distillation_mean"] = float(np.mean(d)) if d else None
    return row


def score_zoo(zoo, fingerprints) -> list[dict]:
    """Every row of :func:`variants` on ``zoo``, one run per fingerprint set."""
    match = WARFARIN.rule("profile")[1]
    rows = variants(match)
    runs: dict[str, list] = {name: [] for name, _, _ in rows}
    for i, (fps, run) in enumerate(zip(fingerprints, zoo_runs(zoo, fingerprints, match))):
        r, s = run["bend"], run["cos"]
        for name, cfg, first in rows:
            g = (first_line_matches(r, s, fps.group, cfg) if first else
                 profile_group_matches(r, fps.group, cfg.beta, cfg.profile_tol, s,
                                       cfg.profile_jump_tol, cfg.profile_quorum))
            runs[name].append(run_metrics(g.mean(axis=-1), run, KINDS))
        print(f"  key {i}: " + ", ".join(f"{runs[n][-1]['aruc']:.3f}" for n, _, _ in rows),
              flush=True)
    out = []
    base = np.array([m["aruc"] for m in runs[rows[0][0]]])
    for name, _, _ in rows:
        row = over_keys(name, runs[name])
        a = np.array(row["aruc"]["runs"])
        row["aruc_vs_previous"] = {"wins": int(np.sum(a > base + 1e-9)),
                                   "ties": int(np.sum(np.abs(a - base) <= 1e-9)),
                                   "losses": int(np.sum(a < base - 1e-9))}
        out.append(row)
        print(f"{name:52s} ARUC {row['aruc']['mean']:.3f}+-{row['aruc']['sd']:.3f} "
              f"ROC-AUC {row['roc_auc']['mean']:.3f} TPR {row['tpr_at_1fpr']['mean']:.3f} "
              f"{row['kind_means']}", flush=True)
    return out


def main(argv=None) -> int:
    args = study_parser(__doc__, 15, "small zoo, two keys (a smoke run)").parse_args(argv)
    out = Path(args.out)
    t0 = time.perf_counter()
    data, (net, params, mae), k_fp, zoos = owner_and_zoos(out, args.quick)
    gcfg = profile_as_measured()[0]
    fingerprints = [generate(net, params, data.domain, gcfg, jax.random.fold_in(k_fp, i))
                    for i in range(2 if args.quick else args.keys)]  # shared by both zoos
    result = study_result(data, mae, zoos={})
    for name, zoo in zoos:
        print(f"{name} zoo:", flush=True)
        result["zoos"][name] = score_zoo(zoo, fingerprints)
    result["wall_s"] = time.perf_counter() - t0
    write_result(out, "profile_scorer_quick" if args.quick else "profile_scorer", result,
                 to_markdown)
    return 0


def to_markdown(result) -> str:
    lines = ["# The profile rule's group test over fingerprint keys", "",
             f"Data: {result['data']}; owner test MAE {result['owner_test_mae']:.2f}. "
             f"Machine: {result['machine'].get('cpu', '?')}. "
             "Regenerate: `python benchmarks/profile_scorer.py`. Every row scores the same "
             "suspect outputs; the highest negative rate and the kind columns (mean matching "
             "rates) are means over keys; wins/ties/losses count keys against the previous "
             "rule's ARUC.", ""]
    for name, rows in result["zoos"].items():
        lines += [f"## {name} zoo ({rows[0]['keys']} keys, mean ± sd)", "",
                  "| group test | ARUC | ROC-AUC | TPR@1%FPR | highest negative rate | "
                  + " | ".join(KINDS) + " | wins/ties/losses |",
                  "|---|---|---|---|---|" + "---|" * len(KINDS) + "---|"]
        for r in rows:
            w = r["aruc_vs_previous"]
            lines.append(f"| {r['variant']} | {over_keys_cells(r)} | "
                         + " | ".join(f"{r['kind_means'].get(k, float('nan')):.2f}"
                                      for k in KINDS)
                         + f" | {w['wins']}/{w['ties']}/{w['losses']} |")
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
