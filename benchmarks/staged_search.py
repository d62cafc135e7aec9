"""The profile rule's search in one stage or two, on each scenario's owner network.

A profile line of ``P`` probes is kept only when it is clean at the centre on
every sibling, and only its three central probes decide that. The staged search
(:func:`tafa_jax.fingerprint.search`, ``keep_probes=False``, the default inside
``generate``) evaluates those three for every candidate line, then all ``P`` for
the few lines that pass. This script times both on the scenarios' profile rules
(the same lines, the same key), back to back, and checks that they agree: the
same ``valid`` mask, the same bend statistic on the valid lines.

Owners: warfarin's is trained on the real IWPC data (the scenario's recipe);
fashion's generator and skin's ResNet-18 are randomly initialised (the time of a
forward pass does not depend on the weights' values, and their real data cannot
be downloaded here), so their valid-line counts say nothing about trained owners.

    python benchmarks/staged_search.py [--out benchmarks/results] [--repeats 3] [--quick]
        [--scenarios warfarin,fashion,skin] [--lines skin=512]

``--lines`` caps a scenario's candidate lines (skin's one-stage search of 2048
ResNet-18 lines takes minutes per run on two CPU cores).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from design_study import study_parser, write_result  # noqa: E402

from benchmarks._common import machine_info, paired_ratios, random_params, timeit  # noqa: E402
from tafa_jax.bend import default_link  # noqa: E402
from tafa_jax.data import Domain  # noqa: E402
from tafa_jax.fingerprint import search  # noqa: E402
from tafa_jax.fingerprint.search import compile_count  # noqa: E402
from tafa_jax.nets import Network  # noqa: E402
from tafa_jax.pipeline import load_data, train_owner  # noqa: E402
from tafa_jax.scenarios import FASHION, SCENARIOS, WARFARIN, Scenario  # noqa: E402
from tafa_jax.zoo.arch import network_from_spec  # noqa: E402


def owner_of(scenario: Scenario, seed: int) -> tuple[Network, Any, Domain, str]:
    """``(net, params, fingerprint domain, what the owner is)``."""
    if scenario is WARFARIN:
        data = load_data(WARFARIN, seed=seed)
        net, params, mae = train_owner(WARFARIN, data, jax.random.key(seed))
        return net, params, data.domain, f"trained on the IWPC data (test MAE {mae:.2f})"
    from tafa_jax.data import image_domain, noise_domain

    net = network_from_spec(scenario.owner_spec)
    domain = (noise_domain(int(net.input_shape[0])) if scenario is FASHION
              else image_domain(net.input_shape))
    return net, random_params(net, None, seed), domain, "randomly initialised (see doc)"


def run_case(scenario: Scenario, n_lines: int | None, repeats: int, seed: int) -> dict:
    net, params, domain, what = owner_of(scenario, seed)
    gcfg = scenario.rule("profile")[0]
    cfg = gcfg.search_config(gcfg.distances[0])
    cfg = dataclasses.replace(cfg, link=cfg.link or default_link(net.module))
    m = n_lines or gcfg.n_candidates
    key = jax.random.key(seed + 1)

    def run(staged: bool):
        return lambda: search(net, params, domain, cfg, key, m, chunk=gcfg.chunk,
                              keep_probes=False, staged=staged)

    one_t, two_t = timeit(run(False), repeats, min_total_s=0.0), timeit(
        run(True), repeats, min_total_s=0.0)
    compiled = {s: compile_count(net, domain, cfg, gcfg.chunk, False, s) for s in (False, True)}
    paired, one, two = paired_ratios(run(False), run(True), repeats)
    ok = np.asarray(one.valid)
    rel = np.abs(two.bend[ok] - one.bend[ok]) / np.maximum(np.abs(one.bend[ok]), 1e-6)
    return {
        "scenario": scenario.name, "owner": what, "network": net.name,
        "lines": m, "siblings": cfg.siblings, "probes": cfg.probes, "chunk": gcfg.chunk,
        "one_stage": one_t.to_json(), "staged": two_t.to_json(),
        "speedup": float(np.median(paired)), "speedup_pairs": paired,
        "compiled_programs": {"one_stage": compiled[False], "staged": compiled[True]},
        "valid_lines": int(ok.sum()),
        "valid_identical": bool(np.array_equal(one.valid, two.valid)),
        "bend_max_rel_diff": float(rel.max()) if rel.size else 0.0,
    }


def to_markdown(result: dict) -> str:
    mi = result["machine"]
    lines = ["# Profile-line search: one stage or two", "",
             f"`{result.get('command', 'python benchmarks/staged_search.py')}` on "
             f"{mi['cpu_model']} "
             f"({mi['cpu_cores_available']} cores), JAX {mi['versions']['jax']} on "
             f"{mi['jax_backend']}. Times are medians over warm runs; the speed-up is "
             "the median of back-to-back (one stage / staged) pairs. Fashion's and "
             "skin's owners are randomly initialised networks of the scenario's shape "
             "(their data cannot be downloaded here): their times are real, their "
             "valid-line counts are not a trained owner's.", "",
             "| scenario | owner | lines x siblings x probes | one stage (s) | staged (s) "
             "| speed-up | valid lines (identical) | bend max rel. diff | programs |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["cases"]:
        same = "yes" if r["valid_identical"] else "NO"
        lines.append(
            f"| {r['scenario']} | {r['owner']} | {r['lines']} x {r['siblings']} x "
            f"{r['probes']} | {r['one_stage']['median_s']:.2f} | {r['staged']['median_s']:.2f} "
            f"| {r['speedup']:.1f}x | {r['valid_lines']} ({same}) "
            f"| {r['bend_max_rel_diff']:.1e} | {r['compiled_programs']['one_stage']} / "
            f"{r['compiled_programs']['staged']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = study_parser(__doc__, quick="a tenth of the candidate lines (a smoke run)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scenarios", default="warfarin,fashion,skin")
    ap.add_argument("--lines", default="",
                    help="candidate lines per scenario, e.g. skin=512 (default: the rule's)")
    args = ap.parse_args(argv)
    try:
        lines = {k.strip(): int(v) for k, v in (kv.split("=") for kv in args.lines.split(",")
                                                if kv.strip())}
    except ValueError:
        ap.error(f"--lines takes scenario=N pairs separated by commas, got {args.lines!r}")
    if any(n < 1 for n in lines.values()):
        ap.error("--lines needs N >= 1")
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    scs = SCENARIOS
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if not names or any(s not in scs for s in [*names, *lines]):
        ap.error(f"--scenarios and --lines name scenarios among {sorted(scs)}")
    cases = []
    for i, name in enumerate(names):
        sc = scs[name]
        n = lines.get(name, max(sc.rule("profile")[0].chunk,
                                sc.rule("profile")[0].n_candidates // 10)
                      if args.quick else None)
        cases.append(run_case(sc, n, args.repeats, seed=i))
        c = cases[-1]
        print(f"{name}: one stage {c['one_stage']['median_s']:.2f} s, staged "
              f"{c['staged']['median_s']:.2f} s, speed-up {c['speedup']:.1f}x, "
              f"valid {c['valid_lines']} identical={c['valid_identical']}", flush=True)
    result = {"machine": machine_info(None), "cases": cases, "command": " ".join(
        ["python benchmarks/staged_search.py", *(argv if argv is not None else sys.argv[1:])])}
    write_result(Path(args.out), "staged_search" + ("_quick" if args.quick else ""), result,
                 to_markdown)
    return 0 if all(c["valid_identical"] for c in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
