"""Querying suspects on the fingerprint probes.

- A **zoo** (same-architecture params stacked on axis 0) is evaluated on every
  probe in one jitted ``vmap``. The zoo axis is processed in fixed-size chunks
  (one compiled shape; the last chunk is padded), and each chunk is sharded
  over every local device along a ``"zoo"`` mesh axis, so a multi-GPU or TPU
  host splits the work with no code change. Only per-pair statistics ``(n, K)``
  leave the device, never the ``(n, K, P, *out)`` outputs.
- A **black-box** suspect is any callable ``f(x: np.ndarray (B, *in)) ->
  np.ndarray (B, *out)``. It is queried in batches; a call that raises, times
  out, returns the wrong shape or non-finite values is recorded as failed with
  its reason, and the caller goes on with the other suspects.
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import Array, Float

from tafa_jax.nets.network import Network, Params, check_params, forward
from tafa_jax.nets.stacking import over_members, resolve_members, zoo_size
from tafa_jax.verify.score import pair_stats, profile_stats


@functools.cache
def _mesh(n_devices: int) -> Mesh:
    return Mesh(np.asarray(jax.devices()[:n_devices]), ("zoo",))


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def _zoo_stats(net: Network, zoo: Params, probes: jax.Array, owner_y: jax.Array, link: str,
               mode: str):
    k, p = probes.shape[:2]
    flat = probes.reshape((k * p, *probes.shape[2:]))

    def one(params):
        y = forward(net, params, flat).reshape(k, p, -1)
        return pair_stats(y, owner_y, link) if p == 3 else profile_stats(y, owner_y, link)

    return over_members(one, (zoo,), mode)


def _pad(a, extra: int):
    xp = jnp if isinstance(a, jax.Array) else np
    return xp.concatenate([a, xp.repeat(a[:1], extra, axis=0)])


def default_chunk(net: Network, n_queries: int, n_devices: int = 1) -> int:
    """Zoo members per compiled call so one chunk's activations stay cache-sized.

    Measured (``benchmarks/results/summary.md``, chunk sweep): on 2 CPU cores a
    31-100-1 zoo of 1024 verifies about 4.5x faster in chunks of 16-64 than in
    chunks of 256 or more, whose hidden activations no longer fit in cache. The
    budget is about 2M floats of activations per device on a CPU (64 members for
    that MLP at 300 queries) and 256M on an accelerator.
    """
    per_model = n_queries * (sum(n for _, n in net.kink_layout()) + net.output_size)
    budget = (1 << 21) if jax.default_backend() == "cpu" else (1 << 28)
    chunk = max(1, budget // max(per_model, 1))
    chunk = 1 << int(math.floor(math.log2(chunk)))  # a power of two: few compiled shapes
    return int(min(max(chunk, 4), 4096)) * n_devices


def zoo_pair_stats(
    net: Network,
    zoo: Params,
    probes: Float[Array, "K P *in"],
    owner_outputs: Float[Array, "K P *out"],
    *,
    chunk: int | None = None,
    devices: int | None = None,
    link: str = "identity",
    members: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Bend statistic and bend cosine ``(n_models, K)`` for every member of a zoo.

    For profile fingerprints (``P > 3`` probes) the two arrays are the kink
    profile and the relative jumps, each ``(n_models, K, P - 2)``
    (:func:`~tafa_jax.verify.score.profile_stats`).

    Args:
      net: the zoo's architecture; probes must have shape ``(K, P, *net.input_shape)``.
      zoo: params stacked on axis 0 (``n_models`` members).
      probes, owner_outputs: from the fingerprint set.
      chunk: zoo members per compiled call (rounded up to a multiple of the
        device count); bounds memory at ``chunk * K * P`` forward passes. ``None``
        picks a cache-sized chunk (:func:`default_chunk`).
      devices: how many local devices to shard the zoo axis over (default all).
      link: inverse output link (see :class:`~tafa_jax.verify.score.MatchConfig`).
      members: how a chunk's program runs its members: ``"vmap"``, ``"map"``
        (``lax.map``) or ``"auto"`` (:func:`~tafa_jax.nets.member_batching`).
    """
    n = zoo_size(zoo)
    if n == 0:
        raise ValueError("the zoo is empty: expected at least one stacked model")
    check_params(net, zoo, leading=(n,))
    if tuple(probes.shape[2:]) != tuple(net.input_shape):
        raise ValueError(f"the fingerprint probes have input shape {tuple(probes.shape[2:])} "
                         f"but the suspect network {net.name!r} takes {tuple(net.input_shape)}")
    if tuple(owner_outputs.shape[2:]) != tuple(net.output_shape):
        raise ValueError(f"the fingerprint outputs have shape {tuple(owner_outputs.shape[2:])} "
                         f"but the suspect network {net.name!r} outputs {tuple(net.output_shape)}")
    n_dev = devices or jax.local_device_count()
    if chunk is None:
        chunk = default_chunk(net, int(probes.shape[0] * probes.shape[1]), n_dev)
    chunk = max(n_dev, int(math.ceil(min(chunk, n) / n_dev)) * n_dev)
    sharding = NamedSharding(_mesh(n_dev), P("zoo"))
    probes = jnp.asarray(probes, jnp.float32)
    owner_y = jnp.asarray(owner_outputs, jnp.float32).reshape(*owner_outputs.shape[:2], -1)
    bs, cs = [], []
    mode = resolve_members(members, zoo, devices=n_dev)
    for start in range(0, n, chunk):
        # numpy zoos are sliced on the host, device-resident ones on the device
        part = jax.tree.map(lambda a, s=start: a[s:s + chunk], zoo)
        m = zoo_size(part)
        if m < chunk:  # pad with copies of the first member: same compiled shape
            part = jax.tree.map(lambda a, m=m: _pad(a, chunk - m), part)
        part = jax.device_put(part, sharding)
        b, c = _zoo_stats(net, part, probes, owner_y, link, mode)
        bs.append(np.asarray(b)[:m])
        cs.append(np.asarray(c)[:m])
    return np.concatenate(bs), np.concatenate(cs)


class QueryFailure(Exception):
    """A black-box suspect could not be queried; the message is the reason."""


def query_blackbox(
    fn: Callable[[np.ndarray], np.ndarray],
    probes: Float[np.ndarray, "K P *in"],
    output_shape: tuple[int, ...],
    *,
    batch_size: int = 256,
    timeout: float | None = None,
    retries: int = 0,
) -> np.ndarray:
    """Query a callable on every probe; returns outputs ``(K, P, *out)``.

    Raises:
      QueryFailure: the callable raised (after ``retries`` retries), timed out,
        returned the wrong shape, or returned NaN/Inf.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    k, p = probes.shape[:2]
    flat = np.asarray(probes, np.float32).reshape(k * p, *probes.shape[2:])
    outs = []
    for start in range(0, flat.shape[0], batch_size):
        batch = flat[start:start + batch_size]
        y = _call_with_retries(fn, batch, timeout, retries)
        want = (batch.shape[0], *output_shape)
        if tuple(y.shape) != want:
            raise QueryFailure(f"returned shape {tuple(y.shape)} for a batch of "
                               f"{batch.shape[0]} probes; expected {want}")
        if not np.all(np.isfinite(y)):
            raise QueryFailure("returned NaN or Inf outputs")
        outs.append(y.astype(np.float32))
    return np.concatenate(outs).reshape(k, p, *output_shape)


def _call_with_retries(fn, batch, timeout, retries) -> np.ndarray:
    last = ""
    for _ in range(retries + 1):
        try:
            if timeout is None:
                out = fn(batch)
            else:
                pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
                try:
                    out = pool.submit(fn, batch).result(timeout=timeout)
                finally:
                    pool.shutdown(wait=False, cancel_futures=True)
            try:
                return np.asarray(out)
            except Exception as err:
                raise QueryFailure(f"returned something that is not an array: {err}") from err
        except concurrent.futures.TimeoutError:
            last = f"timed out after {timeout} s"
        except QueryFailure:
            raise
        except Exception as err:  # the suspect's own failure: record it, go on
            last = f"raised {type(err).__name__}: {err}"
    raise QueryFailure(last)


def blackbox_pair_stats(
    fn: Callable[[np.ndarray], np.ndarray],
    probes: np.ndarray,
    owner_outputs: np.ndarray,
    link: str = "identity",
    **kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """``(K,)`` bend statistic and cosine for one black-box suspect (may raise QueryFailure)."""
    y = query_blackbox(fn, probes, tuple(owner_outputs.shape[2:]), **kwargs)
    k, p = y.shape[:2]
    y = y.reshape(k, p, -1)
    b, c = (pair_stats(y, owner_outputs.reshape(k, p, -1), link) if p == 3
            else profile_stats(y, owner_outputs.reshape(k, p, -1), link))
    return np.asarray(b), np.asarray(c)
