"""Train many models at once: one jitted program, ``vmap`` (or ``lax.map``) over members,
``scan`` over steps.

Every member of a group shares the architecture, the data arrays and the
:class:`TrainConfig`; each has its own PRNG key (minibatch order), and optionally
its own rows of the data (``data_index``), learning rate (``lrs``) and pruning
mask (``masks``). A static ``trainable`` selection freezes layers bit-for-bit.

Distillation is plain training with the teacher's outputs as targets: pass
``y = teacher(x_pirate)``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int

from tafa_jax.nets.network import Network, Params, check_params, forward, train_apply
from tafa_jax.nets.stacking import member_batching, over_members, resolve_members, zoo_size

OPTIMIZERS = ("adam", "sgd", "adamw")
LOSSES = ("mse", "mae", "huber", "xent")
SCHEDULES = ("constant", "cosine")
METRICS = ("mae", "mse", "accuracy")

LossFn = Callable[[jax.Array, jax.Array], jax.Array]
Trainable = None | str | Sequence[str] | Callable[[tuple[str, ...]], bool]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How a group is trained. Hashable: it is a static argument of the jitted trainer.

    Attributes:
      optimizer: ``"adam"``, ``"sgd"`` (with ``momentum``) or ``"adamw"``.
      lr: learning rate, used when :func:`train_group` gets no per-member ``lrs``.
      steps: optimiser steps (one minibatch each).
      batch_size: rows per minibatch, drawn with replacement from the member's rows.
      weight_decay: decoupled weight decay (``"adamw"`` and ``"sgd"`` only; use
        ``l2`` with ``"adam"``).
      loss: ``"mse"``, ``"mae"``, ``"huber"``, ``"xent"`` (outputs are logits; targets
        are integer labels ``(batch,)`` or probabilities ``(batch, classes)``), or a
        callable ``loss(pred, target) -> scalar``.
      l2: coefficient of ``0.5 * l2 * sum(kernel ** 2)`` over the trainable kernels.
      momentum: SGD momentum.
      huber_delta: the Huber loss's delta, in output units.
      schedule: the learning rate over the steps: ``"constant"``, or ``"cosine"``
        (from ``lr`` at the first step down to 0 after the last: ``lr * (1 + cos(pi *
        t / steps)) / 2`` at step ``t``).
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    steps: int = 100
    batch_size: int = 64
    weight_decay: float = 0.0
    loss: str | LossFn = "mse"
    l2: float = 0.0
    momentum: float = 0.9
    huber_delta: float = 1.0
    schedule: str = "constant"

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; expected one of {SCHEDULES}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of {OPTIMIZERS}")
        if not callable(self.loss) and self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; expected one of {LOSSES} or a callable")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if int(self.steps) < 1 or int(self.batch_size) < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got steps={self.steps}, "
                             f"batch_size={self.batch_size}")
        if self.weight_decay < 0 or self.l2 < 0:
            raise ValueError(f"weight_decay and l2 must be >= 0, got {self.weight_decay}, "
                             f"{self.l2}")
        if self.optimizer == "adam" and self.weight_decay > 0:
            raise ValueError("weight_decay needs optimizer='adamw' or 'sgd'; with 'adam' use l2")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["schedule"] == "constant":  # as before the field existed: the group specs of
            # manifests written then still compare equal, and their groups resume
            del d["schedule"]
        if callable(self.loss):
            d["loss"] = getattr(self.loss, "__qualname__", repr(self.loss))
        return d


# -- pieces -------------------------------------------------------------------
def _direction(cfg: TrainConfig) -> optax.GradientTransformation:
    """The optimiser without its learning rate: updates are ``p - lr * u``."""
    if cfg.optimizer == "sgd":
        parts = [optax.trace(decay=cfg.momentum)] if cfg.momentum else []
    else:
        parts = [optax.scale_by_adam()]
    if cfg.weight_decay:
        parts.append(optax.add_decayed_weights(cfg.weight_decay))
    return optax.chain(*parts) if parts else optax.identity()


def loss_value(cfg: TrainConfig, pred: jax.Array, target: jax.Array) -> jax.Array:
    """The scalar loss of ``pred (batch, *out)`` against ``target``."""
    if callable(cfg.loss):
        return cfg.loss(pred, target)
    if cfg.loss == "xent":
        logits = pred.reshape(pred.shape[0], -1)
        if jnp.issubdtype(target.dtype, jnp.integer):
            return optax.softmax_cross_entropy_with_integer_labels(
                logits, target.reshape(-1)).mean()
        return optax.softmax_cross_entropy(logits, target.reshape(logits.shape)).mean()
    target = target.reshape(pred.shape).astype(pred.dtype)
    if cfg.loss == "mse":
        return jnp.mean((pred - target) ** 2)
    if cfg.loss == "mae":
        return jnp.mean(jnp.abs(pred - target))
    return jnp.mean(optax.huber_loss(pred, target, delta=cfg.huber_delta))


def _path_names(path: tuple) -> tuple[str, ...]:
    return tuple(str(getattr(k, "key", getattr(k, "name", k))) for k in path)


def trainable_bits(params: Params, trainable: Trainable) -> tuple[bool, ...]:
    """Static per-leaf flags (in ``params['params']`` leaf order) from a selection.

    ``trainable`` is None (all), a layer name or a tuple of top-level layer names
    (e.g. ``("dense1",)``), or a predicate on the leaf's path of names
    (e.g. ``("dense1", "kernel")``).
    """
    flat = jax.tree_util.tree_flatten_with_path(params["params"])[0]
    names = [_path_names(p) for p, _ in flat]
    if trainable is None:
        return tuple(True for _ in names)
    if isinstance(trainable, str):
        trainable = (trainable,)
    if callable(trainable):
        bits = tuple(bool(trainable(n)) for n in names)
    else:
        wanted = tuple(trainable)
        top = sorted({n[0] for n in names})
        unknown = [w for w in wanted if w not in top]
        if unknown:
            raise ValueError(f"trainable layers {unknown} are not in the network; it has {top}")
        bits = tuple(n[0] in wanted for n in names)
    if not any(bits):
        raise ValueError(f"the trainable selection {trainable!r} selects no parameters")
    return bits


def _as_keys(keys: Any, n: int) -> jax.Array:
    keys = jnp.asarray(keys) if not isinstance(keys, jax.Array) else keys
    if not jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key):
        keys = jax.random.wrap_key_data(jnp.asarray(keys, jnp.uint32))
    if keys.shape != (n,):
        raise ValueError(f"expected one PRNG key per member, shape ({n},), got {keys.shape}")
    return keys


# -- the trainer --------------------------------------------------------------
def train_group(
    net: Network,
    params0: Params,
    x: Float[Array, "rows *in"],
    y: Array,
    cfg: TrainConfig,
    *,
    keys: Any,
    data_index: Int[Array, "members rows_m"] | None = None,
    masks: Params | None = None,
    trainable: Trainable = None,
    lrs: Float[Array, " members"] | None = None,
    members: str = "auto",
) -> tuple[Params, Float[Array, "members steps"]]:
    """Train ``N`` members of one architecture together in one jitted program.

    Args:
      net: the architecture (static).
      params0: stacked starting params, every leaf ``(N, ...)`` (a Linen variables
        dict; ``batch_stats`` are updated in training mode).
      x: ``(rows, *input_shape)`` inputs shared by the group.
      y: ``(rows, *output_shape)`` or ``(rows,)`` targets (integer labels for xent).
      cfg: the shared :class:`TrainConfig`.
      keys: ``(N,)`` PRNG keys, one per member; they fix each member's minibatches.
      data_index: optional ``(N, rows_m)`` int row indices into ``x``; member ``m``
        draws its minibatches from rows ``data_index[m]`` only.
      masks: optional pruning masks, a pytree like ``params0["params"]`` with 0/1
        float leaves ``(N, ...)``; masked weights are zero at the start and stay zero.
      trainable: static selection of the layers that learn (see
        :func:`trainable_bits`); the others are returned bit-identical.
      lrs: optional ``(N,)`` per-member learning rates (default ``cfg.lr``).
      members: how the program runs the members: ``"vmap"`` (batched), ``"map"`` (one
        after another, ``lax.map``), or ``"auto"``:
        :func:`~tafa_jax.nets.member_batching`.

    Returns:
      ``(params, losses)``: the trained stacked params and the ``(N, steps)`` training
      loss of every member at every step.
    """
    n = zoo_size(params0)
    check_params(net, params0, leading=(n,))
    keys = _as_keys(keys, n)
    x = jnp.asarray(x)
    y = jnp.asarray(y)
    if x.shape[0] != y.shape[0] or x.shape[1:] != tuple(net.input_shape):
        raise ValueError(f"expected x (rows, {net.input_shape}) and y with the same rows, got "
                         f"x {x.shape}, y {y.shape}")
    if data_index is not None:
        data_index = jnp.asarray(data_index)
        if data_index.ndim != 2 or data_index.shape[0] != n or data_index.shape[1] == 0:
            raise ValueError(f"data_index must have shape ({n}, rows_m) with rows_m >= 1, "
                             f"got {data_index.shape}")
        if not jnp.issubdtype(data_index.dtype, jnp.integer):
            raise ValueError(f"data_index must be integer, got dtype {data_index.dtype}")
    lrs = jnp.full((n,), cfg.lr, jnp.float32) if lrs is None else jnp.asarray(lrs, jnp.float32)
    if lrs.shape != (n,):
        raise ValueError(f"lrs must have shape ({n},), got {lrs.shape}")
    if masks is not None:
        want = jax.tree.structure(params0["params"])
        if jax.tree.structure(masks) != want:
            raise ValueError("masks must be a pytree shaped like params['params']")
        for m, p in zip(jax.tree.leaves(masks), jax.tree.leaves(params0["params"]), strict=True):
            if m.shape != p.shape:
                raise ValueError(f"mask leaf shape {m.shape} does not match param {p.shape}")
    members = resolve_members(members, params0)
    bits = trainable_bits(jax.tree.map(lambda a: a[0], params0), trainable)
    # lr is per-member data, not part of the compiled program's identity
    static_cfg = dataclasses.replace(cfg, lr=1.0)
    return _train(net, static_cfg, bits, members, params0, x, y, keys, data_index, masks, lrs)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _train(net, cfg, bits, members, params0, x, y, keys, data_index, masks, lrs):
    tx = _direction(cfg)
    decay = optax.cosine_decay_schedule(1.0, cfg.steps)  # the factor on the member's lr
    treedef = jax.tree.structure(params0["params"])
    train_tree = jax.tree.unflatten(treedef, list(bits))
    top_trainable = {path[0].key for (path, _), b in zip(
        jax.tree_util.tree_flatten_with_path(params0["params"])[0], bits, strict=True) if b}
    n_rows = x.shape[0] if data_index is None else data_index.shape[1]

    def member(p0, key, rows_m, mask, lr):
        if mask is not None:
            p0 = {**p0, "params": jax.tree.map(
                lambda p, m, t: p * m if t else p, p0["params"], mask, train_tree)}
        state0 = tx.init(p0["params"])

        def step(carry, t):
            params, state, k = carry
            k, sub = jax.random.split(k)
            idx = jax.random.randint(sub, (cfg.batch_size,), 0, n_rows)
            rows = idx if rows_m is None else rows_m[idx]
            xb, yb = x[rows], y[rows]

            def objective(trainables):
                variables = {**params, "params": trainables}
                pred, new_vars = train_apply(net, variables, xb)
                loss = loss_value(cfg, pred, yb)
                if cfg.l2:
                    sq = [jnp.sum(w ** 2) for (path, w), t in zip(
                        jax.tree_util.tree_flatten_with_path(trainables)[0], bits, strict=True)
                        if t and _path_names(path)[-1] == "kernel"]
                    loss = loss + 0.5 * cfg.l2 * sum(sq)
                return loss, new_vars

            (loss, new_vars), grads = jax.value_and_grad(objective, has_aux=True)(
                params["params"])
            if mask is not None:
                grads = jax.tree.map(lambda g, m: g * m, grads, mask)
            updates, state = tx.update(grads, state, params["params"])
            rate = lr if cfg.schedule == "constant" else lr * decay(t)
            new_p = jax.tree.map(lambda p, u, b: p - rate * u if b else p,
                                 params["params"], updates, train_tree)
            if mask is not None:
                new_p = jax.tree.map(lambda p, m, t: p * m if t else p, new_p, mask, train_tree)
            out = {**params, "params": new_p}
            if "batch_stats" in params:
                out["batch_stats"] = {
                    name: (new_vars["batch_stats"][name] if name in top_trainable else old)
                    for name, old in params["batch_stats"].items()}
            return (out, state, k), loss

        # a constant rate scans no step index: the program is the one it was before
        steps = None if cfg.schedule == "constant" else jnp.arange(cfg.steps)
        (params, _, _), losses = jax.lax.scan(step, (p0, state0, key), steps,
                                              length=cfg.steps)
        return params, losses

    return over_members(member, (params0, keys, data_index, masks, lrs), members)


# -- evaluation ---------------------------------------------------------------
def evaluate(
    net: Network,
    params: Params,
    x: Float[Array, "rows *in"],
    y: Array,
    metric: str,
    *,
    batch_size: int = 4096,
) -> np.ndarray:
    """Every member's ``metric`` on ``(x, y)``: a ``(N,)`` float64 numpy array.

    ``"mae"`` / ``"mse"``: mean absolute / squared error in output units.
    ``"accuracy"``: fraction in ``[0, 1]`` of rows where ``argmax(output) == y``.
    Rows are processed in chunks of ``batch_size``.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    n = zoo_size(params)
    check_params(net, params, leading=(n,))
    xs, ys = np.asarray(x), np.asarray(y)
    if xs.shape[0] != ys.shape[0] or xs.shape[0] == 0:
        raise ValueError(f"x and y need the same, non-zero number of rows, got {xs.shape}, "
                         f"{ys.shape}")
    total = np.zeros(n)
    mode = member_batching(params)
    for start in range(0, xs.shape[0], batch_size):
        xb, yb = xs[start:start + batch_size], ys[start:start + batch_size]
        total += np.asarray(_metric_sum(net, metric, mode, params, jnp.asarray(xb),
                                        jnp.asarray(yb)), np.float64)
    return total / xs.shape[0]


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _metric_sum(net, metric, mode, params, x, y):
    def one(p):
        pred = forward(net, p, x)
        if metric == "accuracy":
            hit = jnp.argmax(pred.reshape(pred.shape[0], -1), -1) == y.reshape(-1)
            return jnp.sum(hit.astype(jnp.float32))
        err = pred.reshape(pred.shape[0], -1) - y.reshape(pred.shape[0], -1).astype(pred.dtype)
        per_row = jnp.mean(jnp.abs(err) if metric == "mae" else err ** 2, axis=1)
        return jnp.sum(per_row)

    return over_members(one, (params,), mode)
