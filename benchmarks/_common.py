"""Timing, machine description and small helpers shared by the benchmarks.

Every measurement goes through :func:`timeit`: the first call compiles (its
excess over the warm median is reported as ``compile_s``), then the function is
called ``repeats`` times (more while the total is under ``min_total_s``), each
result is passed through ``jax.block_until_ready``, and the median and spread
are reported.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of one benchmarked call.

    Attributes:
      first_s: the first call (trace + compile + run).
      compile_s: ``max(first_s - median_s, 0)``: the compile (and first-touch) cost.
      median_s, min_s, max_s, q1_s, q3_s: over the warm repeats.
      repeats: number of warm repeats.
    """

    first_s: float
    compile_s: float
    median_s: float
    min_s: float
    max_s: float
    q1_s: float
    q3_s: float
    repeats: int

    def to_json(self) -> dict[str, float | int]:
        return dataclasses.asdict(self)


def timeit(fn: Callable[[], Any], repeats: int = 5, *, min_total_s: float = 0.2,
           max_repeats: int = 50, long_s: float = 1.0) -> Timing:
    """Time ``fn()`` (warm-up first, ``block_until_ready`` on every result).

    Repeats ``repeats`` times, more while the total is under ``min_total_s``, and
    only 3 times when one warm run takes longer than ``long_s``.
    """
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    runs: list[float] = []
    total = 0.0
    while len(runs) < repeats or (total < min_total_s and len(runs) < max_repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        dt = time.perf_counter() - t0
        runs.append(dt)
        total += dt
        if dt > long_s and len(runs) >= 3:
            break
    med = statistics.median(runs)
    q = np.percentile(runs, [25, 75]) if len(runs) > 1 else (runs[0], runs[0])
    return Timing(first, max(first - med, 0.0), med, min(runs), max(runs), float(q[0]),
                  float(q[1]), len(runs))


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    try:
        return importlib.import_module(module).__version__
    except Exception:  # not installed, or broken on import
        return None


def machine_info(torch_module: Any | None) -> dict[str, Any]:
    """CPU model, cores, JAX backend and devices, and library versions."""
    devices = jax.devices()
    return {
        "cpu_model": _cpu_model(),
        "cpu_cores_available": cores(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in devices],
        "jax_device_kind": devices[0].device_kind,
        "jax_device_count": len(devices),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "versions": {
            "jax": jax.__version__,
            "jaxlib": _version("jaxlib"),
            "flax": _version("flax"),
            "numpy": np.__version__,
            "torch": None if torch_module is None else torch_module.__version__,
            "tafa_jax": _version("tafa_jax"),
        },
        "torch_threads": None if torch_module is None else torch_module.get_num_threads(),
    }


def load_torch(threads: int) -> tuple[Any | None, str | None]:
    """Import torch for the baselines; ``(None, reason)`` when it is not installed."""
    try:
        import torch
    except ImportError as err:
        return None, (f"PyTorch is not installed ({err}); the torch baselines were skipped. "
                      "Install the 'bench' extra: pip install -e '.[bench]'")
    torch.set_num_threads(max(1, threads))
    return torch, None


def matmul_peak(sizes: tuple[int, ...], repeats: int) -> dict[str, Any]:
    """float32 matmul FLOP/s of this machine: a jitted ``jnp`` matmul and numpy, per size."""
    out: dict[str, Any] = {"jax": {}, "numpy": {}}
    rng = np.random.default_rng(0)
    mm = jax.jit(jnp.matmul)
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        flops = 2.0 * n**3
        ja, jb = jnp.asarray(a), jnp.asarray(b)
        t = timeit(lambda ja=ja, jb=jb: mm(ja, jb), repeats)
        out["jax"][str(n)] = {"flops_per_s": flops / t.median_s, "timing": t.to_json()}
        t = timeit(lambda a=a, b=b: a @ b, repeats)
        out["numpy"][str(n)] = {"flops_per_s": flops / t.median_s, "timing": t.to_json()}
    out["peak_flops_per_s"] = max(v["flops_per_s"] for k in ("jax", "numpy")
                                  for v in out[k].values())
    out["jax_peak_flops_per_s"] = max(v["flops_per_s"] for v in out["jax"].values())
    out["matmul_precision"] = str(jax.config.jax_default_matmul_precision)
    return out


def xla_flops(fn: Callable, *args) -> float | None:
    """FLOPs of one call of ``jit(fn)(*args)`` from XLA's cost analysis (None if unknown)."""
    try:
        cost = jax.jit(fn).lower(*args).cost_analysis()  # HLO-level: no compile needed
    except Exception:  # cost analysis is best-effort and backend-dependent
        return None
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else None
    flops = None if cost is None else cost.get("flops")
    return float(flops) if flops is not None and math.isfinite(flops) and flops > 0 else None


def paired_ratios(num: Callable[[], Any], den: Callable[[], Any], repeats: int
                  ) -> tuple[list[float], Any, Any]:
    """``num()`` then ``den()`` timed back to back ``repeats`` times (each result
    blocked on): the time ratios ``num / den``, and the last results of each. This
    machine switches speed between runs; a pair shares one mode, where two
    separately timed medians may not."""
    ratios, a, b = [], None, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        a = jax.block_until_ready(num())
        t1 = time.perf_counter()
        b = jax.block_until_ready(den())
        ratios.append((t1 - t0) / (time.perf_counter() - t1))
    return ratios, a, b


def ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or den is None or den <= 0 else num / den


def random_params(net: Any, n: int | None, seed: int) -> Any:
    """He-initialised params on the host, without compiling ``init``; ``n`` stacks a zoo.

    Throughput does not depend on the weights' values, and a jitted ``vmap(init)``
    compiles once per zoo size (seconds each on a small CPU). Kernels are
    ``N(0, 2 / fan_in)``, biases small, batch-norm statistics near (0, 1).
    """
    from tafa_jax.nets import abstract_params

    rng = np.random.default_rng(seed)
    lead = () if n is None else (n,)

    def leaf(path, a):
        names = [str(getattr(p, "key", p)) for p in path]
        shape = (*lead, *a.shape)
        if names[-1] == "kernel":
            fan_in = max(1, math.prod(a.shape[:-1]))
            return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        if names[-1] == "var":
            return (1.0 + 0.1 * rng.random(shape)).astype(np.float32)
        if names[-1] == "scale":
            return (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        return (0.05 * rng.standard_normal(shape)).astype(np.float32)  # bias, bn bias, mean

    return jax.tree_util.tree_map_with_path(leaf, abstract_params(net))


def sample_domain(domain: Any, n: int, seed: int) -> np.ndarray:
    """``n`` host samples ``(n, *shape)`` of a domain (numpy, so nothing compiles)."""
    rng = np.random.default_rng(seed)
    full = (n, *domain.shape)
    if domain.kind == "box":
        x = rng.uniform(np.broadcast_to(domain.low, domain.shape),
                        np.broadcast_to(domain.high, domain.shape), full)
    else:
        x = domain.center + domain.scale * rng.standard_normal(full)
        if domain.low is not None and domain.high is not None:
            x = np.clip(x, domain.low, domain.high)
    if domain.binary_mask is not None and domain.binary_mask.any():
        bits = rng.random(full) < 0.5
        x = np.where(domain.binary_mask, np.where(bits, domain.high, domain.low), x)
    return x.astype(np.float32)
