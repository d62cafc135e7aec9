"""Training data without data rows: domain samples labelled by the owner, with its error.

A reference zoo for the calibrated score (:mod:`tafa_jax.verify.calibrate`)
needs copies made by the attacks and independent models trained for the task.
Without the owner's data both can be made from the owner alone: inputs drawn
from the fingerprint domain, labelled by the owner, and disturbed as much as
the owner errs on its own test split (its recorded utility), so that models
trained on them are as unlike the owner as models trained on real labels.
Measured on warfarin (``docs/method.md``, "A reference zoo without data"):
without the noise, independent models trained on the owner's exact outputs
show its kinks far more often than real ones, and the calibrated score falls
to a single table's level (ARUC 0.952 against 0.970).

Regression (``"mae"``, ``"mse"``): ``y = f(x) + e``, ``e ~ N(0, s^2)`` with
``E|e|`` the owner's MAE (``s = MAE sqrt(pi/2)``) or ``E e^2`` its MSE.
Classification (``"accuracy"``): ``y = argmax f(x)``, replaced by a uniformly
drawn other class with probability ``1 - accuracy``. Sample quality
(``"quality"``, the generative scenario) has no labels to draw and is refused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from tafa_jax.data.domains import Domain
from tafa_jax.nets.network import Network, Params, check_params

LABELLED_METRICS = ("mae", "mse", "accuracy")
SOURCE = "owner-labelled domain samples (no data rows)"


def check_metric(metric: str) -> None:
    """Raise ``ValueError`` unless ``metric`` is one whose owner has labels to draw."""
    if metric not in LABELLED_METRICS:
        raise ValueError(f"owner-labelled data needs a supervised utility metric "
                         f"{LABELLED_METRICS}; got {metric!r} (a generative owner has no "
                         "labels to draw: its reference zoo needs the scenario's data)")


def owner_labels(net: Network, params: Params, x: np.ndarray, *, metric: str, utility: float,
                 key: jax.Array, batch_size: int = 1024) -> np.ndarray:
    """The owner's labels of ``x (n, *in)``, disturbed by its own error.

    Args:
      net, params: the owner (one model, not stacked).
      x: inputs, ``(n, *net input shape)``.
      metric: the owner's utility metric, one of :data:`LABELLED_METRICS`.
      utility: the owner's value of ``metric`` on its test split (MAE or MSE >= 0;
        accuracy in ``[0, 1]``).
      key: draws the noise (or the replaced labels).
      batch_size: rows per forward pass (bounds memory).

    Returns:
      ``float32 (n, out)`` for regression, ``int32 (n,)`` class indices for
      accuracy (the label layouts the scenarios' data take).
    """
    check_metric(metric)
    u = float(utility)
    if not math.isfinite(u) or u < 0 or (metric == "accuracy" and u > 1):
        expect = "in [0, 1]" if metric == "accuracy" else ">= 0"
        raise ValueError(f"the owner's {metric} must be finite and {expect}; got {utility}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    check_params(net, params)
    x = np.asarray(x, np.float32)
    if x.ndim < 2 or x.shape[0] < 1 or tuple(x.shape[1:]) != tuple(net.input_shape):
        raise ValueError(f"x must be (n >= 1, *{tuple(net.input_shape)}), the owner's input "
                         f"shape; got shape {x.shape}")
    # net.apply is compiled once per shape: pad the last chunk to the batch size
    n, b = x.shape[0], min(int(batch_size), x.shape[0])
    padded = np.concatenate([x, np.zeros((-n % b, *x.shape[1:]), np.float32)])
    out = np.concatenate([np.asarray(net.apply(params, jnp.asarray(padded[i:i + b])))
                          for i in range(0, padded.shape[0], b)])[:n]
    k_noise, k_swap = jax.random.split(key)
    if metric != "accuracy":
        sd = u * math.sqrt(math.pi / 2) if metric == "mae" else math.sqrt(u)
        noise = np.asarray(jax.random.normal(k_noise, out.shape, jnp.float32))
        return (out + sd * noise).astype(np.float32)
    classes = out.shape[-1]
    if classes < 2:
        raise ValueError(f"a classifier's output needs >= 2 classes; got shape {out.shape}")
    label = out.reshape(out.shape[0], classes).argmax(-1)
    swap = np.asarray(jax.random.uniform(k_swap, label.shape)) >= u
    other = (label + np.asarray(jax.random.randint(k_noise, label.shape, 1, classes))) % classes
    return np.where(swap, other, label).astype(np.int32)


def owner_labelled_splits(net: Network, params: Params, domain: Domain, rows: Sequence[int], *,
                          metric: str, utility: float, key: jax.Array
                          ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``len(rows)`` splits ``(x, y)`` of ``rows[i]`` domain samples with
    :func:`owner_labels`, each from its own fold of ``key``."""
    if len(rows) == 0 or any(int(n) < 1 for n in rows):
        raise ValueError(f"rows must be split sizes >= 1; got {list(rows)}")
    if tuple(domain.shape) != tuple(net.input_shape):
        raise ValueError(f"the domain's shape {domain.shape} is not the owner's input shape "
                         f"{net.input_shape}")
    out = []
    for i, n in enumerate(rows):
        k_x, k_y = jax.random.split(jax.random.fold_in(key, i))
        x = np.asarray(domain.sample(k_x, int(n)), np.float32)
        out.append((x, owner_labels(net, params, x, metric=metric, utility=utility, key=k_y)))
    return out
