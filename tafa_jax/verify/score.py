"""Per-pair evidence, matching and the suspect's score.

For each pair ``j`` with probes ``x-, m, x+`` the bend statistic is

    b_j(g) = ||g(x-) + g(x+) - 2 g(m)|| / (||g(x+) - g(x-)|| + eps),

scale-free and exactly 0 on an affine segment. A ReLU kink inside the segment
makes it O(1); a smooth head (softmax, tanh, sigmoid) bends by O(d^2) against a
chord of O(d), so its b is O(d) and falls below ``rho * b_j(F)`` at small d.

Pair ``j`` **matches** when ``b_j(g) >= rho * b_j(F)`` and, if
``min_cos`` is set, the bend vector ``g(x-) + g(x+) - 2 g(m)`` points the
owner's way in output space (cosine >= ``min_cos``; sign-free with
``abs_cos=True`` so that a re-trained head that flips the bend still counts).
The **matching rate** is the mean over pairs; the suspect is called pirated
when its score (the rate) is >= ``tau``.
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from tafa_jax.bend import (
    LINKS,
    bend_statistic,
    inverse_link,
    profile_statistic,
    second_differences,
)
from tafa_jax.fingerprint.fpset import group_layout

EPS = 1e-12




@dataclasses.dataclass(frozen=True)
class MatchConfig:
    """The matching rule (static).

    Attributes:
      mode: ``"absolute"``: a pair matches when ``b_j(g) >= beta`` ("is there a
        kink at all", blind to the bend's size and sign, so a re-trained head
        keeps it); ``"relative"``: when ``b_j(g) >= rho * b_j(F)`` (TAFA.md's
        first rule).
      beta: the absolute threshold.
      rho: the relative threshold.
      link: inverse output link applied before the statistic, so that a smooth
        head becomes affine again (see :mod:`tafa_jax.bend`); ``None`` takes the
        fingerprint set's own link, chosen from the owner's head.
      min_cos: if not None, also require the bend vectors' cosine >= ``min_cos``.
      abs_cos: compare ``|cos|`` (ignore the bend's sign).
      tau: decision threshold on the score.
      profile_tol: for profile fingerprints, how many cells from a common position a
        line's kink may be and still count as the same boundary.
      profile_jump_tol: for profile fingerprints, if not None, lined-up kinks count as
        the same boundary only when their jumps, each measured relative to the owner's
        jump on its own line, lie within this relative tolerance of their median over
        the group's lines. The
        siblings sit on one owner neuron, so a copy's jumps there are one neuron's
        (rescaled alike, even under a re-trained head); an independent model's
        aligned kinks usually come from different neurons with different jumps.
        Jumps are projected on the owner's, which is exact for a scalar output;
        with vector outputs a re-trained head can turn a copy's jump away from
        the owner's, and the test then fails it (measured on warfarin only).
      profile_quorum: for profile fingerprints, the fraction of a group's lines that
        must show the lined-up kink. 1.0: every line. With
        many lines per group a quorum below 1 keeps a copy whose boundary tilted
        away on a few lines, while an independent model's chance alignments still
        fail (warfarin: 20 lines per group, 0.8; ``docs/method.md``). 3-probe pairs
        ignore it (their groups match on every pair, see ``same_sign``).
      same_sign: a group of sibling pairs matches only when its bends all point the
        same way relative to the owner's (all agree with the owner, or all are
        flipped). The siblings sit on one owner neuron, so in a copy they share
        that neuron's output weight and bend alike even under a re-trained head;
        an independent model's chance kinks come from unrelated neurons. For
        3-probe pairs only; profile lines (``probes > 3``) line their kinks up instead.
    """

    mode: str = "absolute"
    beta: float = 0.05
    rho: float = 0.5
    link: str | None = None
    min_cos: float | None = None
    abs_cos: bool = True
    tau: float = 0.5
    profile_tol: int = 1
    profile_jump_tol: float | None = None
    profile_quorum: float = 1.0
    same_sign: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("absolute", "relative"):
            raise ValueError(f"mode must be 'absolute' or 'relative', got {self.mode!r}")
        if self.link is not None and self.link not in LINKS:
            raise ValueError(f"unknown link {self.link!r}; expected one of {LINKS}")
        if not 0 < self.rho:
            raise ValueError(f"rho must be > 0, got {self.rho}")
        if not 0 < self.beta:
            raise ValueError(f"beta must be > 0, got {self.beta}")
        if not 0 <= self.tau <= 1:
            raise ValueError(f"tau must be in [0, 1], got {self.tau}")
        if self.profile_tol < 0:
            raise ValueError(f"profile_tol must be >= 0 cells, got {self.profile_tol}")
        if self.profile_jump_tol is not None and not self.profile_jump_tol > 0:
            raise ValueError(f"profile_jump_tol must be > 0 or None, got {self.profile_jump_tol}")
        if not 0 < self.profile_quorum <= 1:
            raise ValueError(f"profile_quorum must be a fraction of a group's lines in (0, 1], "
                             f"got {self.profile_quorum}")
        if self.min_cos is not None and not -1 <= self.min_cos <= 1:
            raise ValueError(f"min_cos must be in [-1, 1], got {self.min_cos}")


def pair_stats(
    y: Float[Array, "... K P O"], owner_y: Float[Array, "K P O"], link: str = "identity"
) -> tuple[Float[Array, "... K"], Float[Array, "... K"]]:
    """Bend statistic and bend-vector cosine with the owner, for each pair.

    ``O`` is the flattened output size. Works on numpy or JAX arrays, batched
    over any leading axes of ``y``. The chord is floored at ``1e-4 * ||g(m)||``
    so that float32 round-off on a flat segment cannot look like a bend.
    """
    y = inverse_link(y, link)
    owner_y = inverse_link(owner_y, link)
    e = second_differences(y)[..., 0, :]
    e_norm = jnp.linalg.norm(e, axis=-1)
    b = bend_statistic(y)
    e_f = second_differences(owner_y)[:, 0, :]
    cos = jnp.sum(e * e_f, axis=-1) / (e_norm * jnp.linalg.norm(e_f, axis=-1) + EPS)
    return b, cos


def profile_stats(
    y: Float[Array, "... K P O"], owner_y: Float[Array, "K P O"], link: str = "identity"
) -> tuple[Float[Array, "... K C"], Float[Array, "... K C"]]:
    """Kink profile and relative jumps ``(..., K, P-2)`` of each profile line.

    The first array is :func:`~tafa_jax.bend.profile_statistic` (where the suspect
    bends). The second is each cell's signed second difference projected on the
    owner's jump at the line's centre and divided by its size,
    ``s_c = e_c . E / ||E||^2``: 1 at the owner's own kink, the same for any kink of
    the same neuron rescaled alike. A kink between two probes splits its jump over
    two adjacent cells; :func:`profile_group_matches` adds them back up.
    """
    y = inverse_link(y, link)
    owner_y = inverse_link(owner_y, link)
    r = profile_statistic(y)
    e = second_differences(y)
    e_f = second_differences(owner_y)[:, owner_y.shape[-2] // 2 - 1]  # (K, O): the centre
    s = jnp.sum(e * e_f[:, None, :], axis=-1) / (jnp.sum(e_f * e_f, axis=-1)[:, None] + EPS)
    return r, s


def _shift(a: np.ndarray, o: int, fill) -> np.ndarray:
    """``a`` shifted by ``o`` cells along the last axis (``out[c] = a[c + o]``), padded."""
    if o == 0:
        return a
    out = np.full_like(a, fill)
    if o > 0:
        out[..., :-o] = a[..., o:]
    else:
        out[..., -o:] = a[..., :o]
    return out


def profile_group_matches(r, group, beta: float, tol: int, jumps=None,
                          jump_tol: float | None = None, quorum: float = 1.0) -> np.ndarray:
    """``(..., G)`` 1.0 where the group matches: :func:`profile_group_support` is at
    least ``ceil(quorum * T)`` of its ``T`` lines (every line when ``quorum`` is 1, at
    least one line always)."""
    if not 0 < quorum <= 1:
        raise ValueError(f"quorum must be a fraction of a group's lines in (0, 1], got {quorum}")
    support = profile_group_support(r, group, beta, tol, jumps, jump_tol)
    return (support >= quorum_need(quorum, group_layout(group)[1])).astype(np.float32)


def quorum_need(quorum: float, per: int) -> int:
    """Lines of a group of ``per`` that a ``quorum`` asks for: ``ceil(quorum * per)``
    (the float rounding of ``quorum * per`` forgiven), at least one."""
    return max(1, math.ceil(quorum * per - 1e-9))


def profile_group_support(r, group, beta: float, tol: int, jumps=None,
                          jump_tol: float | None = None) -> np.ndarray:
    """``(..., G)`` int: for each group of profile lines, the most lines that, at some
    cell along them, have a kink within ``tol`` cells of it. The cell itself need not
    hold a kink. A group matches when this reaches its quorum (:func:`profile_group_matches`).

    The owner's boundary is parallel on all lines of a group; a pirated copy's
    moved boundary stays (nearly) parallel, so its kinks line up across lines.
    An independent model's kinks line up only by chance. With ``jumps`` (the
    relative jumps ``(..., K, C)`` of :func:`profile_stats`) and ``jump_tol``,
    each line's nearest kink within ``tol`` cells is read (at equal distance the
    one with the larger jump, so that a line read the other way round gives the
    same result), its jump being the sum over its cell and its kinked
    neighbours; a line counts only when that jump is within ``jump_tol``
    (relative) of the median of those jumps over the group's lines. One
    neuron's kinks have one jump. No line is the reference: a kink split badly
    on one line, or a neighbour's kink next to it, costs that line alone
    (``docs/method.md``). Only the nearest kink is read: letting any kink within
    ``tol`` cells count let independent models' chance kinks in.
    """
    if (jump_tol is None) != (jumps is None):
        raise ValueError("give both the relative jumps (profile_stats' second array) and "
                         "jump_tol, or neither")
    if tol < 0:
        raise ValueError(f"tol must be >= 0 cells, got {tol}")
    if jumps is not None and np.shape(jumps) != np.shape(r):
        raise ValueError(f"jumps must have the profile's shape {np.shape(r)}, "
                         f"got {np.shape(jumps)}")
    kink = np.asarray(r) >= beta  # (..., K, C)
    n_groups, per = group_layout(group)
    if kink.shape[-2] != n_groups * per:
        raise ValueError(f"the profile has {kink.shape[-2]} lines, the groups {n_groups * per}")
    shape = (*kink.shape[:-2], n_groups, per, kink.shape[-1])
    if jumps is None or jump_tol is None:  # lined-up kinks, whatever their jumps
        kink = kink.reshape(shape)
        support = np.zeros(kink.shape, bool)
        for o in range(-tol, tol + 1):
            support |= _shift(kink, o, False)
    else:
        s = np.asarray(jumps, np.float32)
        kink &= np.isfinite(s)  # a non-finite jump is no kink to compare
        s = np.where(kink, s, 0.0)
        jump = (s + _shift(s, 1, 0.0) + _shift(s, -1, 0.0)).reshape(shape)  # split kinks
        kink = kink.reshape(shape)
        found = np.zeros(kink.shape, bool)  # (..., G, T, C): a kink within tol cells
        nearest = np.zeros(kink.shape, np.float32)  # the nearest such kink's jump
        for d in range(tol + 1):  # both sides at distance d; the larger jump on a tie
            h_l, j_l = _shift(kink, -d, False), _shift(jump, -d, 0.0)
            h_r, j_r = _shift(kink, d, False), _shift(jump, d, 0.0)
            pick_l = h_l & (~h_r | (np.abs(j_l) > np.abs(j_r))
                            | ((np.abs(j_l) == np.abs(j_r)) & (j_l >= j_r)))
            new = (h_l | h_r) & ~found
            nearest = np.where(new, np.where(pick_l, j_l, j_r), nearest)
            found |= new
        ref = _median_where(nearest, found)  # (..., G, 1, C): the lines' median jump
        support = found & (np.abs(nearest - ref) <= jump_tol * np.abs(ref))
    return np.max(np.sum(support, axis=-2), axis=-1)


def _median_where(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median of ``a`` over axis -2 where ``mask`` holds (0 where it never does), kept dims."""
    n = np.sum(mask, axis=-2, keepdims=True)
    srt = np.sort(np.where(mask, a, np.inf), axis=-2)  # the masked values first, in order
    lo = np.take_along_axis(srt, np.maximum((n - 1) // 2, 0), axis=-2)
    hi = np.take_along_axis(srt, np.maximum(n // 2, 0), axis=-2)
    return np.where(n > 0, (lo + hi) / 2, 0.0)


def matches(
    b: Float[Array, "... K"], cos: Float[Array, "... K"], owner_b: Float[Array, " K"],
    cfg: MatchConfig,
) -> Float[Array, "... K"]:
    """1.0 where a pair matches, else 0.0."""
    m = b >= (cfg.beta if cfg.mode == "absolute" else cfg.rho * owner_b)
    if cfg.min_cos is not None:
        c = jnp.abs(cos) if cfg.abs_cos else cos
        m &= c >= cfg.min_cos
    return m.astype(jnp.float32)
