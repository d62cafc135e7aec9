"""Scaling curves: verification time vs zoo size N, generation time vs candidates M.

Each sweep starts from empty JAX caches (``jax.clear_caches()``), so the first
call of every new shape shows its compile cost and the warm median its run
cost. Verification compiles once per N; the search compiles once per chunk
shape (``chunk = min(M, max_chunk)``), so the points with ``M > max_chunk`` reuse
one program. A least-squares fit
``t = a + b x`` over the warm medians gives the fixed per-call cost ``a`` and
the marginal cost per suspect (or per line) ``b``; a point is in the
**linear regime** when ``b x >= a`` (the work dominates the fixed cost) and
**compile-dominated** when its compile time exceeds its warm run time.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import jax
import numpy as np

from benchmarks._common import random_params, timeit
from benchmarks.verification import _single_model_fn, synthetic_fingerprint
from tafa_jax.data import Domain
from tafa_jax.fingerprint import SearchConfig, search
from tafa_jax.io import atomic_write_bytes
from tafa_jax.nets import Network


def _fit(xs: list[float], ts: list[float]) -> dict[str, float]:
    x, t = np.asarray(xs, float), np.asarray(ts, float)
    if len(x) < 2:
        return {"fixed_s": float(t[0]), "per_item_s": 0.0}
    b, a = np.polyfit(x, t, 1, w=1.0 / t)  # relative errors: every size counts
    return {"fixed_s": float(max(a, 0.0)), "per_item_s": float(max(b, 0.0))}


def _label(points: list[dict[str, Any]], fit: dict[str, float], key: str) -> None:
    for p in points:
        t = p["timing"]
        p["compile_dominated"] = t["compile_s"] > t["median_s"]
        p["linear_regime"] = fit["per_item_s"] * p[key] >= fit["fixed_s"]


def verify_sweep(net: Network, domain: Domain, sizes: tuple[int, ...], n_pairs: int,
                 repeats: int, seed: int) -> dict[str, Any]:
    """Warm and first-call time of the vmapped verification vs ``N`` (one call per N)."""
    owner = random_params(net, None, seed)
    probes, owner_y = synthetic_fingerprint(net, owner, domain, n_pairs, 0.1, seed + 1)
    many = jax.jit(jax.vmap(_single_model_fn(net, probes, owner_y, "identity")))
    jax.clear_caches()
    points = []
    for n in sizes:
        zoo = jax.device_put(random_params(net, n, seed + 2 + n))
        t = timeit(lambda zoo=zoo: many(zoo), repeats)
        points.append({"n_models": n, "timing": t.to_json(),
                       "queries_per_s": n * n_pairs * 3 / t.median_s})
        del zoo
    fit = _fit([p["n_models"] for p in points], [p["timing"]["median_s"] for p in points])
    _label(points, fit, "n_models")
    return {"architecture": net.name, "pairs": n_pairs, "points": points, "fit": fit}


def generate_sweep(net: Network, domain: Domain, distance: float, sizes: tuple[int, ...],
                   max_chunk: int, repeats: int, seed: int) -> dict[str, Any]:
    """Warm and first-call time of the search vs ``M`` (chunk = min(M, max_chunk))."""
    owner = jax.device_put(random_params(net, None, seed))
    k_search = jax.random.key(seed)
    cfg = SearchConfig(distance=distance)
    jax.clear_caches()
    points = []
    for m in sizes:
        chunk = min(m, max_chunk)
        t = timeit(lambda m=m, chunk=chunk: search(net, owner, domain, cfg, k_search, m,
                                                   chunk=chunk), repeats, min_total_s=0.0)
        points.append({"n_lines": m, "chunk": chunk, "timing": t.to_json(),
                       "lines_per_s": m / t.median_s})
    fit = _fit([p["n_lines"] for p in points], [p["timing"]["median_s"] for p in points])
    _label(points, fit, "n_lines")
    return {"architecture": net.name, "grid": cfg.grid, "points": points, "fit": fit}


def _finish(ax, xs: list[int], fit: dict[str, float], var: str, xlabel: str,
            title: str) -> None:
    """The fitted line ``a + b x``, log axes, labels and legend of one panel."""
    grid = np.geomspace(min(xs), max(xs), 50)
    ax.plot(grid, fit["fixed_s"] + fit["per_item_s"] * grid, ":", color="grey",
            label=f"fit a + b {var}")
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="seconds", title=title)
    ax.legend(fontsize=7)


def plot(result: dict[str, Any], verify: dict[str, Any] | None, path: Path) -> Path:
    """Two log-log panels (time vs N, time vs M) into a PNG, Figure API + Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    v = result["verify_vs_n"]
    ns = [p["n_models"] for p in v["points"]]
    ax1.plot(ns, [p["timing"]["median_s"] for p in v["points"]], "o-", label="vmapped (warm)")
    ax1.plot(ns, [p["timing"]["first_s"] for p in v["points"]], "s--",
             label="vmapped first call (compile + run)")
    if verify is not None:  # the loops, from the verification benchmark, same architecture
        rows = verify.get("rows", [])
        for arm, style in (("jax_loop", "^-"), ("torch_loop", "v-")):
            pts = [(r["n_models"], r[arm]["timing"]["median_s"]) for r in rows if r.get(arm)]
            if pts:
                ax1.plot(*zip(*pts, strict=True), style, label=f"{arm.replace('_', ' ')} (warm)")
    _finish(ax1, ns, v["fit"], "N", "zoo size N (suspects)",
            f"verification, {v['architecture']}, K={v['pairs']} pairs")
    g = result["generate_vs_m"]
    ms = [p["n_lines"] for p in g["points"]]
    ax2.plot(ms, [p["timing"]["median_s"] for p in g["points"]], "o-", label="search (warm)")
    ax2.plot(ms, [p["timing"]["first_s"] for p in g["points"]], "s--",
             label="first call (compile + run)")
    _finish(ax2, ms, g["fit"], "M", "candidate lines M",
            f"generation, {g['architecture']}, G={g['grid']}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())
