"""A pure-functional handle on a Flax network: ``init``, ``apply``, pre-activations.

``Network`` is a frozen, hashable description (a Linen module plus the input
and output shapes). Params are the plain Linen variables pytree
``{"params": ..., "batch_stats"?: ...}``. Every function here takes a **batch**:
``x`` has shape ``(batch, *input_shape)``.

All jitted entry points take the network as a static argument, so calling again
with the same network and shapes never recompiles.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

Params = Any  # a Linen variables pytree


@dataclasses.dataclass(frozen=True)
class Network:
    """A network as data: a Linen module and its input and output shapes.

    Attributes:
      name: short label, e.g. ``"mlp"``, ``"resnet18"``.
      module: the Linen module; it maps ``(batch, *input_shape)`` to
        ``(batch, *output_shape)``.
      input_shape: shape of one example, e.g. ``(31,)`` or ``(28, 28, 3)``.
      output_shape: shape of one output, e.g. ``(1,)`` or ``(7,)``.
      has_train_mode: the module takes ``train=...`` (batch norm).
      linear_stem: the first ``nn.Dense``/``nn.Conv`` the module calls takes the network
        input itself (up to a reshape). Its output along a line ``x0 + t*u`` is then
        affine in ``t``, and :func:`forward_full_on_lines` evaluates it on two points
        per line instead of every grid point. The builders set it; leave it ``False``
        for a module that transforms its input before the first linear layer.
    """

    name: str
    module: nn.Module
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    has_train_mode: bool = False
    linear_stem: bool = False

    # -- pure API -------------------------------------------------------------
    def init(self, key: PRNGKeyArray) -> Params:
        """Fresh params for one model. ``vmap`` it over keys to build a zoo."""
        return _init(self, key)

    def apply(self, params: Params, x: Float[Array, "batch *in"]) -> Float[Array, "batch *out"]:
        """Inference forward pass on a batch (batch norm uses running statistics)."""
        check_input(self, x)
        check_params(self, params)
        return _apply(self, params, x)

    def preactivations(
        self, params: Params, x: Float[Array, "batch *in"]
    ) -> tuple[Float[Array, "batch *out"], Float[Array, "batch neurons"]]:
        """Outputs and the pre-activation of every ReLU, flattened and concatenated."""
        check_input(self, x)
        check_params(self, params)
        return _preactivations(self, params, x)

    def pattern(self, params: Params, x: Float[Array, "batch *in"]) -> Int[Array, "batch kinks"]:
        """The activation pattern: ReLU on/off (0/1) then max-pool switches (arg-max)."""
        check_input(self, x)
        check_params(self, params)
        return _pattern(self, params, x)

    # -- facts ----------------------------------------------------------------
    @property
    def input_size(self) -> int:
        return math.prod(self.input_shape)

    @property
    def output_size(self) -> int:
        return math.prod(self.output_shape)

    def kink_layout(self) -> list[tuple[str, int]]:
        """``(layer name, number of ReLU neurons)`` in the order of :meth:`preactivations`."""
        return _kink_layout(self)

    def num_params(self, params: Params | None = None) -> int:
        """Trainable parameter count (the ``"params"`` collection only)."""
        tree = params if params is not None else abstract_params(self)
        return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree["params"]))


# -- validation --------------------------------------------------------------
def check_input(net: Network, x: Any, *, batched: bool = True) -> None:
    """Raise ValueError unless ``x`` is a float array of shape ``(batch, *input_shape)``."""
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    want = ("batch", *net.input_shape) if batched else net.input_shape
    if shape is None or dtype is None:
        raise ValueError(f"{net.name}: expected an array of shape {want}, got {type(x).__name__}")
    n_lead = 1 if batched else 0
    if len(shape) != len(net.input_shape) + n_lead:
        raise ValueError(
            f"{net.name}: expected input of rank {len(want)} with shape {want}, "
            f"got rank {len(shape)} with shape {tuple(shape)}"
        )
    if tuple(shape[n_lead:]) != tuple(net.input_shape):
        raise ValueError(f"{net.name}: expected input shape {want}, got {tuple(shape)}")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{net.name}: expected a floating-point input, got dtype {dtype}")


def abstract_params(net: Network) -> Params:
    """Shapes and dtypes of one model's params, without computing them."""
    return _abstract_params(net)


@functools.cache
def _abstract_params(net: Network) -> Params:
    return jax.eval_shape(net.init, jax.random.key(0))


def check_params(net: Network, params: Params, *, leading: tuple[int, ...] = ()) -> None:
    """Raise ValueError unless ``params`` has this network's tree and leaf shapes.

    ``leading`` is the shape of any stacking axes (a zoo has ``(n_models,)``).
    """
    want = abstract_params(net)
    want_def = jax.tree.structure(want)
    try:
        got_def = jax.tree.structure(params)
    except Exception as err:  # pragma: no cover - jax raises on odd objects
        raise ValueError(f"{net.name}: params are not a pytree: {err}") from err
    if got_def != want_def:
        raise ValueError(
            f"{net.name}: params come from another architecture: expected tree "
            f"{_short(want_def)}, got {_short(got_def)}"
        )
    paths = jax.tree_util.tree_flatten_with_path(want)[0]
    for path, w, g in zip(paths, jax.tree.leaves(want), jax.tree.leaves(params)):
        gshape = tuple(getattr(g, "shape", ()))
        if gshape != (*leading, *w.shape):
            raise ValueError(
                f"{net.name}: params leaf {jax.tree_util.keystr(path[0])} has shape {gshape}, "
                f"expected {(*leading, *w.shape)}"
            )


def _short(treedef: Any, limit: int = 160) -> str:
    s = str(treedef)
    return s if len(s) <= limit else s[:limit] + "..."


# -- jitted kernels (network is static) ---------------------------------------
_RECORDED = ("preacts", "switches")  # collections filled by a forward pass, never params

def _dummy(net: Network) -> jax.Array:
    return jnp.zeros((1, *net.input_shape), jnp.float32)


@functools.partial(jax.jit, static_argnums=0)
def _init(net: Network, key: PRNGKeyArray) -> Params:
    variables = net.module.init(key, _dummy(net))
    return {k: v for k, v in variables.items() if k not in _RECORDED}


def _call(net: Network, params: Params, x: jax.Array, mutable: list[str]) -> tuple[jax.Array, dict]:
    kwargs = {"train": False} if net.has_train_mode else {}
    if mutable:
        return net.module.apply(params, x, mutable=mutable, **kwargs)
    return net.module.apply(params, x, **kwargs), {}


def forward(net: Network, params: Params, x: jax.Array) -> jax.Array:
    """Un-jitted, unvalidated inference pass, for use inside other traced code."""
    return _call(net, params, x, [])[0]


def forward_with_preacts(net: Network, params: Params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Un-jitted pass returning outputs and flattened pre-activations ``(batch, neurons)``."""
    y, state = _call(net, params, x, ["preacts"])
    leaves = jax.tree.leaves(state.get("preacts", {}))
    if not leaves:
        return y, jnp.zeros((x.shape[0], 0), x.dtype)
    return y, jnp.concatenate([z.reshape(z.shape[0], -1) for z in leaves], axis=1)


def forward_full(
    net: Network, params: Params, x: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One un-jitted pass: outputs, pre-activations ``(batch, neurons)`` and pattern.

    The pattern ``(batch, kinks)`` int8 holds the ReLU bits (``z > 0``) first, in
    the order of the pre-activations, then the max-pool switches (arg-max index).
    """
    y, state = _call(net, params, x, ["preacts", "switches"])
    zs = [z.reshape(z.shape[0], -1) for z in jax.tree.leaves(state.get("preacts", {}))]
    z = jnp.concatenate(zs, axis=1) if zs else jnp.zeros((x.shape[0], 0), x.dtype)
    parts = [(z > 0).astype(jnp.int8)]  # int8: a quarter of int32's memory traffic
    parts += [s.reshape(s.shape[0], -1).astype(jnp.int8)  # a 3x3 window's arg-max: 0..8
              for s in jax.tree.leaves(state.get("switches", {}))]
    return y, z, jnp.concatenate(parts, axis=1)


def forward_full_on_lines(
    net: Network, params: Params, x0: Float[Array, "C D"], u: Float[Array, "C D"],
    ts: Float[Array, " G"],
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """:func:`forward_full` at the ``C * G`` points ``x0[i] + ts[j] * u[i]`` (line-major).

    ``x0`` and ``u`` are flattened inputs, ``D = prod(input_shape)``. With
    ``net.linear_stem`` the first linear layer is evaluated on ``x0`` and ``u``
    only (``2C + 1`` points) and extended along each line as ``A + t * S``; the
    rest of the network runs on all ``C * G`` points as usual. The result equals
    the pointwise pass up to float rounding.

    Returns:
      outputs ``(C*G, *output_shape)``, pre-activations ``(C*G, neurons)`` and the
      int8 pattern ``(C*G, kinks)``.
    """
    C, G = x0.shape[0], ts.shape[0]
    pts_shape = (C * G, *net.input_shape)
    if not net.linear_stem:
        pts = x0[:, None, :] + ts[None, :, None] * u[:, None, :]
        return forward_full(net, params, pts.reshape(pts_shape))
    done = []

    def stem(next_fun, args, kwargs, context):
        first = (not done and context.method_name == "__call__"
                 and isinstance(context.module, (nn.Dense, nn.Conv)))
        if not first:
            return next_fun(*args, **kwargs)
        done.append(True)
        feat = args[0].shape[1:]
        both = jnp.concatenate([x0, u, jnp.zeros((1, x0.shape[1]), x0.dtype)])
        out = next_fun(both.reshape((2 * C + 1, *feat)), **kwargs)  # one call: Linen
        a, s = out[:C], out[C : 2 * C] - out[2 * C :]  # s: the linear part alone
        t = ts.reshape((1, G) + (1,) * (a.ndim - 1))
        return (a[:, None] + t * s[:, None]).reshape((C * G, *a.shape[1:]))

    with nn.intercept_methods(stem):  # the placeholder input is dead code after the stem
        return forward_full(net, params, jnp.zeros(pts_shape, x0.dtype))


def forward_pattern(net: Network, params: Params, x: jax.Array) -> jax.Array:
    """Un-jitted activation pattern ``(batch, kinks)`` int8: ReLU bits, then switches."""
    return forward_full(net, params, x)[2]


_apply = jax.jit(forward, static_argnums=0)
_preactivations = jax.jit(forward_with_preacts, static_argnums=0)
_pattern = jax.jit(forward_pattern, static_argnums=0)


@functools.cache
def _kink_layout(net: Network) -> list[tuple[str, int]]:
    def run(params):
        return _call(net, params, _dummy(net), ["preacts"])[1].get("preacts", {})

    shapes = jax.eval_shape(run, abstract_params(net))
    out = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(shapes)[0]:
        out.append((jax.tree_util.keystr(path), math.prod(leaf.shape[1:])))
    return out


def train_apply(
    net: Network, params: Params, x: Float[Array, "batch *in"]
) -> tuple[Float[Array, "batch *out"], Params]:
    """Training-mode pass: batch norm uses batch statistics and updates its running ones.

    Returns the outputs and the params with updated ``batch_stats`` (unchanged
    for networks without batch norm). Un-jitted: call it inside a train step.
    """
    if not net.has_train_mode or "batch_stats" not in params:
        return forward(net, params, x), params
    y, state = net.module.apply(params, x, train=True, mutable=["batch_stats"])
    return y, {**params, "batch_stats": state["batch_stats"]}
