"""The ``tafa-jax`` command.

User mistakes (a missing file, a bad option value, a data set that is not
there) print one line and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tafa_jax import compile_cache as _cc
from tafa_jax._version import __version__


class UserError(Exception):
    """A mistake the user can fix: shown as one line, exit code 2."""


# -- helpers ---------------------------------------------------------------------------
def _progress():
    """A rich progress bar callback ``(message, fraction)``, or plain lines without a TTY."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if not sys.stderr.isatty():
        t0 = time.perf_counter()
        last = {"msg": None}

        def plain(msg: str, frac: float) -> None:
            if msg != last["msg"]:
                print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)
                last["msg"] = msg

        return plain, None
    bar = Progress(TextColumn("{task.description:<40}"), BarColumn(), TimeElapsedColumn(),
                   transient=False)
    task = bar.add_task("starting", total=1.0)

    def cb(msg: str, frac: float) -> None:
        bar.update(task, description=msg[:40], completed=frac)

    return cb, bar


def _run_with_bar(fn, *args, **kwargs):
    cb, bar = _progress()
    if bar is None:
        return fn(*args, progress=cb, **kwargs)
    with bar:
        return fn(*args, progress=cb, **kwargs)


def _print_result(result: dict) -> None:
    from tafa_jax.report import format_console_table

    print(format_console_table(result))
    m = result.get("metrics", {})
    t = result.get("timings", {})
    print()
    if result.get("synthetic"):
        print("NOTE: these results use SYNTHETIC data, as requested.")
    cal = result.get("calibration")
    if "aruc" in m:
        print(f"{'calibrated score: ' if cal else ''}ARUC {m['aruc']:.3f} | ROC-AUC "
              f"{m['roc_auc']:.3f} | TPR@1%FPR {m['tpr_at_1fpr']:.3f} | owner rate "
              f"{result.get('owner_rate')}")
    r = (cal or {}).get("metrics_matching_rate", {})
    if cal and "aruc" in r:
        print(f"matching rate:    ARUC {r['aruc']:.3f} | ROC-AUC {r['roc_auc']:.3f} | "
              f"TPR@1%FPR {r['tpr_at_1fpr']:.3f}  (calibration: {cal['copies']} copies, "
              f"{cal['independent']} independent models of the reference zoo, trained on "
              f"{cal.get('reference_data', 'the data')})")
    if t:
        print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()))


def _rule(sc, name: str | None):
    """A scenario's named rule ``(generation, match)``; a one-line error otherwise."""
    try:
        return sc.rule(name)
    except ValueError as err:
        raise UserError(str(err)) from err


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
    return value


def _positive_int(text: str) -> int:
    return _int_at_least(text, 1)


def _nonneg_int(text: str) -> int:
    return _int_at_least(text, 0)


def _scenario(name: str):
    from tafa_jax.scenarios import get_scenario

    return get_scenario(name)


def _load_callable(spec: str):
    if ":" not in spec:
        raise UserError(f"--suspect expects MODULE:FUNCTION, got {spec!r}")
    mod_name, fn_name = spec.split(":", 1)
    sys.path.insert(0, str(Path.cwd()))
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as err:
        raise UserError(f"cannot import module {mod_name!r} for --suspect: {err}") from err
    fn = getattr(mod, fn_name, None)
    if not callable(fn):
        raise UserError(f"{spec!r}: module {mod_name!r} has no callable {fn_name!r}")
    return fn


def _floats(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as err:
        raise UserError(f"expected comma-separated numbers, got {text!r}") from err
    if not vals:
        raise UserError("expected at least one number")
    return vals


# -- commands --------------------------------------------------------------------------
def cmd_demo(args) -> int:
    from tafa_jax.pipeline import quick_generation, run_scenario

    sc = _scenario("warfarin")
    gen = None
    size = "headline"
    if args.quick:  # a reduced configuration for CI and smoke tests
        size = "small"
        gen = quick_generation(_rule(sc, args.rule)[0])
    if args.choose_from is not None:
        gen = _groups_and_pool(gen or _rule(sc, args.rule)[0], args)
    ref = _reference(sc, args.calibrate, args.quick)
    t0 = time.perf_counter()
    result = _run_with_bar(run_scenario, sc, args.out, zoo_size=size, seed=args.seed,
                           generation=gen, owner_steps=300 if args.quick else None,
                           rule=args.rule, calibrate=ref, calibration_keys=args.calibration_keys)
    _print_result(result)
    print(f"demo finished in {time.perf_counter() - t0:.1f} s; report in {args.out}/report.md")
    return 0


def cmd_run(args) -> int:
    from tafa_jax.pipeline import run_scenario

    sc = _scenario(args.scenario)
    _rule(sc, args.rule)  # a rule the scenario lacks fails before any training
    ref = _reference(sc, args.calibrate, args.zoo_size == "small")
    result = _run_with_bar(
        run_scenario, sc, args.out, zoo_size=args.zoo_size, n_pairs=args.pairs,
        generation=(None if args.choose_from is None
                    else _groups_and_pool(_rule(sc, args.rule)[0], args)),
        distance=args.distance, seed=args.seed, data_dir=args.data_dir, synthetic=args.synthetic,
        owner_steps=args.owner_steps, sweep=_floats(args.sweep) if args.sweep else (),
        rule=args.rule, calibrate=ref, calibration_keys=args.calibration_keys)
    _print_result(result)
    print(f"report in {args.out}/report.md")
    return 0


def cmd_train_owner(args) -> int:
    import jax

    from tafa_jax.pipeline import load_data, owner_training_steps, save_owner, train_owner

    sc = _scenario(args.scenario)
    data = load_data(sc, data_dir=args.data_dir, synthetic=args.synthetic, seed=args.seed)
    net, params, utility = train_owner(sc, data, jax.random.key(args.seed), steps=args.steps)
    save_owner(args.out, sc, params, utility, data, steps=owner_training_steps(sc, args.steps))
    print(f"owner of {sc.name} trained: {sc.utility_metric} {utility:.4g} on the test split; "
          f"saved to {args.out}" + (" (SYNTHETIC data)" if data.synthetic else ""))
    return 0


def _saved_owner(args):
    """The saved owner, its scenario and that scenario's data (synthetic if the owner's was)."""
    from tafa_jax.pipeline import load_data, load_owner

    net, params, meta = load_owner(args.owner)
    sc = _scenario(meta["scenario"])
    data = load_data(sc, data_dir=args.data_dir, synthetic=bool(meta.get("synthetic")),
                     seed=args.seed)
    return net, params, meta, sc, data


def cmd_build_zoo(args) -> int:
    import jax

    from tafa_jax.data.domains import Domain
    from tafa_jax.pipeline import load_owner, make_zoo, owner_labelled_data

    key = jax.random.key(args.seed + 1)
    if args.owner_labelled:
        # no data rows: the owner's recorded domain, split sizes and test error (older
        # owner directories lack the sizes; their data is read for them)
        net, params, meta = load_owner(args.owner)
        sc = _scenario(meta["scenario"])
        sizes = meta.get("split_sizes") or _saved_owner(args)[4].split_sizes
        data = owner_labelled_data(sc, Domain.from_json(meta["domain"]), sizes, net, params,
                                   float(meta["utility"]), jax.random.fold_in(key, 2))
        key = jax.random.fold_in(key, 1)  # not the members' keys of a zoo on the data
    else:
        net, params, meta, sc, data = _saved_owner(args)

    def show(e):
        print(f"  {e['event']:8s} {e['group']:<16s} {e.get('seconds', 0):6.1f}s "
              f"({e.get('trained', 0)} trained, {e.get('skipped', 0)} skipped "
              f"of {e.get('total', '?')})", flush=True)

    # the fashion headline zoo's negatives train as long as the owner did
    steps = args.owner_steps if args.owner_steps is not None else meta.get("train_steps")
    if sc.name == "fashion" and args.size == "headline" and steps is None:
        raise UserError(f"{args.owner}/owner.json does not say how many generator iterations "
                        "the owner trained (it predates train_steps), and the headline zoo's "
                        "negatives train as long: give --owner-steps N")
    zoo = make_zoo(sc, args.out, net, params, data, key, size=args.size, progress=show,
                   owner_steps=steps)
    print(f"zoo of {len(zoo.records)} suspects in {args.out} "
          f"({zoo.trained_groups} groups trained, {zoo.skipped_groups} resumed)"
          + (", trained on owner-labelled domain samples" if args.owner_labelled else ""))
    return 0


def cmd_fingerprint(args) -> int:
    import jax

    from tafa_jax.data.domains import Domain
    from tafa_jax.fingerprint import generate, save
    from tafa_jax.pipeline import load_owner

    net, params, meta = load_owner(args.owner)
    sc = _scenario(meta["scenario"])
    cfg = _groups_and_pool(_rule(sc, args.rule)[0], args)
    if args.distance is not None:
        cfg = dataclasses.replace(cfg, distances=(args.distance,))
    if args.candidates is not None:
        cfg = dataclasses.replace(cfg, n_candidates=args.candidates)
    domain = Domain.from_json(meta["domain"])
    # the groups the owner itself fails under the rule they will be verified with
    # are replaced by the next eligible ones
    fps = generate(net, params, domain, cfg, jax.random.key(args.seed),
                   match=sc.match_for(cfg.probes, cfg.siblings))
    fps.meta["scenario"] = sc.name
    save(args.out, fps)
    print(f"{fps.n_groups} fingerprint groups ({fps.n_pairs} pairs, "
          f"{fps.queries_per_suspect} queries per suspect) written to {args.out} (mode 0600)")
    return 0


def _match_of(fps):
    """The matching rule a fingerprint file needs: its scenario's, by its layout."""
    from tafa_jax.scenarios import get_scenario
    from tafa_jax.verify import MatchConfig

    scen = fps.meta.get("scenario")
    match = get_scenario(scen).match_for(fps.n_probes, fps.lines_per_group) if scen else None
    return match or MatchConfig()


def _zoo_suspects(path):
    from tafa_jax.pipeline import zoo_suspects
    from tafa_jax.zoo import load_zoo

    zoo = load_zoo(path)
    return zoo, zoo_suspects(zoo)


def cmd_calibrate(args) -> int:
    from tafa_jax.fingerprint import load
    from tafa_jax.pipeline import calibrate_on_zoo
    from tafa_jax.verify.calibrate import save_calibration
    from tafa_jax.zoo import load_zoo

    sets = [load(p) for p in args.fingerprints]
    match = _match_of(sets[0])
    for path, f in zip(args.fingerprints[1:], sets[1:]):
        if _match_of(f) != match:
            raise UserError(f"{path} is matched by another rule than {args.fingerprints[0]}; "
                            "one table is for one rule")
    zoo = load_zoo(args.zoo)
    leave_out = ({r.digest for r in load_zoo(args.leave_out_zoo).records}
                 if args.leave_out_zoo else set())
    cal = calibrate_on_zoo(sets, zoo, match, smoothing=args.smoothing,
                           source=str(args.zoo), leave_out=leave_out,
                           model="attacks alike" if args.attacks_alike else args.model)
    save_calibration(args.out, cal)
    print(f"calibration on {cal.meta['copies']} copies and {cal.meta['independent']} "
          f"independent models (groups of {cal.group_size}; {cal.meta['left_out']} left "
          f"out; {len(sets)} fingerprint set(s)) written to {args.out}")
    print(f"model: {cal.meta.get('model')}" + (f" of {len(cal.attack_names)} attacks"
                                                if cal.mixture else "")
          + ("; an owner-labelled zoo: the copies its utility filter flagged are kept"
             if cal.meta.get("flagged_copies_kept") else ""))
    print(("all copies pooled, " if cal.mixture else "") +
          "evidence count: log-likelihood ratio  " + ", ".join(
              f"{s}: {v:+.1f}" for s, v in enumerate(cal.llr)))
    return 0


def cmd_verify(args) -> int:
    from tafa_jax.fingerprint import load
    from tafa_jax.report import format_console_table, write_report
    from tafa_jax.verify import BlackBoxSuspect, verify

    fps = load(args.fingerprints)
    if not args.zoo and not args.suspect:
        raise UserError("give a suspect zoo (--zoo DIR) and/or black-box suspects "
                        "(--suspect MODULE:FUNCTION)")
    scen = fps.meta.get("scenario")
    match = _match_of(fps)
    if args.tau is not None:
        match = dataclasses.replace(match, tau=args.tau)
    cal = None
    if args.calibration:
        from tafa_jax.verify.calibrate import check_layout, load_calibration

        cal = load_calibration(args.calibration)
        check_layout(cal, fps.n_probes, fps.lines_per_group, match)
    suspects = []
    zoo = None
    zoo_ids: set[str] = set()
    if args.zoo:
        zoo, suspects = _zoo_suspects(args.zoo)
        zoo_ids = {i for s in suspects for i in s.ids}
    for spec in args.suspect or []:
        suspects.append(BlackBoxSuspect(spec, _load_callable(spec)))
    res = verify(fps, suspects, match, batch_size=args.batch_size, timeout=args.timeout,
                 retries=args.retries)
    if cal is not None:
        from tafa_jax.verify.calibrate import rescore

        res = rescore(res, cal, match.tau)
    rows = []
    for r in res:
        rec = zoo.record(r.id) if zoo is not None and r.id in zoo_ids else None
        label = None
        kind, group, utility = "black-box", "black-box", None
        if rec is not None:
            kind, utility = rec.member.kind, rec.utility
            group = "excluded" if rec.excluded else rec.member.group
            label = rec.member.label if group in ("positive", "negative") else None
        rows.append({"id": r.id, "kind": kind, "label": label, "group": group,
                     "score": r.score, "matching_rate": r.rate, "decision": r.decision,
                     "failed": r.failed, "reason": r.reason, "utility": utility})
    result = {"title": f"TAFA verification: {Path(args.fingerprints).name}",
              "scenario": scen or "custom", "data_source": "fingerprint file",
              "synthetic": False, "suspects": rows, "threshold": match.tau,
              "config": {"match": dataclasses.asdict(match),
                         "calibration": None if cal is None else str(args.calibration),
                         "generation": fps.meta.get("config")},
              "n_pairs": fps.n_pairs, "n_groups": fps.n_groups,
              "queries_per_suspect": fps.queries_per_suspect,
              "pair_distance": float(fps.distance[0])}
    if args.out:
        write_report(args.out, result)
    print(format_console_table(result) if zoo is not None else "")
    for r in res:
        verdict = ("FAILED: " + (r.reason or "")) if r.failed else (
            f"{'calibrated score' if cal is not None else 'score'} {r.score:.3f} -> "
            f"{'PIRATED' if r.decision else 'independent'}")
        print(f"{r.id}: {verdict}")
    return 0


def cmd_report(args) -> int:
    from tafa_jax.report import format_console_table, load_report, write_report

    result = load_report(args.dir)
    if args.rewrite:
        write_report(args.dir, result)
    print(format_console_table(result))
    return 0


def cmd_sweep(args) -> int:
    import jax

    from tafa_jax.pipeline import distance_sweep
    from tafa_jax.report import write_report
    from tafa_jax.zoo import load_zoo

    net, params, meta, sc, data = _saved_owner(args)
    zoo = load_zoo(args.zoo)
    gen = _rule(sc, args.rule)[0]
    rows = distance_sweep(net, params, data.domain, zoo, gen,
                          sc.match_for(gen.probes, gen.siblings),
                          _floats(args.distances), jax.random.key(args.seed))
    result = {"title": f"ARUC against pair distance: {sc.name}", "scenario": sc.name,
              "rule": args.rule,
              "data_source": meta.get("data_source", "?"),
              "synthetic": bool(meta.get("synthetic")), "suspects": [],
              "distance_sweep": rows}
    write_report(args.out, result)
    for r in rows:
        aruc = "n/a" if r.get("aruc") is None else f"{r['aruc']:.3f}"
        print(f"d={r['d']:<8g} ARUC={aruc}" + (f"  ({r['error']})" if r.get("error") else ""))
    print(f"plot in {args.out}/aruc_vs_distance.png")
    return 0


# -- parser ------------------------------------------------------------------------
def _groups_and_pool(gen, args):
    """``gen`` with ``--pairs`` (groups; the rule's pool scaled alike) and then
    ``--choose-from`` (the pool asked for, not scaled) applied, where given."""
    if getattr(args, "pairs", None) is not None:
        gen = gen.with_groups(args.pairs)
    if args.choose_from is not None:
        gen = dataclasses.replace(gen, choose_from=args.choose_from)
    return gen


def _choose_from_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--choose-from", type=_nonneg_int, metavar="N",
                   help="generate a pool of N fingerprint groups and keep those the owner's "
                        "own magnitude-pruned copies match most (0: no choice; default: the "
                        "rule's, 20 for warfarin's profile rule, else 0, which --pairs "
                        "scales with the groups kept)")


def _rule_arg(p: argparse.ArgumentParser, default: str | None = None) -> None:
    from tafa_jax.scenarios import RULE_NAMES

    p.add_argument("--rule", default=default, choices=RULE_NAMES,
                   help="fingerprint rule: profile lines (the default in every scenario; "
                        "provisional for fashion and skin) or 3-probe pairs (14x fewer "
                        "queries, weaker separation)" if default is None else
                        f"fingerprint rule (default {default}): pairs, whose distance is "
                        "the paper's Fig. 7 knob, or profile lines (then d is their length)")


def _calibrate_arg(p: argparse.ArgumentParser) -> None:
    from tafa_jax.scenarios import CALIBRATION_KEYS, REFERENCE_DATA

    choices = (*REFERENCE_DATA, "none")
    p.add_argument("--calibrate", nargs="?", const="data", choices=choices,
                   metavar="{" + ",".join(choices) + "}",
                   help="score by the calibrated score: build a reference zoo from another "
                        "key, trained on the scenario's data (data; the flag alone) or on "
                        "domain samples labelled by the owner (owner-labelled: no data rows; "
                        "supervised scenarios), fit the table on it and score the zoo with "
                        "it (the rate is reported too); none: the matching rate. Default: "
                        "the scenario's on the headline zoo (warfarin: owner-labelled; fashion "
                        "and skin: data), none on small zoos")
    p.add_argument("--calibration-keys", type=int, default=CALIBRATION_KEYS, metavar="N",
                   help="the table pools the reference zoo's groups under N fingerprint "
                        f"sets: this run's and N - 1 from other keys (default "
                        f"{CALIBRATION_KEYS})")


def _reference(sc, arg: str | None, small: bool) -> str | None:
    """What ``--calibrate`` asks for: reference data, or None for the matching rate."""
    if arg is None:
        return None if small else sc.default_calibration
    return None if arg == "none" else arg


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tafa-jax",
        description="Task-agnostic fingerprinting of ReLU networks (TAFA) in JAX.")
    p.add_argument("--version", action="version", version=f"tafa-jax {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser("demo", help="the warfarin scenario end to end on real IWPC data")
    d.add_argument("--out", default="tafa-demo", help="report directory (default tafa-demo)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--quick", action="store_true", help="a reduced configuration (CI)")
    _rule_arg(d)
    _choose_from_arg(d)
    _calibrate_arg(d)
    d.set_defaults(fn=cmd_demo)

    r = sub.add_parser("run", help="one scenario end to end")
    r.add_argument("--scenario", required=True, choices=["warfarin", "fashion", "skin"])
    r.add_argument("--zoo-size", default="headline", choices=["small", "headline"])
    r.add_argument("--pairs", type=int, help="fingerprint groups (default: the scenario's)")
    r.add_argument("--distance", type=float,
                   help="pair distance d (profile lines: the length each line's probes span)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", required=True, help="output directory")
    r.add_argument("--data-dir", help="where the data set lives")
    r.add_argument("--synthetic", action="store_true",
                   help="use SYNTHETIC data (labelled as such in every output)")
    r.add_argument("--owner-steps", type=_positive_int,
                   help="owner training steps (fashion: generator iterations, 20000 by "
                        "default; its headline zoo's negatives train as long and its "
                        "pirates fine-tune a tenth as long)")
    r.add_argument("--sweep", help="also sweep these pair distances (comma-separated; "
                                   "profile lines: their lengths)")
    _rule_arg(r)
    _choose_from_arg(r)
    _calibrate_arg(r)
    r.set_defaults(fn=cmd_run)

    t = sub.add_parser("train-owner", help="train and save the owner model")
    t.add_argument("--scenario", required=True, choices=["warfarin", "fashion", "skin"])
    t.add_argument("--out", required=True)
    t.add_argument("--data-dir")
    t.add_argument("--synthetic", action="store_true")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=_positive_int,
                   help="training steps (default: the scenario's); recorded for build-zoo")
    t.set_defaults(fn=cmd_train_owner)

    b = sub.add_parser("build-zoo", help="build (or resume) a labelled suspect zoo")
    b.add_argument("--owner", required=True, help="owner directory (from train-owner)")
    b.add_argument("--out", required=True)
    b.add_argument("--size", default="headline", choices=["small", "headline"])
    b.add_argument("--data-dir")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--owner-steps", type=_positive_int,
                   help="fashion: the owner's generator iterations, when owner.json does not "
                        "record them (its headline zoo's negatives train as long)")
    b.add_argument("--owner-labelled", action="store_true",
                   help="train on domain samples labelled by the owner, with its recorded "
                        "error, in place of the data's rows (as many as each split had): a "
                        "reference zoo for `calibrate` that needs no data rows (its members' "
                        "keys differ from a zoo on the data built with the same --seed)")
    b.set_defaults(fn=cmd_build_zoo)

    f = sub.add_parser("fingerprint", help="write a fingerprint file from a saved owner")
    f.add_argument("--owner", required=True)
    f.add_argument("--out", required=True, help="fingerprint file (.npz)")
    f.add_argument("--pairs", type=int)
    f.add_argument("--distance", type=float)
    f.add_argument("--candidates", type=int)
    _choose_from_arg(f)
    f.add_argument("--seed", type=int, default=0)
    _rule_arg(f)
    f.set_defaults(fn=cmd_fingerprint)

    v = sub.add_parser("verify", help="verify suspects against a fingerprint file")
    v.add_argument("--fingerprints", required=True)
    v.add_argument("--zoo", help="a zoo directory (from build-zoo)")
    v.add_argument("--suspect", action="append",
                   help="a black-box suspect MODULE:FUNCTION mapping a numpy batch to outputs")
    v.add_argument("--out", help="write a report directory")
    v.add_argument("--tau", type=float, help="decision threshold")
    v.add_argument("--batch-size", type=int, default=256)
    v.add_argument("--timeout", type=float)
    v.add_argument("--retries", type=int, default=0)
    v.add_argument("--calibration", help="score by a calibration file (from calibrate): the "
                                         "posterior probability of a copy, not the matching "
                                         "rate; the decision is score >= --tau (default 0.5)")
    v.set_defaults(fn=cmd_verify)

    c = sub.add_parser("calibrate", help="fit a calibrated score on a labelled reference zoo")
    c.add_argument("--fingerprints", required=True, nargs="+",
                   help="one fingerprint set, or several of one layout (other keys) whose "
                        "groups pool into one table")
    c.add_argument("--zoo", required=True, help="a labelled zoo directory (from build-zoo), "
                                                "not the suspects to be judged")
    c.add_argument("--out", required=True, help="calibration file (.json)")
    c.add_argument("--leave-out-zoo", help="a zoo the table will score: reference members "
                   "identical to its members (same params digest) stay out of the table")
    model = c.add_mutually_exclusive_group()
    model.add_argument("--model", default="mixture", choices=["mixture", "pooled"],
                       help="mixture (default): a suspect is scored against each attack of "
                            "the reference zoo on its own, mixed with equal weights; pooled: "
                            "every copy's groups in one distribution (docs/method.md)")
    model.add_argument("--attacks-alike", action="store_true",
                       help="one distribution, the mean of the attacks' own (in place of "
                            "--model; see docs/method.md)")
    c.add_argument("--smoothing", type=float, default=1.0,
                   help="add this count to every evidence count (default 1)")
    c.set_defaults(fn=cmd_calibrate)

    rp = sub.add_parser("report", help="print (and optionally re-render) a report directory")
    rp.add_argument("dir")
    rp.add_argument("--rewrite", action="store_true", help="re-write markdown and plots")
    rp.set_defaults(fn=cmd_report)

    s = sub.add_parser("sweep-distance", help="Fig. 7: ARUC against the pair distance")
    s.add_argument("--owner", required=True)
    s.add_argument("--zoo", required=True)
    s.add_argument("--distances", required=True, help="comma-separated pair distances")
    s.add_argument("--out", required=True)
    s.add_argument("--data-dir")
    s.add_argument("--seed", type=int, default=0)
    _rule_arg(s, default="pairs")
    s.set_defaults(fn=cmd_sweep)
    for cmd in sub.choices.values():  # every command, after its name
        cmd.add_argument(
            "--compile-cache", nargs="?", const="", default=None, metavar="DIR",
            help="keep compiled programs in DIR (default ~/.cache/tafa-jax/xla) and reuse "
                 f"them in later runs; also ${_cc.ENV}=DIR. Write --compile-cache=DIR "
                 "before a positional argument. A private directory: JAX runs what it "
                 "loads from there")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        cache = args.compile_cache if args.compile_cache is not None else (
            os.environ.get(_cc.ENV) or None)
        if cache is not None:
            _cc.enable_compile_cache(cache)
        return int(args.fn(args))
    except (UserError, ValueError, FileNotFoundError, NotImplementedError) as err:
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"tafa-jax: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
