"""Run the tafa-jax benchmark suite and write ``results.json`` and ``summary.md``.

    python -m benchmarks.run                      # full CPU suite (a few minutes)
    python -m benchmarks.run --quick              # CI smoke: tiny sizes, seconds
    python -m benchmarks.run --gpu                # full size: ResNet-18 at 224, zoos of 4096+
    python -m benchmarks.run --only verify,generate --out /tmp/bench

Benchmarks (``--only`` takes any of them, comma-separated):

* ``verify``: verification throughput, vmapped zoo vs per-model JAX loop vs
  per-model PyTorch loop, and achieved FLOP/s vs the measured matmul peak;
* ``generate``: fingerprint-search throughput and its overhead over bare
  forward passes;
* ``train``: zoo training, vmapped vs sequential (``benchmarks/zoo_training.py``);
* ``scaling``: time vs zoo size N and vs candidate lines M, with a PNG plot;
* ``e2e``: the stage split of ``tafa_jax.pipeline``'s demo, when it exists.

Every timing compiles first (compile time reported separately), blocks with
``block_until_ready``, and reports the median of several repeats with min/max
and quartiles. All ratios compare arms measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import inspect
import io
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import generation, scaling, verification  # noqa: E402
from benchmarks._common import cores, load_torch, machine_info, matmul_peak  # noqa: E402
from benchmarks.generation import GenCase  # noqa: E402
from benchmarks.verification import VerifyCase  # noqa: E402
from tafa_jax import nets  # noqa: E402
from tafa_jax.data import Domain, image_domain, noise_domain, tabular_domain  # noqa: E402
from tafa_jax.io import atomic_write_bytes, write_json  # noqa: E402

BENCHMARKS = ("verify", "generate", "train", "scaling", "e2e")
FORMAT_VERSION = 1
TORCHVISION_WIDTHS = (64, 128, 256, 512)


def warfarin_domain(seed: int = 0) -> Domain:
    """A warfarin-shaped box: 31 standardised features, the last 16 of them binary."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2000, 31)).astype(np.float32)
    mask = np.arange(31) >= 15
    x[:, mask] = rng.integers(0, 2, size=(2000, int(mask.sum())))
    return tabular_domain(x, mask, margin=0.1, name="warfarin_synthetic")


@dataclasses.dataclass(frozen=True)
class Plan:
    """Sizes of one mode (quick, cpu, gpu)."""

    mode: str
    repeats: int
    peak_sizes: tuple[int, ...]
    verify_pairs: int
    verify: tuple[VerifyCase, ...]
    generate: tuple[GenCase, ...]
    train_args: tuple[str, ...]
    scaling_n: tuple[int, ...]
    scaling_m: tuple[int, ...]
    scaling_chunk: int
    min_total_s: float = 0.2


def make_plan(mode: str) -> Plan:
    """The benchmark sizes for ``mode`` in ``("quick", "cpu", "gpu")``."""
    warfarin = nets.mlp(31, (100,), 1)
    gen = nets.generator()
    cnn = nets.small_cnn(7, 28, 3)
    wdom, ndom = warfarin_domain(), noise_domain(64)
    img28 = image_domain((28, 28, 3))
    if mode == "quick":
        rn_gen = nets.resnet18(7, 16, widths=(4, 4, 8, 8))
        return Plan(
            mode, 2, (128, 256), 100,
            (VerifyCase("warfarin_mlp", warfarin, wdom, 0.1, "identity", (16, 64)),
             VerifyCase("generator", gen, ndom, 0.1, "atanh", (4,)),
             VerifyCase("small_cnn", cnn, img28, 0.05, "identity", (4,))),
            (GenCase("warfarin_mlp", warfarin, wdom, 0.1, "identity", 256, 128, gen_pairs=10),
             GenCase("generator", gen, ndom, 0.1, "atanh", 128, 64, gen_pairs=None),
             GenCase("resnet18_16_narrow", rn_gen, image_domain((16, 16, 3)), 1e-3,
                     "identity", 8, 8, grid=16, gen_pairs=None, repeats=1)),
            ("--models", "4", "--steps", "20", "--repeats", "1"),
            (4, 16, 64), (64, 128), 64, min_total_s=0.0,
        )
    if mode == "cpu":
        rn = nets.resnet18(7, 32, widths=(8, 16, 32, 64))
        rn_full = nets.resnet18(7, 32, widths=TORCHVISION_WIDTHS)
        img32 = image_domain((32, 32, 3))
        return Plan(
            mode, 5, (1024, 2048), 100,
            (VerifyCase("warfarin_mlp", warfarin, wdom, 0.1, "identity",
                        (16, 64, 256, 1024, 4096)),
             VerifyCase("generator", gen, ndom, 0.1, "atanh", (4, 16, 64), chunk=64),
             VerifyCase("small_cnn", cnn, img28, 0.05, "identity", (16, 128), chunk=128),
             VerifyCase("small_resnet18", rn, img32, 1e-3, "identity", (4, 16), chunk=16)),
            (GenCase("warfarin_mlp", warfarin, wdom, 0.1, "identity", 8192, 1024),
             GenCase("generator", gen, ndom, 0.1, "atanh", 2048, 512, gen_pairs=20),
             GenCase("resnet18_32", rn_full, img32, 1e-3, "identity", 16, 16,
                     gen_pairs=None, repeats=2)),
            ("--models", "64", "--steps", "200", "--repeats", "3"),
            (1, 4, 16, 64, 256, 1024, 4096), (256, 1024, 4096, 16384), 1024,
        )
    if mode == "gpu":
        rn224 = nets.resnet18(7, 224, widths=TORCHVISION_WIDTHS)
        img224 = image_domain((224, 224, 3))
        return Plan(
            mode, 5, (4096, 8192), 100,
            (VerifyCase("warfarin_mlp", warfarin, wdom, 0.1, "identity",
                        (16, 64, 256, 1024, 4096, 16384), chunk=16384),
             VerifyCase("generator", gen, ndom, 0.1, "atanh", (64, 256, 1024, 4096),
                        chunk=1024, loop_max=1024),
             VerifyCase("small_cnn", cnn, img28, 0.05, "identity", (256, 1024, 4096),
                        chunk=1024, loop_max=1024),
             VerifyCase("resnet18_224", rn224, img224, 1e-3, "identity", (4, 16), chunk=4)),
            (GenCase("warfarin_mlp", warfarin, wdom, 0.1, "identity", 65536, 8192),
             GenCase("generator", gen, ndom, 0.1, "atanh", 16384, 4096, gen_pairs=100),
             GenCase("resnet18_224", rn224, img224, 1e-3, "identity", 64, 16, gen_pairs=None,
                     repeats=2)),
            ("--models", "512", "--steps", "200", "--repeats", "3"),
            (1, 16, 256, 4096, 16384, 65536), (1024, 8192, 65536, 262144), 8192,
        )
    raise ValueError(f"unknown mode {mode!r}; expected quick, cpu or gpu")


# -- the benchmarks not in their own module ------------------------------------------------
def run_train(plan: Plan, log) -> dict[str, Any]:
    from benchmarks import zoo_training

    log(f"[train] zoo_training.main({list(plan.train_args)})")
    with contextlib.redirect_stdout(io.StringIO()):
        return zoo_training.main(list(plan.train_args))


def _stage_timings(result: Any) -> dict[str, float] | None:
    for name in ("stage_seconds", "timings", "stages"):
        value = result.get(name) if isinstance(result, dict) else getattr(result, name, None)
        if isinstance(value, dict) and value and all(
                isinstance(v, int | float) for v in value.values()):
            return {str(k): float(v) for k, v in value.items()}
    return None


def _e2e_call(module: Any, plan: Plan, tmp: str) -> tuple[Any, dict[str, Any]] | None:
    """The pipeline's demo entry point and its keyword arguments, or None if it has none.

    A ``demo``/``run_demo`` function is used as is; otherwise ``run_scenario``
    runs the warfarin scenario the way ``tafa-jax demo`` does (``--quick``'s
    reduced configuration on the CPU, the full one with ``--gpu``), scored by
    the matching rate: the full demo's default calibration (a reference zoo and
    two more fingerprint sets, ``--calibrate none`` turns it off) is not staged.
    """
    for name in ("demo", "run_demo"):
        fn = getattr(module, name, None)
        if callable(fn):
            params = inspect.signature(fn).parameters
            kwargs: dict[str, Any] = {}
            if "quick" in params:
                kwargs["quick"] = plan.mode != "gpu"
            for arg in ("out", "out_dir", "workdir"):
                if arg in params:
                    kwargs[arg] = tmp
            return fn, kwargs
    fn = getattr(module, "run_scenario", None)
    if not callable(fn):
        return None
    from tafa_jax.scenarios import get_scenario

    sc = get_scenario("warfarin")
    kwargs = {"seed": 0}
    if plan.mode != "gpu":  # what `tafa-jax demo --quick` runs (the default rule)
        from tafa_jax.pipeline import quick_generation

        kwargs.update(zoo_size="small", owner_steps=300,
                      generation=quick_generation(sc.rule()[0]))
    params = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in kwargs.items() if k in params}
    return functools.partial(fn, sc, tmp), {"scenario": "warfarin", **kwargs}


def run_e2e(plan: Plan, log) -> dict[str, Any]:
    """The stage split of the ``tafa_jax.pipeline`` demo, if the module exists."""
    if plan.mode == "quick":
        return {"available": None, "note": "the end-to-end demo trains an owner and a zoo "
                "(tens of seconds); it runs in the cpu and gpu modes, not with --quick"}
    if importlib.util.find_spec("tafa_jax.pipeline") is None:
        return {"available": False,
                "note": "tafa_jax.pipeline does not exist (yet); the end-to-end benchmark "
                        "was skipped"}
    module = importlib.import_module("tafa_jax.pipeline")
    with tempfile.TemporaryDirectory() as tmp:
        found = _e2e_call(module, plan, tmp)
        if found is None:
            return {"available": False, "note": "tafa_jax.pipeline has no demo, run_demo or "
                    "run_scenario function; end-to-end skipped"}
        fn, kwargs = found
        shown = {k: (v if isinstance(v, str | int | float | bool) else type(v).__name__)
                 for k, v in kwargs.items()}
        kwargs = {k: v for k, v in kwargs.items() if k != "scenario"}
        log(f"[e2e] tafa_jax.pipeline demo {shown}")
        t0 = time.perf_counter()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                result = fn(**kwargs)
        except Exception as err:  # a moving API: record why, keep the other results
            return {"available": True, "call": shown,
                    "note": f"the demo raised {type(err).__name__}: {err}"}
        total = time.perf_counter() - t0
    if isinstance(result, dict) and "rule" in result:
        shown["rule"] = result["rule"]  # which fingerprint rule the demo ran
    stages = _stage_timings(result)
    out: dict[str, Any] = {"available": True, "call": shown, "total_s": total,
                           "stage_seconds": stages}
    if stages:
        out["stage_fraction_of_total"] = {k: v / total for k, v in stages.items()}
        out["note"] = ("stage timings as the pipeline reports them (some nest inside others, "
                       "e.g. verify_* inside verification); shares are of the total wall time")
    else:
        out["note"] = "the demo returned no stage timings this benchmark recognises"
    return out


# -- reporting ----------------------------------------------------------------------------
def _f(x: Any, fmt: str = ".3g") -> str:
    return "-" if x is None else format(x, fmt)


def _row_at(rows: list[dict], n: int) -> dict | None:
    below = [r for r in rows if r["n_models"] <= n]
    return max(below, key=lambda r: r["n_models"]) if below else None


def headline(results: dict[str, Any]) -> dict[str, Any]:
    """The few numbers worth quoting: ratios at N=1024, fraction of peak, overhead, lines/s."""
    h: dict[str, Any] = {}
    w = results.get("verify", {}).get("warfarin_mlp")
    if w:
        r = _row_at(w["rows"], 1024)
        if r is not None:
            h["verify_n"] = r["n_models"]
            h["verify_vmapped_queries_per_s"] = r["vmapped"]["queries_per_s"]
            h.update({f"verify_{k}": v for k, v in r["ratios"].items()})
            h["verify_fraction_of_peak"] = r.get("fraction_of_peak")
    vc = results.get("verify_chunks")
    if vc:
        best = max(vc["points"], key=lambda p: p["queries_per_s"])
        h["verify_best_chunk"] = vc["best_chunk"]
        h["verify_best_chunk_queries_per_s"] = best["queries_per_s"]
    for label, g in results.get("generate", {}).items():
        h[f"generate_{label}_lines_per_s"] = g["search"]["lines_per_s"]
        h[f"generate_{label}_overhead_ratio"] = g["overhead_ratio"]
    t = results.get("train")
    if t:
        h["train_speedup"] = t.get("speedup")
        h["train_vmapped_fraction_of_peak"] = t.get("concurrent_fraction_of_peak")
        h["train_sequential_fraction_of_peak"] = t.get("sequential_fraction_of_peak")
    return h


def summary_markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [f"# tafa-jax benchmarks ({results['mode']})", "",
             f"- machine: {m['cpu_model']}, {m['cpu_cores_available']} cores available; "
             f"JAX {m['versions']['jax']} on {m['jax_backend']} "
             f"({m['jax_device_count']} x {m['jax_device_kind']}); flax {m['versions']['flax']}, "
             f"numpy {m['versions']['numpy']}, torch {m['versions']['torch'] or 'not installed'}",
             f"- command: `{results['command']}`",
             f"- wall time: {results['wall_s']:.0f} s; timings are warm medians "
             "(compile reported separately)", ""]
    for note in results.get("notes", []):
        lines.append(f"- note: {note}")
    peak = results.get("matmul_peak")
    if peak:
        lines += ["", "## float32 matmul peak", "", "| size | jnp GFLOP/s | numpy GFLOP/s |",
                  "|---:|---:|---:|"]
        for n in peak["jax"]:
            lines.append(f"| {n} | {peak['jax'][n]['flops_per_s'] / 1e9:.1f} | "
                         f"{peak['numpy'][n]['flops_per_s'] / 1e9:.1f} |")
    if results.get("verify"):
        lines += ["", "## Verification throughput (suspect-queries/s)", "",
                  "K=100 pairs x 3 probes = 300 queries per suspect. Ratios are loop time / "
                  "vmapped time (higher = vmapped wins).", "",
                  "| arch | N | vmapped q/s | API q/s | JAX loop q/s | torch loop q/s | "
                  "JAX loop / vmapped | torch / vmapped | torch / JAX loop | "
                  "% of matmul peak | compile s |", "|---|---:|" + "---:|" * 9]
        for label, v in results["verify"].items():
            for r in v["rows"]:
                q = lambda arm, r=r: None if not r.get(arm) else r[arm]["queries_per_s"]  # noqa: E731
                frac = r.get("fraction_of_peak")
                lines.append(
                    f"| {label} | {r['n_models']} | {_f(q('vmapped'))} | {_f(q('vmapped_api'))} "
                    f"| {_f(q('jax_loop'))} | {_f(q('torch_loop'))} "
                    f"| {_f(r['ratios']['jax_loop_over_vmapped'])} "
                    f"| {_f(r['ratios']['torch_loop_over_vmapped'])} "
                    f"| {_f(r['ratios']['torch_loop_over_jax_loop'])} "
                    f"| {_f(None if frac is None else 100 * frac, '.2g')} "
                    f"| {_f(r['vmapped']['timing']['compile_s'], '.2f')} |")
    vc = results.get("verify_chunks")
    if vc:
        lines += ["", f"### Vmapped chunk size ({vc['architecture']}, N={vc['n_models']})", "",
                  "| chunk | q/s | median s |", "|---:|---:|---:|"]
        lines += [f"| {p['chunk']} | {p['queries_per_s']:.3g} | {p['timing']['median_s']:.4f} |"
                  for p in vc["points"]]
        lines += ["", f"Best chunk: {vc['best_chunk']}."]
    if results.get("generate"):
        lines += ["", "## Generation throughput", "",
                  "Overhead = search time / bare batched forward passes over the same G*M "
                  "points (target <= 2).", "",
                  "| owner | M | chunk | lines/s | clean pairs/s | valid | newton ok | "
                  "overhead | compile s | generate() s |", "|---|" + "---:|" * 9]
        for label, g in results["generate"].items():
            s = g["search"]
            gen = g.get("generate")
            lines.append(
                f"| {label} | {g['n_lines']} | {g['chunk']} | {_f(s['lines_per_s'])} "
                f"| {_f(s['pairs_per_s'])} | {s['valid_lines']} | {s['newton_ok']} "
                f"| {_f(g['overhead_ratio'], '.2f')} | {_f(s['timing']['compile_s'], '.2f')} "
                f"| {_f(None if not gen else gen['seconds'], '.2f')} |")
    t = results.get("train")
    if t:
        lines += ["", "## Zoo training", "",
                  f"{t['models']} x {t['architecture']}, {t['steps']} steps, batch "
                  f"{t['batch_size']}: vmapped {t['concurrent_s']:.3f} s, sequential "
                  f"{t['sequential_s']:.3f} s (speedup {t['speedup']:.1f}x)"
                  + ("" if t.get("host_loop_s") is None else
                     f", host loop {t['host_loop_s']:.3f} s (speedup "
                     f"{t['speedup_vs_host_loop']:.1f}x)") + "."]
        if t.get("concurrent_fraction_of_peak") is not None:
            fc, fs = t["concurrent_fraction_of_peak"], t["sequential_fraction_of_peak"]
            lines += ["", f"Estimated training FLOP/s (3x forward multiply-adds): vmapped "
                      f"{100 * fc:.0f}% of the matmul peak, sequential {100 * fs:.0f}%; a 10x "
                      f"speedup would need the vmapped arm at {1000 * fs:.0f}% of peak."]
    s = results.get("scaling")
    if s:
        v, g = s["verify_vs_n"], s["generate_vs_m"]
        lines += ["", "## Scaling", "", f"Plot: `{s['plot']}`.", "",
                  "| N | warm s | first call s | compile-dominated | linear regime |",
                  "|---:|---:|---:|:-:|:-:|"]
        for p in v["points"]:
            lines.append(f"| {p['n_models']} | {p['timing']['median_s']:.4f} | "
                         f"{p['timing']['first_s']:.3f} | {'yes' if p['compile_dominated'] else ''}"
                         f" | {'yes' if p['linear_regime'] else ''} |")
        lines += ["", f"Fit: {v['fit']['fixed_s'] * 1e3:.2f} ms + "
                  f"{v['fit']['per_item_s'] * 1e6:.2f} us per suspect.", "",
                  "| M | chunk | warm s | first call s | compile-dominated | linear regime |",
                  "|---:|---:|---:|---:|:-:|:-:|"]
        for p in g["points"]:
            lines.append(f"| {p['n_lines']} | {p['chunk']} | {p['timing']['median_s']:.4f} | "
                         f"{p['timing']['first_s']:.3f} | {'yes' if p['compile_dominated'] else ''}"
                         f" | {'yes' if p['linear_regime'] else ''} |")
        lines += ["", f"Fit: {g['fit']['fixed_s'] * 1e3:.2f} ms + "
                  f"{g['fit']['per_item_s'] * 1e6:.2f} us per line."]
    e = results.get("e2e")
    if e:
        lines += ["", "## End to end", ""]
        if e.get("total_s"):
            lines += [f"`tafa_jax.pipeline` demo {e['call']}: {e['total_s']:.1f} s in all.", ""]
        if e.get("stage_seconds"):
            lines += ["| stage | s | share |", "|---|---:|---:|"]
            for k, val in e["stage_seconds"].items():
                frac = (e.get("stage_fraction_of_total") or {}).get(k)
                share = _f(None if frac is None else 100 * frac, '.0f')
                lines.append(f"| {k} | {val:.3f} | {share}% |")
        if e.get("note"):
            lines.append(e["note"])
    lines += ["", "## Headline", ""]
    lines += [f"- {k}: {_f(v, '.4g') if isinstance(v, float) else v}"
              for k, v in results["headline"].items()]
    return "\n".join(lines) + "\n"


# -- entry point --------------------------------------------------------------------------
def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run",
                                 description=__doc__.splitlines()[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="CI smoke: tiny sizes, seconds")
    size.add_argument("--gpu", action="store_true",
                      help="full size for one GPU: ResNet-18 at 224, zoos of 4096+")
    ap.add_argument("--only", default=",".join(BENCHMARKS),
                    help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"),
                    help="output directory (default benchmarks/results)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(BENCHMARKS))
    if unknown or not only:
        ap.error(f"--only takes a comma-separated subset of {','.join(BENCHMARKS)}; "
                 f"got {args.only!r}")
    args.only = [b for b in BENCHMARKS if b in only]
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the selected benchmarks; write ``results.json`` and ``summary.md``; return results."""
    args = _parse(argv)
    mode = "quick" if args.quick else "gpu" if args.gpu else "cpu"
    out = Path(args.out)
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.1f}s] {msg}", file=sys.stderr, flush=True)

    plan = make_plan(mode)
    torch, torch_note = load_torch(cores())
    notes = [] if torch_note is None else [torch_note]
    if mode == "gpu" and jax.default_backend() == "cpu":
        notes.append("--gpu sizes were run on the CPU backend")
    if mode == "gpu" and torch is not None:
        notes.append("the torch baseline runs on the CPU (the bench extra installs the CPU "
                     "wheel)")
    results: dict[str, Any] = {
        "format_version": FORMAT_VERSION, "mode": mode, "benchmarks": args.only,
        "command": " ".join(["python -m benchmarks.run", *(argv if argv is not None
                                                           else sys.argv[1:])]),
        "machine": machine_info(torch), "notes": notes,
    }
    if "verify" in args.only or "train" in args.only:
        log(f"[peak] float32 matmul peak, sizes {plan.peak_sizes}")
        results["matmul_peak"] = matmul_peak(plan.peak_sizes, plan.repeats)
    if "verify" in args.only:
        results["verify"] = verification.run(
            list(plan.verify), plan.verify_pairs, plan.repeats,
            results["matmul_peak"]["peak_flops_per_s"], torch, torch_note,
            args.seed + 1_000_000, log, plan.min_total_s)
        wcase = plan.verify[0]
        n_sweep = max(n for n in wcase.zoo_sizes if n <= 1024)
        log(f"[verify] {wcase.label}: chunk sweep at N={n_sweep}")
        results["verify_chunks"] = verification.chunk_sweep(
            wcase, n_sweep, (4, 16, 64, 256, 1024), plan.verify_pairs, plan.repeats,
            args.seed + 3_000_000, plan.min_total_s)
    if "generate" in args.only:
        results["generate"] = generation.run(list(plan.generate), plan.repeats,
                                             args.seed + 2_000_000, log)
    if "train" in args.only:
        results["train"] = t = run_train(plan, log)
        peak = results["matmul_peak"]["peak_flops_per_s"]
        t["concurrent_fraction_of_peak"] = t["concurrent_flops_per_s"] / peak
        t["sequential_fraction_of_peak"] = t["sequential_flops_per_s"] / peak
    if "scaling" in args.only:
        log(f"[scaling] verification N in {plan.scaling_n}, generation M in {plan.scaling_m}")
        wcase = plan.verify[0]
        gcase = plan.generate[0]
        sc: dict[str, Any] = {
            "verify_vs_n": scaling.verify_sweep(wcase.net, wcase.domain, plan.scaling_n,
                                                plan.verify_pairs, plan.repeats,
                                                args.seed + 4_000_000),
            "generate_vs_m": scaling.generate_sweep(gcase.net, gcase.domain, gcase.distance,
                                                    plan.scaling_m, plan.scaling_chunk,
                                                    min(plan.repeats, 3),
                                                    args.seed + 5_000_000),
        }
        png = scaling.plot(sc, results.get("verify", {}).get(wcase.label), out / "scaling.png")
        sc["plot"] = png.name
        results["scaling"] = sc
    if "e2e" in args.only:
        results["e2e"] = run_e2e(plan, log)
    results["headline"] = headline(results)
    results["wall_s"] = time.perf_counter() - t_start
    write_json(out / "results.json", results)
    atomic_write_bytes(out / "summary.md", summary_markdown(results).encode())
    log(f"wrote {out / 'results.json'} and {out / 'summary.md'}")
    return results


if __name__ == "__main__":
    main()
