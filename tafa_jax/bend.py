"""The bend statistic and the inverse output links that make smooth heads affine again.

A ReLU network with a softmax, tanh or sigmoid head is piecewise affine *before*
its head. Undoing the head (the inverse link) before taking second differences
makes the statistic exactly 0 on any segment without a kink, whatever the head,
up to the saturation bound of tanh and sigmoid (there an output crossing the
bound adds a kink of the clip, the same in every model, and a saturated stretch
reads flat):

- ``"clr"``: softmax probabilities -> centred log-ratio, ``log p - mean(log p)``,
  which equals the logits minus their mean (an affine map of the logits);
- ``"atanh"``: tanh outputs (the WGAN generator's images) -> pre-activations,
  read up to +-3.8 (outputs within ``TANH_SATURATION`` of +-1 count as there);
- ``"logit"``: sigmoid outputs -> pre-activations, read up to +-7.6 (the same
  bound);
- ``"identity"``: raw or clipped outputs (clipping is itself piecewise affine).
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

LINKS: tuple[str, ...] = ("identity", "clr", "atanh", "logit")
HEAD_LINKS = {"none": "identity", "clip": "identity", "softmax": "clr", "tanh": "atanh",
              "sigmoid": "logit"}
EPS = 1e-12
# tanh outputs within this of +-1 read as if there, i.e. pre-activations beyond
# +-atanh(1 - 1e-3) = +-3.8 as +-3.8. float32 holds values near 1 only to steps of
# 6e-8; near the earlier bound (1e-6, +-7.25) atanh turns one step into 0.03 in
# pre-activation units, and summed over a generator's hundreds of nearly saturated
# pixels that rounding looked like kinks on every cell of a line: a permuted copy
# (the same function) failed 5 of 20 groups. At this bound a float32 step is 3e-5.
# The clip is itself piecewise affine, the same for the owner and its copies.
# Measured on the synthetic fashion headline zoos (docs/method.md, "Fashion at
# headline size"), verifying one key's groups again with each bound: 1e-6 / 1e-4 /
# 1e-3 / 1e-2 gave ARUC 0.677 / 0.953 / 0.960 / 0.956 by the rate (2000-iteration
# owner) and 0.939 / 0.949 / 0.952 / 0.950 (1000 iterations), fingerprints
# generated with 1e-6. Sigmoid outputs take the same pre-activation bound
# (sigmoid(x) = (1 + tanh(x / 2)) / 2, so p within TANH_SATURATION / 2 of 0 or 1;
# the earlier 1e-7 was worse still near 1); no scenario has a sigmoid head, so
# that is the argument, not a measurement.
TANH_SATURATION = 1e-3


def link_saturation(link: str | None) -> float | None:
    """How close to its bounds ``link``'s head output is read as saturated (recorded
    with fingerprints and calibrations, checked against this version's); ``None``
    for links without a bound."""
    return {"atanh": TANH_SATURATION, "logit": TANH_SATURATION / 2}.get(link or "")


def check_saturation(recorded: float | None, link: str | None, what: str) -> None:
    """Refuse evidence read with another saturation bound of ``link`` than this
    version's (:func:`link_saturation`); files that record none (older
    ones, links without a bound) pass."""
    now = link_saturation(link)
    if recorded is not None and now is not None and float(recorded) != now:
        raise ValueError(f"{what} with the {link} link read saturated within {recorded} of "
                         f"its bounds; this version reads {now} (docs/method.md, 'Fashion at "
                         "headline size'): generate or fit them again")


def inverse_link(y: Float[Array, "... O"], link: str) -> Float[Array, "... O"]:
    """Undo a smooth output head so a ReLU network's outputs are piecewise affine again."""
    if link == "identity":
        return y
    if link == "clr":  # softmax: log p - mean(log p) = logits - mean(logits)
        logp = jnp.log(jnp.clip(y, 1e-30, None))
        return logp - jnp.mean(logp, axis=-1, keepdims=True)
    if link == "atanh":
        return jnp.arctanh(jnp.clip(y, -1 + TANH_SATURATION, 1 - TANH_SATURATION))
    if link == "logit":
        sat = TANH_SATURATION / 2
        p = jnp.clip(y, sat, 1 - sat)
        return jnp.log(p) - jnp.log1p(-p)
    raise ValueError(f"unknown link {link!r}; expected one of {LINKS}")


def second_differences(y: Float[Array, "... P O"]) -> Float[Array, "... C O"]:
    """``y_{j-1} + y_{j+1} - 2 y_j`` at the ``C = P - 2`` interior probes of a line of
    equally spaced probes: 0 on an affine stretch, the slope jump times the spacing
    (split over two cells) at a kink between probes."""
    return y[..., :-2, :] + y[..., 2:, :] - 2 * y[..., 1:-1, :]


def bend_statistic(y: Float[Array, "... P O"]) -> Float[Array, "..."]:
    """``||y(x-) + y(x+) - 2 y(m)|| / ||y(x+) - y(x-)||`` from probes 0, 1, 2.

    Scale-free, exactly 0 on an affine segment. The chord is floored at
    ``1e-4 * ||y(m)||`` so that float32 round-off on a flat segment cannot look
    like a bend. Apply :func:`inverse_link` first for smooth heads.
    """
    lo, mid, hi = y[..., 0, :], y[..., 1, :], y[..., 2, :]
    num = jnp.linalg.norm(lo + hi - 2 * mid, axis=-1)
    chord = jnp.linalg.norm(hi - lo, axis=-1)
    chord = jnp.maximum(chord, 1e-4 * jnp.linalg.norm(mid, axis=-1))
    return num / (chord + EPS)


def profile_statistic(y: Float[Array, "... P O"]) -> Float[Array, "... C"]:
    """Second differences along a line of ``P`` equally spaced probes, scale-free.

    ``r_j = ||y_{j-1} + y_{j+1} - 2 y_j|| / mean_i ||y_{i+1} - y_i||`` for the
    ``C = P - 2`` interior probes. On a piecewise-affine line ``r_j`` is 0 unless
    a kink lies between probes ``j-1`` and ``j+1``, so the profile says *where*
    the suspect bends, whatever the size and sign of its bends.
    """
    e = second_differences(y)
    steps = jnp.linalg.norm(y[..., 1:, :] - y[..., :-1, :], axis=-1)
    scale = jnp.mean(steps, axis=-1, keepdims=True)
    mid = jnp.linalg.norm(y[..., y.shape[-2] // 2, :], axis=-1)[..., None]
    scale = jnp.maximum(scale, 1e-4 * mid)
    return jnp.linalg.norm(e, axis=-1) / (scale + EPS)


def default_link(module) -> str:
    """The inverse link for a network's head (``module.head``; identity if it has none)."""
    return HEAD_LINKS.get(getattr(module, "head", "none"), "identity")
