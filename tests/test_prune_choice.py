"""Choosing fingerprint groups that survive the owner's own magnitude pruning."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tafa_jax import nets
from tafa_jax.data.domains import Domain
from tafa_jax.fingerprint import (
    PRUNE_RATIOS,
    GenerationConfig,
    SelectConfig,
    choose_surviving,
    generate,
    pruning_survival,
)
from tafa_jax.fingerprint.prune_choice import pruned_copies
from tafa_jax.verify import MatchConfig, ZooSuspects, verify
from tafa_jax.zoo.obfuscate import prune_magnitude

SMALL = np.arange(6)  # hidden neurons 0-5 have small weights: magnitude pruning cuts them first


@pytest.fixture(scope="module")
def owner():
    """A 8-12-1 ReLU net whose neurons 0-5 have weights a tenth of the others'."""
    net = nets.mlp(8, (12,), 1)
    params = net.init(jax.random.key(0))
    p = params["params"]
    scale = np.ones(12, np.float32)
    scale[SMALL] = 0.1
    w0 = np.asarray(p["dense0"]["kernel"]) * scale
    b0 = 0.3 * np.asarray(jax.random.normal(jax.random.key(1), (12,)))
    w1 = np.sign(np.asarray(p["dense1"]["kernel"])) * scale[:, None]
    params = {"params": {**p, "dense0": {"kernel": jnp.asarray(w0), "bias": jnp.asarray(b0)},
                         "dense1": {**p["dense1"], "kernel": jnp.asarray(w1)}}}
    return net, params, Domain("box8", (8,), low=-2.0, high=2.0)


MATCH = MatchConfig(mode="absolute", beta=1e-3)  # above float32 noise in the bends
CFG = GenerationConfig(n_pairs=4, n_candidates=512, distances=(0.05,), grid=24, chunk=256,
                       select=SelectConfig("random", max_per_neuron=1, min_bend=2e-3))


def test_pruned_copies_are_prune_magnitude_at_each_ratio(owner):
    _, params, _ = owner
    stack = pruned_copies(params, (0.0, 0.5))
    for i, r in enumerate((0.0, 0.5)):
        want = prune_magnitude(params, r)[0]
        for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(stack), strict=True):
            np.testing.assert_array_equal(np.asarray(b[i]), np.asarray(a))


def test_unpruned_owner_matches_every_owner_checked_group(owner):
    net, params, domain = owner
    pool = generate(net, params, domain, dataclasses.replace(CFG, n_pairs=12),
                    jax.random.key(2), match=MATCH)
    np.testing.assert_array_equal(pruning_survival(net, params, pool, MATCH, (0.0,)),
                                  np.ones(pool.n_groups))


def test_groups_on_neurons_pruning_cuts_first_survive_less_and_are_not_chosen(owner):
    net, params, domain = owner
    pool = generate(net, params, domain, dataclasses.replace(CFG, n_pairs=12),
                    jax.random.key(3), match=MATCH)
    small = np.isin(pool.neuron[::pool.lines_per_group], SMALL)
    assert 0 < small.sum() < pool.n_groups  # the random selection drew both kinds
    surv = pruning_survival(net, params, pool, MATCH)
    assert surv[small].mean() < surv[~small].mean()
    chosen = choose_surviving(net, params, pool, 4, MATCH)
    keep = chosen.meta["choice"]["groups"]
    assert keep == sorted(np.argsort(-surv, kind="stable")[:4].tolist())
    assert not small[keep].any()
    np.testing.assert_array_equal(chosen.probes, pool.subset(np.array(keep)).probes)
    assert chosen.meta["choice"]["pool_groups"] == 12
    np.testing.assert_allclose(chosen.meta["choice"]["survival"], surv, atol=1e-6)


def test_generate_with_a_pool_keeps_the_chosen_groups_and_records_its_config(owner):
    net, params, domain = owner
    cfg = dataclasses.replace(CFG, choose_from=12)
    a = generate(net, params, domain, cfg, jax.random.key(4), match=MATCH)
    pool = generate(net, params, domain, dataclasses.replace(CFG, n_pairs=12),
                    jax.random.key(4), match=MATCH)
    want = choose_surviving(net, params, pool, 4, MATCH)
    np.testing.assert_array_equal(a.probes, want.probes)
    assert a.n_groups == 4 and a.meta["config"]["choose_from"] == 12
    assert a.meta["config"]["prune_ratios"] == list(PRUNE_RATIOS)
    b = generate(net, params, domain, cfg, jax.random.key(4), match=MATCH)
    np.testing.assert_array_equal(a.probes, b.probes)  # deterministic


def test_with_groups_keeps_the_pool_proportional():
    assert CFG.with_groups(7).choose_from == 0
    cfg = dataclasses.replace(CFG, n_pairs=5, choose_from=20)
    assert (cfg.with_groups(2).n_pairs, cfg.with_groups(2).choose_from) == (2, 8)
    assert cfg.with_groups(3).choose_from == 12


@pytest.mark.parametrize("change, needs", [
    ({"choose_from": 3}, "must be >= n_pairs"),
    ({"choose_from": -1}, "integer >= 0"),
    ({"choose_from": 2.5}, "integer >= 0"),
    ({"choose_from": 8, "distances": (0.05, 0.1)}, "single pair distance"),
    ({"choose_from": 8, "prune_ratios": (0.5, 1.0)}, "in \\[0, 1\\)"),
    ({"choose_from": 8, "prune_ratios": ()}, "non-empty"),
    ({"choose_from": 8, "prune_ratios": "0.5"}, "sequence of pruning ratios"),
])
def test_bad_choice_settings_are_refused(owner, change, needs):
    net, params, domain = owner
    with pytest.raises(ValueError, match=needs):
        generate(net, params, domain, dataclasses.replace(CFG, **change), jax.random.key(0),
                 match=MATCH)


def test_a_pool_needs_the_matching_rule(owner):
    net, params, domain = owner
    with pytest.raises(ValueError, match="needs the matching rule"):
        generate(net, params, domain, dataclasses.replace(CFG, choose_from=8),
                 jax.random.key(0))


def test_with_groups_rounds_the_pool_up():
    cfg = dataclasses.replace(CFG, n_pairs=5, choose_from=7)
    assert cfg.with_groups(3).choose_from == 5  # ceil(7 * 3 / 5)
    assert cfg.with_groups(10).choose_from == 14


def test_survival_over_chunks_of_ratios_is_the_whole_zoos_mean(owner):
    net, params, domain = owner
    # well above float32 noise: a bend near a short segment's noise floor can flip with
    # the batch size (the summation order of a batched matmul)
    match = MatchConfig(mode="absolute", beta=1e-2)
    pool = generate(net, params, domain, dataclasses.replace(CFG, n_pairs=8),
                    jax.random.key(5), match=match)
    ratios = tuple(0.3 + 0.035 * i for i in range(17))  # two chunks of 9, one padded
    whole = ZooSuspects(net, pruned_copies(params, ratios), [str(r) for r in ratios])
    want = np.mean([r.groups for r in verify(pool, [whole], match)], axis=0, dtype=np.float64)
    got = pruning_survival(net, params, pool, match, ratios)
    np.testing.assert_array_equal(got, want)
    assert 0 < got.mean() < 1  # some groups survive some ratios: the test can tell


def test_a_chosen_set_saves_loads_and_keeps_its_provenance(owner, tmp_path):
    from tafa_jax.fingerprint import load, save

    net, params, domain = owner
    cfg = GenerationConfig(n_pairs=3, n_candidates=512, distances=(0.05,), grid=24,
                           chunk=256, choose_from=np.int64(8),
                           prune_ratios=np.array([0.4, 0.6], np.float32),
                           select=CFG.select)
    assert cfg.choose_from == 8 and cfg.prune_ratios == (pytest.approx(0.4), pytest.approx(0.6))
    fps = generate(net, params, domain, cfg, jax.random.key(6), match=MATCH)
    assert fps.meta["search"] and fps.meta["owner_checked_with"]["beta"] == MATCH.beta
    save(tmp_path / "fp.npz", fps)
    back = load(tmp_path / "fp.npz")
    assert back.meta["choice"] == fps.meta["choice"] and back.n_groups == 3
    np.testing.assert_array_equal(back.probes, fps.probes)
    # choosing from a loaded pool: the result does not carry the pool file's digest
    pool = generate(net, params, domain, dataclasses.replace(cfg, n_pairs=8, choose_from=0),
                    jax.random.key(6), match=MATCH)
    save(tmp_path / "pool.npz", pool)
    loaded = load(tmp_path / "pool.npz")
    again = choose_surviving(net, params, loaded, 3, MATCH, cfg.prune_ratios)
    assert "digest" not in again.meta and again.meta["choice"]["pool_digest"] == \
        loaded.meta["digest"]
    np.testing.assert_array_equal(again.probes, fps.probes)


def test_choice_entry_points_refuse_bad_arguments(owner):
    net, params, domain = owner
    pool = generate(net, params, domain, dataclasses.replace(CFG, n_pairs=6),
                    jax.random.key(7), match=MATCH)
    for bad in (0, 7, True, 2.5):
        with pytest.raises(ValueError, match="n_groups must be an integer from 1"):
            choose_surviving(net, params, pool, bad, MATCH)
    with pytest.raises(ValueError, match="must be the MatchConfig"):
        pruning_survival(net, params, pool, None)
    other = net.init(jax.random.key(99))
    with pytest.raises(ValueError, match="another model"):
        pruning_survival(net, other, pool, MATCH)
    # a pool the candidates cannot fill says which number to lower
    with pytest.raises(ValueError, match="choose_from=500"):
        generate(net, params, domain, dataclasses.replace(CFG, n_candidates=64, choose_from=500),
                 jax.random.key(0), match=MATCH)
