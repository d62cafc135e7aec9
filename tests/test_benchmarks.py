"""Smoke test of the benchmark suite: the quick configuration runs and its results are sane.

No timing assertions: only that ``results.json`` is well-formed (expected keys,
positive finite numbers, ratios present) and that the arms agree numerically.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` lives beside `tests`, outside the package
    sys.path.insert(0, str(ROOT))

HAS_TORCH = importlib.util.find_spec("torch") is not None
if str(ROOT / "benchmarks") not in sys.path:  # the stand-alone scripts, by file name
    sys.path.insert(0, str(ROOT / "benchmarks"))


def _positive(x) -> bool:
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


def _check_timing(t: dict) -> None:
    for k in ("first_s", "median_s", "min_s", "max_s", "q1_s", "q3_s"):
        assert _positive(t[k]), (k, t)
    assert t["compile_s"] >= 0 and math.isfinite(t["compile_s"])
    assert t["min_s"] <= t["median_s"] <= t["max_s"]
    assert t["repeats"] >= 1


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    from benchmarks import run

    out = tmp_path_factory.mktemp("bench")
    returned = run.main(["--quick", "--out", str(out)])
    return out, returned


@pytest.mark.slow
def test_quick_suite_writes_well_formed_results(quick_results):
    out, returned = quick_results
    results = json.loads((out / "results.json").read_text())
    assert results["mode"] == "quick"
    assert results["benchmarks"] == ["verify", "generate", "train", "scaling", "e2e"]
    assert (out / "summary.md").read_text().startswith("# tafa-jax benchmarks")
    assert (out / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(returned) >= {"machine", "headline", "verify", "generate", "train", "scaling"}

    m = results["machine"]
    assert m["cpu_cores_available"] >= 1 and m["versions"]["jax"] and m["jax_devices"]
    assert _positive(results["matmul_peak"]["peak_flops_per_s"])

    for label, case in results["verify"].items():
        assert case["rows"], label
        for row in case["rows"]:
            assert row["queries"] == row["n_models"] * 300
            for arm in ("vmapped", "vmapped_api", "jax_loop"):
                _check_timing(row[arm]["timing"])
                assert _positive(row[arm]["queries_per_s"])
            assert row["jax_loop"]["match_agreement_vs_vmapped"] >= 0.99
            assert _positive(row["ratios"]["jax_loop_over_vmapped"])
            assert _positive(row["ratios"]["api_over_vmapped"])
            if HAS_TORCH and label in ("warfarin_mlp", "generator", "small_cnn"):
                _check_timing(row["torch_loop"]["timing"])
                assert row["torch_loop"]["match_agreement_vs_vmapped"] >= 0.99, label
                assert _positive(row["ratios"]["torch_loop_over_vmapped"])
                assert _positive(row["ratios"]["torch_loop_over_jax_loop"])
            elif not HAS_TORCH:
                assert row["torch_loop"] is None and "not installed" in row["torch_loop_note"]
    vc = results["verify_chunks"]
    assert vc["best_chunk"] in [p["chunk"] for p in vc["points"]]
    assert all(_positive(p["queries_per_s"]) for p in vc["points"])
    w = results["verify"]["warfarin_mlp"]["rows"][-1]
    assert 0 < w["fraction_of_peak"] and _positive(w["achieved_flops_per_s"])

    for label, g in results["generate"].items():
        _check_timing(g["search"]["timing"])
        _check_timing(g["forward"]["timing"])
        assert _positive(g["search"]["lines_per_s"]), label
        assert _positive(g["overhead_ratio"]), label
        assert g["search"]["compiled_programs"] == 1, label  # no recompiles while timing
        assert 0 <= g["search"]["valid_lines"] <= g["n_lines"]

    t = results["train"]
    assert _positive(t["concurrent_s"]) and _positive(t["sequential_s"]) and _positive(
        t["speedup"])

    s = results["scaling"]
    assert [p["n_models"] for p in s["verify_vs_n"]["points"]] == [4, 16, 64]
    for p in s["verify_vs_n"]["points"] + s["generate_vs_m"]["points"]:
        _check_timing(p["timing"])
    assert s["generate_vs_m"]["fit"]["per_item_s"] >= 0

    assert "note" in results["e2e"]
    h = results["headline"]
    assert _positive(h["verify_jax_loop_over_vmapped"])
    assert _positive(h["generate_warfarin_mlp_overhead_ratio"])
    assert (h["verify_torch_loop_over_vmapped"] is not None) == HAS_TORCH


def test_torch_absent_is_a_note_not_a_crash(monkeypatch):
    """Without torch (CI installs only the test extra) the baseline is skipped with a note."""
    from benchmarks import _common, run, verification

    monkeypatch.setattr(run, "load_torch", lambda threads: (None, "PyTorch is not installed"))
    torch, note = run.load_torch(1)
    case = verification.VerifyCase("warfarin_mlp", run.nets.mlp(31, (100,), 1),
                                   run.warfarin_domain(), 0.1, "identity", (2,))
    res = verification.run_case(case, 4, 1, None, torch, note, seed=0, min_total_s=0.0)
    row = res["rows"][0]
    assert row["torch_loop"] is None and row["torch_loop_note"] == "PyTorch is not installed"
    assert row["ratios"]["torch_loop_over_vmapped"] is None
    assert _positive(row["ratios"]["jax_loop_over_vmapped"])
    assert row["fraction_of_peak"] is None  # no peak measured here
    assert _common.ratio(1.0, None) is None


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed (bench extra)")
def test_torch_baseline_matches_jax_pair_stats():
    """The torch per-model verifier computes the same bend statistics as the JAX one."""
    import torch

    from benchmarks import _common, torch_baseline, verification
    from tafa_jax import nets
    from tafa_jax.data import image_domain, noise_domain

    for net, domain, link in (
        (nets.mlp(31, (16,), 1, head="clip", clip=(0.0, 0.5)), noise_domain(31), "identity"),
        (nets.generator(8, (16, 16), (4, 4, 1)), noise_domain(8), "atanh"),
        (nets.small_cnn(3, 8, 2), image_domain((8, 8, 2)), "identity"),
    ):
        params = _common.random_params(net, None, 0)
        probes, owner_y = verification.synthetic_fingerprint(net, params, domain, 5, 0.2, 1)
        b_jax, c_jax = verification._single_model_fn(net, probes, owner_y, link)(params)
        verify_one = torch_baseline.make_verifier(torch, net, probes, owner_y, link)
        b_t, c_t = verify_one(torch_baseline.model_weights(torch, net, params))
        b_jax, c_jax = np.asarray(b_jax), np.asarray(c_jax)
        np.testing.assert_allclose(b_t.numpy(), b_jax, rtol=1e-3, atol=1e-3)
        kinked = b_jax >= 0.1  # elsewhere the bend vector is round-off and its sign is noise
        np.testing.assert_allclose(c_t.numpy()[kinked], c_jax[kinked], rtol=1e-3, atol=1e-4)


def test_baselines_script_quick_runs_end_to_end(tmp_path):
    # the comparison script once broke on a renamed timing key; run it whole
    import baselines as baselines_script

    assert baselines_script.main(["--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "baselines_quick.json").read_text())
    for scen, want in (("warfarin", {"TAFA default rule", "TAFA pairs rule",
                                     "random-query similarity", "MetaV"}),
                       ("skin", {"IPGuard"})):
        rows = result[scen]["methods"]
        assert want <= {r["method"] for r in rows}
        for r in rows:
            assert 0 <= r["aruc"] <= 1 and 0 <= r["roc_auc"] <= 1, r
    # the baselines get the default rule's budget (profile lines), the pairs rule its own
    from tafa_jax.scenarios import WARFARIN

    queries = {r["method"]: r["queries_per_suspect"] for r in result["warfarin"]["methods"]}
    gen = WARFARIN.rule()[0]
    assert queries["TAFA default rule"] == gen.n_pairs * gen.siblings * gen.probes
    assert queries["random-query similarity"] == queries["MetaV"] == queries["TAFA default rule"]
    assert queries["TAFA pairs rule"] < queries["TAFA default rule"]
    assert "MetaV" in (tmp_path / "baselines_quick.md").read_text()


def test_ceiling_alignment_finds_copies_and_not_strangers():
    import ceiling

    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(6, 10)), rng.normal(size=10)
    k = np.array([2, 7])
    # a point on each chosen owner boundary: project a random point onto w_k . x + b_k = 0
    x = rng.normal(size=(2, 6))
    wk = w[:, k].T
    centres = x - ((np.sum(x * wk, 1) + b[k]) / np.sum(wk * wk, 1))[:, None] * wk
    perm = rng.permutation(10)
    scale = rng.uniform(0.5, 2.0, size=10)  # ReLU rescaling keeps every boundary
    cos, dist = ceiling.alignment(wk, centres, w[:, perm] * scale[perm], b[perm] * scale[perm])
    assert cos.shape == dist.shape == (2, 10)
    for g in range(2):
        j = int(np.flatnonzero(perm == k[g])[0])
        assert cos[g, j] == pytest.approx(1.0) and dist[g, j] == pytest.approx(0.0, abs=1e-9)
    assert ceiling.oracle_scores(cos, dist, 0.99, 1e-6) == 1.0
    other_w, other_b = rng.normal(size=(6, 10)), rng.normal(size=10)
    other_w[:, 3] = 0.0  # a dead neuron is dropped, not divided by zero
    cos2, dist2 = ceiling.alignment(wk, centres, other_w, other_b)
    assert cos2.shape == (2, 9) and np.isfinite(dist2).all()
    assert ceiling.oracle_scores(cos2, dist2, 0.99, 1e-6) == 0.0
    out = np.ones((10, 1))
    out[k[0]] = 0.0  # a pruned output weight: that neuron puts no kink in the output
    cos3, dist3 = ceiling.alignment(wk, centres, w, b, out)
    assert cos3.shape == (2, 9)
    assert ceiling.oracle_scores(cos3, dist3, 0.99, 1e-6) == 0.5


def test_fixture_study_variants_and_table_say_which_data():
    import fixture_study

    from tafa_jax.scenarios import FASHION, SKIN

    for sc in (FASHION, SKIN):
        vs = fixture_study.variants(sc, n_layers=3)
        names = [v[1] for v in vs]
        assert [v[2].select.layers for v in vs if v[0] == "layer"] == [(0,), (1,), (2,)]
        lengths = [v[2] for v in vs if v[0] == "length"]
        assert lengths and all(g.probes == 41 and g.line_length >= 4 * g.distances[0]
                               for g in lengths)
        assert len(set(names)) == len(names)
        assert sum("(DEFAULT)" in n for n in names) == 1
        default = next(v for v in vs if "(DEFAULT)" in v[1])
        assert default[2] == sc.generation and default[3] == sc.match  # the pairs rule
        assert all(v[2].n_pairs * v[2].siblings <= 100 for v in vs)  # the budget
    # fashion's provisional profile rule is the fixture study's 40 d row, as measured
    # (chosen since from a pool of 80 by the owner's pruning: the study's rows choose none)
    shipped = FASHION.rule("profile")
    assert shipped[0].choose_from == 80
    assert [v[1] for v in fixture_study.variants(FASHION)
            if (dataclasses.replace(v[2], choose_from=80), v[3]) == shipped
            ] == ["profile lines over 40 d, 20 groups of 5"]
    # skin's is the 40 d row, with the 8192 candidate lines it was measured with
    gen, match = SKIN.rule("profile")
    assert [v[1] for v in fixture_study.variants(SKIN)
            if (dataclasses.replace(v[2], n_candidates=8192), v[3]) == (gen, match)
            ] == ["profile lines over 40 d, 20 groups of 5"]
    row = {"block": "rule", "variant": "x", "aruc": 0.5, "roc_auc": 0.75, "tpr_at_1fpr": 0.5,
           "worst_positive_kind": "rtal", "worst_positive_mean": 0.1, "max_negative": 0.2,
           "distillation_mean": None, "owner_rate": 0.8, "queries_per_suspect": 300}
    md = fixture_study.to_markdown({
        "scenario": "skin", "data": "FIXTURE: random images (not real data)",
        "owner_utility": 0.2, "utility_metric": "accuracy", "owner_steps": 30,
        "zoo": {"size": "small", "positives": 8, "negatives": 4},
        "rows": [row, {"block": "rule", "variant": "y", "error": "too few pairs"}]})
    assert "**Data: FIXTURE: random images (not real data).**" in md
    assert "| rule | x | 0.500 | 0.750 | 0.50 | rtal (0.10) | 0.20 | - | 0.80 | 300 |" in md
    assert "error: too few pairs" in md and "--owner-check" not in md
    checked = fixture_study.to_markdown({
        "scenario": "skin", "data": "FIXTURE", "owner_utility": 0.2,
        "utility_metric": "accuracy", "owner_steps": 30, "owner_check": True,
        "owner_schedule": "cosine",
        "zoo": {"size": "small", "positives": 8, "negatives": 4}, "rows": [row]})
    assert "groups the owner fails replaced at generation (--owner-check)" in checked
    # the owner's schedule is named where the table knows it (older tables do not)
    assert "Owner: 30 training steps (cosine rate)" in checked
    assert "Owner: 30 training steps, " in md


def test_profile_scorer_compares_the_first_line_test_with_the_median_test():
    import profile_scorer

    from tafa_jax.scenarios import WARFARIN
    from tafa_jax.verify.score import profile_group_matches

    _, match = WARFARIN.rule("profile")
    rows = profile_scorer.variants(match)
    assert [first for _, _, first in rows] == [True, False, False, False]
    assert sum("PROFILE RULE" in name for name, _, _ in rows) == 1
    # 2 groups of 5 lines; every line has its kink at cell 4 with relative jump 0.8,
    # except that group 0's first line merged it with a neighbour's (jump 0.3)
    r = np.zeros((2, 5, 9), np.float32)
    r[:, :, 4] = 1.0
    s = np.where(r > 0, 0.8, 0.0).astype(np.float32)
    s[0, 0, 4] = 0.3
    group = np.repeat(np.arange(2), 5)
    cfg = dataclasses.replace(match, beta=0.5, profile_quorum=0.8)
    old = profile_scorer.first_line_matches(r.reshape(10, 9), s.reshape(10, 9), group, cfg)
    new = profile_group_matches(r.reshape(10, 9), group, cfg.beta, cfg.profile_tol,
                                s.reshape(10, 9), cfg.profile_jump_tol, cfg.profile_quorum)
    np.testing.assert_array_equal(old, [0, 1])  # the first line was every line's reference
    np.testing.assert_array_equal(new, [1, 1])  # now it costs that line alone


@pytest.mark.slow
def test_profile_scorer_quick_runs_end_to_end(tmp_path):
    import profile_scorer

    assert profile_scorer.main(["--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "profile_scorer_quick.json").read_text())
    assert set(result["zoos"]) == {"design", "heldout"}
    for rows in result["zoos"].values():
        assert [r["variant"] for r in rows] == [n for n, _, _ in profile_scorer.variants(
            profile_scorer.WARFARIN.rule("profile")[1])]
        for r in rows:
            assert r["keys"] == 2 and len(r["aruc"]["runs"]) == 2
            assert 0 <= r["aruc"]["mean"] <= 1 and 0 <= r["max_negative"]["mean"] <= 1
        # the first row is the comparison's baseline: against itself, every key ties
        assert rows[0]["aruc_vs_previous"] == {"wins": 0, "ties": 2, "losses": 0}
    md = (tmp_path / "profile_scorer_quick.md").read_text()
    assert "PROFILE RULE" in md and "## heldout zoo" in md and "## design zoo" in md


def test_calibrated_score_budget_option():
    import calibrated_score as cs

    # the budgets: 10, 30, 100 and 300 lines, the rule's layout among them
    sizes = [tuple(int(n) for n in lay.split("x")) for lay in cs.BUDGET_LAYOUTS]
    assert [g * n for g, n in sizes] == [10, 30, 100, 300]
    from tafa_jax.scenarios import WARFARIN

    gen = WARFARIN.rule("profile")[0]
    assert (gen.n_pairs, gen.siblings) in sizes
    # --budget names its own layouts: with --layouts too it is refused before any work
    with pytest.raises(SystemExit) as exc:
        cs.main(["--budget", "--layouts", "5x20"])
    assert exc.value.code == 2
    md = cs.to_markdown({"data": "d", "owner_test_mae": 9.0, "machine": {}, "keys": 1,
                         "rules": {}, "command": "python benchmarks/calibrated_score.py --budget"})
    assert "Regenerate: `python benchmarks/calibrated_score.py --budget`" in md


def test_layout_rules_regroup_the_scenarios_profile_rule():
    import argparse

    import calibrated_score as cs

    from tafa_jax.scenarios import SKIN, WARFARIN

    ap = argparse.ArgumentParser()
    rules = cs.layout_rules(ap, SKIN, ["20x5", "33x3"])
    gen, match = SKIN.rule("profile")
    # the rule's own layout is the rule itself; another keeps everything but the grouping
    assert rules["profile, 20 groups of 5"] == (gen, match)
    g3, m3 = rules["profile, 33 groups of 3"]
    assert (g3.n_pairs, g3.siblings) == (33, 3) and g3.distances == gen.distances
    assert g3.n_candidates == gen.n_candidates and m3 == SKIN.match_for(gen.probes, 3)
    # warfarin's quorum is for its 20-line groups: other sizes match every line
    w = cs.layout_rules(ap, WARFARIN, ["10x10"], keep_quorum=False)["profile, 10 groups of 10"]
    assert w[1].profile_quorum == 1.0 != WARFARIN.rule("profile")[1].profile_quorum
    # the studies' tables were measured before the pruning choice: they keep none
    assert w[0].choose_from == 0 < WARFARIN.rule("profile")[0].choose_from
    for bad in ("20by5", "0x5", "5x"):
        with pytest.raises(SystemExit) as exc:
            cs.layout_rules(ap, SKIN, [bad])
        assert exc.value.code == 2


def test_calibrated_score_rows_fit_on_the_other_zoo():
    import calibrated_score as cs

    rng = np.random.default_rng(0)

    def runs(shift, graded_rows=None, zoo="a"):
        out = []
        # the first two copies are the same model in both zoos (a deterministic transform)
        digest = np.array(["same0", "same1"] + [f"{zoo}{i}" for i in range(12)])
        for _ in range(2):
            pos = np.clip(rng.normal(16 - shift, 1, (6, 5)).round(), 0, 20).astype(int)
            if graded_rows is not None:
                pos[:3] = graded_rows
            neg = np.clip(rng.normal(7, 2, (8, 5)).round(), 0, 20).astype(int)
            support = np.concatenate([pos, neg])
            out.append({"support": support, "rate": (support >= 16).mean(-1),
                        "label": np.array([1] * 6 + [0] * 8),
                        "group": np.array(["positive"] * 6 + ["negative"] * 8),
                        "kind": np.array(["rtal"] * 3 + ["ftal_large"] * 3 + ["neg_same"] * 8),
                        "digest": digest,
                        "attack": np.array(["rtal-v0"] * 3 + ["ftal_large-v0"] * 3
                                           + [f"neg_same-v{i}" for i in range(8)])})
        return out

    # members shared by both zoos stay out of the table that scores the other zoo
    test, ref = runs(0), runs(1, zoo="b")
    whole, fair = cs._fit(ref, 20), cs._fit(ref, 20, drop=frozenset(test[0]["digest"]))
    assert whole.copies.sum() - fair.copies.sum() == 2 * 2 * 5  # 2 copies, 2 keys, 5 groups
    assert whole.independent.sum() == fair.independent.sum()
    even = cs._fit(ref, 20, drop=frozenset(test[0]["digest"]), model="attacks alike")
    assert even.meta["attacks"] == 2 and np.array_equal(even.copies, fair.copies)
    with pytest.raises(KeyError):  # runs without digests cannot be checked: refused
        cs._fit([{k: v for k, v in r.items() if k != "digest"} for r in ref], 20)
    for bad in ("0x5", "5by20"):  # refused before any training
        with pytest.raises(SystemExit):
            cs.main(["--layouts", bad])

    # three copies whose groups have 14, 15, 16, 20 and 3 lines: graded 0, 0.5, 1, 1, 0
    rows = cs.score_rows(runs(0, [14, 15, 16, 20, 3]), runs(1, zoo="b"), 20, 0.8)
    assert [r["variant"] for r in rows] == list(cs.VARIANTS)
    by = {r["variant"]: r for r in rows}
    assert by[cs.VARIANTS[1]]["kind_means"]["rtal"] == pytest.approx(2.5 / 5)
    assert by[cs.VARIANTS[0]]["kind_means"]["rtal"] == pytest.approx(2 / 5)  # 16 and 20
    rate, pooled = by[cs.VARIANTS[0]], by[cs.VARIANTS[3]]
    assert pooled["aruc"]["mean"] > rate["aruc"]["mean"]  # the test can fail
    assert pooled["max_negative"]["mean"] < 0.05 and pooled["distillation_mean"] is None


def test_owner_labelled_reference_rows_keep_flagged_copies_where_asked():
    import owner_labelled_reference as olr

    rng = np.random.default_rng(1)

    def runs(flagged: int):
        out = []
        for _ in range(2):
            support = np.concatenate([np.clip(rng.normal(17, 1, (6, 5)).round(), 0, 20),
                                      np.tile([17, 16, 2, 1, 0], (2, 1)),  # kink gone on 3
                                      np.clip(rng.normal(7, 2, (8, 5)).round(), 0, 20)]
                                     ).astype(int)
            group = ["positive"] * 6 + ["excluded"] * 2 + ["negative"] * 8
            out.append({"support": support, "rate": (support >= 16).mean(-1),
                        "label": np.array([1] * 6 + [-1] * 2 + [0] * 8),
                        "group": np.array(group[:6] + (["excluded"] * 2 if flagged else
                                                       ["positive"] * 2) + group[8:]),
                        "kind": np.array(["rtal"] * 6 + ["fineprune 0.8"] * 2
                                         + ["neg_same"] * 8),
                        "digest": np.array([f"d{i}" for i in range(16)]),
                        "attack": np.array(["rtal-v0"] * 6 + ["fineprune-v3"] * 2
                                           + [f"neg_same-v{i}" for i in range(8)])})
            if not flagged:
                out[-1]["label"][6:8] = 1
        return out

    ref = runs(flagged=True)
    kept = olr.with_excluded(ref)
    assert [list(r["label"][6:8]) for r in kept] == [[1, 1], [1, 1]]
    # a flagged distilled copy stays out, as calibrate_on_zoo leaves it out
    distilled = [{**r, "kind": np.where(np.arange(16) == 7, "distill", r["kind"])} for r in ref]
    assert [list(r["label"][6:8]) for r in olr.with_excluded(distilled)] == [[1, -1], [1, -1]]
    assert list(ref[0]["label"][6:8]) == [-1, -1]  # the input is not changed
    test = [{**r, "digest": np.array([f"t{i}" for i in range(16)])} for r in runs(False)]
    refs = {"filtered": ref, "every copy": kept}
    rows = olr.score_rows(test, refs, 20)
    assert [r["variant"] for r in rows] == ["matching rate"] + [
        f"mixture fitted on {n}, {h}" for n in refs for h in olr.POOLS]
    by = {r["variant"]: r for r in rows}
    # the test zoo's two weak copies score as copies only where the table knows their attack
    weak_filtered = by["mixture fitted on filtered, pooled over keys"]["kind_means"]
    weak_kept = by["mixture fitted on every copy, pooled over keys"]["kind_means"]
    assert weak_kept["fineprune 0.8"] > 0.5 > weak_filtered["fineprune 0.8"]
    md = olr.to_markdown({"data": "IWPC", "owner_test_mae": 9.3, "machine": {"cpu": "x"},
                          "queries_per_suspect": 4100, "keys": 2, "command": "python b.py",
                          "reference_sizes": {"noise": 84}, "flagged": {"noise": 4,
                                                                        "noiseless": 44},
                          "zoos": {"design": rows}})
    assert "flagged 4 and 44 members" in md and "Regenerate: `python b.py`" in md
    assert md.count("| mixture fitted on") == 6 and md.count(" of 2 | ") == 7


def test_fixture_calibration_rules_exist_and_its_table_says_which_data():
    import fixture_calibration as fc
    import fixture_study

    from tafa_jax.scenarios import get_scenario

    for name, row in fc.BEST_PROFILE.items():
        assert row in [v[1] for v in fixture_study.variants(get_scenario(name))]
    cell = {"mean": 0.5, "sd": 0.1}
    row = {"variant": "v", "aruc": cell, "roc_auc": cell, "tpr_at_1fpr": cell,
           "max_negative": {"mean": 0.2}, "distillation_mean": None,
           "kind_means": {"noise": 0.9, "prune 0.4": 0.3}}
    md = fc.to_markdown({"scenario": "skin", "data": "FIXTURE: random images", "keys": 3,
                         "zoos": {"design": {"positives": 8, "negatives": 4},
                                  "heldout": {"positives": 7, "negatives": 4}},
                         "rules": {"pairs": {"queries_per_suspect": 297, "group_size": 3,
                                             "zoos": {"design": [row]}}}})
    assert "**Data: FIXTURE: random images.**" in md and "they are not results" in md
    failed = fc.to_markdown({"scenario": "skin", "data": "FIXTURE", "keys": 2,
                             "zoos": {"design": {"positives": 8, "negatives": 4},
                                      "heldout": {"positives": 8, "negatives": 4}},
                             "rules": {"profile": {"error": "only 12 usable pairs",
                                                   "candidates": 1024}}})
    assert "## profile: not scored (1024 candidate lines)" in failed
    assert "only 12 usable pairs" in failed
    assert "| v | 0.500 ± 0.100 | 0.500 ± 0.100 | 0.500 ± 0.100 | 0.20 | - | prune 0.4 (0.30) |" \
        in md


def test_staged_search_benchmark_agrees_and_writes_its_table(tmp_path):
    import staged_search

    from tafa_jax.scenarios import WARFARIN

    case = staged_search.run_case(WARFARIN, 2048, repeats=1, seed=0)  # one padded chunk
    assert case["valid_identical"] and case["valid_lines"] >= 1  # real owner, real data
    assert case["compiled_programs"] == {"one_stage": 1, "staged": 2}
    assert case["bend_max_rel_diff"] < 1e-4 and _positive(case["speedup"])
    _check_timing(case["one_stage"])
    _check_timing(case["staged"])
    md = staged_search.to_markdown({"machine": staged_search.machine_info(None),
                                    "cases": [case]})
    assert "| warfarin |" in md and "2048 x 20 x 41" in md
    for bad in (["--lines", "skin=x"], ["--lines", "cats=3"], ["--scenarios", "mnist"],
                ["--repeats", "0"]):
        with pytest.raises(SystemExit):
            staged_search.main([*bad, "--out", str(tmp_path)])
    assert not list(tmp_path.iterdir())  # refused before any work


def test_member_batching_benchmark_compares_both_ways_and_writes_its_table(tmp_path):
    import member_batching

    from tafa_jax.zoo import TrainConfig

    spec = {"builder": "resnet18", "num_classes": 7, "image_size": 16, "channels": 3,
            "widths": [4, 8, 8, 8]}
    train = member_batching.train_case(spec, TrainConfig("adam", 1e-3, 1, 16, loss="xent"),
                                       2, 2, repeats=1)
    verify = member_batching.verify_case(spec, 2, repeats=1)
    for r in (train, verify):
        assert r["auto"] == "map" and r["members"] == 2  # convolutional, on the CPU
        assert len(r["ratios"]) == 1 and _positive(r["ratio"])
    assert train["first_loss_abs_diff"] < 1e-3 and verify["stat_max_abs_diff"] < 1e-3
    mlp = member_batching.verify_case({"builder": "mlp", "in_features": 31, "hidden": [100],
                                       "out_features": 1}, 4, repeats=1)
    assert mlp["auto"] == "vmap"
    import jax
    import jax.numpy as jnp

    from tafa_jax import nets
    from tafa_jax.verify import zoo_pair_stats

    net = nets.mlp(3, (4,), 1)
    zoo = nets.stack_init(net, jax.random.key(0), 2)
    with pytest.raises(ValueError, match="members must be"):
        zoo_pair_stats(net, zoo, jnp.zeros((2, 3, 3)), jnp.zeros((2, 3, 1)), members="pmap")
    md = member_batching.to_markdown({
        "machine": member_batching.machine_info(None), "command": "python b.py",
        "cases": [{"network": "tiny ResNet", "train": train, "verify": verify}]})
    assert "| tiny ResNet | training: 2 steps of 16 | 2 |" in md
    assert "| tiny ResNet | verification: 4100 queries | 2 |" in md and "| map |" in md
    with pytest.raises(SystemExit):
        member_batching.main(["--repeats", "0", "--out", str(tmp_path)])
    assert not list(tmp_path.iterdir())


def test_key_selection_criteria_read_the_reference_run():
    import key_selection

    run = {"label": np.array([1, 1, 0, 0, -1]), "rate": np.array([0.9, 0.6, 0.2, 0.1, 0.8])}
    assert key_selection.criterion(run, "rate margin") == pytest.approx(0.6 - 0.2)
    assert key_selection.criterion(run, "rate ARUC") > 0.3  # separable: positive
    worse = {**run, "rate": np.array([0.9, 0.1, 0.2, 0.1, 0.8])}
    assert key_selection.criterion(worse, "rate margin") < 0
    assert key_selection.criterion(worse, "rate ARUC") < key_selection.criterion(
        run, "rate ARUC")


def test_prune_choice_reference_merit_and_group_subsets():
    import prune_choice

    need = prune_choice.NEED
    support = np.array([[need, need - 1, need],   # copy, attack a
                        [need, need, need - 1],   # copy, attack a
                        [need - 1, need, need],   # copy, attack b
                        [need - 1, need - 1, need],  # independent
                        [need - 1, need, need]])  # shared with the scored zoo
    run = {"support": support, "label": np.array([1, 1, 1, 0, 1]),
           "attack": np.array(["a", "a", "b", "", "a"]),
           "digest": np.array(["d0", "d1", "d2", "d3", "shared"])}
    merit = prune_choice.reference_merit(run, frozenset({"shared"}))
    # attack means: a (1, .5, .5), b (0, 1, 1); independent (0, 0, 1)
    np.testing.assert_allclose(merit, [0.5, 0.75, -0.25])
    with_shared = prune_choice.reference_merit(run, frozenset())
    assert with_shared[0] < merit[0]  # the shared copy counts when it is not left out
    assert prune_choice.top(merit).tolist() == [0, 1, 2]  # every group of three
    assert prune_choice.top(np.array([1.0, 1.0, 2.0, 1.0, 0.5, 0.0, 3.0])).tolist() == \
        [0, 1, 2, 3, 6]  # ties: pool order
    part = prune_choice.sub({**run, "rate": None}, np.array([2]))
    assert part["support"].shape == (5, 1)
    np.testing.assert_array_equal(part["rate"], [1, 0, 1, 1, 1])


def test_fixture_scripts_take_a_file_name_tag():
    import fixture_study

    ap = fixture_study.fixture_parser("doc")
    assert ap.parse_args(["--scenario", "fashion", "--tag", "owner2000"]).tag == "owner2000"
    assert ap.parse_args(["--scenario", "fashion"]).tag is None
    for bad in ("a/b", "../x", ""):  # the tag names a file in --out: no paths
        with pytest.raises(SystemExit):
            ap.parse_args(["--scenario", "fashion", "--tag", bad])
