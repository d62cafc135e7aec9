"""Batched activation-pattern search: many candidate lines at once, one compiled chunk.

For each candidate line ``x(t) = x0 + t*u`` the search

1. evaluates the owner's activation pattern at ``grid`` points of ``t`` (one
   batched forward pass over ``chunk * grid`` points);
2. picks an interval where exactly one ReLU flips (at random among such
   intervals, with the line's own key);
3. locates the crossing exactly: inside a region the pre-activation ``z_k`` is
   affine in ``t``, so ``t* = t_i - z_k(t_i) / z_k'(t_i)`` from one forward pass
   and one ``jvp``. The result is checked with the patterns just either side of
   ``t*``; lines that fail the check fall back to bisection on ``sign z_k``
   (only when some line of the chunk needs it);
4. builds the pair's probes ``c + s * (d/2) * v`` for offsets ``s`` (default
   ``-1, 0, 1``), where ``c = x(t*)`` and ``v`` is either ``u`` or the unit
   normal of neuron ``k``'s boundary at ``c`` (``grad_x z_k``, projected on the
   coordinates that may move), and checks that the owner's pattern differs
   between the two ends in exactly neuron ``k`` and that every probe lies in the
   domain.

Line ``i`` draws its randomness from ``fold_in(key, i)``, so results do not
depend on the chunk size. All shapes inside a chunk are static: one compile per
(network, domain, config, chunk) and no recompiles across chunks.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from tafa_jax.bend import bend_statistic, inverse_link, profile_statistic
from tafa_jax.data.domains import Domain
from tafa_jax.nets.network import Network, Params, forward_full, forward_with_preacts

Direction = Literal["normal", "line"]


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Static settings of the search (hashable; part of the compile key).

    Attributes:
      distance: pair distance ``d`` in input units (``||x+ - x-||``).
      grid: points ``G`` evaluated along each line.
      line_length: length of each candidate line; ``None`` means ``grid * distance``
        (grid spacing = ``d``, so one-flip intervals are about as clean as a pair needs).
      direction: ``"normal"`` (pair across the boundary, along ``grad_x z_k``) or
        ``"line"`` (pair along the candidate line).
      probes: P, probes per pair, equally spaced over the segment of length ``d``
        (odd; 3 is ``x-, m, x+``). With ``P > 3`` the pair is a *profile* line: it
        may cross other owner boundaries, and the verifier locates the suspect's
        kinks along it (see :func:`tafa_jax.bend.profile_statistic`).
      base_scale: base points are ``center + base_scale * (sample - center)``.
      bisection_steps: steps of the fallback bisection.
      move_binary: let pairs move along binary coordinates (they then leave ``{low, high}``).
      siblings: T, pairs per fingerprint group: the crossing ``c`` and ``T - 1`` more
        points on the same neuron's boundary, ``spread`` away along random tangents.
        A group matches only when all its pairs bend, so a suspect must have a
        boundary *parallel* to the owner's there, not just any kink nearby.
      spread: distance of the siblings from ``c`` (input units).
      link: inverse output link for the owner's bend statistic (:mod:`tafa_jax.bend`).
    """

    distance: float
    grid: int = 32
    line_length: float | None = None
    direction: Direction = "normal"
    probes: int = 3
    base_scale: float = 1.0
    bisection_steps: int = 30
    move_binary: bool = False
    siblings: int = 1
    spread: float = 1.0
    link: str = "identity"

    @property
    def length(self) -> float:
        return float(self.line_length if self.line_length is not None
                     else self.grid * self.distance)


class Candidates(NamedTuple):
    """What the search returns for each of ``C`` lines (host numpy after ``search``).

    ``valid`` marks lines that yield a clean pair; the other fields are
    meaningful only where it is set.
    """

    valid: Bool[Array, " C"]
    has_flip: Bool[Array, " C"]  # some grid interval had exactly one flip
    newton_ok: Bool[Array, " C"]  # the jvp/Newton crossing passed its check
    neuron: Int[Array, " C"]  # index of the flipping ReLU in the pre-activation vector
    t_star: Float[Array, " C"]  # crossing position along the line
    center: Float[Array, "C T D"]  # c = x(t*) and its siblings, flattened
    direction: Float[Array, "C T D"]  # unit v, flattened
    probes: Float[Array, "C T P D"]  # c + s (d/2) v, flattened
    outputs: Float[Array, "C T P O"]  # owner's outputs on the probes, flattened
    margin: Float[Array, "C T"]  # distance along v from c to the nearest other boundary
    steepness: Float[Array, "C T"]  # ||grad_x z_k(c)||
    bend: Float[Array, "C T"]  # owner's 3-probe bend statistic


def domain_key(domain: Domain) -> str:
    """A hashable, canonical description of a domain (for compile caching)."""
    return json.dumps(domain.to_json(), sort_keys=True)


@functools.lru_cache(maxsize=64)
def _chunk_program(net: Network, dkey: str, cfg: SearchConfig, chunk: int):
    domain = Domain.from_json(json.loads(dkey))
    if cfg.move_binary and domain.binary_mask is not None:
        domain = dataclasses.replace(domain, binary_mask=None)
    dim = int(np.prod(net.input_shape))
    movable = np.ones(dim, np.float32)
    if domain.binary_mask is not None:
        movable = (~domain.binary_mask.reshape(-1)).astype(np.float32)
    movable = jnp.asarray(movable)
    center = jnp.broadcast_to(jnp.asarray(domain.center, jnp.float32), net.input_shape).reshape(-1)
    G, P = cfg.grid, cfg.probes
    if P < 3 or P % 2 == 0:
        raise ValueError(f"probes per pair must be odd and >= 3, got {P}")
    ts = jnp.linspace(-cfg.length / 2, cfg.length / 2, G, dtype=jnp.float32)
    offsets = jnp.linspace(-1.0, 1.0, P, dtype=jnp.float32)
    half = cfg.distance / 2
    shape = net.input_shape

    def as_batch(flat):  # (..., D) -> (n, *in)
        return flat.reshape((-1, *shape))

    def run(params: Params, key: jax.Array, idx: jax.Array) -> Candidates:
        def preacts(x_flat):  # flattened points (n, D) -> pre-activations (n, neurons)
            return forward_with_preacts(net, params, as_batch(x_flat))[1]

        keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(idx)
        split = jax.vmap(lambda kk: jax.random.split(kk, 3))(keys)  # (C, 3) keys
        k_x0, k_u, k_pick = split[:, 0], split[:, 1], split[:, 2]
        x0 = jax.vmap(lambda k: domain.sample(k, 1)[0].reshape(-1))(k_x0)
        x0 = center + cfg.base_scale * (x0 - center)
        u = jax.vmap(lambda k: jax.random.normal(k, (dim,)))(k_u) * movable
        u = u / (jnp.linalg.norm(u, axis=-1, keepdims=True) + 1e-12)

        # 1. patterns on the grid
        pts = x0[:, None, :] + ts[None, :, None] * u[:, None, :]  # (C, G, D)
        _, z, pat = forward_full(net, params, as_batch(pts))
        n_relu = z.shape[-1]
        z = z.reshape(chunk, G, n_relu)
        pat = pat.reshape(chunk, G, -1)
        flips = pat[:, 1:] != pat[:, :-1]  # (C, G-1, K)
        one = jnp.sum(flips, axis=-1) == 1
        one &= jnp.any(flips[..., :n_relu], axis=-1)  # the flip is a ReLU, not a pool switch
        has_flip = jnp.any(one, axis=-1)
        # 2. pick one single-flip interval per line, at random
        gumbel = jax.vmap(lambda k: jax.random.gumbel(k, (G - 1,)))(k_pick)
        i = jnp.argmax(jnp.where(one, gumbel, -jnp.inf), axis=-1)  # (C,)
        rows = jnp.arange(chunk)
        k = jnp.argmax(flips[rows, i, :n_relu], axis=-1)  # (C,)
        t_lo, t_hi = ts[i], ts[i + 1]
        # 3. exact crossing: one jvp along u at t_lo, then a Newton step
        x_lo = x0 + t_lo[:, None] * u
        z_lo, dz_lo = jax.jvp(preacts, (x_lo,), (u,))
        zk, dzk = z_lo[rows, k], dz_lo[rows, k]
        t_new = t_lo - zk / jnp.where(dzk == 0, 1.0, dzk)
        gap = (t_hi - t_lo) * 1e-3
        inside = (dzk != 0) & (t_new > t_lo) & (t_new < t_hi)
        t_new = jnp.clip(t_new, t_lo + gap, t_hi - gap)
        pat_lo, pat_hi = pat[rows, i], pat[rows, i + 1]
        side = jnp.concatenate([x0 + (t_new - gap)[:, None] * u, x0 + (t_new + gap)[:, None] * u])
        _, _, pat_side = forward_full(net, params, as_batch(side))
        newton_ok = inside & jnp.all(pat_side[:chunk] == pat_lo, -1) & jnp.all(
            pat_side[chunk:] == pat_hi, -1)

        def bisect(_):
            sign_lo = zk > 0

            def body(_, bounds):
                a, b = bounds
                m = (a + b) / 2
                zm = preacts(x0 + m[:, None] * u)[rows, k]
                left = (zm > 0) == sign_lo
                return jnp.where(left, m, a), jnp.where(left, b, m)

            a, b = jax.lax.fori_loop(0, cfg.bisection_steps, body, (t_lo, t_hi))
            return jnp.where(newton_ok | ~has_flip, t_new, (a + b) / 2)

        need = jnp.any(has_flip & ~newton_ok)
        t_star = jax.lax.cond(need, bisect, lambda _: t_new, None)
        c = x0 + t_star[:, None] * u
        # 4. the pair's direction: boundary normal or the line itself
        z_c, vjp = jax.vjp(preacts, c)
        (grad,) = vjp(jax.nn.one_hot(k, n_relu, dtype=z_c.dtype))  # grad_x z_k: no ambiguity
        if cfg.direction == "normal":
            v = grad * movable
            v = v / (jnp.linalg.norm(v, axis=-1, keepdims=True) + 1e-12)
        else:
            v = u
        # 5. siblings: T-1 more centres on the same boundary, `spread` away along random
        #    tangents, pulled back onto the boundary by one Newton step along v
        T = cfg.siblings
        kt = jnp.repeat(k, T)
        vt = jnp.repeat(v, T, axis=0)  # (C*T, D)
        if T > 1:
            k_sib = jax.vmap(lambda q: jax.random.fold_in(q, 1))(k_pick)
            r = jax.vmap(lambda q: jax.random.normal(q, (T - 1, dim)))(k_sib) * movable
            r = r - jnp.sum(r * v[:, None], -1, keepdims=True) * v[:, None]
            r = r / (jnp.linalg.norm(r, axis=-1, keepdims=True) + 1e-12)
            cs = jnp.concatenate([c[:, None], c[:, None] + cfg.spread * r], axis=1)
            cs = cs.reshape(chunk * T, dim)
            z_t, dz_t = jax.jvp(preacts, (cs,), (vt,))
            rt = jnp.arange(chunk * T)
            step = -z_t[rt, kt] / jnp.where(dz_t[rt, kt] == 0, 1.0, dz_t[rt, kt])
            cs = cs + step[:, None] * vt
            z_c, vjp = jax.vjp(preacts, cs)
            (grad,) = vjp(jax.nn.one_hot(kt, n_relu, dtype=z_c.dtype))
            if cfg.direction == "normal":
                vt = grad * movable
                vt = vt / (jnp.linalg.norm(vt, axis=-1, keepdims=True) + 1e-12)
        else:
            cs = c
        n = chunk * T
        rows_t = jnp.arange(n)
        steep = jnp.linalg.norm(grad, axis=-1)
        # margin: distance along +-v to the nearest other boundary, each side linearised
        # just off the boundary (on it, downstream directional derivatives are ambiguous)
        eps = 1e-3 * half
        sides = jnp.concatenate([cs + eps * vt, cs - eps * vt])
        dirs = jnp.concatenate([vt, -vt])
        z_s, dz_s = jax.jvp(preacts, (sides,), (dirs,))
        s_cross = -z_s / jnp.where(dz_s == 0, 1e-30, dz_s)
        s_cross = jnp.where((s_cross > 0) & (dz_s != 0), s_cross, jnp.inf)
        own = jnp.concatenate([jax.nn.one_hot(kt, n_relu, dtype=bool)] * 2)
        s_cross = jnp.where(own, jnp.inf, s_cross)
        margin = jnp.minimum(*jnp.split(jnp.min(s_cross, axis=-1), 2)) + eps
        probes = cs[:, None, :] + offsets[None, :, None] * half * vt[:, None, :]  # (n, P, D)
        y, _, pat_p = forward_full(net, params, as_batch(probes))
        y = y.reshape(n, P, -1)
        pat_p = pat_p.reshape(n, P, -1)
        if P == 3:  # a pair: exactly one owner neuron, k, flips between its ends
            ends = pat_p[:, 0] != pat_p[:, 2]
            clean = (jnp.sum(ends, -1) == 1) & ends[rows_t, kt]
            owner_bend = bend_statistic(inverse_link(y, cfg.link))
        else:  # a profile line: neuron k flips across the centre probe's neighbours
            m = P // 2
            around = pat_p[:, m - 1] != pat_p[:, m + 1]
            clean = (jnp.sum(around, -1) == 1) & around[rows_t, kt]
            owner_bend = profile_statistic(inverse_link(y, cfg.link))[:, m - 1]
        in_domain = jnp.all(domain.contains(probes.reshape(n, P, *shape)), axis=-1)
        ok = clean & in_domain & jnp.all(jnp.isfinite(y), axis=(-1, -2))
        valid = has_flip & jnp.all(ok.reshape(chunk, T), axis=1)

        def per_group(a):
            return a.reshape(chunk, T, *a.shape[1:])

        return Candidates(valid, has_flip, newton_ok, k, t_star, per_group(cs), per_group(vt),
                          per_group(probes), per_group(y), per_group(margin), per_group(steep),
                          per_group(owner_bend))

    return jax.jit(run)


def search(
    net: Network,
    params: Params,
    domain: Domain,
    cfg: SearchConfig,
    key: jax.Array,
    n_lines: int,
    *,
    chunk: int = 1024,
    start: int = 0,
    progress=None,
) -> Candidates:
    """Search ``n_lines`` candidate lines in chunks; returns host numpy ``Candidates``.

    Lines are numbered ``start .. start + n_lines - 1``; line ``i`` uses
    ``fold_in(key, i)``, so the result is independent of ``chunk``. The last
    chunk is padded to the same shape (no recompilation) and trimmed.

    Args:
      net, params: the owner (one model, not a zoo).
      domain: the input domain; ``domain.shape`` must equal ``net.input_shape``.
      cfg: static search settings.
      key: PRNG key.
      n_lines: number of candidate lines ``M``.
      chunk: lines per compiled call; bounds memory (about ``chunk * grid`` forward passes).
      progress: optional callable ``progress(lines_done)``.
    """
    program = _chunk_program(net, domain_key(domain), cfg, int(chunk))
    parts = []
    done = 0
    while done < n_lines:
        idx = np.arange(start + done, start + done + chunk, dtype=np.uint32)
        out = program(params, key, jnp.asarray(idx))
        take = min(chunk, n_lines - done)
        parts.append(jax.tree.map(lambda a, take=take: np.asarray(a)[:take], out))
        done += take
        if progress is not None:
            progress(done)
    return Candidates(*[np.concatenate(xs) for xs in zip(*parts)])


def compile_count(net: Network, domain: Domain, cfg: SearchConfig, chunk: int) -> int:
    """How many times this chunk program has compiled (for tests and benchmarks)."""
    return _chunk_program(net, domain_key(domain), cfg, int(chunk))._cache_size()
