"""The fingerprinting baselines: owner = perfect match, zoo and black-box paths agree,
MetaV's train/test zoos are disjoint, IPGuard refuses non-classifiers. Tiny models."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tafa_jax.baselines import (
    Baseline,
    IPGuard,
    MetaV,
    RandomQuery,
    boundary_examples,
    check_disjoint,
    score_suspects,
    split_zoo,
)
from tafa_jax.data.domains import Domain
from tafa_jax.nets import mlp, stack, stack_init
from tafa_jax.verify import BlackBoxSuspect, ZooSuspects

DOMAIN = Domain("t", (4,), "box", np.full(4, -1.0, np.float32), np.full(4, 1.0, np.float32))


def _noisy(params, key, scale, n):
    """``n`` copies of ``params`` with Gaussian weight noise, stacked."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, n * len(leaves)).reshape(n, len(leaves))
    return stack([jax.tree.unflatten(tree, [a + scale * jax.random.normal(k, a.shape)
                                            for a, k in zip(leaves, ks, strict=True)])
                  for ks in keys])


def _setup(out):
    net = mlp(4, (8,), out)
    owner = net.init(jax.random.key(0))
    pos = _noisy(owner, jax.random.key(1), 0.02, 3)
    neg = stack_init(net, jax.random.key(2), 3)
    zoo = jax.tree.map(lambda o, p, n: jnp.concatenate([o[None], p, n]), owner, pos, neg)
    return net, owner, zoo


@pytest.fixture(scope="module")
def regression():
    return _setup(1)


@pytest.fixture(scope="module")
def classifier():
    return _setup(3)


def _blackbox(net, params):
    return lambda x: np.asarray(net.apply(params, jnp.asarray(x)))


def _member(zoo, i):
    return jax.tree.map(lambda a: a[i], zoo)


def _paths_agree(b, net, zoo):
    """Zoo scores (owner first) equal the black-box scores of the same models."""
    zs = b.score_zoo(net, zoo)
    assert zs.shape == (7,) and np.all((zs >= 0) & (zs <= 1))
    bb = [b.score_blackbox(_blackbox(net, _member(zoo, i))) for i in (0, 1, 5)]
    np.testing.assert_allclose(bb, zs[[0, 1, 5]], atol=1e-5)
    return zs, bb


def test_random_query_owner_is_exact_match_and_paths_agree(regression):
    net, owner, zoo = regression
    b = RandomQuery.fit(net, owner, DOMAIN, jax.random.key(3), 16)
    assert isinstance(b, Baseline) and b.queries_per_suspect == 16
    assert b.queries.shape == (16, 4) and bool(np.all(DOMAIN.contains(b.queries)))
    zs, bb = _paths_agree(b, net, zoo)
    assert zs[0] == 1.0 and bb[0] == 1.0  # exactly
    assert zs[1:4].min() > zs[4:].max()  # noisy copies closer than fresh models


def test_random_query_checks_shapes(regression, classifier):
    net, owner, _ = regression
    b = RandomQuery.fit(net, owner, DOMAIN, jax.random.key(3), 16)
    cnet, _, czoo = classifier
    with pytest.raises(ValueError, match="outputs"):
        b.score_zoo(cnet, czoo)
    with pytest.raises(ValueError, match="domain"):
        RandomQuery.fit(net, owner, Domain("x", (5,), "box", np.zeros(5, np.float32),
                                           np.ones(5, np.float32)), jax.random.key(0), 4)


def test_ipguard_owner_is_exact_match_and_paths_agree(classifier):
    net, owner, zoo = classifier
    b = IPGuard.fit(net, owner, DOMAIN, jax.random.key(4), 16, steps=50)
    zs, bb = _paths_agree(b, net, zoo)
    assert zs[0] == 1.0 and bb[0] == 1.0
    # the points moved towards the boundary: smaller top-2 gaps than random inputs
    x, gap = boundary_examples(net, owner, DOMAIN, jax.random.key(4), 16, steps=50)
    top = np.sort(np.asarray(net.apply(owner, DOMAIN.sample(jax.random.key(4), 16))), -1)
    assert np.median(gap) < np.median(top[:, -1] - top[:, -2])
    assert bool(np.all(DOMAIN.contains(x)))


def test_ipguard_refuses_scalar_output_owner(regression):
    net, owner, _ = regression
    with pytest.raises(ValueError, match="classifier"):
        IPGuard.fit(net, owner, DOMAIN, jax.random.key(0), 8)


def test_split_zoo_is_disjoint_stratified_and_checked():
    ids = [f"m{i}" for i in range(10)]
    labels = [1] * 4 + [0] * 6
    tr, te = split_zoo(ids, labels, 0.5, seed=1)
    assert not set(tr) & set(te) and sorted(tr + te) == sorted(ids)
    assert sum(labels[ids.index(i)] for i in tr) == 2 and len(tr) == 5
    assert split_zoo(ids, labels, 0.5, seed=1) == (tr, te)
    with pytest.raises(ValueError, match="overlap"):
        check_disjoint(tr, [*te, tr[0]])
    with pytest.raises(ValueError, match="unique"):
        split_zoo([*ids, "m0"], [*labels, 1])
    with pytest.raises(ValueError, match="fraction"):
        split_zoo(ids, labels, 1.0)


def test_metav_owner_positive_disjoint_and_paths_agree(regression):
    net, owner, zoo = regression
    ids = ["owner", "p0", "p1", "p2", "n0", "n1", "n2"]
    labels = {i: int(i[0] == "p") for i in ids[1:]}
    tr, te = split_zoo(ids[1:], [labels[i] for i in ids[1:]], 0.5, seed=0)
    check_disjoint(tr, te)
    idx = np.asarray([ids.index(i) for i in tr])
    train = [ZooSuspects(net, jax.tree.map(lambda a: a[idx], zoo), tr)]
    b = MetaV.fit(net, owner, DOMAIN, jax.random.key(5), 8, train, labels, hidden=16,
                  steps=150, lr=1e-2)
    assert b.data_needed == "training zoo" and b.queries_per_suspect == 8
    assert b.meta["loss_last"] < b.meta["loss_first"]
    assert bool(np.all(DOMAIN.contains(b.queries)))
    zs, bb = _paths_agree(b, net, zoo)
    assert zs[0] > 0.5 and bb[0] > 0.5  # the owner, a training positive
    # scoring a training suspect is refused; the disjoint test half is fine
    tidx = np.asarray([ids.index(i) for i in te])
    test = ZooSuspects(net, jax.tree.map(lambda a: a[tidx], zoo), te)
    scores = score_suspects(b, [test, BlackBoxSuspect("bb-owner", _blackbox(net, owner))])
    assert set(scores) == {*te, "bb-owner"}
    with pytest.raises(ValueError, match="overlap"):
        b.score_zoo(net, train[0].params, ids=tr)
    with pytest.raises(ValueError, match="overlap"):
        score_suspects(b, [BlackBoxSuspect(tr[0], _blackbox(net, owner))])


def test_metav_needs_both_classes(regression):
    net, owner, zoo = regression
    pos = ZooSuspects(net, jax.tree.map(lambda a: a[1:3], zoo), ["p0", "p1"])
    with pytest.raises(ValueError, match="negatives"):
        MetaV.fit(net, owner, DOMAIN, jax.random.key(0), 4, [pos], {"p0": 1, "p1": 1}, steps=2)
    with pytest.raises(ValueError, match="no label"):
        MetaV.fit(net, owner, DOMAIN, jax.random.key(0), 4, [pos], {"p0": 1}, steps=2)
