"""Fashion and skin run through the same pipeline as warfarin, on fixtures in the real formats."""

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from tafa_jax.data import write_dermamnist_fixture
from tafa_jax.pipeline import run_scenario
from tafa_jax.report import load_report
from tafa_jax.scenarios import FASHION, SKIN, get_scenario


def _check(rep, scenario, synthetic):
    assert rep["scenario"] == scenario and rep["synthetic"] is synthetic
    assert rep["owner_rate"] == 1.0
    groups = {s["group"] for s in rep["suspects"]}
    assert {"owner", "positive", "negative"} <= groups
    assert all(0.0 <= s["score"] <= 1.0 for s in rep["suspects"] if not s["failed"])


def test_skin_end_to_end_on_a_dermamnist_fixture(tmp_path):
    npz = write_dermamnist_fixture(tmp_path / "dermamnist.npz", 64, 16, 32, seed=0)
    sc = dataclasses.replace(
        SKIN, owner_spec={**SKIN.owner_spec, "image_size": 16, "widths": [4, 8, 8, 8]},
        generation=dataclasses.replace(SKIN.generation, n_candidates=128, n_pairs=3, chunk=64))
    res = run_scenario(sc, tmp_path / "run", zoo_size="small", data_dir=str(npz),
                       owner_steps=5, seed=1, rule="pairs")
    rep = load_report(tmp_path / "run")
    _check(rep, "skin", False)
    assert "dermamnist.npz" in rep["data_source"]
    assert res["n_groups"] == 3 and res["queries_per_suspect"] == 27
    # the provisional profile rule, on the same owner and zoo (reused from disk)
    gen, match = SKIN.rule("profile")
    small = dataclasses.replace(gen, n_candidates=256, n_pairs=2, chunk=64)
    res = run_scenario(sc, tmp_path / "run", zoo_size="small", data_dir=str(npz),
                       owner_steps=5, seed=1, rule="profile", generation=small)
    rep = load_report(tmp_path / "run")
    _check(rep, "skin", False)
    assert res["queries_per_suspect"] == 2 * gen.siblings * gen.probes
    assert rep["config"]["match"] == dataclasses.asdict(match)
    assert rep["config"]["owner_steps"] == 5
    # the report names how the owner was trained, its schedule included
    assert rep["config"]["owner_train"]["steps"] == 5
    assert rep["config"]["owner_train"]["schedule"] == sc.owner_train.schedule
    _fixture_study_reads_the_run(sc, tmp_path / "run", res)


def _fixture_study_reads_the_run(sc, run, res):
    """benchmarks/fixture_study.py --run-dir: the run's owner, zoo and key, nothing trained."""
    import jax

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import fixture_study

    fx = fixture_study.from_run(sc, run)
    assert fx["owner_steps"] == 5 and fx["zoo_size"] == "small"
    assert fx["owner_schedule"] == sc.owner_train.schedule
    assert fx["utility"] == res["config"]["owner_utility"]
    assert fx["domain"].shape == (16, 16, 3)
    assert "real data" in fx["label"] and "dermamnist.npz" in fx["label"]
    (name, zoo), = fx["zoos"]
    assert name == "design" and len(zoo) == len(res["suspects"]) - 1
    assert np.array_equal(jax.random.key_data(fx["k_fp"]),
                          jax.random.key_data(jax.random.split(jax.random.key(1), 3)[2]))
    with pytest.raises(SystemExit, match="reference_zoo"):
        fixture_study.from_run(sc, run, heldout=True)
    with pytest.raises(SystemExit, match="not 'fashion'"):
        fixture_study.from_run(FASHION, run)
    with pytest.raises(SystemExit, match="no report.json"):
        fixture_study.from_run(sc, run / "owner")


def test_fashion_end_to_end_on_synthetic_data_is_labelled(tmp_path):
    sc = dataclasses.replace(FASHION, generation=dataclasses.replace(
        FASHION.generation, n_candidates=512, n_pairs=3))
    run_scenario(sc, tmp_path, zoo_size="small", synthetic=True, owner_steps=3, rule="pairs")
    rep = load_report(tmp_path)
    _check(rep, "fashion", True)
    assert "SYNTHETIC" in rep["data_source"]
    assert "SYNTHETIC" in (tmp_path / "report.md").read_text()
    utilities = [s["utility"] for s in rep["suspects"] if s["group"] == "positive"]
    assert np.all(np.isfinite(utilities))  # Fréchet quality of every positive
    # the provisional profile rule, on the same owner and zoo (reused from disk)
    gen, match = FASHION.rule("profile")
    small = dataclasses.replace(gen.with_groups(2), n_candidates=512)  # a pool of 8
    res = run_scenario(sc, tmp_path, zoo_size="small", synthetic=True, owner_steps=3,
                       rule="profile", generation=small)
    rep = load_report(tmp_path)
    _check(rep, "fashion", True)
    assert res["queries_per_suspect"] == 2 * gen.siblings * gen.probes
    assert rep["config"]["generation"]["choose_from"] == 8  # chosen by the owner's pruning
    assert rep["config"]["match"] == dataclasses.asdict(match)
    assert "SYNTHETIC" in (tmp_path / "report.md").read_text()


def test_missing_real_data_never_falls_back_to_synthetic(tmp_path):
    with pytest.raises(FileNotFoundError):
        run_scenario(SKIN, tmp_path, data_dir=str(tmp_path / "absent.npz"))
    with pytest.raises(ValueError, match="unknown scenario"):
        get_scenario("mnist")


def test_named_rules_and_their_errors():
    from tafa_jax.scenarios import FASHION, RULE_NAMES, SKIN, WARFARIN

    assert RULE_NAMES == ("pairs", "profile")
    assert WARFARIN.rule("pairs") == (WARFARIN.generation, WARFARIN.match)
    for sc in (WARFARIN, FASHION, SKIN):
        # no name: the scenario's default rule, profile lines in every scenario
        assert sc.default_rule == "profile" and sc.rule() == sc.rule("profile") == sc.profile
        assert sc.rule() != sc.rule("pairs")
        gen, match = sc.rule("profile")
        assert gen.probes > 3 and match.profile_jump_tol is not None
        assert gen.n_pairs * gen.siblings <= 100  # the budget: at most 100 lines
        # its own group size takes its own quorum
        assert sc.match_for(gen.probes, gen.siblings) == match
    with pytest.raises(ValueError, match="no measured profile rule"):
        dataclasses.replace(SKIN, profile=None, default_rule="pairs").rule("profile")
    with pytest.raises(ValueError, match="unknown rule"):
        WARFARIN.rule("triples")
    # a default the scenario cannot give is refused when the scenario is made
    with pytest.raises(ValueError, match="has no profile rule"):
        dataclasses.replace(SKIN, profile=None)
    with pytest.raises(ValueError, match="default_rule must be one of"):
        dataclasses.replace(WARFARIN, default_rule="triples")
    assert dataclasses.replace(SKIN, profile=None, default_rule="pairs").rule() == \
        (SKIN.generation, SKIN.match)


def test_the_matching_rule_follows_the_fingerprints_shape():
    from tafa_jax.scenarios import SKIN, WARFARIN

    gen, match = WARFARIN.rule("profile")
    # warfarin's and fashion's profile groups are chosen from a pool by pruning
    assert gen.choose_from >= 2 * gen.n_pairs and len(gen.distances) == 1
    assert WARFARIN.generation.choose_from == 0
    assert SKIN.rule("profile")[0].choose_from == 0  # not measured there
    assert FASHION.rule("profile")[0].choose_from == 4 * FASHION.rule("profile")[0].n_pairs
    assert WARFARIN.match_for(3, WARFARIN.generation.siblings) == WARFARIN.match
    assert WARFARIN.match_for(41, gen.siblings) == match and match.profile_quorum < 1
    assert match != WARFARIN.match
    # another group size (an older 5-lines-per-group file): every line, not the quorum
    assert WARFARIN.match_for(41, 5) == dataclasses.replace(match, profile_quorum=1.0)
    # skin's provisional profile rule: 5 lines, each must show the kink
    assert SKIN.match_for(41, 5) == SKIN.rule("profile")[1] != SKIN.match
    no_profile = dataclasses.replace(SKIN, profile=None, default_rule="pairs")
    assert no_profile.match_for(41, 20) == SKIN.match  # no profile rule: the pairs rule's
