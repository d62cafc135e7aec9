"""A calibrated score: per-group evidence pooled as a likelihood ratio.

The group matching rate counts a group as matched or not. Each group's evidence
is finer than that: :func:`~tafa_jax.verify.verify.score_pairs` counts how
many of its ``T`` lines (or pairs) show the owner's kink. A *calibration*
measures, on a labelled reference zoo (pirated copies the owner made of its
own model, and independent models trained from other seeds), how often a
group of each kind of suspect reaches each count, and scores a suspect by the
posterior probability that it is a copy, groups taken as independent evidence
and even prior odds::

    score = sigmoid( sum_g llr[s_g] ),   llr[s] = log P(s | copy) - log P(s | independent)

The table is estimated with add-``smoothing`` counts and made non-decreasing
in ``s`` (pool-adjacent-violators, weighted by the counts): more lines with the
owner's kink is never evidence against a copy. Without that, a table fitted on
the warfarin zoo gave counts 0-3 (no kink at all, which pruned copies show)
positive weight (groups where no line shows any kink, most of them fine-pruned
copies'): a property of the zoo's pruning recipe, not of the fingerprint
(``benchmarks/calibrated_score.py``).

**A mixture of attacks.** Pooling every copy's groups into one ``P(s | copy)``
treats a suspect's groups as drawn from the average copy. But a suspect is one
copy, made by one attack: a heavily fine-pruned copy keeps the owner's kink on
a few groups and partial evidence on the rest, a pattern the pooled table,
dominated by copies that match everything, reads as independent. With
``model="mixture"`` each attack of the reference zoo keeps its own distribution
``P_a(s)``, and a suspect scores::

    score = sigmoid( logsumexp_a [ log w_a + sum_g (log P_a(s_g) - log P(s_g | independent)) ] )

with equal weights ``w_a`` over the attacks (the owner does not know which the
pirate used), each attack's table made non-decreasing like the pooled one. On
warfarin (15 keys, pooled over keys, design | held-out zoo) it lifts the 80 %
fine-pruned copies from 0.12 | 0.08 to 0.48 | 0.62
(``benchmarks/calibrated_score.py``, docs/method.md).

The table belongs to a matching rule and a group size, not to one fingerprint
key: it may be fitted on one fingerprint set's zoo results and applied to
another's with the same layout. Files are JSON (data, never code), written
atomically with a content digest and a format version.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tafa_jax.bend import check_saturation
from tafa_jax.io import atomic_write_bytes, read_json, sha256_bytes
from tafa_jax.verify.score import MatchConfig
from tafa_jax.verify.verify import SuspectResult

CALIBRATION_MODELS: tuple[str, ...] = ("mixture", "pooled", "attacks alike")
FORMAT = "tafa-jax-calibration"
VERSION = 2
READS = (1, 2)  # version 1: no mixture tables


@dataclasses.dataclass(frozen=True, eq=False)
class Calibration:
    """Per-group log-likelihood ratios of the evidence count, copy vs independent.

    Attributes:
      llr: ``(T + 1,)`` non-decreasing, ``llr[s]`` for a group with evidence ``s``
        (all copies pooled; the score when there is no mixture).
      copies, independent: ``(T + 1,)`` groups of each count in the reference zoo.
      smoothing: the add-``smoothing`` count used in the estimate.
      meta: where the table comes from (fingerprint layout, matching rule, zoo).
      attack_llr: ``(A, T + 1)`` or ``None``: per attack ``a``, ``log P_a(s) - log
        P(s | independent)``; when present the score is the mixture of attacks
        (module doc) and ``llr`` is kept for display.
      attack_names: ``(A,)`` the attacks, in ``attack_llr``'s order.
    """

    llr: np.ndarray
    copies: np.ndarray
    independent: np.ndarray
    smoothing: float
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    attack_llr: np.ndarray | None = None
    attack_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        llr = np.asarray(self.llr, np.float64)
        if llr.ndim != 1 or llr.size < 2 or not np.all(np.isfinite(llr)):
            raise ValueError(f"llr must be a finite vector over evidence counts 0..T (T >= 1), "
                             f"got shape {llr.shape}")
        for name in ("copies", "independent"):
            a = np.asarray(getattr(self, name))
            if a.shape != llr.shape or np.any(a < 0):
                raise ValueError(f"{name} must be non-negative counts of shape {llr.shape}, "
                                 f"got shape {a.shape}")
        if self.attack_llr is not None:
            t = np.asarray(self.attack_llr, np.float64)
            if (t.ndim != 2 or t.shape[1] != llr.size or t.shape[0] < 1
                    or not np.all(np.isfinite(t))):
                raise ValueError(f"attack_llr must be finite, (attacks >= 1, {llr.size}), "
                                 f"got shape {t.shape}")
            if (len(self.attack_names) != t.shape[0]
                    or len(set(self.attack_names)) != len(self.attack_names)):
                raise ValueError(f"attack_names must name the {t.shape[0]} attacks of "
                                 f"attack_llr, each once, got {list(self.attack_names)}")

    @property
    def mixture(self) -> bool:
        """Whether the score is the mixture of attacks (else the pooled table)."""
        return self.attack_llr is not None

    @property
    def group_size(self) -> int:
        """``T``: the lines or pairs per fingerprint group the table is for."""
        return int(np.asarray(self.llr).size - 1)


def _pava(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The weighted least-squares non-decreasing fit to ``y`` (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, length]
    for v, wt in zip(y.tolist(), w.tolist()):
        blocks.append([v, wt, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return np.concatenate([np.full(int(n), v) for v, _, n in blocks])


def _counts(support: np.ndarray, size: int, what: str) -> np.ndarray:
    s = np.asarray(support)
    if s.ndim != 2 or s.shape[0] < 1 or s.shape[1] < 1:
        raise ValueError(f"{what} support must be (suspects >= 1, groups >= 1), got shape "
                         f"{s.shape}")
    if not np.issubdtype(s.dtype, np.integer) or s.min() < 0 or s.max() > size:
        raise ValueError(f"{what} support must be integer counts in 0..{size} (the group "
                         f"size), got values {s.min()}..{s.max()} of dtype {s.dtype}")
    return np.bincount(s.ravel(), minlength=size + 1)


def _smoothed(h: np.ndarray, smoothing: float) -> np.ndarray:
    return (h + smoothing) / (h.sum() + smoothing * h.size)


def fit_calibration(copies: np.ndarray, independent: np.ndarray, group_size: int, *,
                    smoothing: float = 1.0, monotone: bool = True,
                    attacks: Sequence[Any] | None = None, model: str = "pooled",
                    meta: dict[str, Any] | None = None) -> Calibration:
    """Estimate the table from reference suspects' group evidence.

    Args:
      copies: ``(n_copies, G)`` evidence counts of pirated copies (positives).
      independent: ``(n_independent, G')`` of independent models (negatives).
      group_size: ``T``, lines or pairs per group (counts run 0..T).
      smoothing: add this to every count (> 0, so no count has zero probability).
      monotone: make the table non-decreasing (the default; see the module doc).
      attacks: ``(n_copies,)`` the attack each copy comes from (e.g. a zoo's
        ``"fineprune-v3"``); needed by every model but ``"pooled"``.
      model (:data:`CALIBRATION_MODELS`): ``"pooled"``, every copy's groups in one
        ``P(s | copy)`` (attacks weighted by their copies); ``"attacks alike"``,
        ``P(s | copy)`` the mean of the attacks' own smoothed distributions, so
        every attack weighs the same whatever number of copies the reference zoo
        made of it; ``"mixture"``, a suspect scored by the mixture of the attacks'
        own distributions (the module doc), ``llr`` then the pooled table, kept
        for display.
      meta: recorded with the table, with ``model`` and (when attacks are used)
        ``attacks``, how many.
    """
    if (not isinstance(group_size, (int, np.integer)) or isinstance(group_size, bool)
            or group_size < 1):
        raise ValueError(f"group_size must be an int >= 1, got {group_size!r}")
    if not (math.isfinite(smoothing) and smoothing > 0):
        raise ValueError(f"smoothing must be a finite count > 0, got {smoothing}")
    if model not in CALIBRATION_MODELS:
        raise ValueError(f"unknown calibration model {model!r}; expected one of "
                         f"{CALIBRATION_MODELS}")
    if model != "pooled" and attacks is None:
        raise ValueError(f"the {model!r} model needs attacks: the attack of each copy")
    hp = _counts(copies, group_size, "the copies'")
    hn = _counts(independent, group_size, "the independent models'")
    meta = {**(meta or {}), "model": model}
    pn = _smoothed(hn, smoothing)

    def table(p: np.ndarray, h: np.ndarray) -> np.ndarray:  # llr over counts, monotone
        llr = np.log(p) - np.log(pn)
        return _pava(llr, h + hn + 2 * smoothing) if monotone else llr

    if model == "pooled":
        return Calibration(table(_smoothed(hp, smoothing), hp), hp, hn, float(smoothing), meta)
    names = np.asarray([str(a) for a in attacks], dtype=object)  # type: ignore[union-attr]
    if names.shape != (np.shape(copies)[0],):
        raise ValueError(f"attacks must name the attack of each of the "
                         f"{np.shape(copies)[0]} copies, got shape {names.shape}")
    support = np.asarray(copies)
    order = tuple(sorted(set(names.tolist())))
    counts = [_counts(support[names == a], group_size, f"attack {a}'s") for a in order]
    per_attack = [_smoothed(h, smoothing) for h in counts]
    meta["attacks"] = len(order)
    if model == "attacks alike":
        return Calibration(table(np.mean(per_attack, axis=0), hp), hp, hn, float(smoothing),
                           meta)
    return Calibration(table(_smoothed(hp, smoothing), hp), hp, hn, float(smoothing), meta,
                       np.stack([table(p, h) for p, h in zip(per_attack, counts)]), order)


def calibrated_score(support: np.ndarray, cal: Calibration) -> np.ndarray:
    """``(...)``: the posterior probability of a copy, from evidence ``(..., G)``."""
    s = np.asarray(support)
    if not np.issubdtype(s.dtype, np.integer) or s.size == 0:
        raise ValueError(f"support must be a non-empty array of integer counts, got dtype "
                         f"{s.dtype}, shape {s.shape}")
    if s.min() < 0 or s.max() > cal.group_size:
        raise ValueError(f"support must be counts in 0..{cal.group_size} (the calibration's "
                         f"group size), got values {s.min()}..{s.max()}")
    if cal.attack_llr is None:
        total = np.asarray(cal.llr)[s].sum(axis=-1)
    else:  # log of the attacks' mean likelihood ratio, equal weights
        per = np.asarray(cal.attack_llr)[:, s].sum(axis=-1)  # (A, ...)
        total = np.logaddexp.reduce(per, axis=0) - np.log(per.shape[0])
    return 1.0 / (1.0 + np.exp(-np.clip(total, -700, 700)))


def rescore(results: Sequence[SuspectResult], cal: Calibration, tau: float = 0.5
            ) -> list[SuspectResult]:
    """The same results with the calibrated score and the decision ``score >= tau``
    (failed suspects stay failed); the matching rate stays on ``result.rate``."""
    if not 0 <= tau <= 1:
        raise ValueError(f"tau must be in [0, 1], got {tau}")
    out = []
    for r in results:
        if r.failed or r.support is None:
            out.append(r)
            continue
        if np.shape(r.support)[-1] < 1:
            raise ValueError(f"suspect {r.id!r} has no group evidence")
        score = float(calibrated_score(np.asarray(r.support), cal))
        out.append(dataclasses.replace(r, score=score, decision=bool(score >= tau)))
    return out


# the matching settings a group's evidence count depends on (tau and the quorum are
# applied to it afterwards)
EVIDENCE_FIELDS = ("mode", "beta", "rho", "link", "min_cos", "abs_cos", "profile_tol",
                   "profile_jump_tol", "same_sign")


def check_layout(cal: Calibration, n_probes: int, group_size: int,
                 match: MatchConfig | None = None) -> None:
    """Refuse a table fitted for another fingerprint layout or, when the table records
    its matching rule and ``match`` is given, for evidence counted another way."""
    want = cal.meta.get("n_probes")
    if group_size != cal.group_size or (want is not None and int(want) != int(n_probes)):
        raise ValueError(f"the calibration is for groups of {cal.group_size} of {want} "
                         f"probes each; these fingerprints have groups of {group_size} of "
                         f"{n_probes} probes each")
    fitted = cal.meta.get("match")
    if match is not None and isinstance(fitted, dict):
        now = dataclasses.asdict(match)
        diff = [f"{k}: {fitted.get(k)!r} -> {now[k]!r}" for k in EVIDENCE_FIELDS
                if k in fitted and fitted[k] != now[k]]
        if diff:
            raise ValueError("the calibration counted evidence under another matching rule ("
                             + "; ".join(diff) + "): fit it again with this rule")
    if match is not None:
        link = match.link or (fitted.get("link") if isinstance(fitted, dict) else None)
        check_saturation(cal.meta.get("link_saturation"), link, "the calibration was fitted")


def _digest(body: dict[str, Any]) -> str:
    return sha256_bytes(json.dumps(body, sort_keys=True).encode())


def _body(cal: Calibration) -> dict[str, Any]:
    body = {"format": FORMAT, "version": VERSION,
            "llr": [float(v) for v in np.asarray(cal.llr)],
            "copies": [int(v) for v in np.asarray(cal.copies)],
            "independent": [int(v) for v in np.asarray(cal.independent)],
            "smoothing": cal.smoothing, "meta": cal.meta}
    if cal.attack_llr is not None:
        body["attack_llr"] = {a: [float(v) for v in row]
                              for a, row in zip(cal.attack_names, np.asarray(cal.attack_llr))}
    return body


def save_calibration(path: str | os.PathLike, cal: Calibration) -> Path:
    """Write the table as JSON, atomically, with its content digest."""
    body = _body(cal)
    body["digest"] = _digest(body)
    return atomic_write_bytes(path, json.dumps(body, sort_keys=True, indent=1).encode())


def load_calibration(path: str | os.PathLike) -> Calibration:
    """Read and check a calibration file (format, version, digest, shapes)."""
    try:
        body = read_json(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable calibration file ({err})") from err
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError(f"{path}: expected format {FORMAT!r}")
    if body.get("version") not in READS:
        raise ValueError(f"{path}: calibration version {body.get('version')} is not supported "
                         f"(this tafa-jax reads versions {', '.join(map(str, READS))})")
    digest = body.pop("digest", None)
    if digest != _digest(body):
        raise ValueError(f"{path}: content digest mismatch: the file was modified or damaged")
    try:
        meta = dict(body["meta"])
        mix = body.get("attack_llr", {})
        if not isinstance(mix, dict) or (meta.get("model") == "mixture") != bool(mix):
            raise ValueError("attack_llr must map each attack to its table exactly when the "
                             "model is a mixture")
        names = tuple(sorted(mix))
        return Calibration(np.asarray(body["llr"], np.float64),
                           np.asarray(body["copies"], np.int64),
                           np.asarray(body["independent"], np.int64),
                           float(body["smoothing"]), meta,
                           np.asarray([mix[a] for a in names], np.float64) if names else None,
                           names)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: not a valid calibration table ({type(err).__name__}: "
                         f"{err})") from err
