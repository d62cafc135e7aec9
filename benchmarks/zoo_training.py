"""Zoo training: 64 warfarin MLPs (31-100-1) trained at once vs one after another.

Both arms run the same jitted trainer (:func:`tafa_jax.zoo.train_group`, steps
under ``lax.scan``) with the same steps, batch size and per-member keys:

* concurrent: one call with all ``n`` members (``vmap`` over members);
* sequential: ``n`` calls with one member each (the same compiled program each time);
* host loop (reference): each model trained by a Python loop over steps calling a
  jitted Adam step, the way a per-model PyTorch-style script trains.

Achieved FLOP/s are estimated as 3x the forward's multiply-adds per row (forward
plus backward), so ``benchmarks.run`` can set them against the matmul peak it
measures in the same run. Each arm is compiled first (compile time reported separately), then timed
``--repeats`` times with ``block_until_ready``; the median is reported. Prints JSON.

    python benchmarks/zoo_training.py            # 64 models, 500 steps
    python benchmarks/zoo_training.py --quick    # 64 models, 50 steps, 1 repeat
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from tafa_jax import nets
from tafa_jax.zoo import TrainConfig, train_group
from tafa_jax.zoo import train as _train_mod


def _data(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Warfarin-sized synthetic rows: 31 standardised features, mg/week targets."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 31)).astype(np.float32)
    w = rng.normal(size=31).astype(np.float32)
    y = np.clip(30 + 6 * x @ w / np.sqrt(31) + 3 * rng.normal(size=rows), 1, 300)
    return x, y.astype(np.float32)


def _host_loop_trainer(net, cfg: TrainConfig, x, y):
    """One model, one jitted step per host call (no scan, no vmap)."""
    tx = optax.adam(cfg.lr)

    @jax.jit
    def step(params, state, key):
        idx = jax.random.randint(key, (cfg.batch_size,), 0, x.shape[0])

        def loss(p):
            pred = nets.forward(net, {"params": p}, x[idx])
            return jnp.mean(jnp.abs(pred[:, 0] - y[idx]))

        g = jax.grad(loss)(params)
        updates, state = tx.update(g, state, params)
        return optax.apply_updates(params, updates), state

    def train(params, key):
        p, state = params["params"], tx.init(params["params"])
        for k in jax.random.split(key, cfg.steps):
            p, state = step(p, state, k)
        return p

    return train


def _timed(fn) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=64)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--rows", type=int, default=2800)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="50 steps, 1 repeat")
    ap.add_argument("--no-host-loop", action="store_true", help="skip the host-loop reference")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.repeats = 50, 1

    net = nets.mlp(31, (100,), 1, out_shift=30.0, out_scale=10.0)
    x, y = _data(args.rows)
    x, y = jnp.asarray(x), jnp.asarray(y)
    cfg = TrainConfig("adam", 1e-3, args.steps, args.batch_size, loss="mae")
    n = args.models
    params0 = nets.stack_init(net, jax.random.key(0), n)
    keys = jax.random.split(jax.random.key(1), n)
    singles = [jax.tree.map(lambda a, i=i: a[i:i + 1], params0) for i in range(n)]

    def concurrent():
        return train_group(net, params0, x, y, cfg, keys=keys)

    def sequential():
        return [train_group(net, singles[i], x, y, cfg, keys=keys[i:i + 1]) for i in range(n)]

    compile_concurrent = _timed(concurrent)
    compile_sequential = _timed(lambda: train_group(net, singles[0], x, y, cfg, keys=keys[:1]))
    cache = _train_mod._train._cache_size()
    t_conc = [_timed(concurrent) for _ in range(args.repeats)]
    t_seq = [_timed(sequential) for _ in range(args.repeats)]
    recompiled = _train_mod._train._cache_size() - cache
    t_host = None
    if not args.no_host_loop:
        host = _host_loop_trainer(net, cfg, x, y)
        one = [jax.tree.map(lambda a: a[0], s) for s in singles]
        _timed(lambda: host(one[0], keys[0]))  # compile
        t_host = [_timed(lambda: [host(one[i], keys[i]) for i in range(n)])
                  for _ in range(args.repeats)]

    # the two arms compute the same models
    a = concurrent()[0]
    b = train_group(net, singles[n - 1], x, y, cfg, keys=keys[n - 1:])[0]
    max_diff = max(float(jnp.max(jnp.abs(u[n - 1] - v[0])))
                   for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))

    med_c, med_s = statistics.median(t_conc), statistics.median(t_seq)
    # training FLOPs ~ 3x the forward's 2 * (multiply-adds of the dense kernels) per row
    macs = sum(int(np.prod(k.shape[1:])) for k in jax.tree.leaves(params0["params"])
               if k.ndim == 3)
    flop_step = 3 * 2 * macs * args.batch_size
    total = flop_step * args.steps * n
    result = {
        "benchmark": "zoo_training",
        "models": n, "architecture": "31-100-1", "steps": args.steps,
        "batch_size": args.batch_size, "rows": args.rows, "repeats": args.repeats,
        "concurrent_s": med_c, "sequential_s": med_s, "speedup": med_s / med_c,
        "concurrent_runs_s": t_conc, "sequential_runs_s": t_seq,
        "host_loop_s": None if t_host is None else statistics.median(t_host),
        "speedup_vs_host_loop": None if t_host is None else statistics.median(t_host) / med_c,
        "flop_per_model_step": flop_step,
        "concurrent_flops_per_s": total / med_c, "sequential_flops_per_s": total / med_s,
        "compile_concurrent_s": compile_concurrent - med_c,
        "compile_sequential_s": compile_sequential - med_s / n,
        "recompilations_while_timing": recompiled,
        "max_param_diff_last_member": max_diff,
        "backend": jax.default_backend(), "devices": len(jax.devices()),
        "cpu_count": os.cpu_count(), "jax": jax.__version__, "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
