"""Choosing K fingerprint pairs from the valid candidates (host-side numpy).

Rules (measured in ``benchmarks/design_study.py``; see docs/method.md):

- ``"margin"``: the largest distance from the crossing to any other owner
  boundary along the pair's direction first. A wide margin keeps the pair a
  single clean bend even when a pirated copy's boundaries move.
- ``"steep"``: the largest ``||grad_x z_k||`` first; a steep boundary moves
  least for a given weight change.
- ``"bend"``: the strongest owner bend first (relative to the chord).
- ``"kink"``: the largest jump of the owner's slope across the boundary first,
  along the pair's direction (for a first-layer neuron of a one-hidden-layer
  net and pairs along the boundary normal, ``|a_k| ||w_k||``): the
  neurons that matter most to the output, which magnitude pruning keeps and a
  re-trained head still needs.
- ``"random"``: uniformly at random (the baseline every rule must beat).

Diversity: at most ``max_per_neuron`` pairs per flipping neuron; when too few
neurons qualify, the cap is lifted round by round.

Layers: ``layers`` keeps only neurons of the given ReLU layers, as indices into
``Network.kink_layout()`` in its order: depth order for the MLP and the
generator, but flax's sorted module names for the ResNet (index 0 is block
``layer1_0``'s first ReLU, the stem's ReLU comes last). On the fashion fixture
the first layer alone gives the pairs rule's figures and deeper layers score
lower (``benchmarks/fixture_study.py``, block ``layer``).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from tafa_jax.fingerprint.search import Candidates

Rule = Literal["margin", "steep", "bend", "kink", "random"]
RULES: tuple[str, ...] = ("margin", "steep", "bend", "kink", "random")


@dataclasses.dataclass(frozen=True)
class SelectConfig:
    """How K pairs are chosen among the valid candidates.

    Attributes:
      rule: ranking rule, one of :data:`RULES`.
      max_per_neuron: cap on pairs sharing a flipping neuron (diversity).
      min_margin: keep only candidates whose margin is at least ``min_margin * d/2``.
      min_bend: keep only candidates whose owner bend statistic is at least this, so
        the owner itself clears the absolute matching threshold with room to spare.
      layers: ReLU layers whose neurons may be chosen, as indices into
        ``Network.kink_layout()`` (in its order, see above); ``None`` for every layer.
    """

    rule: Rule = "margin"
    max_per_neuron: int = 1
    min_margin: float = 1.0
    min_bend: float = 0.1
    layers: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown selection rule {self.rule!r}; expected one of {RULES}")
        if self.max_per_neuron < 1:
            raise ValueError(f"max_per_neuron must be >= 1, got {self.max_per_neuron}")
        if self.min_margin < 0:
            raise ValueError(f"min_margin must be >= 0, got {self.min_margin}")
        if self.layers is not None:
            layers = self.layers
            if (isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__")
                    or not layers or not all(isinstance(i, (int, np.integer))
                                             and not isinstance(i, bool) and i >= 0
                                             for i in layers)):
                raise ValueError(f"layers must be a non-empty tuple of ReLU layer indices "
                                 f">= 0 (or None for every layer), got {layers!r}")
            object.__setattr__(self, "layers", tuple(sorted({int(i) for i in layers})))


def _per_line(a) -> np.ndarray:
    """A per-pair field ``(C, T)`` reduced to its weakest sibling ``(C,)``."""
    a = np.asarray(a)
    return a.min(axis=1) if a.ndim == 2 else a


def layer_of_neurons(layout: list[tuple[str, int]]) -> np.ndarray:
    """``(N,)`` the ReLU layer of each neuron of a ``Network.kink_layout()``."""
    return np.repeat(np.arange(len(layout)), [n for _, n in layout])


def eligible(cands: Candidates, distance: float, cfg: SelectConfig,
             layer_of: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask ``(C,)`` of candidate groups that may be selected (every sibling
    clean, and the flipping neuron in ``cfg.layers`` when set; ``layer_of`` ``(N,)``
    gives each neuron's layer, see :func:`layer_of_neurons`)."""
    ok = (np.asarray(cands.valid) & (_per_line(cands.margin) >= cfg.min_margin * distance / 2)
          & (_per_line(cands.bend) >= cfg.min_bend))
    if cfg.layers is not None:
        if layer_of is None:
            raise ValueError(f"SelectConfig.layers={cfg.layers} needs the network's neuron "
                             "layers (layer_of_neurons(net.kink_layout()))")
        ok &= np.isin(np.asarray(layer_of)[np.asarray(cands.neuron)], cfg.layers)
    return ok


def select(
    cands: Candidates, k: int, distance: float, cfg: SelectConfig, rng: np.random.Generator,
    layer_of: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of up to ``k`` selected candidates, best first.

    Returns fewer than ``k`` only when fewer are eligible; the caller reports it.
    ``layer_of``: as for :func:`eligible`.
    """
    idx = np.flatnonzero(eligible(cands, distance, cfg, layer_of))
    if idx.size == 0:
        return idx
    if cfg.rule == "random":
        score = rng.random(idx.size)
    else:
        score = {"margin": cands.margin, "steep": cands.steepness, "bend": cands.bend,
                 "kink": cands.kink}[cfg.rule]
        score = _per_line(score)[idx]
    order = idx[np.argsort(-score, kind="stable")]
    # rounds: the first max_per_neuron candidates of every neuron (best first), then
    # the next max_per_neuron of each, ...; a candidate's round is its rank among its
    # neuron's candidates // max_per_neuron, so the order does not depend on k
    _, neuron = np.unique(np.asarray(cands.neuron)[order], return_inverse=True)
    by_neuron = np.argsort(neuron, kind="stable")
    first = np.r_[0, np.flatnonzero(np.diff(neuron[by_neuron])) + 1]
    rank = np.empty(order.size, np.int64)
    rank[by_neuron] = np.arange(order.size) - np.repeat(first, np.diff(np.r_[first, order.size]))
    ranked = order[np.argsort(rank // cfg.max_per_neuron, kind="stable")]
    return ranked[:k].astype(np.int64)
