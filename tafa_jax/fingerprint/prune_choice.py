"""Choosing the fingerprint groups that survive magnitude pruning (data-free).

A pirate who prunes the owner's network by weight magnitude (each layer's
smallest weights zeroed) and fine-tunes it keeps only the owner's boundaries
whose weights survive the cut, and fine-tuning then turns what is left. The
owner can make the first step itself, with no data:
:func:`~tafa_jax.zoo.obfuscate.prune_magnitude` at every ratio of a fine grid.
:func:`choose_surviving` takes more groups than the set keeps (a *pool*,
``GenerationConfig.choose_from``), scores each pool group on the owner's own
pruned copies under the matching rule, and keeps the ``n_pairs`` groups matched
at the most ratios (ties: the pool's order, the selection rule's, largest kinks
first for warfarin's). Nothing is trained and no suspect is seen.

Why a grid. The owner does not know the pirate's ratio. On warfarin (15 keys,
``benchmarks/prune_choice.py``, docs/method.md "Groups that survive pruning")
choosing on ratios 0.305-0.945 step 0.01 lifted the 80 % fine-pruned copies'
calibrated score from 0.39 | 0.41 to 0.56 | 0.65 (design | held-out zoo, a pool
of 40), step 0.05 nearly as much (0.53 | 0.57), and 0.7 and 0.9 alone not at
all (0.34 | 0.36): ratios near the pirate's must be among those tried. The
default grid, :data:`PRUNE_RATIOS`, sits half a step off the round ratios a zoo
recipe uses (0.305, 0.315, ..., 0.945), so for kernels of 200 weights or more
(warfarin's first layer has 3100) no pruned copy the owner scores is
bit-identical to one in a zoo that prunes at 0.4, 0.6 or 0.8: the zoo's own
ratios scored no better (0.56 | 0.63).

Costs: the pool's probes on the owner (``choose_from / n_pairs`` times the set's)
and a vectorised verification of ``len(ratios)`` pruned copies, built
:data:`RATIO_CHUNK` at a time so that memory stays bounded for large networks.
The set's ``meta["search"]`` counts describe the pool's search. A group whose
bends on some pruned copy sit at float32 noise can match or not depending on how
many copies are verified together (the summation order of a batched matmul:
0.0009 against 0 on a short test segment), so changing :data:`RATIO_CHUNK` can
move such a group; warfarin's 15 keys' choices and fashion's first owner's were
the same with chunks of 16 (padded) and of 13. What it does
not cover: other pruning criteria (structured, global, by activation), which
give other masks; a pirate using one was not measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from tafa_jax.fingerprint.fpset import FingerprintSet, file_digest
from tafa_jax.nets.network import Network, Params
from tafa_jax.nets.stacking import params_digest

if TYPE_CHECKING:  # verify imports this package's fpset: import it where it is used
    from tafa_jax.verify.score import MatchConfig

#: Pruning ratios the owner tries: 0.305 to 0.945, step 0.01 (65 ratios).
PRUNE_RATIOS: tuple[float, ...] = tuple(round(0.305 + 0.01 * i, 3) for i in range(65))
#: At most this many pruned copies are built and verified at once (the ratios are
#: split into equal chunks, padded by at most one copy each, so one compiled shape).
RATIO_CHUNK = 16


def check_ratios(ratios: Sequence[float]) -> tuple[float, ...]:
    """``ratios`` as a tuple of floats in ``[0, 1)``; ValueError otherwise."""
    if isinstance(ratios, (str, bytes)) or not hasattr(ratios, "__iter__"):
        raise ValueError(f"prune_ratios must be a sequence of pruning ratios in [0, 1), got "
                         f"{ratios!r}")
    out = tuple(ratios)
    if not out or not all(isinstance(r, (int, float, np.floating, np.integer))
                          and not isinstance(r, bool) and 0.0 <= float(r) < 1.0 for r in out):
        raise ValueError(f"prune_ratios must be a non-empty sequence of pruning ratios in "
                         f"[0, 1), got {ratios!r}")
    return tuple(float(r) for r in out)


def pruned_copies(params: Params, ratios: Sequence[float]) -> Params:
    """The owner pruned by magnitude at each ratio, stacked on axis 0 ``(R, ...)``."""
    from tafa_jax.zoo.obfuscate import prune_magnitude

    r = jnp.asarray(check_ratios(ratios), jnp.float32)
    return jax.vmap(lambda x: prune_magnitude(params, x)[0])(r)


def pruning_survival(net: Network, params: Params, fps: FingerprintSet, match: MatchConfig,
                     ratios: Sequence[float] = PRUNE_RATIOS) -> np.ndarray:
    """``(G,)`` the fraction of ``ratios`` at which the owner, pruned by magnitude at
    that ratio, still matches each group of ``fps`` under ``match`` (the pruned copies
    are verified as a zoo: :func:`~tafa_jax.verify.verify`)."""
    from tafa_jax.verify.score import MatchConfig
    from tafa_jax.verify.verify import ZooSuspects, verify

    if not isinstance(match, MatchConfig):
        raise ValueError(f"match must be the MatchConfig the fingerprints will be verified "
                         f"with, got {type(match).__name__}")
    owner = fps.meta.get("owner_digest")
    if owner is not None and owner != params_digest(params):
        raise ValueError("these fingerprints were generated from another model than the "
                         f"params given (owner digest {owner[:12]}... != "
                         f"{params_digest(params)[:12]}...): pass the owner's params")
    ratios = check_ratios(ratios)
    n_chunks = -(-len(ratios) // RATIO_CHUNK)
    size = -(-len(ratios) // n_chunks)  # equal chunks: one compiled shape
    padded = ratios + ratios[-1:] * (n_chunks * size - len(ratios))
    matched = []
    for i in range(0, len(padded), size):
        copies = ZooSuspects(net, pruned_copies(params, padded[i:i + size]),
                             [f"pruned-{j}" for j in range(i, i + size)])
        matched += [r.groups for r in verify(fps, [copies], match)]
    return np.asarray(matched[:len(ratios)], np.float64).mean(axis=0)


def best_groups(score: np.ndarray, n: int) -> np.ndarray:
    """The indices of the ``n`` best groups by ``score`` ``(G,)`` (ties: the lower
    index, the pool's order), in increasing order: what :func:`choose_surviving`
    keeps."""
    return np.sort(np.argsort(-np.asarray(score), kind="stable")[:int(n)])


def choose_surviving(net: Network, params: Params, pool: FingerprintSet, n_groups: int,
                     match: MatchConfig, ratios: Sequence[float] = PRUNE_RATIOS,
                     meta: dict | None = None) -> FingerprintSet:
    """The ``n_groups`` groups of ``pool`` that survive pruning at the most ``ratios``
    (:func:`pruning_survival`; ties in the pool's order), kept in the pool's order.

    ``meta`` replaces the pool's metadata (the caller's config); the choice is
    recorded under ``meta["choice"]``: the pool's size and digest, the chosen pool
    groups and every pool group's survival.
    """
    if (isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer))
            or not 1 <= n_groups <= pool.n_groups):
        raise ValueError(f"n_groups must be an integer from 1 to the pool's {pool.n_groups} "
                         f"groups, got {n_groups!r}")
    survival = pruning_survival(net, params, pool, match, ratios)
    keep = best_groups(survival, n_groups)
    chosen = pool.subset(keep)
    info = {"pool_groups": pool.n_groups, "pool_digest": pool.meta.get("digest") or
            file_digest(pool), "groups": keep.tolist(),
            "survival": np.round(survival, 6).tolist()}
    # a loaded pool's file fields describe the pool's file, not this set
    base = {k: v for k, v in (pool.meta if meta is None else meta).items()
            if k not in ("digest", "format", "version")}
    return FingerprintSet(**chosen.arrays(), meta={**base, "choice": info})
