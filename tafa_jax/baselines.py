"""Fingerprinting baselines, scored on the same suspects as TAFA.

Three published ideas, re-implemented so that they query exactly the suspects
TAFA verifies: zoo groups (same-architecture params stacked on axis 0,
evaluated by one jitted ``vmap`` per chunk, chunks sharded over the local
devices) and black boxes (``fn(x: numpy (B, *in)) -> numpy (B, *out)``).
Every baseline returns one score in ``[0, 1]`` per suspect, higher meaning
"more likely pirated", so the metrics of :mod:`tafa_jax.verify.metrics` apply.

- :class:`RandomQuery` (task-agnostic, no data): ``Q`` random inputs from the
  input domain; the score is how close the suspect's outputs are to the owner's,
  ``exp(-RMSE / s)`` (see :func:`output_similarity`).
- :class:`IPGuard` (classification only, no data): ``Q`` points pushed close to
  the owner's decision boundary from random domain starts; the score is the
  suspect's label agreement with the owner on them (Cao et al., 2021).
- :class:`MetaV` (task-agnostic, learned): ``Q`` fingerprint inputs and a small
  MLP verifier trained jointly on a *training* zoo of pirated and independent
  models; the score is the verifier's probability (Pan et al., 2022). Needs a
  training zoo, kept disjoint from the suspects it scores (:func:`split_zoo`).

Each baseline is a frozen dataclass holding its queries ``(Q, *in)`` and the
arrays its score needs; the scoring is one pure function of a suspect's outputs
``(Q, *out)``, shared by the zoo and the black-box paths, so both give the same
score for the same model. A suspect whose outputs are NaN or infinite scores 0.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from tafa_jax.data.domains import Domain
from tafa_jax.nets.network import Network, Params, check_params, forward
from tafa_jax.nets.stacking import zoo_size
from tafa_jax.verify.query import query_blackbox
from tafa_jax.verify.verify import BlackBoxSuspect, ZooSuspects

__all__ = [
    "Baseline",
    "IPGuard",
    "MetaV",
    "RandomQuery",
    "boundary_examples",
    "check_disjoint",
    "output_similarity",
    "random_queries",
    "score_suspects",
    "split_zoo",
]

ScoreFn = Callable[[jax.Array, Any], jax.Array]


@runtime_checkable
class Baseline(Protocol):
    """What the comparison needs from a fitted baseline.

    Attributes:
      name: short name for tables.
      data_needed: what the owner needs besides the model and its input domain
        (``"none"`` or ``"training zoo"``).
      fit_seconds: wall-clock time of the fit (query generation, training).
    """

    name: ClassVar[str]
    data_needed: ClassVar[str]
    fit_seconds: float

    @property
    def queries_per_suspect(self) -> int: ...

    def score_zoo(self, net: Network, params: Params, *,
                  ids: Sequence[str] | None = None) -> np.ndarray: ...

    def score_blackbox(self, fn: Callable[[np.ndarray], np.ndarray]) -> float: ...


# -- the generic query-and-score machinery ---------------------------------------------
@functools.cache
def _mesh(n_devices: int) -> Mesh:
    return Mesh(np.asarray(jax.devices()[:n_devices]), ("zoo",))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _zoo_scores(score_fn: ScoreFn, net: Network, zoo: Params, x: jax.Array,
                aux: Any) -> jax.Array:
    return jax.vmap(lambda p: score_fn(forward(net, p, x), aux))(zoo)


@functools.partial(jax.jit, static_argnums=0)
def _output_score(score_fn: ScoreFn, y: jax.Array, aux: Any) -> jax.Array:
    return score_fn(y, aux)


def _finite_or_zero(y: jax.Array, s: jax.Array) -> jax.Array:
    """``s`` where every output is finite and ``s`` is, else 0 (a broken suspect)."""
    ok = jnp.all(jnp.isfinite(y)) & jnp.isfinite(s)
    return jnp.where(ok, jnp.clip(s, 0.0, 1.0), 0.0)


@dataclasses.dataclass(frozen=True, eq=False)
class _QueryBaseline:
    """A baseline that queries every suspect on fixed inputs and scores its outputs.

    Attributes:
      queries: ``(Q, *in)`` float32, the inputs every suspect is queried on.
      output_shape: the owner's output shape ``out``; suspects must match it.
      aux: the arrays the score needs (a pytree), passed to :meth:`_score`.
      fit_seconds: wall-clock time of the fit.
      meta: JSON-able facts about the fit.
    """

    name: ClassVar[str] = "query baseline"
    data_needed: ClassVar[str] = "none"

    queries: np.ndarray
    output_shape: tuple[int, ...]
    aux: Any
    fit_seconds: float = 0.0
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @staticmethod
    def _score(y: jax.Array, aux: Any) -> jax.Array:  # (Q, *out) -> () in [0, 1]
        raise NotImplementedError

    @property
    def queries_per_suspect(self) -> int:
        return int(self.queries.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.queries.shape[1:])

    def _check_ids(self, ids: Sequence[str] | None) -> None:
        """Hook: MetaV refuses suspects it was trained on."""

    def score_outputs(self, y: np.ndarray) -> float:
        """The score of a suspect whose outputs on :attr:`queries` are ``y (Q, *out)``."""
        y = np.asarray(y, np.float32)
        want = (self.queries_per_suspect, *self.output_shape)
        if tuple(y.shape) != want:
            raise ValueError(f"{self.name}: expected suspect outputs of shape {want}, got "
                             f"{tuple(y.shape)}")
        return float(_output_score(type(self)._score, jnp.asarray(y), self.aux))

    def score_zoo(self, net: Network, params: Params, *, ids: Sequence[str] | None = None,
                  chunk: int = 256, devices: int | None = None) -> np.ndarray:
        """Scores ``(n,)`` of every model of a stacked zoo group.

        The zoo axis is cut into chunks of ``chunk`` members (the last one padded,
        so one compiled shape), each chunk sharded over ``devices`` local devices
        (default all) and evaluated by one jitted ``vmap``; only the ``(n,)``
        scores leave the device.

        Args:
          net: the group's architecture; it must take ``(Q, *in)`` inputs and
            return the owner's output shape.
          params: params stacked on axis 0 (``n`` members).
          ids: the members' ids, when known (MetaV checks them against its
            training zoo).
        """
        n = zoo_size(params)
        check_params(net, params, leading=(n,))
        if ids is not None and len(ids) != n:
            raise ValueError(f"{self.name}: {len(ids)} ids for {n} stacked models")
        self._check_ids(ids)
        if tuple(net.input_shape) != self.input_shape:
            raise ValueError(f"{self.name}: the queries have input shape {self.input_shape} but "
                             f"the suspect network {net.name!r} takes {tuple(net.input_shape)}")
        if tuple(net.output_shape) != tuple(self.output_shape):
            raise ValueError(f"{self.name}: the owner outputs {tuple(self.output_shape)} but the "
                             f"suspect network {net.name!r} outputs {tuple(net.output_shape)}")
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        n_dev = devices or jax.local_device_count()
        chunk = max(n_dev, int(math.ceil(min(chunk, n) / n_dev)) * n_dev)
        sharding = NamedSharding(_mesh(n_dev), P("zoo"))
        x = jnp.asarray(self.queries, jnp.float32)
        out = []
        for start in range(0, n, chunk):
            part = jax.tree.map(lambda a, s=start: np.asarray(a[s:s + chunk]), params)
            m = zoo_size(part)
            if m < chunk:
                part = jax.tree.map(
                    lambda a, m=m: np.concatenate([a, np.repeat(a[:1], chunk - m, 0)]), part)
            part = jax.device_put(part, sharding)
            out.append(np.asarray(_zoo_scores(type(self)._score, net, part, x, self.aux))[:m])
        return np.concatenate(out).astype(np.float64)

    def score_blackbox(self, fn: Callable[[np.ndarray], np.ndarray], *, batch_size: int = 256,
                       timeout: float | None = None, retries: int = 0) -> float:
        """The score of a suspect we can only query, ``fn(x (B, *in)) -> (B, *out)``.

        Raises:
          tafa_jax.verify.QueryFailure: the callable raised, timed out, or returned
            the wrong shape or non-finite values.
        """
        y = query_blackbox(fn, self.queries[:, None], tuple(self.output_shape),
                           batch_size=batch_size, timeout=timeout, retries=retries)
        return self.score_outputs(y[:, 0])


def score_suspects(baseline: _QueryBaseline,
                   suspects: Sequence[ZooSuspects | BlackBoxSuspect]) -> dict[str, float]:
    """``{id: score}`` for zoo groups and black boxes alike (ids must be unique)."""
    out: dict[str, float] = {}
    for s in suspects:
        if isinstance(s, ZooSuspects):
            scores = baseline.score_zoo(s.net, s.params, ids=list(s.ids))
            new = dict(zip(s.ids, scores.tolist(), strict=True))
        elif isinstance(s, BlackBoxSuspect):
            baseline._check_ids([s.id])
            new = {s.id: baseline.score_blackbox(s.fn)}
        else:
            raise ValueError(f"unknown suspect type {type(s).__name__}; expected ZooSuspects "
                             "or BlackBoxSuspect")
        dup = sorted(set(new) & set(out))
        if dup:
            raise ValueError(f"suspect ids must be unique; repeated: {dup[:5]}")
        out.update(new)
    return out


def _owner_outputs(net: Network, params: Params, x: jax.Array) -> jax.Array:
    check_params(net, params)
    return forward(net, params, jnp.asarray(x, jnp.float32))


def _check_domain(net: Network, domain: Domain) -> None:
    if tuple(domain.shape) != tuple(net.input_shape):
        raise ValueError(f"the domain {domain.name!r} has shape {tuple(domain.shape)} but the "
                         f"owner network {net.name!r} takes {tuple(net.input_shape)}")


def _check_n(n: int, what: str = "n_queries") -> int:
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"{what} must be a positive integer, got {n!r}")
    return int(n)


# -- 1. random-query output similarity ---------------------------------------------------
def random_queries(domain: Domain, key: jax.Array, n: int) -> np.ndarray:
    """``n`` inputs drawn from the input domain (:meth:`Domain.sample`): ``(n, *in)`` float32."""
    return np.asarray(domain.sample(key, _check_n(n)), np.float32)


def output_similarity(y: jax.Array, owner_y: jax.Array, scale: jax.Array,
                      rtol: float = 1e-4) -> jax.Array:
    """How close a suspect's outputs are to the owner's, in ``[0, 1]``.

    ``score = exp(-max(RMSE - rtol * s, 0) / s)`` with ``RMSE`` the root mean
    squared difference over every query and output coordinate and ``s`` the
    standard deviation of the owner's outputs over the queries (so the score
    does not depend on the output units: an RMSE of one owner standard
    deviation scores ``e^-1 = 0.37``). An RMSE within ``rtol * s`` is float32
    round-off between two evaluations of the same model and counts as zero, so
    the owner scores exactly 1 whichever path queries it.

    Args:
      y: ``(Q, *out)`` the suspect's outputs.
      owner_y: ``(Q, *out)`` the owner's outputs on the same queries.
      scale: ``()`` the owner's output standard deviation ``s > 0``.
    """
    rmse = jnp.sqrt(jnp.mean(jnp.square(y.astype(jnp.float32) - owner_y)))
    return jnp.exp(-jnp.maximum(rmse - rtol * scale, 0.0) / scale)


@dataclasses.dataclass(frozen=True, eq=False)
class RandomQuery(_QueryBaseline):
    """Output similarity on random domain queries; ``aux = (owner outputs (Q, *out), s)``."""

    name: ClassVar[str] = "random-query similarity"
    data_needed: ClassVar[str] = "none"

    @staticmethod
    def _score(y, aux):
        owner_y, scale = aux
        return _finite_or_zero(y, output_similarity(y, owner_y, scale))

    @classmethod
    def fit(cls, owner_net: Network, owner_params: Params, domain: Domain, key: jax.Array,
            n_queries: int) -> RandomQuery:
        """Draw ``n_queries`` domain inputs and record the owner's outputs on them.

        Raises:
          ValueError: the domain does not match the owner's input shape, or the
            owner's outputs are constant on the queries (``s = 0``: no scale).
        """
        t0 = time.perf_counter()
        _check_domain(owner_net, domain)
        x = random_queries(domain, key, n_queries)
        owner_y = np.asarray(_owner_outputs(owner_net, owner_params, x), np.float32)
        scale = float(np.std(owner_y))
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError("the owner's outputs are constant (or not finite) on the random "
                             "queries: output similarity has no scale; use more queries or "
                             "another domain")
        return cls(x, tuple(owner_net.output_shape),
                   (jnp.asarray(owner_y), jnp.asarray(scale, jnp.float32)),
                   time.perf_counter() - t0, {"scale": scale, "n_queries": int(n_queries)})


# -- 2. IPGuard-style boundary examples ---------------------------------------------------
def _check_classifier(net: Network) -> int:
    out = tuple(net.output_shape)
    if len(out) != 1 or out[0] < 2:
        raise ValueError(f"IPGuard needs a classifier with logits of shape (classes >= 2,); the "
                         f"owner network {net.name!r} outputs {out} (regression and generative "
                         "owners have no decision boundary to probe: use RandomQuery or MetaV)")
    return out[0]


def _top2_gap(logits: jax.Array) -> jax.Array:
    top = jax.lax.top_k(logits, 2)[0]
    return top[..., 0] - top[..., 1]


def _width(domain: Domain) -> jax.Array:
    """Per-coordinate length scale: ``high - low`` for a box, ``scale`` for a Gaussian."""
    if domain.kind == "box":
        w = np.broadcast_to(np.asarray(domain.high) - np.asarray(domain.low), domain.shape)
    else:
        w = np.broadcast_to(np.asarray(domain.scale), domain.shape)
    return jnp.asarray(w, jnp.float32)


def _free(domain: Domain) -> jax.Array:
    """1 for coordinates the optimisers may move, 0 for binary ones (kept at 0/1 values)."""
    if domain.binary_mask is None:
        return jnp.ones(domain.shape, jnp.float32)
    return jnp.asarray(~np.asarray(domain.binary_mask), jnp.float32)


def boundary_examples(owner_net: Network, owner_params: Params, domain: Domain, key: jax.Array,
                      n: int, *, steps: int = 200, lr: float = 0.01,
                      margin: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """IPGuard-style points near the owner's decision boundary, from domain-random starts.

    Each point starts at a :meth:`Domain.sample` draw and takes ``steps`` Adam
    steps (step size ``lr`` times the domain's per-coordinate width, binary
    coordinates fixed, projected back into the domain) on
    ``(top1 - top2 - margin)**2``, the squared distance of its top-2 logit gap
    from ``margin``: the point ends close to the boundary between its two most
    likely classes, still labelled with a clear ``margin`` so that float
    round-off cannot flip the owner's label. A point whose gap ends below
    ``margin / 10`` is replaced by its starting point. No training data is used.

    Args:
      owner_net, owner_params: the owner, a classifier with logits ``(C,)``, ``C >= 2``.
      domain: its input domain.
      key: PRNG key for the starts.
      n: number of points.

    Returns:
      ``(x (n, *in) float32, gap (n,) float32)``: the points and the owner's top-2
      logit gap on each.

    Raises:
      ValueError: the owner does not output class logits, or bad arguments.
    """
    _check_classifier(owner_net)
    _check_domain(owner_net, domain)
    n = _check_n(n, "n")
    steps = _check_n(steps, "steps")
    if not (lr > 0 and margin > 0):
        raise ValueError(f"lr and margin must be > 0, got lr={lr}, margin={margin}")
    check_params(owner_net, owner_params)
    x0 = domain.sample(key, n)
    x, gap, gap0 = _push_to_boundary(owner_net, owner_params, domain, x0, steps, lr, margin)
    keep = gap >= margin / 10
    x = jnp.where(keep.reshape(-1, *([1] * len(domain.shape))), x, x0)
    return np.asarray(x, np.float32), np.asarray(jnp.where(keep, gap, gap0), np.float32)


@functools.partial(jax.jit, static_argnums=(0, 2, 4))
def _push_to_boundary(net, params, domain, x0, steps, lr, margin):
    opt = optax.adam(1.0)
    width, free = _width(domain), _free(domain)

    def loss(x):
        return jnp.sum(jnp.square(_top2_gap(forward(net, params, x)) - margin))

    def step(carry, _):
        x, state = carry
        g = jax.grad(loss)(x)
        upd, state = opt.update(g, state)
        x = domain.clip(x + lr * width * free * upd)
        return (x, state), None

    (x, _), _ = jax.lax.scan(step, (x0, opt.init(x0)), None, length=steps)
    return x, _top2_gap(forward(net, params, x)), _top2_gap(forward(net, params, x0))


@dataclasses.dataclass(frozen=True, eq=False)
class IPGuard(_QueryBaseline):
    """Label agreement on boundary examples; ``aux`` = the owner's labels ``(Q,)`` int32."""

    name: ClassVar[str] = "IPGuard"
    data_needed: ClassVar[str] = "none"

    @staticmethod
    def _score(y, aux):
        agree = jnp.mean((jnp.argmax(y, axis=-1) == aux).astype(jnp.float32))
        return _finite_or_zero(y, agree)

    @classmethod
    def fit(cls, owner_net: Network, owner_params: Params, domain: Domain, key: jax.Array,
            n_queries: int, **kwargs: Any) -> IPGuard:
        """Boundary examples (:func:`boundary_examples`, ``kwargs`` passed on) and the
        owner's labels on them.

        Raises:
          ValueError: the owner's output is not a vector of >= 2 class logits.
        """
        t0 = time.perf_counter()
        _check_classifier(owner_net)
        x, gap = boundary_examples(owner_net, owner_params, domain, key, n_queries, **kwargs)
        labels = np.asarray(jnp.argmax(_owner_outputs(owner_net, owner_params, x), -1), np.int32)
        return cls(x, tuple(owner_net.output_shape), jnp.asarray(labels),
                   time.perf_counter() - t0,
                   {"median_gap": float(np.median(gap)), "n_queries": int(n_queries),
                    "classes_hit": int(np.unique(labels).size)})


# -- 3. MetaV-style meta-verifier ------------------------------------------------------
def check_disjoint(train_ids: Sequence[str], test_ids: Sequence[str]) -> None:
    """Raise ValueError if any suspect id is both in the training and the test zoo."""
    both = sorted(set(train_ids) & set(test_ids))
    if both:
        raise ValueError(f"the training and test zoos overlap in {len(both)} suspect(s), e.g. "
                         f"{both[:5]}: a learned verifier must be evaluated on models it was "
                         "not trained on")


def split_zoo(ids: Sequence[str], labels: Sequence[int], fraction: float = 0.5,
              seed: int = 0) -> tuple[list[str], list[str]]:
    """A random stratified split of suspect ids into a training and a test zoo.

    Within each label, ``round(fraction * n_label)`` ids go to training (at least
    one, and at least one left for testing when the label has two or more).

    Args:
      ids: ``(n,)`` unique suspect ids.
      labels: ``(n,)`` 1 (pirated) or 0 (independent), aligned with ``ids``.
      fraction: the training share, in ``(0, 1)``.
      seed: numpy seed of the permutation.

    Returns:
      ``(train_ids, test_ids)``, disjoint, each in the order of ``ids``.

    Raises:
      ValueError: repeated ids, misaligned or non-binary labels, bad fraction.
    """
    ids = [str(i) for i in ids]
    labels = [int(v) for v in labels]
    if len(ids) != len(labels):
        raise ValueError(f"{len(ids)} ids but {len(labels)} labels")
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"suspect ids must be unique; repeated: {dup[:5]}")
    if set(labels) - {0, 1}:
        raise ValueError(f"labels must be 0 or 1, got {sorted(set(labels) - {0, 1})}")
    if not (0.0 < fraction < 1.0):
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    rng = np.random.default_rng(seed)
    train: set[str] = set()
    for lab in (0, 1):
        members = [i for i, v in zip(ids, labels, strict=True) if v == lab]
        if not members:
            continue
        k = int(round(fraction * len(members)))
        k = min(max(k, 1), len(members) - 1) if len(members) > 1 else 1
        train.update(np.asarray(members)[rng.permutation(len(members))[:k]].tolist())
    tr = [i for i in ids if i in train]
    te = [i for i in ids if i not in train]
    check_disjoint(tr, te)
    return tr, te


def _verifier_init(key: jax.Array, n_in: int, hidden: int) -> dict[str, jax.Array]:
    k1, k2 = jax.random.split(key)
    return {"w1": jax.random.normal(k1, (n_in, hidden)) * np.sqrt(2.0 / n_in),
            "b1": jnp.zeros((hidden,)),
            "w2": jax.random.normal(k2, (hidden, 1)) * np.sqrt(1.0 / hidden),
            "b2": jnp.zeros((1,))}


def _verifier_logit(v: Mapping[str, jax.Array], y: jax.Array, mu: jax.Array,
                    sd: jax.Array) -> jax.Array:
    """The verifier's logit for flattened outputs ``y (..., Q * prod(out))`` -> ``(...)``."""
    h = jax.nn.relu(((y - mu) / sd) @ v["w1"] + v["b1"])
    return (h @ v["w2"] + v["b2"])[..., 0]


@dataclasses.dataclass(frozen=True, eq=False)
class MetaV(_QueryBaseline):
    """A learned verifier; ``aux = (verifier params, mu, sd)`` (output standardisation).

    Attributes (besides the query baseline's):
      train_ids: the zoo ids it was trained on; scoring any of them raises.
    """

    name: ClassVar[str] = "MetaV"
    data_needed: ClassVar[str] = "training zoo"

    train_ids: frozenset[str] = frozenset()

    @staticmethod
    def _score(y, aux):
        v, mu, sd = aux
        return _finite_or_zero(y, jax.nn.sigmoid(_verifier_logit(v, y.reshape(-1), mu, sd)))

    def _check_ids(self, ids: Sequence[str] | None) -> None:
        if ids is not None:
            check_disjoint(sorted(self.train_ids), list(ids))

    @classmethod
    def fit(cls, owner_net: Network, owner_params: Params, domain: Domain, key: jax.Array,
            n_queries: int, train_suspects: Sequence[ZooSuspects], labels: Mapping[str, int],
            *, hidden: int = 64, steps: int = 1000, lr: float = 1e-3, lr_inputs: float = 3e-3,
            l2: float = 1e-4, include_owner: bool = True) -> MetaV:
        """Jointly optimise ``Q`` fingerprint inputs and an MLP verifier on a training zoo.

        The inputs start as :meth:`Domain.sample` draws. Each of ``steps`` full-batch
        Adam steps evaluates every training suspect on the inputs (one ``vmap`` per
        architecture group, suspects' params fixed), feeds the concatenated
        outputs ``(Q * prod(out),)``, standardised by the owner's output mean and
        std on the initial inputs, to the verifier ``Q*out -> hidden -> 1``, and
        takes the class-balanced binary cross-entropy (plus ``l2`` on the
        verifier's kernels). Gradients flow to the verifier (step ``lr``) and to
        the inputs (step ``lr_inputs`` times the domain width; binary coordinates
        fixed; projected back into the domain). The owner is one of the training
        positives when ``include_owner``.

        Args:
          train_suspects: the training zoo, grouped by architecture.
          labels: ``{id: 1 pirated | 0 independent}`` for every training suspect.

        Raises:
          ValueError: a training suspect without a 0/1 label, repeated ids, a
            training zoo without positives or negatives, shape mismatches.
        """
        t0 = time.perf_counter()
        _check_domain(owner_net, domain)
        q = _check_n(n_queries)
        steps = _check_n(steps, "steps")
        hidden = _check_n(hidden, "hidden")
        groups: list[tuple[Network, Params, np.ndarray]] = []
        ids: list[str] = []
        for s in train_suspects:
            if not isinstance(s, ZooSuspects):
                raise ValueError("MetaV trains on zoo suspects (ZooSuspects) whose outputs it can "
                                 f"differentiate through; got {type(s).__name__}")
            if (tuple(s.net.input_shape), tuple(s.net.output_shape)) != (
                    tuple(owner_net.input_shape), tuple(owner_net.output_shape)):
                raise ValueError(f"training suspects {s.net.name!r} do not have the owner's input "
                                 "and output shapes")
            missing = [i for i in s.ids if i not in labels]
            if missing:
                raise ValueError(f"no label for training suspects {missing[:5]}")
            lab = np.asarray([int(labels[i]) for i in s.ids], np.float32)
            if set(lab.tolist()) - {0.0, 1.0}:
                raise ValueError("labels must be 0 or 1")
            groups.append((s.net, s.params, lab))
            ids.extend(s.ids)
        if len(set(ids)) != len(ids):
            raise ValueError("training suspect ids must be unique")
        if include_owner:
            check_params(owner_net, owner_params)
            groups.append((owner_net, jax.tree.map(lambda a: jnp.asarray(a)[None], owner_params),
                           np.ones(1, np.float32)))
        all_lab = np.concatenate([g[2] for g in groups]) if groups else np.zeros(0)
        n_pos, n_neg = int(all_lab.sum()), int((1 - all_lab).sum())
        if n_pos == 0 or n_neg == 0:
            raise ValueError(f"MetaV needs positives and negatives in its training zoo; got "
                             f"{n_pos} positives, {n_neg} negatives")
        k_x, k_v = jax.random.split(key)
        x0 = domain.sample(k_x, q)
        owner_y0 = _owner_outputs(owner_net, owner_params, x0)
        mu = jnp.mean(owner_y0)
        sd = jnp.maximum(jnp.std(owner_y0), 1e-6)
        n_out = math.prod(owner_net.output_shape)
        v0 = _verifier_init(k_v, q * n_out, hidden)
        weights = [jnp.asarray(np.where(g[2] > 0, 0.5 / n_pos, 0.5 / n_neg), jnp.float32)
                   for g in groups]
        nets = tuple(g[0] for g in groups)
        x, v, losses = _train_metav(nets, tuple(g[1] for g in groups),
                                    tuple(jnp.asarray(g[2]) for g in groups), tuple(weights),
                                    domain, x0, v0, mu, sd, steps, lr, lr_inputs, l2)
        x = np.asarray(jax.block_until_ready(x), np.float32)
        losses = np.asarray(losses)
        return cls(x, tuple(owner_net.output_shape), (v, mu, sd), time.perf_counter() - t0,
                   {"n_queries": q, "steps": steps, "hidden": hidden, "n_train_pos": n_pos,
                    "n_train_neg": n_neg, "owner_in_training": bool(include_owner),
                    "loss_first": float(losses[0]), "loss_last": float(losses[-1])},
                   frozenset(ids))


@functools.partial(jax.jit, static_argnums=(0, 4, 9))
def _train_metav(nets, params, labels, weights, domain, x0, v0, mu, sd, steps, lr, lr_inputs,
                 l2):
    opt_v, opt_x = optax.adam(lr), optax.adam(1.0)
    width, free = _width(domain), _free(domain)

    def loss_fn(x, v):
        total = 0.0
        for net, p, lab, w in zip(nets, params, labels, weights, strict=True):
            y = jax.vmap(lambda pp, net=net: forward(net, pp, x))(p)  # (n, Q, *out)
            logit = _verifier_logit(v, y.reshape(y.shape[0], -1), mu, sd)
            total = total + jnp.sum(w * optax.sigmoid_binary_cross_entropy(logit, lab))
        return total + 0.5 * l2 * (jnp.sum(v["w1"] ** 2) + jnp.sum(v["w2"] ** 2))

    def step(carry, _):
        x, v, sx, sv = carry
        loss, (gx, gv) = jax.value_and_grad(loss_fn, argnums=(0, 1))(x, v)
        uv, sv = opt_v.update(gv, sv)
        ux, sx = opt_x.update(gx, sx)
        v = optax.apply_updates(v, uv)
        x = domain.clip(x + lr_inputs * width * free * ux)
        return (x, v, sx, sv), loss

    (x, v, _, _), losses = jax.lax.scan(step, (x0, v0, opt_x.init(x0), opt_v.init(v0)), None,
                                        length=steps)
    return x, v, losses
