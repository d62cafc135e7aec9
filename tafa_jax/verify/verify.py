"""Verify many suspects against one fingerprint set, in one call."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from tafa_jax.fingerprint.fpset import FingerprintSet
from tafa_jax.nets.network import Network, Params
from tafa_jax.nets.stacking import zoo_size
from tafa_jax.verify.query import QueryFailure, blackbox_pair_stats, zoo_pair_stats
from tafa_jax.verify.score import MatchConfig, matches, profile_group_matches


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
    the relative jumps (:func:`~tafa_jax.verify.score.profile_stats`)."""

    id: str
    score: float | None
    decision: bool | None
    failed: bool = False
    reason: str | None = None
    bend: np.ndarray | None = None
    cos: np.ndarray | None = None
    match: np.ndarray | None = None
    groups: np.ndarray | None = None

    @property
    def pair_rate(self) -> float | None:
        """Fraction of single pairs that bend (the score counts whole groups)."""
        return None if self.match is None else float(np.mean(self.match))


def group_matches(m: np.ndarray, group: np.ndarray, cos: np.ndarray | None = None
                  ) -> np.ndarray:
    """``(..., G)``: a fingerprint group matches when every one of its pairs does.

    With ``cos`` (the pairs' bend cosines with the owner, ``(..., K)``) a group also
    needs all its bends on one side: all ``cos > 0`` or all ``cos < 0``.
    """
    onehot = np.eye(int(group.max()) + 1, dtype=np.float32)[group]  # (K, G)
    size = onehot.sum(0)
    g = (np.asarray(m, np.float32) @ onehot) >= size - 0.5
    if cos is not None:
        side = np.sign(np.asarray(cos, np.float32)) @ onehot  # (..., G)
        g &= np.abs(side) >= size - 0.5
    return g.astype(np.float32)


def score_pairs(b: np.ndarray, cos: np.ndarray, fps: FingerprintSet,
                cfg: MatchConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair matches ``(..., K)`` and per-group matches ``(..., G)``; the score is the
    groups' mean (the group matching rate)."""
    if fps.n_probes > 3:  # profile lines: kinks must line up across a group's lines
        m = (np.asarray(b) >= cfg.beta).any(axis=-1).astype(np.float32)
        jumps = cos if cfg.profile_jump_tol is not None else None
        return m, profile_group_matches(b, fps.group, cfg.beta, cfg.profile_tol, jumps,
                                        cfg.profile_jump_tol, cfg.profile_quorum)
    m = np.asarray(matches(b, cos, fps.owner_bend, cfg))
    same = np.asarray(cos) if cfg.same_sign else None
    return m, group_matches(m, fps.group, same)


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
    ids = [i for s in suspects for i in (s.ids if isinstance(s, ZooSuspects) else [s.id])]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"suspect ids must be unique; repeated: {dup[:5]}")
    out: list[SuspectResult] = []
    for s in suspects:
        if isinstance(s, ZooSuspects):
            b, c = zoo_pair_stats(s.net, s.params, fps.probes, fps.owner_outputs, chunk=chunk,
                                  link=cfg.link)
            m, g = score_pairs(b, c, fps, cfg)
            score = g.mean(axis=-1)
            for j, sid in enumerate(s.ids):
                out.append(SuspectResult(sid, float(score[j]), bool(score[j] >= cfg.tau),
                                         bend=b[j], cos=c[j], match=m[j], groups=g[j]))
        elif isinstance(s, BlackBoxSuspect):
            try:
                b, c = blackbox_pair_stats(s.fn, fps.probes, fps.owner_outputs, cfg.link,
                                           batch_size=batch_size, timeout=timeout,
                                           retries=retries)
            except QueryFailure as err:
                out.append(SuspectResult(s.id, None, None, failed=True, reason=str(err)))
            else:
                m, g = score_pairs(b, c, fps, cfg)
                score = float(g.mean())
                out.append(SuspectResult(s.id, score, bool(score >= cfg.tau),
                                         bend=b, cos=c, match=m, groups=g))
        else:
            raise ValueError(f"unknown suspect type {type(s).__name__}; expected ZooSuspects "
                             "or BlackBoxSuspect")
        if progress is not None:
            progress(len(out))
    return out
