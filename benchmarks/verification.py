"""Verification throughput: one vmapped call over a zoo vs per-model loops.

For each architecture and zoo size ``N`` the same fingerprint (``K`` pairs of
``P = 3`` probes, so ``K * P`` queries per suspect) is checked against every
member, four ways:

* ``vmapped``: ``jit(vmap(one))`` over the device-resident zoo, where ``one``
  is the single-model function ``params -> pair_stats(forward(params, probes))``
  (zoos larger than the case's chunk go through in pre-sliced chunks);
* ``vmapped_api``: the public :func:`tafa_jax.verify.zoo_pair_stats` from a
  host (numpy) zoo, with chunking, padding and host transfers included;
* ``jax_loop``: ``jit(one)`` called once per model (the same compiled
  single-model function; every model's params already on the device);
* ``torch_loop``: the same weights and probes in PyTorch, one model at a time
  under ``torch.no_grad()`` (see :mod:`benchmarks.torch_baseline`).

Throughput is suspect-queries per second (``N * K * P / seconds``). The
vmapped arm's achieved FLOP/s is compared with the float32 matmul peak that
was measured in the same run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import torch_baseline
from benchmarks._common import random_params, ratio, sample_domain, timeit, xla_flops
from tafa_jax import nets
from tafa_jax.data import Domain
from tafa_jax.nets import Network
from tafa_jax.nets.modules import MLP
from tafa_jax.verify import zoo_pair_stats
from tafa_jax.verify.query import default_chunk
from tafa_jax.verify.score import pair_stats


@dataclasses.dataclass(frozen=True)
class VerifyCase:
    """One architecture's verification sweep.

    Attributes:
      label: name in the results, e.g. ``"warfarin_mlp"``.
      net, domain: the architecture and where its probes live.
      distance: pair distance ``d`` of the synthetic fingerprint.
      link: inverse output link of the bend statistic.
      zoo_sizes: the values of ``N``.
      chunk: zoo members per vmapped call (bounds memory).
      loop_max: run the per-model loops only for ``N <= loop_max``.
    """

    label: str
    net: Network
    domain: Domain
    distance: float
    link: str
    zoo_sizes: tuple[int, ...]
    chunk: int | None = None  # None: the library's cache-sized default_chunk
    loop_max: int = 1 << 30


def dense_flops_per_query(net: Network) -> float | None:
    """``2 * sum(fan_in * fan_out)`` over an MLP's dense layers (None for other nets)."""
    if not isinstance(net.module, MLP):
        return None
    widths = [net.input_size, *net.module.features]
    return float(2 * sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True)))


def synthetic_fingerprint(net: Network, owner: Any, domain: Domain, n_pairs: int,
                          distance: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probes ``(K, 3, *in)`` (``c - d/2 v, c, c + d/2 v``) and the owner's outputs on them.

    Throughput does not depend on where the probes are, so a random fingerprint
    of the right shape stands in for a generated one.
    """
    c = sample_domain(domain, n_pairs, seed).reshape(n_pairs, -1)
    v = np.random.default_rng(seed + 1).standard_normal(c.shape).astype(np.float32)
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    s = np.asarray([-1.0, 0.0, 1.0], np.float32)[None, :, None]
    probes = (c[:, None] + s * (distance / 2) * v[:, None]).reshape(n_pairs, 3, *net.input_shape)
    y = net.apply(owner, jnp.asarray(probes.reshape(-1, *net.input_shape)))
    return probes, np.asarray(y).reshape(n_pairs, 3, *net.output_shape)


def _single_model_fn(net: Network, probes: np.ndarray, owner_y: np.ndarray, link: str):
    k, p = probes.shape[:2]
    flat = jnp.asarray(probes.reshape(k * p, *net.input_shape))
    oy = jnp.asarray(owner_y.reshape(k, p, -1))

    def one(params):
        return pair_stats(nets.forward(net, params, flat).reshape(k, p, -1), oy, link)

    return one


def _chunks(zoo: Any, n: int, c: int) -> list:
    """The zoo in device-resident chunks of ``c`` members; the last one padded to ``c``."""
    parts = [jax.tree.map(lambda a, s=s: a[s:s + c], zoo) for s in range(0, n, c)]
    if n % c:
        pad = c - n % c
        parts[-1] = jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[:1], pad, 0)]),
                                 parts[-1])
    return parts


MATCH_BETA = 0.1  # the scenarios' absolute kink threshold


def _agreement(b: np.ndarray, b_ref: np.ndarray) -> dict[str, float]:
    """How closely another arm's bend statistics ``(N, K)`` follow the vmapped ones.

    On a pair without a kink the statistic is float32 round-off over the chord, so
    a different summation order moves it by up to ~1e-1 in absolute terms; what
    must agree is the match decision ``b >= beta``.
    """
    return {"max_abs_diff_vs_vmapped": float(np.max(np.abs(b - b_ref))),
            "match_agreement_vs_vmapped": float(np.mean((b >= MATCH_BETA) ==
                                                        (b_ref >= MATCH_BETA)))}


def _ratios(row: dict[str, Any]) -> dict[str, float | None]:
    def med(arm: str) -> float | None:
        return None if row.get(arm) is None else row[arm]["timing"]["median_s"]

    return {
        "jax_loop_over_vmapped": ratio(med("jax_loop"), med("vmapped")),
        "torch_loop_over_vmapped": ratio(med("torch_loop"), med("vmapped")),
        "torch_loop_over_jax_loop": ratio(med("torch_loop"), med("jax_loop")),
        "api_over_vmapped": ratio(med("vmapped_api"), med("vmapped")),
    }


def run_case(case: VerifyCase, n_pairs: int, repeats: int, peak: float | None, torch: Any,
             torch_note: str | None, seed: int, min_total_s: float = 0.2) -> dict[str, Any]:
    net = case.net
    owner = random_params(net, None, seed)
    probes, owner_y = synthetic_fingerprint(net, owner, case.domain, n_pairs, case.distance,
                                            seed + 1)
    one = _single_model_fn(net, probes, owner_y, case.link)
    one_jit = jax.jit(one)
    many = jax.jit(jax.vmap(one))
    queries_per_model = int(np.prod(probes.shape[:2]))
    flops_q = dense_flops_per_query(net)
    flops_source = "dense layers, 2*in*out" if flops_q is not None else "xla cost analysis"
    if flops_q is None:
        f = xla_flops(one, owner)
        flops_q = None if f is None else f / queries_per_model
    use_torch = torch is not None and torch_baseline.supports(net)
    verify_torch = (torch_baseline.make_verifier(torch, net, probes, owner_y, case.link)
                    if use_torch else None)
    rows = []
    for n in case.zoo_sizes:
        host_zoo = random_params(net, n, seed + 2 + n)
        zoo = jax.device_put(host_zoo)
        c = min(n, case.chunk or default_chunk(net, int(np.prod(probes.shape[:2]))))
        parts = _chunks(zoo, n, c)

        def vmapped(parts=parts):
            return [many(p) for p in parts]

        t_core = timeit(vmapped, repeats, min_total_s=min_total_s)
        b_core = np.concatenate([np.asarray(b) for b, _ in vmapped()])[:n]
        t_api = timeit(lambda hz=host_zoo, c=c: zoo_pair_stats(net, hz, probes, owner_y, chunk=None,
                                                             link=case.link), repeats,
                       min_total_s=min_total_s)
        queries = n * queries_per_model
        row: dict[str, Any] = {
            "n_models": n, "queries_per_model": queries_per_model, "queries": queries,
            "chunk": c,
            "vmapped": {"timing": t_core.to_json(), "queries_per_s": queries / t_core.median_s},
            "vmapped_api": {"timing": t_api.to_json(), "queries_per_s": queries / t_api.median_s},
        }
        if flops_q is not None:
            achieved = flops_q * queries / t_core.median_s
            row["achieved_flops_per_s"] = achieved
            row["fraction_of_peak"] = ratio(achieved, peak)
        if n <= case.loop_max:
            singles = [jax.tree.map(lambda a, i=i: jnp.asarray(a[i]), host_zoo)
                       for i in range(n)]
            jax.block_until_ready(singles)
            t_loop = timeit(lambda s=singles: [one_jit(p) for p in s], repeats,
                            min_total_s=min_total_s)
            b_loop = np.stack([np.asarray(one_jit(p)[0]) for p in singles])
            row["jax_loop"] = {"timing": t_loop.to_json(),
                               "queries_per_s": queries / t_loop.median_s,
                               **_agreement(b_loop, b_core)}
            del singles
        else:
            row["jax_loop"] = None
            row["jax_loop_note"] = f"skipped: N > loop_max ({case.loop_max})"
        if verify_torch is not None and n <= case.loop_max:
            weights = [torch_baseline.model_weights(
                torch, net, jax.tree.map(lambda a, i=i: a[i], host_zoo)) for i in range(n)]

            def torch_loop(weights=weights):
                for w in weights:
                    verify_torch(w)

            t_torch = timeit(torch_loop, repeats, min_total_s=min_total_s)
            b_torch = np.stack([verify_torch(w)[0].numpy() for w in weights])
            row["torch_loop"] = {"timing": t_torch.to_json(),
                                 "queries_per_s": queries / t_torch.median_s,
                                 **_agreement(b_torch, b_core)}
            del weights
        else:
            row["torch_loop"] = None
            row["torch_loop_note"] = (
                torch_note if torch is None
                else f"no torch equivalent of {net.name!r} in the baseline" if not use_torch
                else f"skipped: N > loop_max ({case.loop_max})")
        row["ratios"] = _ratios(row)
        rows.append(row)
        del zoo, host_zoo, parts
    return {
        "architecture": net.name, "input_shape": list(net.input_shape),
        "output_shape": list(net.output_shape), "num_params": net.num_params(owner),
        "pairs": n_pairs, "probes_per_pair": 3, "link": case.link,
        "flops_per_query": flops_q, "flops_source": flops_source, "rows": rows,
    }


def chunk_sweep(case: VerifyCase, n: int, chunks: tuple[int, ...], n_pairs: int,
                repeats: int, seed: int, min_total_s: float = 0.2) -> dict[str, Any]:
    """The vmapped arm at one zoo size ``n`` with the zoo split into chunks of each size.

    A vmapped call holds ``chunk * K * P`` activations; past the CPU caches the
    call becomes memory-bound, so the best chunk is a hardware property.
    """
    net = case.net
    owner = random_params(net, None, seed)
    probes, owner_y = synthetic_fingerprint(net, owner, case.domain, n_pairs, case.distance,
                                            seed + 1)
    many = jax.jit(jax.vmap(_single_model_fn(net, probes, owner_y, case.link)))
    zoo = jax.device_put(random_params(net, n, seed + 2))
    points = []
    for c in chunks:
        if c > n:
            continue
        parts = _chunks(zoo, n, c)
        t = timeit(lambda parts=parts: [many(p) for p in parts], repeats,
                   min_total_s=min_total_s)
        q = n * int(np.prod(probes.shape[:2]))
        points.append({"chunk": c, "timing": t.to_json(), "queries_per_s": q / t.median_s})
    best = max(points, key=lambda p: p["queries_per_s"])
    return {"architecture": net.name, "n_models": n, "points": points,
            "best_chunk": best["chunk"]}


def run(cases: list[VerifyCase], n_pairs: int, repeats: int, peak: float | None, torch: Any,
        torch_note: str | None, seed: int, log=print,
        min_total_s: float = 0.2) -> dict[str, Any]:
    out = {}
    for i, case in enumerate(cases):
        log(f"[verify] {case.label}: N in {list(case.zoo_sizes)}")
        out[case.label] = run_case(case, n_pairs, repeats, peak, torch, torch_note,
                                   seed + 100_000 * i, min_total_s)
    return out
