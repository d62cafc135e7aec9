import dataclasses
import json

import numpy as np
import pytest

from tafa_jax.verify.calibrate import (
    Calibration,
    calibrated_score,
    check_layout,
    fit_calibration,
    load_calibration,
    rescore,
    save_calibration,
)
from tafa_jax.verify.verify import SuspectResult


def _reference(seed=0):
    rng = np.random.default_rng(seed)
    copies = np.clip(rng.normal(18, 2, (40, 5)).round(), 0, 20).astype(int)
    independent = np.clip(rng.normal(9, 3, (40, 5)).round(), 0, 20).astype(int)
    return copies, independent


def test_the_table_is_a_monotone_log_likelihood_ratio_of_the_counts():
    copies, independent = _reference()
    loose = fit_calibration(copies, independent, 20, monotone=False)
    hp = np.bincount(copies.ravel(), minlength=21)
    hn = np.bincount(independent.ravel(), minlength=21)
    np.testing.assert_array_equal(loose.copies, hp)
    want = np.log((hp + 1) / (hp.sum() + 21)) - np.log((hn + 1) / (hn.sum() + 21))
    np.testing.assert_allclose(loose.llr, want)
    cal = fit_calibration(copies, independent, 20)
    assert cal.group_size == 20 and np.all(np.diff(cal.llr) >= -1e-12)
    assert not np.all(np.diff(loose.llr) >= 0)  # the test can fail: pooling did something
    # the pooled table keeps the counts' weighted mean of the raw table
    w = hp + hn + 2.0
    assert np.sum(cal.llr * w) == pytest.approx(np.sum(loose.llr * w))
    # copies score near 1, independent models near 0
    assert calibrated_score(copies, cal).min() > 0.99
    assert calibrated_score(independent, cal).max() < 0.01
    mixed = np.array([[20, 20, 20, 20, 3]])
    assert calibrated_score(mixed, cal)[0] == pytest.approx(
        1 / (1 + np.exp(-cal.llr[[20, 20, 20, 20, 3]].sum())))


def test_attacks_alike_weigh_a_rare_attack_as_much_as_a_common_one():
    rng = np.random.default_rng(1)
    common = np.full((30, 5), 20)  # 30 easy copies: every line shows the kink
    rare = np.clip(rng.normal(15, 1, (2, 5)).round(), 0, 20).astype(int)  # 2 hard copies
    copies = np.concatenate([common, rare])
    independent = np.clip(rng.normal(10, 3, (40, 5)).round(), 0, 20).astype(int)
    attacks = ["noise-v0"] * 30 + ["fineprune-v3"] * 2
    pooled = fit_calibration(copies, independent, 20)
    alike = fit_calibration(copies, independent, 20, attacks=attacks, model="attacks alike")
    assert alike.meta["attacks"] == 2
    np.testing.assert_array_equal(alike.copies, pooled.copies)  # raw counts are kept
    assert np.all(np.diff(alike.llr) >= -1e-12)
    # the hard attack's counts (13-17) weigh more once it counts as much as the easy one
    hard = rare.ravel()
    assert np.mean(alike.llr[hard]) > np.mean(pooled.llr[hard])
    assert calibrated_score(rare, alike).mean() > calibrated_score(rare, pooled).mean()
    # by hand: the mean of the two attacks' smoothed distributions
    def smoothed(s):
        h = np.bincount(s.ravel(), minlength=21)
        return (h + 1.0) / (h.sum() + 21.0)
    raw = np.log((smoothed(common) + smoothed(rare)) / 2) - np.log(smoothed(independent))
    loose = fit_calibration(copies, independent, 20, attacks=attacks, model="attacks alike",
                            monotone=False)
    np.testing.assert_allclose(loose.llr, raw)
    with pytest.raises(ValueError, match="attacks must name the attack of each of the 32"):
        fit_calibration(copies, independent, 20, attacks=attacks[:5], model="attacks alike")
    # a pooled table ignores the attacks; the other models need them; no other model
    np.testing.assert_array_equal(
        fit_calibration(copies, independent, 20, attacks=attacks).llr, pooled.llr)
    with pytest.raises(ValueError, match="'attacks alike' model needs attacks"):
        fit_calibration(copies, independent, 20, model="attacks alike")
    with pytest.raises(ValueError, match="unknown calibration model 'bogus'"):
        fit_calibration(copies, independent, 20, attacks=attacks, model="bogus")


def _smoothed(s, size=20):
    h = np.bincount(np.asarray(s).ravel(), minlength=size + 1)
    return (h + 1.0) / (h.sum() + size + 1.0)


def test_a_mixture_of_attacks_scores_a_copy_against_its_own_attack():
    rng = np.random.default_rng(2)
    common = np.full((30, 5), 20)  # 30 easy copies: every line shows the kink
    # 4 hard copies (a heavily fine-pruned kind): the kink on one group of five, partial
    # evidence (11-14 lines) on the rest, which independent models reach less often
    hard = np.column_stack([np.full(4, 19), rng.integers(11, 15, (4, 4))])
    independent = np.clip(rng.normal(8, 2.5, (60, 5)).round(), 0, 20).astype(int)
    copies = np.concatenate([common, hard])
    attacks = ["noise-v0"] * 30 + ["fineprune-v3"] * 4
    pooled = fit_calibration(copies, independent, 20)
    mixed = fit_calibration(copies, independent, 20, attacks=attacks, model="mixture")
    assert mixed.mixture and mixed.meta["model"] == "mixture" and mixed.meta["attacks"] == 2
    assert mixed.attack_names == ("fineprune-v3", "noise-v0")
    np.testing.assert_allclose(mixed.llr, pooled.llr)  # the pooled table, kept for display
    # a new hard copy: one matched group, partial evidence elsewhere
    suspect = np.array([[18, 12, 13, 11, 14]])
    assert calibrated_score(suspect, pooled)[0] < 0.5 < calibrated_score(suspect, mixed)[0]
    assert calibrated_score(independent, mixed).mean() < 0.1
    assert calibrated_score(common, mixed).min() > 0.99
    # each attack's table is non-decreasing: more lines with the kink never count against
    assert np.all(np.diff(mixed.attack_llr, axis=1) >= -1e-12)
    worse = suspect.copy()
    for g in range(5):
        for lower in range(worse[0, g]):
            worse[0, g] = lower
            assert calibrated_score(worse, mixed)[0] <= calibrated_score(suspect, mixed)[0]
        worse[0, g] = suspect[0, g]
    # by hand (tables as estimated): equal weights over the attacks' smoothed distributions
    loose = fit_calibration(copies, independent, 20, attacks=attacks, model="mixture",
                            monotone=False)
    assert not np.all(np.diff(loose.attack_llr, axis=1) >= 0)  # monotone did something
    p0 = np.log(_smoothed(independent))
    per = [np.sum(np.log(_smoothed(h))[suspect[0]] - p0[suspect[0]]) for h in (hard, common)]
    want = np.logaddexp(*per) - np.log(2)
    assert calibrated_score(suspect, loose)[0] == pytest.approx(1 / (1 + np.exp(-want)))
    # attacks named by anything, not only strings
    by_number = fit_calibration(copies, independent, 20, attacks=[0] * 30 + [1] * 4,
                                model="mixture")
    np.testing.assert_allclose(by_number.attack_llr, mixed.attack_llr[::-1])
    with pytest.raises(ValueError, match="'mixture' model needs attacks"):
        fit_calibration(copies, independent, 20, model="mixture")
    with pytest.raises(ValueError, match=r"attack_llr must be finite, \(attacks >= 1, 21\)"):
        Calibration(mixed.llr, mixed.copies, mixed.independent, 1.0, {}, np.zeros((2, 5)),
                    ("a", "b"))
    with pytest.raises(ValueError, match="attack_names must name the 2 attacks"):
        Calibration(mixed.llr, mixed.copies, mixed.independent, 1.0, {}, mixed.attack_llr,
                    ("a",))
    with pytest.raises(ValueError, match="each once"):
        Calibration(mixed.llr, mixed.copies, mixed.independent, 1.0, {}, mixed.attack_llr,
                    ("a", "a"))


def test_a_mixture_round_trips_through_its_file_and_old_files_still_load(tmp_path):
    copies, independent = _reference()
    attacks = ["rtal-v0"] * 20 + ["fineprune-v3"] * 20  # not in sorted order
    mixed = fit_calibration(copies, independent, 20, attacks=attacks, model="mixture")
    path = save_calibration(tmp_path / "mix.json", mixed)
    back = load_calibration(path)
    assert back.mixture and back.attack_names == ("fineprune-v3", "rtal-v0")
    np.testing.assert_allclose(back.attack_llr, mixed.attack_llr)
    np.testing.assert_allclose(calibrated_score(independent, back),
                               calibrated_score(independent, mixed))
    body = json.loads(path.read_text())
    body["attack_llr"]["rtal-v0"][3] += 1.0  # a tampered attack table
    (tmp_path / "bad.json").write_text(json.dumps(body))
    with pytest.raises(ValueError, match="digest mismatch"):
        load_calibration(tmp_path / "bad.json")
    from tafa_jax.verify.calibrate import _digest

    body = json.loads(path.read_text())  # a mixture whose tables were dropped
    del body["attack_llr"], body["digest"]
    body["digest"] = _digest(body)
    (tmp_path / "nomix.json").write_text(json.dumps(body))
    with pytest.raises(ValueError, match="exactly when the model is a mixture"):
        load_calibration(tmp_path / "nomix.json")
    # a version-1 file (a pooled table, before mixtures: no model in its meta) still loads
    pooled = fit_calibration(copies, independent, 20)
    old = json.loads(save_calibration(tmp_path / "p.json", pooled).read_text())
    old.pop("digest")
    old["version"] = 1
    del old["meta"]["model"]
    old["digest"] = _digest(old)
    (tmp_path / "old.json").write_text(json.dumps(old))
    v1 = load_calibration(tmp_path / "old.json")
    assert not v1.mixture and "model" not in v1.meta
    np.testing.assert_allclose(calibrated_score(independent, v1),
                               calibrated_score(independent, pooled))


def test_bad_inputs_are_refused_with_what_was_expected():
    copies, independent = _reference()
    with pytest.raises(ValueError, match=r"integer counts in 0\.\.20"):
        fit_calibration(copies + 5, independent, 20)
    with pytest.raises(ValueError, match=r"integer counts in 0\.\.20"):
        fit_calibration(copies.astype(float), independent, 20)
    with pytest.raises(ValueError, match=r"\(suspects >= 1, groups >= 1\)"):
        fit_calibration(copies[:0], independent, 20)
    with pytest.raises(ValueError, match="smoothing must be a finite count > 0"):
        fit_calibration(copies, independent, 20, smoothing=0)
    for bad in (0, True, 2.0):
        with pytest.raises(ValueError, match="group_size must be an int >= 1"):
            fit_calibration(copies, independent, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="smoothing must be a finite count > 0"):
        fit_calibration(copies, independent, 20, smoothing=float("inf"))
    cal = fit_calibration(copies, independent, 20)
    with pytest.raises(ValueError, match=r"counts in 0\.\.20 .* got values 0\.\.21"):
        calibrated_score(np.array([[0, 21]]), cal)
    with pytest.raises(ValueError, match="integer counts, got dtype float"):
        calibrated_score(np.array([[1.0]]), cal)
    with pytest.raises(ValueError, match="groups of 20 of 41 probes each; these fingerprints"):
        check_layout(Calibration(cal.llr, cal.copies, cal.independent, 1.0,
                                 {"n_probes": 41}), 3, 5)
    # same group size, other probes per line
    with pytest.raises(ValueError, match="groups of 20 of 41 probes each; these fingerprints"):
        check_layout(Calibration(cal.llr, cal.copies, cal.independent, 1.0,
                                 {"n_probes": 41}), 13, 20)
    # evidence counted under another matching rule
    from tafa_jax.verify import MatchConfig

    rule = MatchConfig(beta=0.05, profile_jump_tol=0.5, profile_quorum=0.8)
    fitted = Calibration(cal.llr, cal.copies, cal.independent, 1.0,
                         {"n_probes": 41, "match": dataclasses.asdict(rule)})
    check_layout(fitted, 41, 20, dataclasses.replace(rule, tau=0.7, profile_quorum=0.9))
    with pytest.raises(ValueError, match=r"another matching rule \(beta: 0\.05 -> 0\.1\)"):
        check_layout(fitted, 41, 20, dataclasses.replace(rule, beta=0.1))
    # evidence read with another saturation bound of the tanh link (the earlier 1e-6)
    from tafa_jax.bend import TANH_SATURATION

    tanh_rule = dataclasses.replace(rule, link="atanh")
    for bound, ok in ((1e-6, False), (TANH_SATURATION, True), (None, True)):
        cal_t = Calibration(cal.llr, cal.copies, cal.independent, 1.0,
                            {"n_probes": 41, "match": dataclasses.asdict(tanh_rule),
                             "link_saturation": bound})
        if ok:
            check_layout(cal_t, 41, 20, tanh_rule)
        else:
            with pytest.raises(ValueError, match="saturated within 1e-06 .* generate or fit"):
                check_layout(cal_t, 41, 20, tanh_rule)
    with pytest.raises(ValueError, match="non-negative counts"):
        Calibration(cal.llr, cal.copies[:3], cal.independent, 1.0)


def test_files_round_trip_and_refuse_tampering(tmp_path):
    copies, independent = _reference()
    cal = fit_calibration(copies, independent, 20, meta={"n_probes": 41, "rule": "profile"})
    path = save_calibration(tmp_path / "cal.json", cal)
    back = load_calibration(path)
    np.testing.assert_array_equal(back.llr, cal.llr)
    np.testing.assert_array_equal(back.independent, cal.independent)
    assert back.meta == {"n_probes": 41, "rule": "profile", "model": "pooled"}
    assert back.smoothing == 1.0 and not back.mixture
    body = json.loads(path.read_text())
    body["llr"][0] = 50.0
    path.write_text(json.dumps(body))
    with pytest.raises(ValueError, match="digest mismatch"):
        load_calibration(path)
    body["version"] = 99
    path.write_text(json.dumps(body))
    with pytest.raises(ValueError, match="version 99 is not supported"):
        load_calibration(path)
    with pytest.raises(ValueError, match="not a readable calibration file"):
        load_calibration(tmp_path / "missing.json")
    # a well-formed file without a table: a ValueError that says so, not a KeyError
    from tafa_jax.verify.calibrate import _digest

    empty = {"format": "tafa-jax-calibration", "version": 1}
    empty["digest"] = _digest(empty)
    path.write_text(json.dumps(empty))
    with pytest.raises(ValueError, match="not a valid calibration table"):
        load_calibration(path)


def test_rescore_replaces_the_score_and_keeps_the_rate_and_failures():
    copies, independent = _reference()
    cal = fit_calibration(copies, independent, 20)
    ok = SuspectResult("a", 0.2, False, groups=np.array([1, 0, 0, 0, 0], np.float32),
                       support=np.array([20, 20, 19, 15, 18]))
    bad = SuspectResult("b", None, None, failed=True, reason="timeout")
    a, b = rescore([ok, bad], cal)
    assert a.score == pytest.approx(float(calibrated_score(ok.support, cal)))
    assert a.score > 0.5 and a.decision and a.rate == pytest.approx(0.2)
    assert b is bad
    with pytest.raises(ValueError, match=r"tau must be in \[0, 1\]"):
        rescore([ok], cal, tau=2.0)
    # even evidence: the posterior is exactly the prior 0.5, and score >= tau decides
    even = Calibration(np.zeros(21), cal.copies, cal.independent, 1.0)
    (r,) = rescore([ok], even, tau=0.5)
    assert r.score == 0.5 and r.decision
    (r,) = rescore([ok], even, tau=0.51)
    assert not r.decision
