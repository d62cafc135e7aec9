"""A zoo is params stacked on axis 0: build, evaluate, slice, and digest them."""

from __future__ import annotations

import functools
import hashlib
import json

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from tafa_jax.nets.network import Network, Params, check_input, check_params, forward


def stack_init(net: Network, key: PRNGKeyArray, n: int) -> Params:
    """``n`` fresh models stacked on axis 0, by vmapping ``init`` over split keys."""
    if n <= 0:
        raise ValueError(f"a zoo needs at least one model, got n={n}")
    return _stack_init(net, jax.random.split(key, n))


@functools.partial(jax.jit, static_argnums=0)
def _stack_init(net: Network, keys: jax.Array) -> Params:
    return jax.vmap(net.init)(keys)


def stack(params_list: list[Params]) -> Params:
    """Stack same-architecture params into one zoo pytree (axis 0)."""
    if not params_list:
        raise ValueError("cannot stack an empty list of params")
    return jax.tree.map(lambda *xs: jnp.stack(xs), *params_list)


def unstack(zoo: Params) -> list[Params]:
    """The inverse of :func:`stack`."""
    n = zoo_size(zoo)
    return [jax.tree.map(lambda a, i=i: a[i], zoo) for i in range(n)]


def zoo_size(zoo: Params) -> int:
    leaves = jax.tree.leaves(zoo)
    if not leaves:
        raise ValueError("empty params pytree")
    return int(leaves[0].shape[0])


def zoo_apply(
    net: Network, zoo: Params, x: Float[Array, "batch *in"]
) -> Float[Array, "models batch *out"]:
    """Every model of a stacked zoo on the same batch: one ``jit(vmap(apply))``."""
    check_input(net, x)
    check_params(net, zoo, leading=(zoo_size(zoo),))
    return _zoo_apply(net, zoo, x)


@functools.partial(jax.jit, static_argnums=0)
def _zoo_apply(net: Network, zoo: Params, x: jax.Array) -> jax.Array:
    return jax.vmap(lambda p: forward(net, p, x))(zoo)


def params_digest(params: Params) -> str:
    """A stable SHA-256 of a params pytree: its structure, leaf dtypes, shapes and bytes."""
    h = hashlib.sha256()
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    h.update(str(treedef).encode())
    for path, leaf in flat:
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(json.dumps([jax.tree_util.keystr(path), str(a.dtype), list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()
