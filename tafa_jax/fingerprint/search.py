"""Batched activation-pattern search: many candidate lines at once, one compiled chunk.

For each candidate line ``x(t) = x0 + t*u`` the search

1. evaluates the owner's activation pattern at ``grid`` points of ``t`` (one
   batched forward pass over ``chunk * grid`` points; the first linear layer is
   affine along the line, so it runs on two points per line, see
   :func:`tafa_jax.nets.network.forward_full_on_lines`);
2. picks an interval where exactly one ReLU flips (uniformly among such
   intervals, with the line's own key);
3. locates the crossing exactly: inside a region the pre-activation ``z_k`` is
   affine in ``t``, so ``t* = t_i - z_k(t_i) / z_k'(t_i)`` from one forward pass
   and one ``jvp``. The result is checked at ``x(t*)`` itself (``z_k`` is ~0 there
   and no other ReLU changed side); lines that fail the check fall back to
   bisection on ``sign z_k`` (only when some line of the chunk needs it);
4. builds the pair's probes ``c + s * (d/2) * v`` for offsets ``s`` (default
   ``-1, 0, 1``), where ``c = x(t*)`` and ``v`` is either ``u`` or the unit
   normal of neuron ``k``'s boundary at ``c`` (``grad_x z_k``, projected on the
   coordinates that may move), and checks that the owner's pattern differs
   between the two ends in exactly neuron ``k`` and that every probe lies in the
   domain.
5. For profile lines (``P > 3``) the caller does not keep (``keep_probes=False``),
   the search runs in two stages. The chunk program evaluates only the three probes around
   the crossing, which decide the cleanness check and the kink. A few lines
   are clean at the centre on every sibling (warfarin's rule: about 200 of
   16384). For those alone, a second program evaluates all ``P`` probes: the
   owner's bend statistic, which is normalised over the whole line, and the
   domain and finiteness checks of the far probes. The result is that of one
   stage up to float32 rounding (the two programs batch the forward passes
   differently, so a decision exactly at a threshold could differ): the same
   ``valid`` and ``bend`` on valid lines in every case measured. Warfarin's
   rule (16384 lines of 20 x 41 probes) ran 5.1 times faster on two CPU cores
   (``benchmarks/staged_search.py``).

Line ``i`` draws its randomness from ``fold_in(key, i)``, so results do not
depend on the chunk size. All shapes inside a chunk are static: one compile per
(network, domain, config, chunk), plus in a staged search one of the second
stage's program per batch size (``chunk // 8`` lines; none when no line is
valid at the centre), and no recompiles across chunks.
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

from tafa_jax.bend import bend_statistic, inverse_link, profile_statistic, second_differences
from tafa_jax.data.domains import Domain
from tafa_jax.nets.network import (
    Network,
    Params,
    forward_full,
    forward_full_on_lines,
    forward_with_preacts,
)

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
    probes: Float[Array, "C T P D"] | None  # c + s (d/2) v, flattened (see keep_probes)
    outputs: Float[Array, "C T P O"] | None  # owner's outputs on the probes, flattened
    margin: Float[Array, "C T"]  # distance along v from c to the nearest other boundary
    steepness: Float[Array, "C T"]  # ||grad_x z_k(c)||
    bend: Float[Array, "C T"]  # owner's bend statistic (NaN off valid lines if staged)
    kink: Float[Array, "C T"]  # size of the owner's slope jump across the boundary along v


def domain_key(domain: Domain) -> str:
    """A hashable, canonical description of a domain (for compile caching)."""
    return json.dumps(domain.to_json(), sort_keys=True)


def _line_probes(cs: jax.Array, vt: jax.Array, offsets: jax.Array, half) -> jax.Array:
    """Probes ``c + s * (d/2) * v`` ``(n, Q, D)`` of lines with centres and unit
    directions ``(n, D)``, at offsets ``s`` ``(Q,)``: one formula for every program,
    so the programs agree bit for bit on the probes."""
    return cs[:, None, :] + offsets[None, :, None] * half * vt[:, None, :]


def _probes_ok(domain: Domain, probes: jax.Array, y: jax.Array,
               shape: tuple[int, ...]) -> jax.Array:
    """``(n,)``: every probe ``(n, Q, D)`` of a line in the domain, every output
    ``(n, Q, O)`` finite."""
    n, q = probes.shape[:2]
    return (jnp.all(domain.contains(probes.reshape(n, q, *shape)), axis=-1)
            & jnp.all(jnp.isfinite(y), axis=(-1, -2)))


def _search_domain(dkey: str, cfg: SearchConfig) -> Domain:
    domain = Domain.from_json(json.loads(dkey))
    if cfg.move_binary and domain.binary_mask is not None:
        domain = dataclasses.replace(domain, binary_mask=None)
    return domain


@functools.lru_cache(maxsize=64)
def _chunk_program(net: Network, dkey: str, cfg: SearchConfig, chunk: int,
                   centre_only: bool = False):
    """The search of one chunk of lines (module doc). With ``centre_only`` (profile
    lines only) just the three probes around the crossing are evaluated: ``valid``
    then checks them alone and ``bend`` is NaN; :func:`_profile_program` completes
    the lines that are valid at the centre."""
    domain = _search_domain(dkey, cfg)
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

        # 1. patterns on the grid (the first linear layer on 2 points per line, see
        #    forward_full_on_lines)
        _, z, pat = forward_full_on_lines(net, params, x0, u, ts)
        n_relu = z.shape[-1]
        pat = pat.reshape(chunk, G, -1)
        flips = pat[:, 1:] != pat[:, :-1]  # (C, G-1, K)
        one = jnp.sum(flips[..., :n_relu], axis=-1, dtype=jnp.int32) == 1
        if pat.shape[-1] > n_relu:  # ... and no max-pool switch changes
            one &= ~jnp.any(flips[..., n_relu:], axis=-1)
        n_one = jnp.sum(one, axis=-1)
        has_flip = n_one > 0
        # 2. pick one single-flip interval per line, uniformly: the r-th of the n_one
        r = jnp.floor(jax.vmap(jax.random.uniform)(k_pick) * n_one).astype(jnp.int32)
        i = jnp.argmax(jnp.cumsum(one, axis=-1) > r[:, None], axis=-1)  # (C,)
        rows = jnp.arange(chunk)
        k = jnp.argmax(pat[rows, i, :n_relu] != pat[rows, i + 1, :n_relu], axis=-1)  # (C,)
        onehot_k = jax.nn.one_hot(k, n_relu, dtype=jnp.float32)
        t_lo, t_hi = ts[i], ts[i + 1]
        # 3. exact crossing: one jvp along u at t_lo, then a Newton step. Inside one
        #    region z_k is affine in t, so the step is exact; it is accepted when it
        #    lands in the interval (1 % slack), |z_k| there is below 1 % of z_k's change
        #    over the interval or float32's noise floor (64 eps times the mean |z|: a deep
        #    net's pre-activations carry ~1e-6 of rounding), and every other ReLU is still
        #    on its side. The check is the forward pass the pair needs at c anyway, and
        #    needs no tiny offsets around t* (which float32 cannot resolve on short lines
        #    in high dimension).
        x_lo = x0 + t_lo[:, None] * u
        z_lo, dz_lo = jax.jvp(preacts, (x_lo,), (u,))
        zk, dzk = z_lo[rows, k], dz_lo[rows, k]
        t_new = t_lo - zk / jnp.where(dzk == 0, 1.0, dzk)
        slack = 1e-2 * (t_hi - t_lo)
        inside = (dzk != 0) & (t_new > t_lo - slack) & (t_new < t_hi + slack)

        def at(t):  # centre c = x(t), all pre-activations there, grad_x z_k(c)
            c = x0 + t[:, None] * u
            z_c, vjp = jax.vjp(preacts, c)
            (g,) = vjp(onehot_k.astype(z_c.dtype))  # grad_x z_k: no ambiguity
            return c, z_c, g

        c_new, z_new, g_new = at(t_new)
        noise = 64 * jnp.finfo(jnp.float32).eps * jnp.mean(jnp.abs(z_new), axis=-1)
        tol = jnp.maximum(1e-2 * jnp.abs(dzk) * (t_hi - t_lo), noise)
        others = (z_new > 0) == (pat[rows, i, :n_relu] > 0)
        newton_ok = inside & (jnp.abs(z_new[rows, k]) <= tol) & jnp.all(
            others | (onehot_k > 0), axis=-1)

        def bisect(_):
            sign_lo = zk > 0

            def body(_, bounds):
                a, b = bounds
                m = (a + b) / 2
                zm = preacts(x0 + m[:, None] * u)[rows, k]
                left = (zm > 0) == sign_lo
                return jnp.where(left, m, a), jnp.where(left, b, m)

            a, b = jax.lax.fori_loop(0, cfg.bisection_steps, body, (t_lo, t_hi))
            t = jnp.where(newton_ok | ~has_flip, t_new, (a + b) / 2)
            c, _, g = at(t)
            return t, c, g

        need = jnp.any(has_flip & ~newton_ok)
        t_star, c, grad = jax.lax.cond(need, bisect, lambda _: (t_new, c_new, g_new), None)
        # 4. the pair's direction: boundary normal or the line itself
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
        m = P // 2
        centre = centre_only and P > 3  # probes m-1, m, m+1 only
        offs = offsets[m - 1:m + 2] if centre else offsets
        Q = offs.shape[0]
        probes = _line_probes(cs, vt, offs, half)  # (n, Q, D)
        y, _, pat_p = forward_full(net, params, as_batch(probes))
        y = y.reshape(n, Q, -1)
        pat_p = pat_p.reshape(n, Q, -1)
        mq = Q // 2
        yl = inverse_link(y, cfg.link)
        if P == 3:  # a pair: exactly one owner neuron, k, flips between its ends
            ends = pat_p[:, 0] != pat_p[:, 2]
            clean = (jnp.sum(ends, -1) == 1) & ends[rows_t, kt]
            owner_bend = bend_statistic(yl)
        else:  # a profile line: neuron k flips across the centre probe's neighbours
            around = pat_p[:, mq - 1] != pat_p[:, mq + 1]
            clean = (jnp.sum(around, -1) == 1) & around[rows_t, kt]
            owner_bend = (jnp.full(n, jnp.nan, y.dtype) if centre
                          else profile_statistic(yl)[:, m - 1])
        # the kink's size: the jump of the owner's slope along v at c (the crossing is
        # the centre probe itself, so its second difference holds the whole jump)
        step = 2 * half / (P - 1)
        kink = jnp.linalg.norm(second_differences(yl)[:, mq - 1], axis=-1) / step
        ok = clean & _probes_ok(domain, probes, y, shape)
        valid = has_flip & jnp.all(ok.reshape(chunk, T), axis=1)

        def per_group(a):
            return a.reshape(chunk, T, *a.shape[1:])

        return Candidates(valid, has_flip, newton_ok, k, t_star, per_group(cs), per_group(vt),
                          per_group(probes), per_group(y), per_group(margin), per_group(steep),
                          per_group(owner_bend), per_group(kink))

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
    keep_probes: bool = True,
    staged: bool | None = None,
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
      keep_probes: when False, ``probes`` and ``outputs`` are ``None``: host memory
        is then ``O(M T D)``, not ``O(M T P (D + O))`` (profile lines of an image
        generator: 41 x 784 floats per line); :func:`probe_outputs` recomputes them
        for the lines one keeps. For profile lines it also makes the search staged
        (module doc, step 5): the same ``valid``, and the same ``bend`` wherever
        ``valid`` is set (NaN on lines invalid at the centre).
      staged: ``None`` (the default) stages exactly then; ``False`` runs one stage
        anyway (to compare), ``True`` asks for two and needs profile lines without
        kept probes.
    """
    staged = _staged(cfg, keep_probes, staged)
    dkey = domain_key(domain)
    program = _chunk_program(net, dkey, cfg, int(chunk), staged)
    heavy = {Candidates._fields.index("probes"), Candidates._fields.index("outputs")}
    parts = []
    done = 0
    while done < n_lines:
        idx = np.arange(start + done, start + done + chunk, dtype=np.uint32)
        out = program(params, key, jnp.asarray(idx))
        take = min(chunk, n_lines - done)
        parts.append([None if j in heavy and not keep_probes else np.asarray(a)[:take]
                      for j, a in enumerate(out)])
        done += take
        if progress is not None:
            progress(done)
    cands = Candidates(*[None if xs[0] is None else np.concatenate(xs) for xs in zip(*parts)])
    if staged:
        cands = _complete_profiles(net, params, dkey, cfg, cands, _stage2_batch(chunk))
    return cands


def _stage2_batch(chunk: int) -> int:
    """Lines per call of a staged search's second program: an eighth of a chunk."""
    return max(1, int(chunk) // 8)


def _staged(cfg: SearchConfig, keep_probes: bool, staged: bool | None) -> bool:
    can = not keep_probes and cfg.probes > 3
    if staged and not can:
        raise ValueError(f"a staged search needs profile lines (probes > 3, got "
                         f"{cfg.probes}) and keep_probes=False (got {keep_probes}): its "
                         "first stage evaluates only the probes around the crossing")
    return can if staged is None else bool(staged)


def _complete_profiles(net: Network, params: Params, dkey: str, cfg: SearchConfig,
                       cands: Candidates, batch: int) -> Candidates:
    """Stage 2 of a staged search: every probe of the lines valid at the centre.

    Their ``bend`` (the owner's profile statistic at the crossing, which depends on
    the whole line) is filled in, and ``valid`` is cleared where a probe away from
    the centre leaves the domain or gives a non-finite output; exactly what the
    one-stage search computes, for the few lines that can be valid, ``batch`` lines
    per call of one compiled program.
    """
    which = np.flatnonzero(cands.valid)
    bend = np.full(np.shape(cands.margin), np.nan, np.asarray(cands.kink).dtype)
    valid = np.asarray(cands.valid).copy()
    program = _profile_program(net, dkey, cfg, batch)
    for s in range(0, which.size, batch):
        rows = which[s:s + batch]
        padded = np.concatenate([rows, np.repeat(rows[-1:], batch - rows.size)])
        b, ok = program(params, jnp.asarray(cands.center[padded]),
                        jnp.asarray(cands.direction[padded]))
        bend[rows] = np.asarray(b)[:rows.size]
        valid[rows] &= np.asarray(ok)[:rows.size]
    return cands._replace(bend=bend, valid=valid)


@functools.lru_cache(maxsize=64)
def _profile_program(net: Network, dkey: str, cfg: SearchConfig, batch: int):
    """``(params, centres (B, T, D), directions (B, T, D)) -> (bend (B, T), ok (B,))``
    for ``B = batch`` lines (``batch`` is in the cache key, so :func:`compile_count`
    counts this batch size only): the owner's profile statistic at the crossing of
    each line, and whether every probe of the group lies in the domain with finite
    outputs (the one-stage search's formulas)."""
    domain = _search_domain(dkey, cfg)
    P, m, half = cfg.probes, cfg.probes // 2, cfg.distance / 2
    offsets = jnp.linspace(-1.0, 1.0, P, dtype=jnp.float32)

    def run(params: Params, cs: jax.Array, vt: jax.Array):
        b, t, dim = cs.shape
        cs, vt = cs.reshape(b * t, dim), vt.reshape(b * t, dim)
        probes = _line_probes(cs, vt, offsets, half)
        y, _, _ = forward_full(net, params, probes.reshape((-1, *net.input_shape)))
        y = y.reshape(b * t, P, -1)
        bend = profile_statistic(inverse_link(y, cfg.link))[:, m - 1]
        ok = _probes_ok(domain, probes, y, net.input_shape)
        return bend.reshape(b, t), jnp.all(ok.reshape(b, t), axis=1)

    return jax.jit(run)


def probe_outputs(
    net: Network, params: Params, cfg: SearchConfig,
    center: Float[Array, "n T D"], direction: Float[Array, "n T D"],
) -> tuple[np.ndarray, np.ndarray]:
    """The probes ``(n, T, P, D)`` of lines with these centres and unit directions,
    and the owner's outputs on them ``(n, T, P, O)``: the ``probes`` and ``outputs``
    fields of :func:`search`'s candidates, for the lines one keeps."""
    n, t, dim = np.shape(center)
    probes, y = _probe_program(net, cfg.probes)(  # one program for every distance
        params, jnp.asarray(center, jnp.float32).reshape(n * t, dim),
        jnp.asarray(direction, jnp.float32).reshape(n * t, dim),
        jnp.float32(cfg.distance / 2))
    return (np.asarray(probes).reshape(n, t, cfg.probes, dim),
            np.asarray(y).reshape(n, t, cfg.probes, -1))


@functools.lru_cache(maxsize=64)
def _probe_program(net: Network, n_probes: int):
    offsets = jnp.linspace(-1.0, 1.0, n_probes, dtype=jnp.float32)

    def run(params: Params, cs: jax.Array, vt: jax.Array, half: jax.Array):
        probes = _line_probes(cs, vt, offsets, half)
        y, _, _ = forward_full(net, params, probes.reshape((-1, *net.input_shape)))
        return probes, y

    return jax.jit(run)


def compile_count(net: Network, domain: Domain, cfg: SearchConfig, chunk: int,
                  keep_probes: bool = True, staged: bool | None = None) -> int:
    """How many times the programs of :func:`search` with these settings have
    compiled (for tests and benchmarks): the chunk program, plus the profile
    program when the search is staged."""
    staged = _staged(cfg, keep_probes, staged)
    dkey = domain_key(domain)
    n = _chunk_program(net, dkey, cfg, int(chunk), staged)._cache_size()
    return n + (_profile_program(net, dkey, cfg, _stage2_batch(chunk))._cache_size()
                if staged else 0)
