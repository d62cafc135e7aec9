"""TAFA fingerprint generation: from the owner's network and an input domain alone."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import jax
import numpy as np

from tafa_jax._version import __version__
from tafa_jax.bend import LINKS, default_link, link_saturation
from tafa_jax.data.domains import Domain
from tafa_jax.fingerprint import search as _search
from tafa_jax.fingerprint.fpset import FingerprintSet
from tafa_jax.fingerprint.prune_choice import PRUNE_RATIOS, check_ratios, choose_surviving
from tafa_jax.fingerprint.select import SelectConfig, eligible, layer_of_neurons, select
from tafa_jax.nets.network import Network, Params, check_params
from tafa_jax.nets.stacking import params_digest

if TYPE_CHECKING:  # verify imports this package's fpset: import it where it is used
    from tafa_jax.verify.score import MatchConfig


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    """Everything that decides a fingerprint set, besides the owner, domain and key.

    Attributes:
      n_pairs: K, pairs in the set (split evenly over ``distances``).
      n_candidates: M, candidate lines searched per distance.
      distances: pair distances ``d`` in input units; several give multi-scale pairs.
      grid: G, points per candidate line.
      chunk: lines per compiled call (bounds memory).
      direction: ``"normal"`` or ``"line"`` (see :class:`SearchConfig`).
      base_scale: sampling scale of base points around the domain centre.
      line_length: candidate line length (default ``grid * d``).
      move_binary: allow pairs to move binary coordinates.
      siblings, spread: pairs per fingerprint group on one boundary, and their spacing
        (see :class:`SearchConfig`); ``n_pairs`` counts groups, so a set holds
        ``n_pairs * siblings`` pairs.
      probes: probes per pair (3, or an odd P > 3 for profile lines; see SearchConfig).
      link: inverse output link for bend statistics; ``None`` picks it from the
        owner's head (softmax -> clr, tanh -> atanh, sigmoid -> logit).
      select: the selection rule.
      choose_from: 0, or a pool of that many groups (>= ``n_pairs``, one distance)
        from which the ``n_pairs`` that survive the owner's own magnitude pruning
        at the most ``prune_ratios`` are kept
        (:mod:`~tafa_jax.fingerprint.prune_choice`; needs the matching rule).
      prune_ratios: the pruning ratios tried when ``choose_from`` is set.
    """

    n_pairs: int = 100
    n_candidates: int = 8192
    distances: tuple[float, ...] = (0.1,)
    grid: int = 32
    chunk: int = 1024
    direction: _search.Direction = "normal"
    base_scale: float = 1.0
    line_length: float | None = None
    move_binary: bool = False
    siblings: int = 1
    spread: float = 1.0
    link: str | None = None
    probes: int = 3
    select: SelectConfig = dataclasses.field(default_factory=SelectConfig)
    choose_from: int = 0
    prune_ratios: tuple[float, ...] = PRUNE_RATIOS

    def __post_init__(self) -> None:
        # numpy scalars and arrays become plain ints and floats, so the config stays
        # JSON-able and comparable; anything else is left for generate to refuse
        if isinstance(self.choose_from, np.integer):
            object.__setattr__(self, "choose_from", int(self.choose_from))
        r = self.prune_ratios
        if isinstance(r, (np.ndarray, list)):
            try:
                object.__setattr__(self, "prune_ratios", tuple(float(x) for x in r))
            except (TypeError, ValueError):
                pass

    def search_config(self, distance: float) -> _search.SearchConfig:
        return _search.SearchConfig(distance=float(distance), grid=self.grid,
                                    line_length=self.line_length, direction=self.direction,
                                    base_scale=self.base_scale, move_binary=self.move_binary,
                                    siblings=self.siblings, spread=self.spread,
                                    link=self.link, probes=self.probes)

    def with_groups(self, n: int) -> GenerationConfig:
        """This config for ``n`` groups; a pool (``choose_from``) keeps its size
        relative to the set (rounded up), so the choice stays as selective."""
        pool = self.choose_from and -(-self.choose_from * n // max(self.n_pairs, 1))
        return dataclasses.replace(self, n_pairs=n, choose_from=pool)

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["distances"] = list(self.distances)
        out["prune_ratios"] = list(self.prune_ratios)
        return out


def _validate(net: Network, params: Params, domain: Domain, cfg: GenerationConfig) -> None:
    check_params(net, params)
    if tuple(domain.shape) != tuple(net.input_shape):
        raise ValueError(f"the domain has shape {tuple(domain.shape)} but the network "
                         f"{net.name!r} takes inputs of shape {tuple(net.input_shape)}")
    if cfg.n_pairs < 1 or cfg.n_candidates < 1:
        raise ValueError(f"n_pairs and n_candidates must be >= 1, got {cfg.n_pairs}, "
                         f"{cfg.n_candidates}")
    if not cfg.distances or min(cfg.distances) <= 0:
        raise ValueError(f"pair distances must be positive, got {cfg.distances}")
    if max(cfg.distances) > domain.diameter / 2:
        raise ValueError(f"pair distance {max(cfg.distances)} is too large for the domain "
                         f"{domain.name!r} (diameter {domain.diameter:.3g}); use d <= "
                         f"{domain.diameter / 2:.3g}")
    if cfg.link not in LINKS:
        raise ValueError(f"unknown link {cfg.link!r}; expected one of {LINKS}")
    if cfg.siblings < 1 or cfg.spread <= 0:
        raise ValueError(f"siblings must be >= 1 and spread > 0, got {cfg.siblings}, "
                         f"{cfg.spread}")
    if cfg.grid < 2 or cfg.chunk < 1:
        raise ValueError(f"grid must be >= 2 and chunk >= 1, got {cfg.grid}, {cfg.chunk}")
    layout = net.kink_layout()
    if not layout:
        raise ValueError(f"network {net.name!r} has no ReLU: TAFA needs ReLU-type (piecewise "
                         "affine) non-linearities to find activation boundaries")
    pool = cfg.choose_from
    if isinstance(pool, bool) or not isinstance(pool, (int, np.integer)) or pool < 0:
        raise ValueError(f"choose_from must be an integer >= 0 (0: no choice), got {pool!r}")
    if pool:
        if pool < cfg.n_pairs:
            raise ValueError(f"choose_from={pool} must be >= n_pairs={cfg.n_pairs}: the pool "
                             "the set's groups are chosen from")
        if len(cfg.distances) > 1:
            raise ValueError(f"choose_from needs a single pair distance, got {cfg.distances}")
        check_ratios(cfg.prune_ratios)
    layers = cfg.select.layers
    if layers is not None and max(layers) >= len(layout):
        raise ValueError(f"select.layers={layers} but network {net.name!r} has "
                         f"{len(layout)} ReLU layers (indices 0..{len(layout) - 1}: "
                         f"{[name for name, _ in layout]})")


def generate(
    net: Network,
    params: Params,
    domain: Domain,
    cfg: GenerationConfig,
    key: jax.Array,
    *,
    match: MatchConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FingerprintSet:
    """Generate ``cfg.n_pairs`` fingerprint pairs of the owner ``(net, params)``.

    Args:
      net, params: the owner; ``params`` is one model's variables.
      domain: the input domain the owner knows (no training data is used).
      cfg: generation settings.
      key: PRNG key; the same key gives bit-identical fingerprints.
      match: the rule the fingerprints will be verified with. When given, every
        selected group is first scored on the owner itself, and a group the owner
        fails is replaced by the next eligible one in the selection order
        (``meta["search"][i]["owner_failed"]`` counts them). Without it the groups
        are the selection's first ``n_pairs`` (the owner's own rate may then be
        below 1 on deep networks; docs/method.md). With ``cfg.choose_from`` a
        pool of that many groups is generated first and the ``n_pairs`` that
        survive the owner's magnitude pruning best are kept
        (:func:`~tafa_jax.fingerprint.prune_choice.choose_surviving`,
        ``meta["choice"]``); it needs ``match``.
      progress: optional ``progress(lines_done, lines_total)``.

    Returns:
      A :class:`FingerprintSet` with probes ``(K, P, *in)`` (``P = cfg.probes``).

    Raises:
      ValueError: no ReLU kinks found, ``d`` too large, too few candidates, a
        domain that does not match the network, or a pool (``choose_from``) that
        is smaller than ``n_pairs``, spans several distances or lacks ``match``.
    """
    if cfg.link is None:
        cfg = dataclasses.replace(cfg, link=default_link(net.module))
    _validate(net, params, domain, cfg)
    from tafa_jax.verify.score import MatchConfig  # verify imports this package's fpset

    if match is not None and not isinstance(match, MatchConfig):
        raise ValueError(f"match must be a MatchConfig (the rule the fingerprints will be "
                         f"verified with) or None, got {type(match).__name__}")
    if cfg.choose_from:
        if match is None:
            raise ValueError("choose_from needs the matching rule (match=...): pool groups "
                             "are scored on the owner's pruned copies under it")
        try:
            pool = generate(net, params, domain, dataclasses.replace(
                cfg, n_pairs=cfg.choose_from, choose_from=0), key, match=match,
                progress=progress)
        except ValueError as err:
            raise ValueError(f"{err} (these are the pool's choose_from={cfg.choose_from} "
                             f"groups, from which n_pairs={cfg.n_pairs} are kept: a smaller "
                             "choose_from also helps)") from err
        return choose_surviving(net, params, pool, cfg.n_pairs, match, cfg.prune_ratios,
                                meta={**pool.meta, "config": cfg.to_json()})
    per_d = _split(cfg.n_pairs, len(cfg.distances))
    total = cfg.n_candidates * len(cfg.distances)
    chosen, counts = [], []
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())
    layer_of = layer_of_neurons(net.kink_layout())
    for j, (d, k) in enumerate(zip(cfg.distances, per_d)):
        sub = jax.random.fold_in(key, j)
        done0 = j * cfg.n_candidates
        cb = None if progress is None else (lambda n, o=done0: progress(o + n, total))
        cands = _search.search(net, params, domain, cfg.search_config(d), sub,
                               cfg.n_candidates, chunk=cfg.chunk, progress=cb,
                               keep_probes=False)
        n_flip = int(np.sum(cands.has_flip))
        if n_flip == 0:
            raise ValueError(
                f"the search found no activation-boundary crossing on {cfg.n_candidates} "
                f"lines of network {net.name!r}: TAFA needs ReLU-type non-linearities that "
                "are active somewhere in the domain (is the network affine, GELU or softplus?)")
        # a profile line may cross other boundaries; only the centre kink must be
        # isolated within one probe spacing on either side
        d_clean = d if cfg.probes == 3 else 2 * d / (cfg.probes - 1)
        ok = eligible(cands, d_clean, cfg.select, layer_of)
        n_ok = int(np.sum(ok))
        # every eligible group, best first (select's order does not depend on how
        # many are asked for, so its first k are select(k)'s)
        order = select(cands, n_ok if match is not None else k, d_clean, cfg.select, rng,
                       layer_of)
        scfg = cfg.search_config(d)
        idx, probes, outputs, failed = _owner_checked(net, params, scfg, cands, order, k,
                                                      match)
        counts.append({"distance": float(d), "lines": cfg.n_candidates, "with_flip": n_flip,
                       "valid": int(np.sum(cands.valid)), "eligible": n_ok,
                       "newton_ok": int(np.sum(cands.newton_ok & cands.has_flip)),
                       **({} if match is None else {"owner_failed": failed})})
        if idx.size < k:
            where = "" if cfg.select.layers is None else (
                f", {n_ok} eligible in ReLU layers {cfg.select.layers}")
            owner = "" if match is None else (
                f", the owner itself failed {failed} of the eligible groups under the "
                "matching rule")
            raise ValueError(
                f"only {idx.size} usable pairs were found at d={d} (of {cfg.n_candidates} "
                f"lines, {n_flip} crossed a boundary, {int(np.sum(cands.valid))} gave a clean "
                f"pair{where}{owner}) but {k} were asked for: raise n_candidates (e.g. to "
                f"{_suggest(cfg.n_candidates, k, max(idx.size, 1))}) or lower d or n_pairs")
        chosen.append((d, cands, idx, probes, outputs))

    def cat(field, dtype=None):
        parts = [np.asarray(getattr(c, field))[i] for _, c, i, _, _ in chosen]
        out = np.concatenate(parts).reshape(-1, *parts[0].shape[2:])  # groups -> pairs
        return out if dtype is None else out.astype(dtype)

    t = cfg.siblings
    probes = np.concatenate([p for *_, p, _ in chosen]).reshape(-1, cfg.probes, net.input_size)
    outputs = np.concatenate([o for *_, o in chosen]).reshape(-1, cfg.probes, net.output_size)
    n_groups = sum(i.size for _, _, i, _, _ in chosen)
    fps = FingerprintSet(
        probes=probes.reshape(probes.shape[0], probes.shape[1], *net.input_shape),
        owner_outputs=outputs.reshape(outputs.shape[0], outputs.shape[1], *net.output_shape),
        owner_bend=cat("bend", np.float32),
        distance=np.concatenate([np.full(i.size * t, d, np.float32) for d, _, i, _, _ in chosen]),
        neuron=np.repeat(np.concatenate([c.neuron[i] for _, c, i, _, _ in chosen]),
                         t).astype(np.int32),
        margin=cat("margin", np.float32),
        steepness=cat("steepness", np.float32),
        group=np.repeat(np.arange(n_groups, dtype=np.int32), t),
        meta={
            "tafa_jax_version": __version__,
            "network": {"name": net.name, "input_shape": list(net.input_shape),
                        "output_shape": list(net.output_shape)},
            "owner_digest": params_digest(params),
            "domain": domain.to_json(),
            "config": cfg.to_json(),
            "key": np.asarray(jax.random.key_data(key)).ravel().tolist(),
            "search": counts,
            "link": cfg.link,
            "link_saturation": link_saturation(cfg.link),
            "owner_checked_with": None if match is None else dataclasses.asdict(match),
        },
    )
    if progress is not None:
        progress(total, total)
    return fps



def _owner_checked(
    net: Network, params: Params, scfg: _search.SearchConfig, cands: _search.Candidates,
    order: np.ndarray, k: int, match: MatchConfig | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The first ``k`` groups of ``order`` that the owner matches under ``match`` (the
    first ``k`` when ``match`` is None), their probes ``(k, T, P, D)`` and owner
    outputs ``(k, T, P, O)``, and how many groups the owner failed on the way.

    Candidates are scored ``k`` at a time (the last batch padded), so the probe
    program compiles for one shape, and the usual case (the owner matches all of
    the first ``k``) costs what computing the chosen groups' outputs costs anyway.
    """
    from tafa_jax.verify.verify import owner_group_matches  # verify imports fpset

    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    have, failed, start = 0, 0, 0
    while have < k and start < order.size:
        batch = order[start:start + k]
        padded = np.concatenate([batch, np.repeat(batch[-1:], k - batch.size)])
        p, y = _search.probe_outputs(net, params, scfg, cands.center[padded],
                                     cands.direction[padded])
        p, y = p[:batch.size], y[:batch.size]
        if match is None:
            ok = np.ones(batch.size, bool)
        else:
            link = match.link or scfg.link
            ok = owner_group_matches(y, match, link) > 0.5
        seen = batch.size  # groups looked at: up to the last one still needed
        if ok.sum() >= k - have:
            seen = int(np.flatnonzero(np.cumsum(ok) == k - have)[0]) + 1
        ok[seen:] = False
        failed += seen - int(ok.sum())
        kept.append((batch[ok], p[ok], y[ok]))
        have += int(ok.sum())
        start += batch.size
    if not kept:  # nothing eligible, or nothing asked for
        t = np.shape(cands.center)[1]
        return (np.zeros(0, np.int64), np.zeros((0, t, scfg.probes, net.input_size), np.float32),
                np.zeros((0, t, scfg.probes, net.output_size), np.float32), failed)
    return (np.concatenate([i for i, _, _ in kept]), np.concatenate([p for _, p, _ in kept]),
            np.concatenate([y for _, _, y in kept]), failed)


def _split(n: int, parts: int) -> Sequence[int]:
    base = [n // parts] * parts
    for i in range(n % parts):
        base[i] += 1
    return base


def _suggest(m: int, want: int, got: int) -> int:
    return int(2 ** np.ceil(np.log2(max(m * 2, m * want / got * 1.5))))
