"""Verify many suspects against one fingerprint set, in one call."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from tafa_jax.bend import check_saturation
from tafa_jax.fingerprint.fpset import FingerprintSet, group_layout
from tafa_jax.nets.network import Network, Params
from tafa_jax.nets.stacking import zoo_size
from tafa_jax.verify.query import QueryFailure, blackbox_pair_stats, zoo_pair_stats
from tafa_jax.verify.score import (
    MatchConfig,
    matches,
    pair_stats,
    profile_group_support,
    profile_stats,
    quorum_need,
)


@dataclasses.dataclass(frozen=True, eq=False)
class ZooSuspects:
    """Same-architecture suspects, params stacked on axis 0, one id each."""

    net: Network
    params: Params
    ids: Sequence[str]

    def __post_init__(self) -> None:
        n = zoo_size(self.params)
        if n != len(self.ids):
            raise ValueError(f"zoo group {self.net.name!r} has {n} stacked models but "
                             f"{len(self.ids)} ids")


@dataclasses.dataclass(frozen=True, eq=False)
class BlackBoxSuspect:
    """A suspect we can only query: ``fn(x (B, *in) numpy) -> (B, *out) numpy``."""

    id: str
    fn: Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True, eq=False)
class SuspectResult:
    """One suspect's verdict. ``bend``, ``cos``, ``match`` are ``(K,)`` per pair, ``groups``
    ``(G,)`` per fingerprint group (the score is its mean); ``None`` when it failed. For
    profile fingerprints ``bend`` and ``cos`` are ``(K, P - 2)``: the kink profile and
    the relative jumps (:func:`~tafa_jax.verify.score.profile_stats`). ``support``
    ``(G,)``: each group's evidence count (:func:`score_pairs`); a
    :class:`~tafa_jax.verify.calibrate.Calibration` turns it into the score."""

    id: str
    score: float | None
    decision: bool | None
    failed: bool = False
    reason: str | None = None
    bend: np.ndarray | None = None
    cos: np.ndarray | None = None
    match: np.ndarray | None = None
    groups: np.ndarray | None = None
    support: np.ndarray | None = None

    @property
    def pair_rate(self) -> float | None:
        """Fraction of single pairs that bend (the score counts whole groups)."""
        return None if self.match is None else float(np.mean(self.match))

    @property
    def rate(self) -> float | None:
        """The group matching rate (the score, unless a calibration replaced it)."""
        return None if self.groups is None else float(np.mean(self.groups))


class GroupLayout(NamedTuple):
    """What :func:`score_pairs` reads of a fingerprint set: probes per pair or line,
    each pair's group ``(K,)``, the owner's bend per pair ``(K,)`` (3-probe pairs)."""

    n_probes: int
    group: np.ndarray
    owner_bend: np.ndarray | None = None


def score_pairs(b: np.ndarray, cos: np.ndarray, fps: FingerprintSet | GroupLayout,
                cfg: MatchConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pair matches ``(..., K)``, per-group matches ``(..., G)`` and each group's
    evidence ``(..., G)`` (int, 0 to the group's size ``T``); the score is the groups'
    mean (the group matching rate).

    The evidence of profile lines is the most lines with the lined-up kink at one
    position (:func:`~tafa_jax.verify.score.profile_group_support`), and the group
    matches at its quorum (``profile_quorum``). The evidence of pairs is the matching
    pairs, with ``same_sign`` only the most of them whose bends point one way relative
    to the owner's, and the group matches when that is all of its pairs.
    """
    n_groups, per = group_layout(fps.group)
    if fps.n_probes > 3:  # profile lines: a line "matches" where it has any kink
        m = (np.asarray(b) >= cfg.beta).any(axis=-1).astype(np.float32)
        jumps = cos if cfg.profile_jump_tol is not None else None
        support = profile_group_support(b, fps.group, cfg.beta, cfg.profile_tol, jumps,
                                        cfg.profile_jump_tol)
        need = quorum_need(cfg.profile_quorum, per)
    else:
        m = np.asarray(matches(b, cos, fps.owner_bend, cfg), np.float32)
        per_group = m.reshape(*m.shape[:-1], n_groups, per).astype(bool)  # contiguous groups
        if cfg.same_sign:
            side = np.asarray(cos).reshape(per_group.shape)
            support = np.maximum(np.sum(per_group & (side > 0), axis=-1),
                                 np.sum(per_group & (side < 0), axis=-1))
        else:
            support = np.sum(per_group, axis=-1)
        need = per
    return m, (support >= need).astype(np.float32), support


def owner_group_matches(owner_outputs: np.ndarray, cfg: MatchConfig, link: str
                        ) -> np.ndarray:
    """``(G,)``: 1.0 where the owner matches its own candidate group under ``cfg``.

    ``owner_outputs`` is ``(G, T, P, *out)``: the owner's outputs on ``T`` pairs or
    profile lines of ``P`` probes in each of ``G`` groups. A group the owner fails is
    no fingerprint. One way it happens: a neighbouring owner kink a cell or two
    from the crossing adds its jump to the one a line measures, and the group
    then fails its own quorum (a hand-made case in the tests; on the skin
    fixture's ResNet the cause is inferred). :func:`~tafa_jax.fingerprint.generate`
    replaces such groups when given the matching rule.
    """
    y = np.asarray(owner_outputs, np.float32)
    if y.ndim < 4:
        raise ValueError(f"owner_outputs must be (groups, lines, probes, *out), got shape "
                         f"{y.shape}")
    g, t, p = y.shape[:3]
    y = y.reshape(g * t, p, -1)
    stats = profile_stats if p > 3 else pair_stats
    b, c = (np.asarray(a) for a in stats(y, y, link))
    layout = GroupLayout(p, np.repeat(np.arange(g, dtype=np.int32), t),
                         b if p == 3 else None)
    return score_pairs(b, c, layout, cfg)[1]


def verify(
    fps: FingerprintSet,
    suspects: Sequence[ZooSuspects | BlackBoxSuspect],
    cfg: MatchConfig | None = None,
    *,
    chunk: int | None = None,
    batch_size: int = 256,
    timeout: float | None = None,
    retries: int = 0,
    progress: Callable[[int], None] | None = None,
) -> list[SuspectResult]:
    """Score every suspect; zoo groups are vectorised, black boxes queried in batches.

    A failing black-box suspect is returned with ``failed=True`` and its reason;
    the others are still verified. Results follow the order of ``suspects``
    (members of a zoo group in stacking order).
    """
    cfg = cfg or MatchConfig()
    if not suspects:
        raise ValueError("no suspects given: pass at least one ZooSuspects or BlackBoxSuspect")
    if cfg.link is None:
        cfg = dataclasses.replace(cfg, link=fps.meta.get("link", "identity"))
    check_saturation(fps.meta.get("link_saturation"), cfg.link, "these fingerprints were "
                     "generated")
    ids = [i for s in suspects for i in (s.ids if isinstance(s, ZooSuspects) else [s.id])]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"suspect ids must be unique; repeated: {dup[:5]}")
    out: list[SuspectResult] = []
    for s in suspects:
        if isinstance(s, ZooSuspects):
            b, c = zoo_pair_stats(s.net, s.params, fps.probes, fps.owner_outputs, chunk=chunk,
                                  link=cfg.link)
            m, g, sup = score_pairs(b, c, fps, cfg)
            score = g.mean(axis=-1)
            for j, sid in enumerate(s.ids):
                out.append(SuspectResult(sid, float(score[j]), bool(score[j] >= cfg.tau),
                                         bend=b[j], cos=c[j], match=m[j], groups=g[j],
                                         support=sup[j]))
        elif isinstance(s, BlackBoxSuspect):
            try:
                b, c = blackbox_pair_stats(s.fn, fps.probes, fps.owner_outputs, cfg.link,
                                           batch_size=batch_size, timeout=timeout,
                                           retries=retries)
            except QueryFailure as err:
                out.append(SuspectResult(s.id, None, None, failed=True, reason=str(err)))
            else:
                m, g, sup = score_pairs(b, c, fps, cfg)
                score = float(g.mean())
                out.append(SuspectResult(s.id, score, bool(score >= cfg.tau),
                                         bend=b, cos=c, match=m, groups=g, support=sup))
        else:
            raise ValueError(f"unknown suspect type {type(s).__name__}; expected ZooSuspects "
                             "or BlackBoxSuspect")
        if progress is not None:
            progress(len(out))
    return out
