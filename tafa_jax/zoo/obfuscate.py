"""Pirate transforms (positives): pure functions on ONE model's params.

Each takes a Linen variables dict ``{"params": ..., "batch_stats"?: ...}`` and
returns a new one; vmap them over a stacked zoo at the call site, e.g.
``jax.vmap(weight_noise, in_axes=(0, 0, None))(zoo, keys, 0.05)``. Only the
``"params"`` collection is transformed; ``batch_stats`` are passed through.

Function-preserving rewrites (:func:`permute_hidden`, :func:`rescale_relu`)
support MLPs (layers ``dense0 .. denseL``) only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

from tafa_jax.nets.modules import MLP, ResNet18, SmallCNN
from tafa_jax.nets.network import Network, Params

QUANTIZE_MODES = ("fp16", "int8")


def _is_kernel(path) -> bool:
    last = path[-1]
    return str(getattr(last, "key", last)) == "kernel"


def _map_params(fn, params: Params, *rest) -> Params:
    return {**params, "params": jax.tree_util.tree_map_with_path(fn, params["params"], *rest)}


def check_ratio(ratio) -> None:
    """Raise ValueError unless a concrete ``ratio`` is in ``[0, 1)`` (traced ones pass)."""
    try:
        r = float(ratio)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return
    if not 0.0 <= r < 1.0:
        raise ValueError(f"pruning ratio must be in [0, 1), got {ratio}")


def prune_magnitude(params: Params, ratio: float | jax.Array) -> tuple[Params, Params]:
    """Zero the ``floor(ratio * size)`` smallest-magnitude weights of every kernel.

    Per layer; biases (and other non-kernel leaves) are kept. ``ratio`` may be
    traced, so the same program prunes a stack at per-member ratios.

    Returns:
      ``(pruned params, mask)``: the mask is shaped like ``params["params"]``, float32
      0/1 (all ones for non-kernels), ready for :func:`train_group`'s ``masks``.
    """
    check_ratio(ratio)
    ratio = jnp.asarray(ratio, jnp.float32)

    def mask_of(path, w):
        if not _is_kernel(path):
            return jnp.ones_like(w, jnp.float32)
        flat = jnp.abs(w).reshape(-1)
        rank = jnp.argsort(jnp.argsort(flat))  # 0 for the smallest |w|
        k = jnp.floor(ratio * flat.size + 1e-4).astype(jnp.int32)
        return (rank >= k).astype(jnp.float32).reshape(w.shape)

    mask = jax.tree_util.tree_map_with_path(mask_of, params["params"])
    pruned = {**params, "params": jax.tree.map(lambda w, m: w * m.astype(w.dtype),
                                               params["params"], mask)}
    return pruned, mask


def quantize(params: Params, mode: str) -> Params:
    """Round-trip every weight tensor through ``"fp16"`` or symmetric per-tensor ``"int8"``.

    int8: ``q = clip(round(w / s), -127, 127)`` with ``s = max|w| / 127``, dequantised to
    float32 as ``q * s``: at most 255 distinct values per tensor.
    """
    if mode not in QUANTIZE_MODES:
        raise ValueError(f"unknown quantisation {mode!r}; expected one of {QUANTIZE_MODES}")

    def fp16(_, w):
        return w.astype(jnp.float16).astype(w.dtype)

    def int8(_, w):
        amax = jnp.max(jnp.abs(w))
        s = jnp.where(amax > 0, amax / 127.0, 1.0)
        return (jnp.clip(jnp.round(w / s), -127, 127) * s).astype(w.dtype)

    return _map_params(fp16 if mode == "fp16" else int8, params)


def weight_noise(params: Params, key: PRNGKeyArray, scale: float | jax.Array) -> Params:
    """Add Gaussian noise of std ``scale * std(w)`` to every tensor ``w``.

    A tensor with zero spread (e.g. a single bias) uses its RMS instead.
    """
    leaves, treedef = jax.tree.flatten(params["params"])
    keys = jax.random.split(key, len(leaves))
    out = []
    for w, k in zip(leaves, keys, strict=True):
        std = jnp.std(w)
        ref = jnp.where(std > 0, std, jnp.sqrt(jnp.mean(w ** 2)))
        out.append(w + scale * ref * jax.random.normal(k, w.shape, w.dtype))
    return {**params, "params": jax.tree.unflatten(treedef, out)}


def _mlp_layers(net: Network, what: str) -> int:
    if not isinstance(net.module, MLP):
        raise NotImplementedError(
            f"{what} supports MLP networks only (layers dense0..denseL); got "
            f"{type(net.module).__name__} ({net.name!r})"
        )
    return len(net.module.features)


def permute_hidden(net: Network, params: Params, key: PRNGKeyArray) -> Params:
    """Randomly permute the units of every hidden layer of an MLP (function-preserving)."""
    n_layers = _mlp_layers(net, "permute_hidden")
    p = dict(params["params"])
    keys = jax.random.split(key, max(n_layers - 1, 1))
    for i in range(n_layers - 1):
        cur, nxt = dict(p[f"dense{i}"]), dict(p[f"dense{i + 1}"])
        perm = jax.random.permutation(keys[i], cur["kernel"].shape[-1])
        cur["kernel"] = cur["kernel"][:, perm]
        cur["bias"] = cur["bias"][perm]
        nxt["kernel"] = nxt["kernel"][perm, :]
        p[f"dense{i}"], p[f"dense{i + 1}"] = cur, nxt
    return {**params, "params": p}


def rescale_relu(net: Network, params: Params, key: PRNGKeyArray, low: float | jax.Array = 0.5,
                 high: float | jax.Array = 2.0) -> Params:
    """Scale each hidden neuron's incoming weights and bias by ``a ~ U(low, high)`` and its
    outgoing weights by ``1 / a``. Function-preserving for ReLU since ``relu(a z) = a relu(z)``.
    """
    n_layers = _mlp_layers(net, "rescale_relu")
    if net.module.activation not in ("relu", "identity"):
        raise ValueError(f"rescale_relu needs a ReLU network, got activation "
                         f"{net.module.activation!r}")
    try:
        lo, hi = float(low), float(high)
        if not 0 < lo <= hi:
            raise ValueError(f"rescale_relu needs 0 < low <= high, got low={low}, high={high}")
    except (TypeError, jax.errors.ConcretizationTypeError):
        pass
    p = dict(params["params"])
    keys = jax.random.split(key, max(n_layers - 1, 1))
    for i in range(n_layers - 1):
        cur, nxt = dict(p[f"dense{i}"]), dict(p[f"dense{i + 1}"])
        width = cur["kernel"].shape[-1]
        a = jax.random.uniform(keys[i], (width,), cur["kernel"].dtype, low, high)
        cur["kernel"] = cur["kernel"] * a[None, :]
        cur["bias"] = cur["bias"] * a
        nxt["kernel"] = nxt["kernel"] / a[:, None]
        p[f"dense{i}"], p[f"dense{i + 1}"] = cur, nxt
    return {**params, "params": p}


def last_layer(net: Network) -> str:
    """The name of the output layer: ``dense{L}`` for MLPs, ``fc`` for the CNNs."""
    if isinstance(net.module, MLP):
        return f"dense{len(net.module.features) - 1}"
    if isinstance(net.module, (ResNet18, SmallCNN)):
        return "fc"
    raise NotImplementedError(f"no known last layer for {type(net.module).__name__}")


def reinit_last_layer(net: Network, params: Params, key: PRNGKeyArray) -> Params:
    """Replace the output layer's params with a fresh init from ``key`` (for RTLL / RTAL)."""
    name = last_layer(net)
    fresh = net.init(key)["params"][name]
    return {**params, "params": {**params["params"], name: fresh}}
