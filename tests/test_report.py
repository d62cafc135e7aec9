"""The report directory: files, JSON round trip, Markdown, per-kind aggregation."""

from __future__ import annotations

import copy

import pytest

from tafa_jax import report
from tafa_jax.io import to_jsonable
from tafa_jax.verify import metrics


def _s(id_, kind, label, group, score, decision=None, failed=False, reason=None, rate=None):
    return {
        "id": id_,
        "kind": kind,
        "label": label,
        "group": group,
        "score": score,
        "matching_rate": score if rate is None else rate,
        "decision": decision,
        "failed": failed,
        "reason": reason,
        "utility": None if failed else 0.9,
    }


def _result(synthetic: bool = True, sweep: bool = True) -> dict:
    suspects = [
        _s("owner", "owner", None, "owner", 1.0, True),
        _s("fp16-0", "fp16", 1, "positive", 1.0, True),
        _s("fp16-1", "fp16", 1, "positive", 0.9, True, rate=0.95),
        _s("ftal-0", "ftal", 1, "positive", 0.6, True),
        _s("ftal-1", "ftal", 1, "positive", 0.2, False),
        _s("ftal-2", "ftal", 1, "positive", None, None, True, "weights became NaN"),
        _s("indep-0", "independent", 0, "negative", 0.0, False),
        _s("indep-1", "independent", 0, "negative", 0.1, False),
        _s("indep-2", "independent", 0, "negative", 0.5, True),
        # A failed negative with a bogus high score: it must not reach the metrics.
        _s("indep-3", "independent", 0, "negative", 0.95, True, True, "query timed out"),
        _s("rtll-0", "rtll", 1, "positive", 0.5, True),
        _s("distill-0", "distillation", None, "distillation", 0.05, False),
    ]
    result = {
        "title": "TAFA on a toy zoo",
        "scenario": "warfarin",
        "data_source": "hand-made test fixture",
        "synthetic": synthetic,
        "machine": {"cpu": "test", "devices": 1},
        "config": {"rho": 0.5, "nested": {"k": [1, 2]}},
        "suspects": suspects,
        "threshold": 0.5,
        "owner_rate": 1.0,
        "timings": {"generate": 1.5, "verify": 0.25},
        "n_pairs": 100,
        "queries_per_suspect": 300,
        "pair_distance": 0.2,
    }
    if sweep:
        result["distance_sweep"] = [
            {"d": 0.05, "aruc": 0.3},
            {"d": 0.2, "aruc": 0.45},
            {"d": 1.6, "aruc": 0.4},
        ]
    return result


# Non-failed label-1 scores and label-0 scores of _result(), read off the fixture by hand.
_POS = [1.0, 0.9, 0.6, 0.2, 0.5]
_NEG = [0.0, 0.1, 0.5]


def test_write_report_files_exist_and_are_nonempty(tmp_path):
    paths = report.write_report(tmp_path / "rep", _result())
    names = {p.name for p in paths.values()}
    assert names == {
        "report.json",
        "report.md",
        "ru_curve.png",
        "kind_rates.png",
        "aruc_vs_distance.png",
    }
    for p in paths.values():
        assert p.parent == tmp_path / "rep"
        assert p.is_file() and p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # No temporary files left behind.
    assert sorted(f.name for f in (tmp_path / "rep").iterdir()) == sorted(names)


def test_no_sweep_no_sweep_figure(tmp_path):
    paths = report.write_report(tmp_path, _result(sweep=False))
    assert "aruc_vs_distance" not in paths
    assert not (tmp_path / "aruc_vs_distance.png").exists()


def test_json_round_trip_keeps_every_field(tmp_path):
    result = _result()
    original = copy.deepcopy(result)
    report.write_report(tmp_path, result)
    assert result == original  # the input is not modified
    loaded = report.load_report(tmp_path)
    for key, value in result.items():
        assert loaded[key] == to_jsonable(value), key
    assert loaded["format_version"] == report.REPORT_FORMAT_VERSION
    assert set(loaded["metrics"]) == {
        "aruc",
        "roc_auc",
        "tpr_at_1fpr",
        "tpr_at_5fpr",
        "n_pos",
        "n_neg",
    }
    assert loaded["kind_table"] == report.kind_table(result["suspects"])


def test_failed_suspects_are_excluded_from_metrics(tmp_path):
    report.write_report(tmp_path, _result())
    m = report.load_report(tmp_path)["metrics"]
    assert (m["n_pos"], m["n_neg"]) == (5, 3)
    # Pairwise by hand: 1.0, 0.9 and 0.6 beat all 3 negatives (9), 0.2 beats 0.0 and 0.1 (2),
    # 0.5 beats 0.0 and 0.1 and ties 0.5 (2.5): 13.5 of 15 pairs. With the failed negative
    # at 0.95 included it would be lower.
    assert m["roc_auc"] == pytest.approx(13.5 / 15)
    assert m == pytest.approx(metrics.summarize(_POS, _NEG))
    pos, neg = report.labelled_scores(_result()["suspects"])
    assert sorted(pos) == sorted(_POS) and sorted(neg) == sorted(_NEG)


def test_given_metrics_are_kept(tmp_path):
    result = _result()
    result["metrics"] = {"aruc": 0.123, "roc_auc": 0.5, "n_pos": 1, "n_neg": 1}
    report.write_report(tmp_path, result)
    assert report.load_report(tmp_path)["metrics"] == result["metrics"]


def test_kind_table_aggregates_by_hand():
    rows = report.kind_table(_result()["suspects"])
    # Grouped owner, positive, distillation, negative; first appearance within a group.
    assert [r["kind"] for r in rows] == [
        "owner",
        "fp16",
        "ftal",
        "rtll",
        "distillation",
        "independent",
    ]
    by = {r["kind"]: r for r in rows}

    ftal = by["ftal"]  # scores 0.6, 0.2 and one failed; decisions True, False
    assert (ftal["group"], ftal["n"], ftal["n_failed"]) == ("positive", 3, 1)
    assert ftal["mean_score"] == pytest.approx(0.4)
    assert (ftal["min_score"], ftal["max_score"]) == (0.2, 0.6)
    assert ftal["pirated_frac"] == pytest.approx(0.5)

    fp16 = by["fp16"]  # scores 1.0, 0.9; matching rates 1.0, 0.95
    assert fp16["mean_rate"] == pytest.approx(0.975)
    assert (fp16["min_rate"], fp16["max_rate"]) == (0.95, 1.0)
    assert fp16["mean_score"] == pytest.approx(0.95)
    assert (fp16["n_failed"], fp16["pirated_frac"]) == (0, 1.0)

    indep = by["independent"]  # 0.0, 0.1, 0.5 and a failed 0.95 that must not count
    assert (indep["group"], indep["n"], indep["n_failed"]) == ("negative", 4, 1)
    assert indep["mean_score"] == pytest.approx(0.2)
    assert indep["max_score"] == 0.5
    assert indep["pirated_frac"] == pytest.approx(1 / 3)

    assert by["distillation"]["group"] == "distillation"
    assert by["owner"]["mean_rate"] == 1.0


def test_kind_table_all_failed_and_mixed_groups():
    suspects = [
        {"id": "a", "kind": "k", "label": 1, "failed": True, "score": None},
        {"id": "b", "kind": "k", "label": 0, "failed": True},
    ]
    (row,) = report.kind_table(suspects)
    assert row["group"] == "negative/positive"  # from the labels when no group is given
    assert (row["n"], row["n_failed"]) == (2, 2)
    assert row["mean_score"] is None and row["pirated_frac"] is None


@pytest.mark.parametrize("synthetic", [True, False])
def test_markdown_banner_iff_synthetic(synthetic):
    md = report.format_markdown(_result(synthetic=synthetic))
    assert ("SYNTHETIC DATA" in md) == synthetic
    if synthetic:
        assert md.index("SYNTHETIC DATA") < md.index("## Setup")
    for text in ("warfarin", "hand-made test fixture", "## Metrics", "## By kind", "## Timings"):
        assert text in md


def test_markdown_lists_failed_suspects_and_sweep():
    md = report.format_markdown(_result())
    failed_section = md.split("## Failed suspects", 1)[1].split("\n## ", 1)[0]
    assert "ftal-2" in failed_section and "weights became NaN" in failed_section
    assert "indep-3" in failed_section and "query timed out" in failed_section
    assert "indep-0" not in failed_section
    assert "## ARUC against pair distance" in md
    assert "| 0.2 | 0.45 |" in md and "| 1.6 | 0.4 |" in md


def test_markdown_warns_when_owner_rate_below_one():
    result = _result()
    result["owner_rate"] = 0.9
    assert "must be 1" in report.format_markdown(result)
    assert "must be 1" not in report.format_markdown(_result())


def test_markdown_says_when_the_groups_were_chosen_by_pruning():
    assert "Fingerprint groups" not in report.format_markdown(_result())  # no choice made
    result = _result()
    result["n_groups"] = 5
    result["config"] = {"generation": {"choose_from": 20, "prune_ratios": [0.305, 0.5, 0.945]}}
    md = report.format_markdown(result)
    assert "5 of a pool of 20" in md and "3 ratios (0.305-0.945)" in md


def test_console_table_is_fixed_width():
    text = report.format_console_table(_result(synthetic=False))
    lines = text.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("kind"))
    assert set(lines[header + 1]) <= {"-", " "}
    table = lines[header + 2 : header + 8]
    assert [ln.split()[0] for ln in table] == [
        "owner",
        "fp16",
        "ftal",
        "rtll",
        "distillation",
        "independent",
    ]
    # Right-aligned number columns end at the same place as the dashes.
    assert {len(ln) for ln in table} == {len(lines[header + 1])}
    assert "FAILED ftal-2" in text and "SYNTHETIC" not in text
    assert "SYNTHETIC DATA" in report.format_console_table(_result(synthetic=True))


def test_report_with_too_few_labels_still_writes(tmp_path):
    result = _result(sweep=False)
    result["suspects"] = [s for s in result["suspects"] if s["label"] != 0]
    paths = report.write_report(tmp_path, result)
    m = report.load_report(tmp_path)["metrics"]
    assert m == {"n_pos": 5, "n_neg": 0}
    assert paths["ru_curve"].stat().st_size > 0


def test_invalid_results_and_missing_report_raise(tmp_path):
    bad = _result()
    del bad["scenario"]
    with pytest.raises(ValueError, match="scenario"):
        report.write_report(tmp_path, bad)
    bad = _result()
    bad["suspects"][1]["label"] = 2
    with pytest.raises(ValueError, match="label"):
        report.format_markdown(bad)
    bad = _result()
    del bad["suspects"][0]["kind"]
    with pytest.raises(ValueError, match="kind"):
        report.kind_table(bad["suspects"])
    with pytest.raises(FileNotFoundError):
        report.load_report(tmp_path / "nowhere")
