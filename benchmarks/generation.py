"""Generation throughput: batched activation-pattern search vs bare forward passes.

For each owner the search (:func:`tafa_jax.fingerprint.search`) runs ``M``
candidate lines of ``G`` grid points in chunks. We report candidate lines/s,
clean pairs/s, and the **overhead ratio** = search time / time of bare batched
forward passes (``jit(forward)``) over the same ``G * M`` points in the same
chunks, the median over back-to-back search/forward pairs: the price of patterns,
the exact crossing, the boundary normal, the margin and the probe checks on top
of the grid evaluation itself (target <= 2).
Optionally the whole :func:`tafa_jax.fingerprint.generate` (search + selection +
set assembly) is timed once on the warm program.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import jax
import numpy as np

from benchmarks._common import paired_ratios, random_params, ratio, sample_domain, timeit
from tafa_jax import nets
from tafa_jax.data import Domain
from tafa_jax.fingerprint import GenerationConfig, SearchConfig, generate, search
from tafa_jax.fingerprint.search import compile_count
from tafa_jax.nets import Network


@dataclasses.dataclass(frozen=True)
class GenCase:
    """One owner's generation benchmark.

    Attributes:
      label: name in the results.
      net, domain, distance, link: the owner, its input domain, pair distance, link.
      n_lines: M, candidate lines per timed search.
      chunk: lines per compiled call.
      grid: G, points per line.
      gen_pairs: K for one timed ``generate`` call (None: skip it).
      repeats: warm repeats (None: the run's default).
    """

    label: str
    net: Network
    domain: Domain
    distance: float
    link: str
    n_lines: int
    chunk: int
    grid: int = 32
    gen_pairs: int | None = 100
    repeats: int | None = None


def run_case(case: GenCase, repeats: int, seed: int) -> dict[str, Any]:
    net = case.net
    owner = jax.device_put(random_params(net, None, seed))
    k_search = jax.random.key(seed)
    cfg = SearchConfig(distance=case.distance, grid=case.grid, link=case.link)
    reps = case.repeats or repeats

    def run_search():
        return search(net, owner, case.domain, cfg, k_search, case.n_lines, chunk=case.chunk)

    t_search = timeit(run_search, reps, min_total_s=0.0)
    compiles = compile_count(net, case.domain, cfg, case.chunk)
    cands = run_search()
    n_valid = int(np.sum(cands.valid))
    n_chunks = math.ceil(case.n_lines / case.chunk)
    pts = jax.device_put(sample_domain(case.domain, case.chunk * case.grid, seed + 1))
    fwd = jax.jit(lambda p, x: nets.forward(net, p, x))

    def run_forward():
        return [fwd(owner, pts) for _ in range(n_chunks)]

    t_fwd = timeit(run_forward, reps, min_total_s=0.0)
    paired = paired_ratios(run_search, run_forward, max(reps, 3))[0]
    out: dict[str, Any] = {
        "architecture": net.name, "input_shape": list(net.input_shape),
        "num_params": net.num_params(owner), "distance": case.distance, "link": case.link,
        "n_lines": case.n_lines, "chunk": case.chunk, "grid": case.grid,
        "points": case.n_lines * case.grid,
        "search": {"timing": t_search.to_json(),
                   "lines_per_s": case.n_lines / t_search.median_s,
                   "pairs_per_s": n_valid / t_search.median_s,
                   "valid_lines": n_valid,
                   "lines_with_flip": int(np.sum(cands.has_flip)),
                   "newton_ok": int(np.sum(cands.newton_ok & cands.has_flip)),
                   "compiled_programs": compiles},
        "forward": {"timing": t_fwd.to_json(),
                    "points_per_s": n_chunks * case.chunk * case.grid / t_fwd.median_s,
                    "padded_points": n_chunks * case.chunk * case.grid},
        "overhead_ratio": float(np.median(paired)),
        "overhead_ratio_pairs": paired,
        "overhead_ratio_of_medians": ratio(t_search.median_s, t_fwd.median_s),
        "generate": None,
    }
    if case.gen_pairs is not None:
        gcfg = GenerationConfig(n_pairs=case.gen_pairs, n_candidates=case.n_lines,
                                distances=(case.distance,), grid=case.grid, chunk=case.chunk,
                                link=case.link)
        t0 = time.perf_counter()
        try:
            fps = generate(net, owner, case.domain, gcfg, k_search)
        except ValueError as err:  # too few usable pairs at this M: say so, go on
            out["generate_note"] = f"generate() failed: {err}"
        else:
            dt = time.perf_counter() - t0
            out["generate"] = {"seconds": dt, "pairs": int(fps.probes.shape[0]),
                               "pairs_per_s": fps.probes.shape[0] / dt,
                               "recompiled": compile_count(net, case.domain, cfg,
                                                           case.chunk) - compiles}
    return out


def run(cases: list[GenCase], repeats: int, seed: int, log=print) -> dict[str, Any]:
    out = {}
    for i, case in enumerate(cases):
        log(f"[generate] {case.label}: M={case.n_lines}, chunk={case.chunk}")
        out[case.label] = run_case(case, repeats, seed + 1000 * i)
    return out
