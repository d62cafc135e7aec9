"""A zoo's members in one compiled program: batched (``vmap``) or one after another
(``lax.map``), for training and for verification.

``vmap`` over members whose weights differ turns a dense layer into a batched
matmul, but a convolution into a grouped convolution, which XLA's CPU backend
runs slowly. This script times both ways back to back on each scenario-sized
network and reports the ratio (vmap time / map time: above 1, ``map`` is
faster), with the choice :func:`tafa_jax.nets.member_batching` makes here:

- training: one ``train_group`` call (the scenario's recipe), N members;
- verification: one ``zoo_pair_stats`` call on one chunk of members (the
  cache-sized chunk it uses) and the profile rule's 100 lines x 41 probes (4100
  queries), host transfers included.

Both take ``members="vmap"`` or ``"map"``; ``"auto"`` is what the library uses.

Weights are random (the time does not depend on their values); inputs are
Gaussian.

    python benchmarks/member_batching.py [--out benchmarks/results] [--repeats 3] [--quick]
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from design_study import study_parser, write_result  # noqa: E402

from benchmarks._common import machine_info, paired_ratios, random_params  # noqa: E402
from tafa_jax.nets import member_batching  # noqa: E402
from tafa_jax.scenarios import SKIN, WARFARIN  # noqa: E402
from tafa_jax.verify import zoo_pair_stats  # noqa: E402
from tafa_jax.verify.query import default_chunk  # noqa: E402
from tafa_jax.zoo import TrainConfig, train_group  # noqa: E402
from tafa_jax.zoo.arch import network_from_spec  # noqa: E402

# (name, scenario, members, training steps)
CASES = (("skin ResNet-18, 28 px", SKIN, 4, 20), ("warfarin MLP 31-100-1", WARFARIN, 16, 300))


def _inputs(net, rows: int, seed: int) -> jax.Array:
    return jax.random.normal(jax.random.key(seed), (rows, *net.input_shape))


def train_case(spec, cfg: TrainConfig, n: int, steps: int, repeats: int) -> dict:
    """vmap / map ratios of one :func:`~tafa_jax.zoo.train_group` call (``steps``
    steps, N members)."""
    net = network_from_spec(spec)
    p0 = jax.tree.map(jnp.asarray, random_params(net, n, 0))
    x = _inputs(net, 2048, 1)
    y = (jax.random.randint(jax.random.key(2), (2048,), 0, net.output_size)
         if cfg.loss == "xent" else jax.random.normal(jax.random.key(2), (2048, 1)))
    cfg = dataclasses.replace(cfg, steps=steps)
    keys = jax.random.split(jax.random.key(3), n)

    def run(mode):
        return lambda: train_group(net, p0, x, y, cfg, keys=keys, members=mode)

    jax.block_until_ready((run("vmap")(), run("map")()))  # compile both first
    ratios, a, b = paired_ratios(run("vmap"), run("map"), repeats)
    # the first step's losses: later steps amplify rounding (Adam divides by tiny moments)
    diff = float(jnp.max(jnp.abs(a[1][:, 0] - b[1][:, 0])))
    return {"members": n, "steps": steps, "batch": cfg.batch_size,
            "ratio": float(np.median(ratios)), "ratios": ratios,
            "first_loss_abs_diff": diff, "auto": member_batching(p0)}


def verify_case(spec, n: int | None, repeats: int) -> dict:
    """vmap / map ratios of :func:`~tafa_jax.verify.zoo_pair_stats` on 100 lines x 41
    probes for one chunk of ``n`` members (``None``: the chunk it picks itself,
    sized to the cache by :func:`~tafa_jax.verify.query.default_chunk`)."""
    net = network_from_spec(spec)
    n = default_chunk(net, 100 * 41) if n is None else n
    zoo = random_params(net, n, 0)
    probes = _inputs(net, 100 * 41, 4).reshape(100, 41, *net.input_shape)
    owner_y = jax.random.normal(jax.random.key(5), (100, 41, net.output_size))

    def run(mode):
        return lambda: zoo_pair_stats(net, zoo, probes, owner_y, chunk=n, devices=1,
                                      members=mode)

    run("vmap")(), run("map")()
    ratios, a, b = paired_ratios(run("vmap"), run("map"), repeats)
    ok = np.isfinite(a[0]) & np.isfinite(b[0])
    diff = float(np.max(np.abs(a[0][ok] - b[0][ok]), initial=0.0))
    return {"members": n, "queries": 4100, "ratio": float(np.median(ratios)), "ratios": ratios,
            "stat_max_abs_diff": diff, "auto": member_batching(zoo)}


def to_markdown(result: dict) -> str:
    mi = result["machine"]
    lines = ["# Zoo members batched (vmap) or one after another (lax.map)", "",
             f"`{result['command']}` on {mi['cpu_model']} ({mi['cpu_cores_available']} "
             f"cores), JAX {mi['versions']['jax']} on {mi['jax_backend']}. Ratio: vmap time / "
             "map time, median of back-to-back pairs (above 1: map is faster); both programs "
             "compiled first. Random weights, Gaussian inputs.", "",
             "| network | work | members | vmap / map | pairs | max abs diff (first loss / "
             "statistic) | auto |",
             "|---|---|---|---|---|---|---|"]
    for c in result["cases"]:
        for what, r in (("training", c["train"]), ("verification", c["verify"])):
            work = (f"{r['steps']} steps of {r['batch']}" if what == "training"
                    else f"{r['queries']} queries")
            diff = r.get("first_loss_abs_diff", r.get("stat_max_abs_diff"))
            lines.append(f"| {c['network']} | {what}: {work} | {r['members']} | "
                         f"{r['ratio']:.2f}x | {', '.join(f'{v:.2f}' for v in r['ratios'])} | "
                         f"{diff:.1e} | {r['auto']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = study_parser(__doc__, quick="a tenth of the steps (a smoke run)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    cases = []
    for name, sc, n, steps in CASES:
        steps = max(2, steps // 10) if args.quick else steps
        c = {"network": name, "train": train_case(sc.owner_spec, sc.owner_train, n, steps,
                                                  args.repeats),
             "verify": verify_case(sc.owner_spec, None, args.repeats)}
        cases.append(c)
        print(f"{name}: training {c['train']['ratio']:.2f}x, verification "
              f"{c['verify']['ratio']:.2f}x (vmap / map), auto {c['train']['auto']}", flush=True)
    result = {"machine": machine_info(None), "cases": cases, "command": " ".join(
        ["python benchmarks/member_batching.py", *(argv if argv is not None else sys.argv[1:])])}
    write_result(Path(args.out), "member_batching" + ("_quick" if args.quick else ""), result,
                 to_markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
