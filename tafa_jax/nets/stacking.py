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


def member_batching(zoo: Params, *, backend: str | None = None, devices: int = 1) -> str:
    """How one compiled program should run a stacked zoo's members: ``"map"`` for
    two or more convolutional members on one CPU device, ``"vmap"`` otherwise.

    ``vmap`` over members whose convolution kernels differ turns every convolution
    into a grouped one, which XLA's CPU backend runs slowly. Measured on 2 CPU cores
    (docs/method.md, "Convolutional zoos"): 4 skin
    ResNet-18s (28 px) trained 1.7x faster one after another (``lax.map``) than
    vmapped, and ran 4100 queries 1.5x faster; 16 warfarin MLPs trained in the same
    time either way (0.99x). Accelerators and a zoo axis sharded over several devices keep
    ``vmap`` (not measured against ``map``).

    Args:
      zoo: stacked params, every leaf ``(N, ...)``; a convolution is a ``kernel``
        leaf of rank 4 or more per member.
      backend: the JAX backend (default: JAX's default one).
      devices: devices the zoo axis is sharded over.
    """
    if zoo_size(zoo) == 1:  # nothing to batch: a plain convolution either way
        return "vmap"
    backend = jax.default_backend() if backend is None else backend
    conv = any(str(getattr(path[-1], "key", "")) == "kernel" and leaf.ndim >= 5
               for path, leaf in jax.tree_util.tree_flatten_with_path(zoo)[0])
    return "map" if conv and backend == "cpu" and devices == 1 else "vmap"


def resolve_members(members: str, zoo: Params, *, devices: int = 1) -> str:
    """A public ``members=`` argument checked and resolved: ``"vmap"`` or ``"map"`` as
    given, ``"auto"`` by :func:`member_batching`."""
    if members not in ("auto", "vmap", "map"):
        raise ValueError(f"members must be 'auto', 'vmap' or 'map', got {members!r}")
    return member_batching(zoo, devices=devices) if members == "auto" else members


def over_members(fn, args: tuple, mode: str):
    """``fn(*member_args)`` for every member of stacked ``args`` (each leaf ``(N, ...)``,
    ``None`` allowed), outputs stacked on axis 0: ``vmap`` or ``lax.map`` (``mode``,
    from :func:`member_batching`). Call inside ``jit`` with ``mode`` static."""
    if mode == "map":
        return jax.lax.map(lambda a: fn(*a), args)
    if mode != "vmap":
        raise ValueError(f"mode must be 'vmap' or 'map', got {mode!r}")
    return jax.vmap(fn)(*args)


def zoo_apply(
    net: Network, zoo: Params, x: Float[Array, "batch *in"]
) -> Float[Array, "models batch *out"]:
    """Every model of a stacked zoo on the same batch, in one compiled program
    (:func:`member_batching` chooses ``vmap`` or ``lax.map``)."""
    check_input(net, x)
    check_params(net, zoo, leading=(zoo_size(zoo),))
    return _zoo_apply(net, member_batching(zoo), zoo, x)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _zoo_apply(net: Network, mode: str, zoo: Params, x: jax.Array) -> jax.Array:
    return over_members(lambda p: forward(net, p, x), (zoo,), mode)


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
