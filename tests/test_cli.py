"""The `tafa-jax` command through its real entry point (and once as a subprocess)."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from tafa_jax.cli import main
from tafa_jax.fingerprint import FingerprintSet, load, save
from tafa_jax.report import load_report
from tafa_jax.scenarios import WARFARIN


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    return out


def test_help_and_version_as_a_real_command():
    out = subprocess.run([sys.executable, "-m", "tafa_jax.cli", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "demo" in out.stdout and "verify" in out.stdout
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0


def test_demo_report_has_every_field(demo_dir):
    rep = load_report(demo_dir)
    for field in ("title", "scenario", "data_source", "synthetic", "suspects", "metrics",
                  "threshold", "owner_rate", "timings", "n_pairs", "queries_per_suspect",
                  "pair_distance", "machine", "config"):
        assert field in rep, field
    assert rep["scenario"] == "warfarin" and rep["synthetic"] is False
    assert "iwpc" in rep["data_source"].lower()
    assert rep["owner_rate"] == 1.0
    # the default rule, profile lines: each line's probes, and the profile rule's match
    gen, match = WARFARIN.rule("profile")
    assert rep["rule"] == "profile"
    assert rep["queries_per_suspect"] == rep["n_pairs"] * gen.probes
    assert rep["config"]["match"] == dataclasses.asdict(match)
    for m in ("aruc", "roc_auc", "tpr_at_1fpr", "tpr_at_5fpr"):
        assert 0.0 <= rep["metrics"][m] <= 1.0
    kinds = {s["kind"] for s in rep["suspects"]}
    assert {"owner", "ftll", "neg_same", "distill"} <= kinds
    groups = {s["group"] for s in rep["suspects"]}
    assert "distillation" in groups  # reported on its own row
    # warfarin's groups are chosen from a pool (as large relative to the set as the rule's)
    pool = -(-gen.choose_from * rep["n_groups"] // gen.n_pairs)
    assert rep["config"]["generation"]["choose_from"] == pool
    assert f"{rep['n_groups']} of a pool of {pool}" in (demo_dir / "report.md").read_text()
    for name in ("report.json", "report.md", "ru_curve.png", "kind_rates.png",
                 "fingerprints.npz", "owner/owner.json", "zoo/manifest.json"):
        assert (demo_dir / name).stat().st_size > 0, name


def test_fingerprint_then_verify_zoo_and_blackbox(demo_dir, tmp_path, monkeypatch, capsys):
    fp = tmp_path / "fp.npz"
    assert main(["fingerprint", "--owner", str(demo_dir / "owner"), "--out", str(fp),
                 "--pairs", "5", "--candidates", "4096"]) == 0
    mod = tmp_path / "bb_suspects.py"
    mod.write_text(
        "import numpy as np\n"
        "W = np.random.default_rng(0).normal(size=(31, 1)).astype(np.float32)\n"
        "def affine(x):\n    return x @ W + 30.0\n"
        "def broken(x):\n    raise RuntimeError('endpoint down')\n")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code = main(["verify", "--fingerprints", str(fp), "--zoo", str(demo_dir / "zoo"),
                 "--suspect", "bb_suspects:affine", "--suspect", "bb_suspects:broken",
                 "--out", str(tmp_path / "rep")])
    assert code == 0
    out = capsys.readouterr().out
    assert "bb_suspects:affine: score 0.000 -> independent" in out
    assert "bb_suspects:broken: FAILED" in out and "endpoint down" in out
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    ids = {s["id"] for s in rep["suspects"]}
    assert "bb_suspects:affine" in ids and len(ids) > 10


def test_profile_rule_fingerprint_then_verify(demo_dir, tmp_path, capsys):
    fp = tmp_path / "profile.npz"
    assert main(["fingerprint", "--owner", str(demo_dir / "owner"), "--out", str(fp),
                 "--pairs", "3", "--candidates", "4096"]) == 0  # the default rule
    fps = load(fp)
    assert fps.n_probes == 41
    # warfarin's profile rule chooses its groups from a pool, kept proportional to --pairs
    gen, _ = WARFARIN.rule("profile")
    assert fps.meta["choice"]["pool_groups"] == -(-gen.choose_from * 3 // gen.n_pairs)
    none = tmp_path / "no_choice.npz"
    assert main(["fingerprint", "--owner", str(demo_dir / "owner"), "--out", str(none),
                 "--pairs", "3", "--candidates", "4096", "--choose-from", "0"]) == 0
    assert "choice" not in load(none).meta
    with pytest.raises(SystemExit):
        main(["fingerprint", "--owner", str(demo_dir / "owner"), "--out", str(none),
              "--choose-from", "-1"])
    capsys.readouterr()
    assert main(["verify", "--fingerprints", str(fp), "--zoo", str(demo_dir / "zoo"),
                 "--out", str(tmp_path / "rep")]) == 0
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["config"]["match"]["profile_jump_tol"] is not None  # the profile rule's match
    # groups of the profile rule's size get its quorum (other sizes: every line)
    match = WARFARIN.rule("profile")[1]
    assert fps.lines_per_group == gen.siblings
    assert rep["config"]["match"]["profile_quorum"] == match.profile_quorum < 1
    assert rep["queries_per_suspect"] == fps.n_pairs * 41
    assert "profile lines (41 probes each)" in (tmp_path / "rep" / "report.md").read_text()
    # verify's report says the groups were chosen, from the file's own config
    pool = fps.meta["choice"]["pool_groups"]
    assert f"3 of a pool of {pool}" in (tmp_path / "rep" / "report.md").read_text()
    # the same lines regrouped 5 to a group (as the previous profile rule made them):
    # verified on every line, not with the 20-line quorum
    arrays = fps.arrays()
    first5 = np.flatnonzero(np.arange(fps.n_pairs) % gen.siblings < 5)
    five = FingerprintSet(**{k: a[first5] for k, a in arrays.items()}, meta=fps.meta)
    assert five.lines_per_group == 5
    save(tmp_path / "five.npz", five)
    assert main(["verify", "--fingerprints", str(tmp_path / "five.npz"), "--zoo",
                 str(demo_dir / "zoo"), "--out", str(tmp_path / "rep5")]) == 0
    rep5 = json.loads((tmp_path / "rep5" / "report.json").read_text())
    assert rep5["config"]["match"]["profile_quorum"] == 1.0


def test_calibrate_then_verify_with_the_calibrated_score(demo_dir, tmp_path, capsys):
    fp = tmp_path / "fp.npz"
    assert main(["fingerprint", "--owner", str(demo_dir / "owner"), "--out", str(fp),
                 "--pairs", "5", "--candidates", "4096", "--rule", "pairs"]) == 0
    cal = tmp_path / "cal.json"
    capsys.readouterr()
    assert main(["calibrate", "--fingerprints", str(fp), "--zoo", str(demo_dir / "zoo"),
                 "--out", str(cal)]) == 0
    assert "log-likelihood ratio" in capsys.readouterr().out
    # leaving out every member of the zoo it calibrates on leaves nothing: a one-line error
    assert main(["calibrate", "--fingerprints", str(fp), "--zoo", str(demo_dir / "zoo"),
                 "--out", str(tmp_path / "none.json"), "--leave-out-zoo",
                 str(demo_dir / "zoo")]) == 2
    assert "needs labelled copies" in capsys.readouterr().err
    assert not (tmp_path / "none.json").exists()
    # every attack of the reference zoo weighed alike: another table, recorded as such
    assert main(["calibrate", "--fingerprints", str(fp), "--zoo", str(demo_dir / "zoo"),
                 "--out", str(tmp_path / "alike.json"), "--attacks-alike"]) == 0
    alike = json.loads((tmp_path / "alike.json").read_text())
    assert alike["meta"]["attacks"] > 1 and alike["llr"] != json.loads(cal.read_text())["llr"]
    # the default table is a mixture of the reference zoo's attacks; --model pooled is not
    assert json.loads(cal.read_text())["meta"]["model"] == "mixture"
    assert main(["calibrate", "--fingerprints", str(fp), "--zoo", str(demo_dir / "zoo"),
                 "--out", str(tmp_path / "pooled.json"), "--model", "pooled"]) == 0
    with pytest.raises(SystemExit):  # one model at a time
        main(["calibrate", "--fingerprints", str(fp), "--zoo", str(demo_dir / "zoo"),
              "--out", str(tmp_path / "both.json"), "--model", "pooled", "--attacks-alike"])
    pooled = json.loads((tmp_path / "pooled.json").read_text())
    assert pooled["meta"]["model"] == "pooled" and "attack_llr" not in pooled
    assert pooled["llr"] == json.loads(cal.read_text())["llr"]  # the same pooled table
    assert len(json.loads(cal.read_text())["attack_llr"]) == alike["meta"]["attacks"]
    # two fingerprint sets of one layout (two keys) pool their groups into one table
    fp2 = tmp_path / "fp2.npz"
    assert main(["fingerprint", "--owner", str(demo_dir / "owner"), "--out", str(fp2),
                 "--pairs", "5", "--candidates", "4096", "--seed", "1", "--rule", "pairs"]) == 0
    assert main(["calibrate", "--fingerprints", str(fp), str(fp2), "--zoo",
                 str(demo_dir / "zoo"), "--out", str(tmp_path / "two.json")]) == 0
    one, two = json.loads(cal.read_text()), json.loads((tmp_path / "two.json").read_text())
    assert two["meta"]["fingerprint_sets"] == 2 and len(two["meta"]["fingerprints_digest"]) == 2
    assert sum(two["copies"]) == 2 * sum(one["copies"])  # 5 groups per set and copy
    assert sum(two["independent"]) == 2 * sum(one["independent"])
    # a set of another layout cannot share the table: a one-line error
    prof1 = tmp_path / "prof1.npz"
    assert main(["fingerprint", "--owner", str(demo_dir / "owner"), "--out", str(prof1),
                 "--pairs", "1", "--candidates", "4096", "--rule", "profile"]) == 0
    capsys.readouterr()
    assert main(["calibrate", "--fingerprints", str(fp), str(prof1), "--zoo",
                 str(demo_dir / "zoo"), "--out", str(tmp_path / "mixed.json")]) == 2
    assert "another rule" in capsys.readouterr().err
    body = json.loads(cal.read_text())
    assert body["format"] == "tafa-jax-calibration" and len(body["llr"]) == 6  # groups of 5
    assert np.all(np.diff(body["llr"]) >= -1e-12) and body["meta"]["n_probes"] == 3
    assert main(["verify", "--fingerprints", str(fp), "--zoo", str(demo_dir / "zoo"),
                 "--calibration", str(cal), "--out", str(tmp_path / "rep")]) == 0
    assert "calibrated score" in capsys.readouterr().out
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["config"]["calibration"] == str(cal)
    rows = [r for r in rep["suspects"] if r["score"] is not None]
    assert all(0.0 <= r["score"] <= 1.0 for r in rows)
    # the score is the posterior, not the rate: they differ somewhere
    assert any(abs(r["score"] - r["matching_rate"]) > 1e-3 for r in rows)
    # a table for groups of 5 pairs refuses profile fingerprints
    prof = tmp_path / "profile.npz"
    assert main(["fingerprint", "--owner", str(demo_dir / "owner"), "--out", str(prof),
                 "--pairs", "2", "--candidates", "4096", "--rule", "profile"]) == 0
    capsys.readouterr()
    assert main(["verify", "--fingerprints", str(prof), "--zoo", str(demo_dir / "zoo"),
                 "--calibration", str(cal)]) == 2
    assert "the calibration is for groups of 5" in capsys.readouterr().err


def test_calibrate_on_zoo_leaves_members_out_and_refuses_a_missing_side(demo_dir):
    from tafa_jax.pipeline import calibrate_on_zoo
    from tafa_jax.zoo import load_zoo

    fps, zoo = load(demo_dir / "fingerprints.npz"), load_zoo(demo_dir / "zoo")
    match = WARFARIN.match_for(fps.n_probes, fps.lines_per_group)
    full = calibrate_on_zoo(fps, zoo, match, source="demo")
    assert full.meta["left_out"] == 0 and full.meta["zoo"] == "demo"
    # the default mixture: each copy's groups go to its own attack's table (by hand)
    from tafa_jax.pipeline import suspect_table, zoo_suspects
    from tafa_jax.verify import verify
    from tafa_jax.verify.calibrate import fit_calibration

    res = verify(fps, zoo_suspects(zoo), match)
    labels = [t["label"] for t in suspect_table(zoo, res)]
    pos = [r for r, lab in zip(res, labels) if lab == 1]
    by_hand = fit_calibration(
        np.stack([r.support for r in pos]),
        np.stack([r.support for r, lab in zip(res, labels) if lab == 0]),
        fps.lines_per_group, attacks=[zoo.record(r.id).member.attack for r in pos],
        model="mixture")
    assert full.meta["model"] == "mixture" and full.attack_names == by_hand.attack_names
    assert len(full.attack_names) > 3
    np.testing.assert_allclose(full.attack_llr, by_hand.attack_llr)
    with pytest.raises(ValueError, match="unknown calibration model 'bogus'"):
        calibrate_on_zoo(fps, zoo, match, model="bogus")
    negatives = {r.digest for r in zoo.records if r.member.label == 0}
    some = set(list(negatives)[:2])
    part = calibrate_on_zoo(fps, zoo, match, leave_out=some)
    assert part.meta["left_out"] == 2
    assert part.meta["independent"] == full.meta["independent"] - 2
    assert part.independent.sum() == full.independent.sum() - 2 * fps.n_groups
    with pytest.raises(ValueError, match="needs labelled copies and independent models"):
        calibrate_on_zoo(fps, zoo, match, leave_out=negatives)
    # sets of another group size cannot share one table
    idx = np.flatnonzero(np.arange(fps.n_pairs) % fps.lines_per_group < 3)
    three = FingerprintSet(**{k: a[idx] for k, a in fps.arrays().items()}, meta=fps.meta)
    assert three.lines_per_group == 3
    with pytest.raises(ValueError, match="must share one layout"):
        calibrate_on_zoo([fps, three], zoo, match)
    assert calibrate_on_zoo([fps, fps], zoo, match).independent.sum() == \
        2 * full.independent.sum()


def test_demo_with_a_reference_zoo_reports_the_calibrated_score_and_the_rate(tmp_path, capsys):
    out = tmp_path / "cal"
    assert main(["demo", "--quick", "--rule", "profile", "--calibrate", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "calibrated score: ARUC" in printed and "matching rate:    ARUC" in printed
    rep = load_report(out)
    cal = rep["calibration"]
    body = json.loads((out / cal["file"]).read_text())
    assert body["format"] == "tafa-jax-calibration" and body["llr"] == cal["llr"]
    assert (out / "reference_zoo" / "manifest.json").is_file()
    # the reference zoo is another build: its trained members differ from the zoo's
    ref = json.loads((out / "reference_zoo" / "manifest.json").read_text())["members"]
    zoo = json.loads((out / "zoo" / "manifest.json").read_text())["members"]
    shared = {m["digest"] for m in ref} & {m["digest"] for m in zoo}
    assert 0 < len(shared) < len(zoo)
    # members identical to the scored zoo's (deterministic transforms) stay out of the table
    assert cal["left_out"] == sum(m["digest"] in shared for m in ref)
    labelled = [m for m in ref if m["digest"] not in shared and not m["excluded"]]
    assert cal["copies"] == sum(m["label"] == 1 and m["group"] == "positive" for m in labelled)
    assert cal["independent"] == sum(m["label"] == 0 for m in labelled)
    assert rep["owner_rate"] == 1.0
    rows = [r for r in rep["suspects"] if r["label"] is not None]
    assert all(0.0 <= r["score"] <= 1.0 for r in rows)
    assert any(abs(r["score"] - r["matching_rate"]) > 1e-3 for r in rows)  # calibrated
    # the headline metrics are the calibrated scores', the rate's kept beside them
    from tafa_jax.verify import summarize

    for key, metrics in (("score", rep["metrics"]),
                         ("matching_rate", cal["metrics_matching_rate"])):
        pos = np.array([r[key] for r in rows if r["label"] == 1])
        neg = np.array([r[key] for r in rows if r["label"] == 0])
        assert metrics["aruc"] == pytest.approx(summarize(pos, neg)["aruc"])
    md = (out / "report.md").read_text()
    assert "**Score: the calibrated score**" in md and "By the matching rate" in md


def test_an_owner_labelled_reference_zoo_needs_no_data_rows(tmp_path, capsys):
    from tafa_jax.data.owner_labelled import SOURCE

    out = tmp_path / "ol"
    assert main(["demo", "--quick", "--calibrate", "owner-labelled", "--calibration-keys", "2",
                 "--out", str(out)]) == 0
    assert "trained on owner-labelled domain samples" in capsys.readouterr().out
    rep = load_report(out)
    cal = rep["calibration"]
    assert cal["reference_data"] == SOURCE
    assert cal["reference_zoo"] == "reference_zoo_owner_labelled"
    assert not (out / "reference_zoo").exists()
    manifest = json.loads((out / cal["reference_zoo"] / "manifest.json").read_text())
    # the samples carry the owner's own error: on them the owner errs as on its test split
    owner = json.loads((out / "owner" / "owner.json").read_text())
    assert manifest["owner"]["utility"] == pytest.approx(owner["utility"], rel=0.1)
    # the reference zoo's trained members differ from the zoo's, whose data it never saw
    ref, zoo = manifest["members"], json.loads((out / "zoo" / "manifest.json").read_text())[
        "members"]
    shared = {m["digest"] for m in ref} & {m["digest"] for m in zoo}
    assert 0 < len(shared) < len(zoo) and cal["left_out"] == sum(
        m["digest"] in shared for m in ref)
    # every copy it made is in the table, the ones its utility filter flagged too
    kept = [m for m in ref if m["digest"] not in shared]
    assert any(m["excluded"] and m["group"] == "positive" for m in kept)  # there are some
    assert cal["copies"] == sum(m["group"] == "positive" for m in kept)
    assert cal["independent"] == sum(m["label"] == 0 for m in kept)
    assert "owner-labelled domain samples" in (out / "report.md").read_text()
    assert manifest["owner_labelled"] is True
    body = json.loads((out / cal["file"]).read_text())
    assert body["meta"]["flagged_copies_kept"] is True
    # the table pools the groups of two fingerprint keys, as asked: the run's and another
    assert cal["fingerprint_keys"] == body["meta"]["fingerprint_sets"] == 2
    digests = body["meta"]["fingerprints_digest"]
    assert len(set(digests)) == 2 and digests[0] == load(out / "fingerprints.npz").meta["digest"]
    n_groups = load(out / "fingerprints.npz").n_groups
    assert sum(body["independent"]) == 2 * n_groups * cal["independent"]
    assert "under 2 fingerprint keys" in (out / "report.md").read_text()


def test_build_an_owner_labelled_zoo_then_calibrate_on_it(demo_dir, tmp_path, capsys):
    ref = tmp_path / "ref"
    assert main(["build-zoo", "--owner", str(demo_dir / "owner"), "--out", str(ref),
                 "--size", "small", "--owner-labelled"]) == 0
    assert "trained on owner-labelled domain samples" in capsys.readouterr().out
    manifest = json.loads((ref / "manifest.json").read_text())
    assert manifest["owner_labelled"] is True
    # its members' keys are not those of a zoo on the data built with the same seed
    import jax

    plain_key = np.asarray(jax.random.key_data(jax.random.key(1))).tolist()
    assert manifest["key"] != plain_key
    # the owner's recorded split sizes and error stand in for the data's rows
    owner = json.loads((demo_dir / "owner" / "owner.json").read_text())
    assert len(owner["split_sizes"]) == 3
    assert manifest["owner"]["utility"] == pytest.approx(owner["utility"], rel=0.1)
    demo = json.loads((demo_dir / "zoo" / "manifest.json").read_text())["members"]
    cal = tmp_path / "cal.json"
    assert main(["calibrate", "--fingerprints", str(demo_dir / "fingerprints.npz"), "--zoo",
                 str(ref), "--leave-out-zoo", str(demo_dir / "zoo"), "--out", str(cal)]) == 0
    assert "the copies its utility filter flagged are kept" in capsys.readouterr().out
    meta = json.loads(cal.read_text())["meta"]
    shared = {m["digest"] for m in demo}
    kept = [m for m in manifest["members"] if m["digest"] not in shared]
    assert meta["flagged_copies_kept"] is True
    assert meta["copies"] == sum(m["group"] == "positive" for m in kept)
    # resuming it as a zoo on the data is refused
    assert main(["build-zoo", "--owner", str(demo_dir / "owner"), "--out", str(ref),
                 "--size", "small"]) == 2
    assert "already holds a different zoo" in capsys.readouterr().err


def test_demo_and_run_pass_the_calibration_default_through(monkeypatch):
    import tafa_jax.pipeline as pipeline
    from tafa_jax.cli import build_parser

    class Called(Exception):
        pass

    def fake(*args, **kwargs):
        raise Called(kwargs)

    monkeypatch.setattr(pipeline, "run_scenario", fake)
    for argv, want in (
            (["demo"], ("owner-labelled", 3)),
            (["demo", "--quick"], (None, 3)),  # small zoos: the rate
            (["demo", "--calibrate"], ("data", 3)),
            (["demo", "--calibrate", "none"], (None, 3)),
            (["demo", "--quick", "--calibrate", "data"], ("data", 3)),
            (["run", "--scenario", "warfarin", "--out", "x", "--calibration-keys", "5"],
             ("owner-labelled", 5)),
            (["run", "--scenario", "warfarin", "--out", "x", "--zoo-size", "small"],
             (None, 3)),
            (["run", "--scenario", "skin", "--out", "x"], ("data", 3)),
            (["run", "--scenario", "skin", "--out", "x", "--zoo-size", "small"], (None, 3)),
            (["run", "--scenario", "fashion", "--out", "x"], ("data", 3)),
            (["run", "--scenario", "fashion", "--out", "x", "--zoo-size", "small"],
             (None, 3))):
        with pytest.raises(Called) as got:
            main(argv)
        kw = got.value.args[0]
        assert (kw["calibrate"], kw["calibration_keys"]) == want, argv
    assert build_parser().parse_args(["demo"]).calibration_keys == 3
    # --choose-from reaches the generation config; without it the scenario's rule runs
    for argv, want in ((["demo"], None), (["demo", "--choose-from", "0"], (5, 0)),
                       (["demo", "--quick", "--choose-from", "12"], (2, 12)),
                       (["run", "--scenario", "warfarin", "--out", "x", "--pairs", "3",
                         "--choose-from", "30"], (3, 30))):
        with pytest.raises(Called) as got:
            main(argv)
        gen = got.value.args[0]["generation"]
        assert (gen if gen is None else (gen.n_pairs, gen.choose_from)) == want, argv


def test_the_calibration_default_and_its_refusals(tmp_path, capsys):
    from tafa_jax.scenarios import FASHION

    # a generative owner has no labels to draw: refused before any training
    code = main(["run", "--scenario", "fashion", "--synthetic", "--calibrate", "owner-labelled",
                 "--out", str(tmp_path / "f")])
    assert code == 2 and "no labels to draw" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()
    with pytest.raises(SystemExit):
        main(["demo", "--calibrate", "bogus"])
    from tafa_jax.pipeline import run_scenario

    for bad in ("bogus", True):  # the reference data by name; True is not one
        with pytest.raises(ValueError, match="calibrate must be None .* or one of"):
            run_scenario(WARFARIN, tmp_path / "w", calibrate=bad)
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match=r"calibration_keys \(--calibration-keys\) must"):
            run_scenario(WARFARIN, tmp_path / "w", calibrate="data", calibration_keys=bad)
    with pytest.raises(ValueError, match="no labels to draw"):
        run_scenario(FASHION, tmp_path / "w", calibrate="owner-labelled")
    assert not (tmp_path / "w").exists()  # refused before anything was written
    with pytest.raises(ValueError, match="default_calibration 'owner-labelled' needs"):
        dataclasses.replace(FASHION, default_calibration="owner-labelled")
    with pytest.raises(ValueError, match="default_calibration must be"):
        dataclasses.replace(WARFARIN, default_calibration="yes")


def test_report_and_sweep(demo_dir, tmp_path, capsys):
    assert main(["report", str(demo_dir)]) == 0
    assert "neg_same" in capsys.readouterr().out
    code = main(["sweep-distance", "--owner", str(demo_dir / "owner"), "--zoo",
                 str(demo_dir / "zoo"), "--distances", "0.1,0.3", "--out", str(tmp_path)])
    assert code == 0
    rep = load_report(tmp_path)
    assert [r["d"] for r in rep["distance_sweep"]] == [0.1, 0.3]
    # the paper's Fig. 7 knob: the pairs rule by default, every distance scored
    assert rep["rule"] == "pairs"
    assert all(r.get("aruc") is not None and r["n_pairs"] > 0 for r in rep["distance_sweep"])
    assert (tmp_path / "aruc_vs_distance.png").stat().st_size > 0


def test_train_owner_and_build_zoo_resume(tmp_path, capsys):
    owner = tmp_path / "owner"
    assert main(["train-owner", "--scenario", "warfarin", "--out", str(owner),
                 "--steps", "50"]) == 0
    meta = json.loads((owner / "owner.json").read_text())
    assert meta["scenario"] == "warfarin" and np.isfinite(meta["utility"])
    assert meta["train_steps"] == 50  # build-zoo gives it to fashion's headline recipe
    assert main(["build-zoo", "--owner", str(owner), "--out", str(tmp_path / "zoo"),
                 "--size", "small"]) == 0
    capsys.readouterr()
    assert main(["build-zoo", "--owner", str(owner), "--out", str(tmp_path / "zoo"),
                 "--size", "small"]) == 0
    assert "0 groups trained" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["verify", "--fingerprints", "/nonexistent/fp.npz", "--zoo", "x"], "expected an npz"),
    (["run", "--scenario", "skin", "--out", "/tmp/tafa-skin-none", "--data-dir",
      "/nonexistent/dermamnist.npz"], "dermamnist"),
    (["fingerprint", "--owner", "/nonexistent", "--out", "/tmp/x.npz"], "expected a JSON"),
])
def test_user_errors_are_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    errors = [line for line in err.splitlines() if line.startswith("tafa-jax: error:")]
    assert len(errors) == 1 and err.splitlines()[-1] == errors[0]  # progress lines may precede
    assert "Traceback" not in err
    assert message.lower() in errors[0].lower()


def test_bad_suspect_spec_is_a_user_error(demo_dir, capsys):
    code = main(["verify", "--fingerprints", str(demo_dir / "fingerprints.npz"), "--suspect",
                 "no_colon_here"])
    assert code == 2 and "MODULE:FUNCTION" in capsys.readouterr().err


def test_run_subcommand_end_to_end(tmp_path, capsys):
    code = main(["run", "--scenario", "warfarin", "--zoo-size", "small", "--owner-steps", "50",
                 "--pairs", "4", "--seed", "3", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "ARUC" in out and "report in" in out
    rep = load_report(tmp_path)
    assert rep["n_groups"] == 4 and rep["owner_rate"] == 1.0 and rep["synthetic"] is False


def test_build_zoo_gives_the_fashion_headline_recipe_the_owners_length(tmp_path, monkeypatch,
                                                                       capsys):
    import types

    import jax

    import tafa_jax.pipeline as pipeline
    from tafa_jax.scenarios import FASHION
    from tafa_jax.zoo.arch import network_from_spec

    data = pipeline.load_data(FASHION, synthetic=True)
    net = network_from_spec(FASHION.owner_spec)
    params = net.init(jax.random.key(0))
    seen = []
    monkeypatch.setattr(pipeline, "make_zoo", lambda *a, **kw: seen.append(kw) or (
        types.SimpleNamespace(records=[], trained_groups=0, skipped_groups=0)))
    for name, steps in (("recorded", 1000), ("unrecorded", None)):
        pipeline.save_owner(tmp_path / name, FASHION, params, 1.0, data, steps=steps)
    for name, extra, want in (("recorded", [], 1000), ("recorded", ["--owner-steps", "300"], 300),
                              ("unrecorded", ["--owner-steps", "300"], 300)):
        assert main(["build-zoo", "--owner", str(tmp_path / name), "--out",
                     str(tmp_path / "zoo"), *extra]) == 0
        assert seen[-1]["owner_steps"] == want and seen[-1]["size"] == "headline"
    n = len(seen)
    assert main(["build-zoo", "--owner", str(tmp_path / "unrecorded"), "--out",
                 str(tmp_path / "zoo")]) == 2
    assert "give --owner-steps N" in capsys.readouterr().err and len(seen) == n
    assert main(["build-zoo", "--owner", str(tmp_path / "unrecorded"), "--out",
                 str(tmp_path / "zoo"), "--size", "small"]) == 0  # small keeps its own
    with pytest.raises(SystemExit):
        main(["build-zoo", "--owner", str(tmp_path / "recorded"), "--out", "x",
              "--owner-steps", "0"])
    with pytest.raises(ValueError, match=r"--owner-steps\) must be an int >= 1"):
        pipeline.run_scenario(FASHION, tmp_path / "run", owner_steps=2.5)
    assert not (tmp_path / "run").exists()
