"""TAFA against fingerprinting baselines on the same suspects.

Warfarin (real IWPC data, the headline zoo of PROTOCOL.md, utility-filtered):

- TAFA, the default rule (``WARFARIN.rule()``: profile lines), and the pairs rule
  (``WARFARIN.rule("pairs")``, 14x fewer queries);
- random-query output similarity, with the default rule's query budget;
- MetaV (learned inputs + verifier), with the default rule's query budget, trained on a random
  stratified half of the zoo's positives and negatives and tested on the other
  half; TAFA and random-query are also reported on that test half.

IPGuard needs a classifier: it is run on a SmallCNN owner trained on SYNTHETIC
DermaMNIST-shaped images with the small skin zoo (a mechanism check, not a
headline number), beside random-query and TAFA (the pairs rule: the skin profile rule was sized
for the ResNet fixture) on the same zoo.

    python benchmarks/baselines.py [--quick] [--out benchmarks/results]

Writes ``baselines.json`` and ``baselines.md`` (``baselines_quick.*`` with
``--quick``, which uses a small zoo and a short owner training).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tafa_jax.baselines import IPGuard, MetaV, RandomQuery, check_disjoint, split_zoo  # noqa: E402
from tafa_jax.fingerprint import generate  # noqa: E402
from tafa_jax.io import atomic_write_bytes, write_json  # noqa: E402
from tafa_jax.pipeline import (  # noqa: E402
    load_data,
    machine_info,
    make_zoo,
    train_owner,
    verify_zoo,
)
from tafa_jax.scenarios import SKIN, WARFARIN  # noqa: E402
from tafa_jax.verify import ZooSuspects, summarize  # noqa: E402
from tafa_jax.zoo import build_zoo  # noqa: E402
from tafa_jax.zoo.recipes import skin_recipe  # noqa: E402

GROUP_ORDER = {"positive": 0, "distillation": 1, "excluded": 2, "negative": 3}


# -- helpers ---------------------------------------------------------------------------
def select(grouped: dict, keep: set[str] | None) -> list[ZooSuspects]:
    """The zoo's architecture groups restricted to the ids in ``keep`` (all if None)."""
    out = []
    for net, params, ids in grouped.values():
        idx = [j for j, i in enumerate(ids) if keep is None or i in keep]
        if idx:
            ix = np.asarray(idx)
            out.append(ZooSuspects(net, jax.tree.map(lambda a, ix=ix: np.asarray(a)[ix], params),
                                   [ids[j] for j in idx]))
    return out


def score_groups(baseline, groups: list[ZooSuspects]) -> tuple[dict[str, float], float, float]:
    """``({id: score}, first-call seconds, compiled-call seconds)`` over the groups."""
    def run():
        out = {}
        for g in groups:
            out.update(zip(g.ids, baseline.score_zoo(g.net, g.params, ids=list(g.ids)).tolist(),
                           strict=True))
        return out

    t0 = time.perf_counter()
    scores = run()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    run()
    return scores, first, time.perf_counter() - t0


def owner_scores(baseline, net, params) -> dict[str, float]:
    """The owner through the zoo path and through the black-box path."""
    stacked = jax.tree.map(lambda a: np.asarray(a)[None], params)
    zoo = float(baseline.score_zoo(net, stacked)[0])
    bb = baseline.score_blackbox(lambda x: np.asarray(net.apply(params, x)))
    return {"zoo_path": zoo, "blackbox_path": float(bb)}


def metrics(scores: dict[str, float], labels: dict[str, int | None],
            ids: set[str] | None = None) -> dict[str, Any]:
    pos = [s for i, s in scores.items() if labels.get(i) == 1 and (ids is None or i in ids)]
    neg = [s for i, s in scores.items() if labels.get(i) == 0 and (ids is None or i in ids)]
    if not pos or not neg:
        return {"n_pos": len(pos), "n_neg": len(neg)}
    return summarize(np.asarray(pos), np.asarray(neg))


def kind_means(scores: dict[str, float], kinds: dict[str, tuple[str, str]],
               ids: set[str] | None = None) -> dict[str, dict[str, float]]:
    by: dict[str, list[float]] = {}
    for i, s in scores.items():
        if i in kinds and (ids is None or i in ids):
            by.setdefault(":".join(kinds[i]), []).append(s)
    return {k: {"mean": float(np.mean(v)), "n": len(v)} for k, v in by.items()}


def method_row(name: str, scores, labels, kinds, ids, *, queries, data, fit_s, verify_s,
               n_verified, owner, split: str) -> dict[str, Any]:
    dist = [s for i, s in scores.items() if kinds.get(i, ("", ""))[0] == "distillation"]
    return {"method": name, "split": split, **metrics(scores, labels, ids),
            "queries_per_suspect": int(queries), "data_needed": data, "fit_s": float(fit_s),
            "verify_per_suspect_s": float(verify_s) / max(n_verified, 1),
            "owner_score": owner, "distillation_mean": float(np.mean(dist)) if dist else None,
            "kind_means": kind_means(scores, kinds, ids)}


# -- warfarin --------------------------------------------------------------------------
def warfarin(args) -> dict[str, Any]:
    sc = WARFARIN
    key = jax.random.key(args.seed)
    k_owner, k_zoo, k_fp = jax.random.split(key, 3)
    k_rq, k_mv = jax.random.split(jax.random.fold_in(key, 101))
    data = load_data(sc)
    net, params, mae = train_owner(sc, data, k_owner, steps=300 if args.quick else None)
    size = "small" if args.quick else "headline"
    zoo_dir = args.zoo_dir or str(Path(args.out) / f"design_zoo_{size}")  # design-study zoo
    t0 = time.perf_counter()
    zoo = make_zoo(sc, zoo_dir, net, params, data, k_zoo, size=size)
    zoo_s = time.perf_counter() - t0
    print(f"warfarin: owner MAE {mae:.2f}, zoo {len(zoo)} members ({zoo_s:.1f} s)", flush=True)

    # TAFA: the default rule (profile lines) and the pairs rule, each as the pipeline runs it
    tafa_runs = {}
    for name, rule in (("TAFA default rule", None), ("TAFA pairs rule", "pairs")):
        gcfg, match = sc.rule(rule)
        if args.quick:
            gcfg = dataclasses.replace(gcfg, n_candidates=4096)
        t0 = time.perf_counter()
        fps = generate(net, params, data.domain, gcfg, k_fp, match=match)
        fit_s = time.perf_counter() - t0
        rows, vt = verify_zoo(fps, zoo, (net, params), match, time_compile=True)
        tafa_runs[name] = {"rows": rows,
                           "scores": {r["id"]: r["score"] for r in rows[1:] if not r["failed"]},
                           "owner": {"zoo_path": rows[0]["score"]}, "fit_s": fit_s,
                           "verify_s": vt["verify_compiled"], "fps": fps, "gcfg": gcfg,
                           "match": match}
        print(f"{name}: {fps.n_pairs} pairs or lines, {fps.queries_per_suspect} queries, "
              f"generation {fit_s:.1f} s", flush=True)
    default = tafa_runs["TAFA default rule"]
    q = default["fps"].queries_per_suspect  # the baselines' budget: the default rule's
    labels = {r["id"]: r["label"] for r in default["rows"][1:]}
    kinds = {r["id"]: (r["group"], r["kind"]) for r in default["rows"][1:]}

    grouped = zoo.grouped()
    all_groups = select(grouped, None)
    # random-query similarity, same budget
    rq = RandomQuery.fit(net, params, data.domain, k_rq, q)
    rq_scores, _, rq_verify = score_groups(rq, all_groups)
    print(f"random-query: fit {rq.fit_seconds:.2f} s", flush=True)

    # MetaV: train on a stratified half of the utility-filtered positives + negatives
    eligible = sorted(i for i, lab in labels.items() if lab in (0, 1))
    tr, te = split_zoo(eligible, [labels[i] for i in eligible], 0.5, seed=args.seed)
    check_disjoint(tr, te)
    test_ids, train_ids = set(te), set(tr)
    mv = MetaV.fit(net, params, data.domain, k_mv, q, select(grouped, train_ids),
                   {i: int(labels[i]) for i in tr}, steps=args.metav_steps)
    not_train = {i for i in labels if i not in train_ids}
    mv_scores, _, mv_verify = score_groups(mv, select(grouped, not_train))
    assert not set(mv_scores) & train_ids
    print(f"MetaV: trained on {len(tr)} suspects (+ owner) in {mv.fit_seconds:.1f} s, loss "
          f"{mv.meta['loss_first']:.3f} -> {mv.meta['loss_last']:.3f}", flush=True)

    n_all = len(zoo)
    common = {"labels": labels, "kinds": kinds}

    def tafa_rows(ids, split):
        return [method_row(name, t["scores"], ids=ids, queries=t["fps"].queries_per_suspect,
                           data="none", fit_s=t["fit_s"], verify_s=t["verify_s"],
                           n_verified=n_all + 1, owner=t["owner"], split=split, **common)
                for name, t in tafa_runs.items()]

    methods = [
        *tafa_rows(None, "full zoo"),
        method_row("random-query similarity", rq_scores, ids=None, queries=q, data="none",
                   fit_s=rq.fit_seconds, verify_s=rq_verify, n_verified=n_all,
                   owner=owner_scores(rq, net, params), split="full zoo", **common),
        *tafa_rows(test_ids, "MetaV test half"),
        method_row("random-query similarity", rq_scores, ids=test_ids, queries=q, data="none",
                   fit_s=rq.fit_seconds, verify_s=rq_verify, n_verified=n_all,
                   owner=owner_scores(rq, net, params), split="MetaV test half", **common),
        method_row("MetaV", mv_scores, ids=test_ids, queries=mv.queries_per_suspect,
                   data="training zoo", fit_s=mv.fit_seconds, verify_s=mv_verify,
                   n_verified=len(mv_scores), owner=owner_scores(mv, net, params),
                   split="MetaV test half", **common),
    ]
    n_pos = sum(1 for v in labels.values() if v == 1)
    n_neg = sum(1 for v in labels.values() if v == 0)
    return {"scenario": "warfarin", "data": data.source, "synthetic": data.synthetic,
            "owner_test_mae": mae, "zoo": {"size": size, "dir": zoo_dir, "members": n_all,
                                           "positives": n_pos, "negatives": n_neg},
            "tafa": {name: {"n_pairs": t["fps"].n_pairs, "generation": t["gcfg"].to_json(),
                            "match": dataclasses.asdict(t["match"])}
                     for name, t in tafa_runs.items()},
            "metav": {**mv.meta, "train_ids": tr, "test_ids": te},
            "random_query": dict(rq.meta), "methods": methods}


# -- IPGuard on a small synthetic classifier ---------------------------------------------
def skin_ipguard(args) -> dict[str, Any]:
    spec = {"builder": "small_cnn", "num_classes": 7, "image_size": 28, "channels": 3}
    sc = dataclasses.replace(SKIN, owner_spec=spec)
    key = jax.random.key(args.seed + 1)
    k_owner, k_zoo, k_fp, k_ip, k_rq = jax.random.split(key, 5)
    data = load_data(sc, synthetic=True, seed=args.seed)
    net, params, acc = train_owner(sc, data, k_owner, steps=300)
    with tempfile.TemporaryDirectory(prefix="tafa-skin-zoo-") as tmp:  # cheap: not kept
        zoo = build_zoo(args.skin_zoo_dir or tmp, owner_net=net, owner_params=params,
                        data=data.zoo_data, recipe=skin_recipe("small"),
                        utility_metric="accuracy", key=k_zoo, owner_spec=spec)
    t0 = time.perf_counter()
    fps = None
    try:
        fps = generate(net, params, data.domain, sc.generation, k_fp)  # the pairs rule
    except ValueError as err:
        print(f"skin TAFA generation failed: {err}", flush=True)
    tafa_fit = time.perf_counter() - t0
    q = fps.queries_per_suspect if fps is not None else 99
    groups = select(zoo.grouped(), None)
    ids = [i for g in groups for i in g.ids]
    recs = {i: zoo.record(i) for i in ids}
    labels = {i: (None if r.excluded else r.member.label) for i, r in recs.items()}
    kinds = {i: ("excluded" if r.excluded else r.member.group, r.member.kind)
             for i, r in recs.items()}
    common = {"labels": labels, "kinds": kinds, "ids": None, "split": "full zoo",
              "data": "none", "queries": q}
    methods = []
    if fps is not None:
        rows, vt = verify_zoo(fps, zoo, (net, params), sc.match, time_compile=True)
        methods.append(method_row("TAFA (skin pairs rule)", {r["id"]: r["score"] for r in rows[1:]},
                                  fit_s=tafa_fit, verify_s=vt["verify_compiled"],
                                  n_verified=len(ids) + 1, owner={"zoo_path": rows[0]["score"]},
                                  **common))
    ip = IPGuard.fit(net, params, data.domain, k_ip, q)
    s, _, v = score_groups(ip, groups)
    methods.append(method_row("IPGuard", s, fit_s=ip.fit_seconds, verify_s=v,
                              n_verified=len(ids), owner=owner_scores(ip, net, params), **common))
    rq = RandomQuery.fit(net, params, data.domain, k_rq, q)
    s, _, v = score_groups(rq, groups)
    methods.append(method_row("random-query similarity", s, fit_s=rq.fit_seconds, verify_s=v,
                              n_verified=len(ids), owner=owner_scores(rq, net, params), **common))
    print(f"skin (synthetic): owner accuracy {acc:.3f}, {len(ids)} suspects", flush=True)
    return {"scenario": "skin (SYNTHETIC images, SmallCNN owner, small zoo)",
            "data": data.source, "synthetic": True, "owner_test_accuracy": acc,
            "zoo": {"size": "small", "members": len(ids),
                    "positives": sum(v == 1 for v in labels.values()),
                    "negatives": sum(v == 0 for v in labels.values())},
            "ipguard": dict(ip.meta), "methods": methods}


# -- report ----------------------------------------------------------------------------
def _f(v, fmt=".3f") -> str:
    return "-" if v is None else format(v, fmt)


def method_table(methods) -> list[str]:
    lines = ["| method | suspects | ARUC | ROC-AUC | TPR@1%FPR | queries / suspect | data needed "
             "| generation (fit) s | verification ms / suspect | owner score | distillation "
             "mean |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in methods:
        own = m["owner_score"]
        own_s = " / ".join(f"{v:.3f}" for v in own.values())
        lines.append(
            f"| {m['method']} | {m['split']} ({m['n_pos']}+/{m['n_neg']}-) | {_f(m.get('aruc'))} "
            f"| {_f(m.get('roc_auc'))} | {_f(m.get('tpr_at_1fpr'), '.2f')} | "
            f"{m['queries_per_suspect']} | {m['data_needed']} | {m['fit_s']:.2f} | "
            f"{1e3 * m['verify_per_suspect_s']:.3f} | {own_s} | {_f(m['distillation_mean'])} |")
    return lines


def kind_table(methods) -> list[str]:
    keys = sorted({k for m in methods for k in m["kind_means"]},
                  key=lambda k: (GROUP_ORDER.get(k.split(":")[0], 9), k))
    head = [f"{m['method']} ({'test' if m['split'] != 'full zoo' else 'full'})" for m in methods]
    lines = ["| group | kind | " + " | ".join(head) + " |",
             "|---|---|" + "---|" * len(methods)]
    for k in keys:
        g, kind = k.split(":")
        cells = []
        for m in methods:
            e = m["kind_means"].get(k)
            cells.append("-" if e is None else f"{e['mean']:.2f} (n={e['n']})")
        label = "distillation (own row, not in metrics)" if g == "distillation" else (
            "excluded by utility filter" if g == "excluded" else g)
        lines.append(f"| {label} | {kind} | " + " | ".join(cells) + " |")
    return lines


def to_markdown(result: dict[str, Any]) -> str:
    w = result["warfarin"]
    z = w["zoo"]
    mv = w["metav"]
    lines = [
        f"# Baselines vs TAFA: warfarin ({z['size']} zoo: {z['positives']} positives, "
        f"{z['negatives']} negatives after the utility filter)", "",
        f"Owner test MAE {w['owner_test_mae']:.2f} mg/week. Data: {w['data']}. "
        f"Command: `{result['command']}`. Machine: {result['machine']['cpu']}, "
        f"{result['machine']['cores']} cores, JAX {result['machine']['jax']}.", "",
        "- TAFA: the default warfarin rule, profile lines (`WARFARIN.rule()`), and the pairs "
        "rule (`WARFARIN.rule(\"pairs\")`), each generated with the owner check and verified "
        "by `verify_zoo` with its own matching settings. Score = group matching rate.",
        "- Random-query similarity: the default rule's query budget of uniform draws from the "
        "input domain; "
        "score = exp(-max(RMSE - 1e-4 s, 0) / s), s = std of the owner's outputs on the queries.",
        f"- MetaV: {mv['n_queries']} learned inputs + MLP verifier (hidden {mv['hidden']}, "
        f"{mv['steps']} full-batch Adam steps), trained on a random stratified half of the "
        f"utility-filtered positives and negatives ({mv['n_train_pos']} positives incl. the "
        f"owner, {mv['n_train_neg']} negatives), tested on the other half "
        f"({len(mv['test_ids'])} suspects, disjoint: checked in code). "
        "TAFA and random-query are also shown on that test half.",
        "- Owner score: zoo path / black-box path (TAFA: zoo path). Distillation is not in "
        "ARUC/AUC/TPR; its mean score is its own column and row. Verification time is the "
        "compiled (second) call over the whole zoo divided by the suspects it scored.", "",
        *method_table(w["methods"]), "", "## Mean score per obfuscation kind (warfarin)", "",
        *kind_table(w["methods"]), ""]
    s = result.get("skin")
    if s is not None:
        zs = s["zoo"]
        lines += [
            "## IPGuard (classification only): SYNTHETIC skin images, SmallCNN owner", "",
            f"A mechanism check, not a headline result: DermaMNIST-shaped synthetic images, "
            f"a SmallCNN owner (test accuracy {s['owner_test_accuracy']:.3f}) and the small "
            f"skin zoo ({zs['positives']} positives, {zs['negatives']} negatives; few training "
            "steps), so the metrics rest on very few negatives. The ResNet-18 headline skin "
            "zoo on real DermaMNIST is too costly for this 2-core run.", "",
            *method_table(s["methods"]), "", *kind_table(s["methods"]), ""]
    elif result.get("skin_skipped"):
        lines += [f"IPGuard: {result['skin_skipped']}", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--quick", action="store_true", help="small zoo, short owner training")
    ap.add_argument("--zoo-dir", default=None,
                    help="warfarin zoo dir (default: OUT/design_zoo_{size}, built if missing)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metav-steps", type=int, default=1000)
    ap.add_argument("--skin-zoo-dir", default=None,
                    help="keep the synthetic skin zoo here (default: a temporary directory)")
    ap.add_argument("--no-ipguard", action="store_true", help="skip the synthetic skin section")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "command": ("python benchmarks/baselines.py " + " ".join(sys.argv[1:] if argv is None
                                                                  else argv)).strip(),
        "machine": machine_info(), "warfarin": warfarin(args)}
    if args.no_ipguard:
        result["skin_skipped"] = "skipped (--no-ipguard); see tests/test_baselines.py"
    else:
        result["skin"] = skin_ipguard(args)
    result["total_s"] = time.perf_counter() - t0
    out = Path(args.out)
    stem = "baselines_quick" if args.quick else "baselines"
    write_json(out / f"{stem}.json", result)
    md = to_markdown(result)
    atomic_write_bytes(out / f"{stem}.md", md.encode())
    print(md)
    print(f"wrote {out / stem}.json and .md ({result['total_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
