import dataclasses
import importlib
import os
import stat

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tafa_jax import nets
from tafa_jax.data import image_domain, noise_domain
from tafa_jax.data.domains import Domain
from tafa_jax.fingerprint import (
    FingerprintSet,
    GenerationConfig,
    SearchConfig,
    SelectConfig,
    generate,
    load,
    save,
    search,
)
from tafa_jax.fingerprint.search import _probe_program, compile_count, probe_outputs
from tafa_jax.fingerprint.select import eligible, select

search_module = importlib.import_module("tafa_jax.fingerprint.search")  # not the function


def _spread_biases(params, key=9, scale=0.3):
    return jax.tree.map(
        lambda a: a + scale * jax.random.normal(jax.random.key(key), a.shape) if a.ndim == 1
        else a, params)


@pytest.fixture(scope="module")
def owner():
    net = nets.mlp(8, (24, 16), 1)
    params = _spread_biases(net.init(jax.random.key(0)))
    domain = Domain("box8", (8,), low=-2.0, high=2.0)
    return net, params, domain


CFG = GenerationConfig(n_pairs=12, n_candidates=256, distances=(0.05,), grid=24, chunk=128)


@pytest.fixture(scope="module")
def fps(owner):
    net, params, domain = owner
    return generate(net, params, domain, CFG, jax.random.key(1))


def test_every_pair_straddles_exactly_one_boundary(owner, fps):
    net, params, domain = owner
    assert fps.n_pairs == 12 and fps.probes.shape == (12, 3, 8)
    pat = np.asarray(net.pattern(params, jnp.asarray(fps.probes.reshape(-1, 8)))).reshape(12, 3, -1)
    diff = pat[:, 0] != pat[:, 2]
    assert (diff.sum(-1) == 1).all()
    assert (np.argmax(diff, -1) == fps.neuron).all()
    np.testing.assert_allclose(np.linalg.norm(fps.probes[:, 2] - fps.probes[:, 0], axis=-1),
                               fps.distance, rtol=1e-3)
    assert np.asarray(domain.contains(fps.probes.reshape(-1, 8))).all()


def test_owner_bend_positive_and_matches_outputs(owner, fps):
    net, params, _ = owner
    assert (fps.owner_bend > 0).all()
    y = np.asarray(net.apply(params, jnp.asarray(fps.probes.reshape(-1, 8)))).reshape(12, 3, 1)
    np.testing.assert_allclose(y, fps.owner_outputs, rtol=1e-5, atol=1e-5)


def test_crossing_agrees_with_bisection(owner):
    net, params, domain = owner
    cfg = SearchConfig(distance=0.05, grid=24)
    c = search(net, params, domain, cfg, jax.random.key(3), 128, chunk=128)
    ok = c.valid & c.newton_ok
    assert ok.sum() > 20
    # independent bisection of z_k along the pair direction through the found centre
    for i in np.flatnonzero(ok)[:10]:
        k, v, ctr = int(c.neuron[i]), c.direction[i, 0], c.center[i, 0]
        a, b = -0.02, 0.02
        za = float(net.preactivations(params, jnp.asarray(ctr + a * v)[None])[1][0, k])
        for _ in range(40):
            m = (a + b) / 2
            zm = float(net.preactivations(params, jnp.asarray(ctr + m * v)[None])[1][0, k])
            if (zm > 0) == (za > 0):
                a = m
            else:
                b = m
        assert abs((a + b) / 2) < 1e-4


def test_newton_and_bisection_fallback_agree(owner):
    net, params, domain = owner
    cfg = SearchConfig(distance=0.05, grid=24)
    c = search(net, params, domain, cfg, jax.random.key(4), 128, chunk=128)
    ok = c.has_flip & c.newton_ok
    _, z = net.preactivations(params, jnp.asarray(c.center[ok, 0]))
    zk = np.asarray(z)[np.arange(ok.sum()), c.neuron[ok]]
    assert np.abs(zk).max() < 1e-4


def test_same_key_bit_identical_and_different_keys_differ(owner, fps):
    net, params, domain = owner
    again = generate(net, params, domain, CFG, jax.random.key(1))
    for name, a in fps.arrays().items():
        np.testing.assert_array_equal(a, again.arrays()[name], err_msg=name)
    other = generate(net, params, domain, CFG, jax.random.key(2))
    assert not np.array_equal(other.probes, fps.probes)


def test_chunked_equals_unchunked_and_no_recompile(owner):
    net, params, domain = owner
    cfg = SearchConfig(distance=0.05, grid=24)
    whole = search(net, params, domain, cfg, jax.random.key(5), 96, chunk=96)
    before = compile_count(net, domain, cfg, 32)
    parts = search(net, params, domain, cfg, jax.random.key(5), 96, chunk=32)  # 3 chunks
    assert compile_count(net, domain, cfg, 32) - before <= 1
    search(net, params, domain, cfg, jax.random.key(6), 96, chunk=32)
    assert compile_count(net, domain, cfg, 32) == max(before, 1)
    np.testing.assert_array_equal(whole.valid, parts.valid)
    ok = whole.valid
    assert ok.sum() > 10
    for name in whole._fields:  # XLA may sum in another order for another batch size
        a, b = np.asarray(getattr(whole, name))[ok], np.asarray(getattr(parts, name))[ok]
        rtol = 1e-2 if name in ("bend", "kink") else 1e-3  # second differences in float32
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-5, err_msg=name)


def test_search_can_leave_probes_out_and_they_are_recomputed_for_kept_lines(owner):
    net, params, domain = owner
    cfg = SearchConfig(distance=0.05, grid=24, probes=7, siblings=2, spread=0.1)
    full = search(net, params, domain, cfg, jax.random.key(5), 64, chunk=32)
    light = search(net, params, domain, cfg, jax.random.key(5), 64, chunk=32,
                   keep_probes=False)
    assert light.probes is None and light.outputs is None
    np.testing.assert_array_equal(light.center, full.center)
    keep = np.flatnonzero(full.valid)[:5]
    assert keep.size == 5
    probes, outputs = probe_outputs(net, params, cfg, light.center[keep], light.direction[keep])
    assert probes.shape == (5, 2, 7, 8) and outputs.shape == (5, 2, 7, 1)
    np.testing.assert_allclose(probes, full.probes[keep], rtol=1e-6, atol=1e-7)  # same formula
    np.testing.assert_allclose(outputs, full.outputs[keep], rtol=1e-5, atol=1e-5)
    # another distance, same shapes: the same compiled program, probes twice as far apart
    before = _probe_program(net, 7)._cache_size()
    far, _ = probe_outputs(net, params, dataclasses.replace(cfg, distance=0.1),
                           light.center[keep], light.direction[keep])
    assert _probe_program(net, 7)._cache_size() == before
    np.testing.assert_allclose(far - far[:, :, 3:4], 2 * (probes - probes[:, :, 3:4]),
                               rtol=1e-4, atol=1e-6)


def test_staged_profile_search_gives_the_one_stage_result(owner, monkeypatch):
    # long profile lines in a box: some are clean at the centre but leave the box
    # further out, so the second stage's domain check decides them
    net, params, domain = owner
    cfg = SearchConfig(distance=1.0, grid=24, probes=9, siblings=2, spread=0.3,
                       line_length=2.0)
    one = search(net, params, domain, cfg, jax.random.key(5), 256, chunk=64)
    first_stage = []  # what the second stage is given: the lines valid at the centre
    complete = search_module._complete_profiles
    monkeypatch.setattr(search_module, "_complete_profiles", lambda *a: (
        first_stage.append(np.asarray(a[4].valid).copy()), complete(*a))[1])
    staged = search(net, params, domain, cfg, jax.random.key(5), 256, chunk=64,
                    keep_probes=False)
    assert (first_stage[0] & ~staged.valid).sum() > 0  # the second stage cleared some
    search(net, params, domain, cfg, jax.random.key(6), 256, chunk=64, keep_probes=False)
    assert compile_count(net, domain, cfg, 64, keep_probes=False) == 2  # no recompiles
    inside = np.asarray(domain.contains(one.probes.reshape(-1, 8))).reshape(256, 2, 9)
    centre_only = one.has_flip & inside[:, :, 3:6].all(axis=(1, 2)) & ~inside.all(axis=(1, 2))
    assert centre_only.sum() > 0 and one.valid.sum() > 5  # both outcomes occur
    np.testing.assert_array_equal(staged.valid, one.valid)
    ok = one.valid
    np.testing.assert_allclose(staged.bend[ok], one.bend[ok], rtol=1e-5, atol=1e-6)
    assert np.isnan(staged.bend[~ok & ~inside[:, :, 3:6].all(axis=(1, 2))]).all()
    for name in ("neuron", "center", "direction", "margin", "steepness", "kink"):
        np.testing.assert_allclose(np.asarray(getattr(staged, name))[ok],
                                   np.asarray(getattr(one, name))[ok], rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    for bad in ({}, {"keep_probes": False, "cfg": dataclasses.replace(cfg, probes=3)}):
        with pytest.raises(ValueError, match="a staged search needs profile lines"):
            search(net, params, domain, bad.get("cfg", cfg), jax.random.key(5), 64, chunk=64,
                   keep_probes=bad.get("keep_probes", True), staged=True)


def test_file_round_trip_permissions_and_tampering(fps, tmp_path):
    path = save(tmp_path / "fp.npz", fps)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    back = load(path)
    for name, a in fps.arrays().items():
        np.testing.assert_array_equal(a, back.arrays()[name])
    assert back.meta["owner_digest"] == fps.meta["owner_digest"]
    # tamper: change one probe and re-save the npz without fixing the digest
    with np.load(path, allow_pickle=False) as z:
        raw = dict(z)
    raw["probes"] = raw["probes"].copy()
    raw["probes"][0, 0, 0] += 1e-3
    bad = tmp_path / "bad.npz"
    np.savez(bad, **raw)
    with pytest.raises(ValueError, match="digest mismatch"):
        load(bad)
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated|not a readable"):
        load(trunc)
    # a set whose groups are not contiguous and equal-sized is refused: scoring reshapes
    # the lines into (groups, lines per group)
    arrays = fps.arrays()
    arrays["group"] = arrays["group"][::-1].copy()
    with pytest.raises(ValueError, match="in order, each of the same size"):
        FingerprintSet(**arrays, meta=fps.meta)


def test_affine_and_smooth_networks_are_refused():
    domain = Domain("box8", (8,), low=-2.0, high=2.0)
    for act in ("identity", "gelu", "softplus"):
        net = nets.mlp(8, (16,), 1, activation=act)
        with pytest.raises(ValueError, match="ReLU"):
            generate(net, net.init(jax.random.key(0)), domain, CFG, jax.random.key(1))


def test_bad_requests_give_clear_errors(owner):
    net, params, domain = owner
    with pytest.raises(ValueError, match="too large for the domain"):
        generate(net, params, domain, GenerationConfig(distances=(100.0,)), jax.random.key(0))
    with pytest.raises(ValueError, match=r"only \d+ usable pairs.*raise n_candidates"):
        generate(net, params, domain,
                 GenerationConfig(n_pairs=500, n_candidates=64, distances=(0.05,), grid=24,
                                  chunk=64), jax.random.key(0))
    with pytest.raises(ValueError, match=r"domain has shape \(5,\)"):
        generate(net, params, Domain("b5", (5,), low=-1.0, high=1.0), CFG, jax.random.key(0))
    with pytest.raises(ValueError, match="unknown selection rule"):
        SelectConfig(rule="best")  # type: ignore[arg-type]


def test_selection_spreads_over_neurons(owner):
    net, params, domain = owner
    cfg = GenerationConfig(n_pairs=10, n_candidates=512, distances=(0.05,), grid=24, chunk=256,
                           select=SelectConfig(rule="margin", max_per_neuron=1))
    f = generate(net, params, domain, cfg, jax.random.key(7))
    assert len(set(f.neuron.tolist())) == 10
    assert (f.margin >= 0.025).all()


def test_generator_and_cnn_networks():
    g = nets.generator()
    pg = _spread_biases(g.init(jax.random.key(0)), scale=0.1)
    f = generate(g, pg, noise_domain(64), GenerationConfig(
        n_pairs=4, n_candidates=64, distances=(0.05,), grid=16, chunk=64), jax.random.key(1))
    assert f.probes.shape == (4, 3, 64) and f.owner_outputs.shape == (4, 3, 28, 28, 1)
    assert (f.owner_bend > 0).all()
    cnn = nets.small_cnn(7, 12, 3)
    pc = _spread_biases(cnn.init(jax.random.key(2)), scale=0.1)
    f = generate(cnn, pc, image_domain((12, 12, 3)), GenerationConfig(
        n_pairs=4, n_candidates=64, distances=(0.02,), grid=16, chunk=64), jax.random.key(3))
    pat = np.asarray(cnn.pattern(pc, jnp.asarray(f.probes.reshape(-1, 12, 12, 3)))).reshape(
        4, 3, -1)
    assert ((pat[:, 0] != pat[:, 2]).sum(-1) == 1).all()


def test_resnet_with_maxpool_and_batchnorm():
    net = nets.resnet18(7, 16, widths=(4, 8, 8, 8))
    p = net.init(jax.random.key(0))
    _, p = nets.train_apply(net, p, jax.random.uniform(jax.random.key(1), (8, 16, 16, 3)))
    f = generate(net, p, image_domain((16, 16, 3)), GenerationConfig(
        n_pairs=3, n_candidates=128, distances=(0.002,), grid=16, chunk=32), jax.random.key(2))
    pat = np.asarray(net.pattern(p, jnp.asarray(f.probes.reshape(-1, 16, 16, 3)))).reshape(
        3, 3, -1)
    assert ((pat[:, 0] != pat[:, 2]).sum(-1) == 1).all()  # switches included in the pattern
    assert (f.owner_bend > 0).all()


def test_newton_step_is_accepted_on_short_lines_in_high_dimension():
    # d = 1e-3 in 768 dimensions: the check must not depend on resolving t* +- a tiny
    # offset in float32 (it once failed there and sent nearly every line to bisection)
    net = nets.resnet18(7, 16, widths=(4, 8, 8, 8))
    p = net.init(jax.random.key(0))
    _, p = nets.train_apply(net, p, jax.random.uniform(jax.random.key(1), (8, 16, 16, 3)))
    c = search(net, p, image_domain((16, 16, 3)), SearchConfig(distance=1e-3, grid=16),
               jax.random.key(4), 128, chunk=64)
    flipped = c.has_flip.sum()
    assert flipped >= 16
    assert (c.newton_ok & c.has_flip).sum() >= 0.9 * flipped


def test_kink_is_the_owners_slope_jump_and_ranks_the_selection():
    # one hidden layer, lines along the boundary normal: the slope jump across neuron
    # k's boundary is |a_k| * ||w_k||, whatever the line
    net = nets.mlp(6, (12,), 1)
    params = _spread_biases(net.init(jax.random.key(4)))
    domain = Domain("box6", (6,), low=-2.0, high=2.0)
    cfg = SearchConfig(distance=0.05, grid=24, direction="normal")
    cands = search(net, params, domain, cfg, jax.random.key(7), 256, chunk=256)
    ok = np.asarray(cands.valid)
    assert ok.sum() > 10
    w = np.asarray(params["params"]["dense0"]["kernel"])
    a = np.asarray(params["params"]["dense1"]["kernel"])[:, 0]
    k = np.asarray(cands.neuron)[ok]
    want = np.abs(a[k]) * np.linalg.norm(w[:, k], axis=0)
    np.testing.assert_allclose(np.asarray(cands.kink)[ok, 0], want, rtol=2e-2)
    scfg = SelectConfig("kink", min_bend=0.0)
    sel = select(cands, 5, 0.05, scfg, np.random.default_rng(0))
    got = np.asarray(cands.kink)[sel, 0]
    assert sel.size == 5 and np.all(np.diff(got) <= 1e-6)  # the largest kinks first
    assert got[0] == pytest.approx(np.asarray(cands.kink)[eligible(cands, 0.05, scfg), 0].max())


def test_selection_keeps_only_the_requested_relu_layers(owner):
    net, params, domain = owner  # ReLU layers of 24 and 16 neurons
    cfg = GenerationConfig(n_pairs=6, n_candidates=512, distances=(0.05,), grid=24, chunk=256)
    both = generate(net, params, domain, cfg, jax.random.key(7))
    assert (both.neuron < 24).any() and (both.neuron >= 24).any()  # the test can fail
    for layers, inside in (((0,), lambda n: n < 24), ((1,), lambda n: n >= 24)):
        f = generate(net, params, domain, dataclasses.replace(
            cfg, select=SelectConfig(layers=layers)), jax.random.key(7))
        assert f.n_pairs == 6 and inside(f.neuron).all()
    with pytest.raises(ValueError, match=r"has 2 ReLU layers \(indices 0\.\.1"):
        generate(net, params, domain, dataclasses.replace(
            cfg, select=SelectConfig(layers=(2,))), jax.random.key(7))
    with pytest.raises(ValueError, match="non-empty tuple of ReLU layer indices"):
        SelectConfig(layers=())
    assert SelectConfig(layers=[1, 0, 1]).layers == (0, 1)  # type: ignore[arg-type]  # JSON
    for bad in (0, (True,), (0.5,), (-1,)):
        with pytest.raises(ValueError, match="non-empty tuple of ReLU layer indices"):
            SelectConfig(layers=bad)  # type: ignore[arg-type]


def test_several_distances_keep_each_lines_probes_and_owner_outputs(owner):
    net, params, domain = owner
    cfg = GenerationConfig(n_pairs=6, n_candidates=256, distances=(0.05, 0.1), grid=24,
                           chunk=128, probes=5)
    f = generate(net, params, domain, cfg, jax.random.key(2))
    assert sorted(set(f.distance.tolist())) == pytest.approx([0.05, 0.1])
    # probe spacing follows each line's own distance, and the stored outputs are the
    # owner's on those probes
    gaps = np.linalg.norm(f.probes[:, -1] - f.probes[:, 0], axis=-1)
    np.testing.assert_allclose(gaps, f.distance, rtol=1e-4)
    y = np.asarray(net.apply(params, jnp.asarray(f.probes.reshape(-1, 8)))).reshape(6, 5, 1)
    np.testing.assert_allclose(f.owner_outputs, y, rtol=1e-5, atol=1e-5)


def test_groups_the_owner_fails_are_replaced_by_the_next_eligible(owner):
    from tafa_jax.verify import MatchConfig
    from tafa_jax.verify.verify import owner_group_matches

    net, params, domain = owner
    cfg = GenerationConfig(n_pairs=4, n_candidates=512, distances=(0.05,), grid=24, chunk=256,
                           siblings=2, spread=0.3, select=SelectConfig("steep", 1, 1.0, 0.0))
    ranked = generate(net, params, domain, dataclasses.replace(cfg, n_pairs=20),
                      jax.random.key(3))
    weakest = ranked.owner_bend.reshape(20, 2).min(axis=1)
    beta = float(np.median(weakest))  # about half the groups' weakest pair is below it
    rule = MatchConfig(beta=beta, same_sign=True)
    passes = weakest >= beta
    assert 4 <= passes.sum() < 20 and not passes[:4].all()  # the test can fail
    plain = generate(net, params, domain, cfg, jax.random.key(3))
    checked = generate(net, params, domain, cfg, jax.random.key(3), match=rule)
    # without the rule: the ranking's first 4 groups; with it: its first 4 the owner passes
    np.testing.assert_array_equal(plain.probes, ranked.probes[:8])
    want = np.repeat(np.flatnonzero(passes)[:4], 2) * 2 + np.tile([0, 1], 4)
    np.testing.assert_allclose(checked.probes, ranked.probes[want], rtol=0, atol=1e-6)
    np.testing.assert_allclose(checked.owner_outputs, ranked.owner_outputs[want], atol=1e-5)
    assert checked.meta["search"][0]["owner_failed"] == int((~passes[:np.flatnonzero(
        passes)[3] + 1]).sum())
    assert "owner_failed" not in plain.meta["search"][0]
    assert checked.meta["owner_checked_with"]["beta"] == pytest.approx(beta)
    y = checked.owner_outputs.reshape(4, 2, 3, 1)
    np.testing.assert_array_equal(owner_group_matches(y, rule, "identity"), np.ones(4))
    with pytest.raises(ValueError, match="match must be a MatchConfig"):
        generate(net, params, domain, cfg, jax.random.key(3), match={"beta": 0.1})  # type: ignore[arg-type]
    # a rule the owner passes nowhere: a clear error that says so
    with pytest.raises(ValueError, match="the owner itself failed"):
        generate(net, params, domain, cfg, jax.random.key(3),
                 match=MatchConfig(beta=1e3))  # b is O(1) at a kink



def test_a_sets_file_digest_is_known_before_it_is_saved(fps, tmp_path):
    from tafa_jax.fingerprint.fpset import file_digest

    save(tmp_path / "f.npz", fps)
    assert file_digest(fps) == load(tmp_path / "f.npz").meta["digest"]
    arrays = fps.arrays()
    arrays["probes"] = arrays["probes"] + 1e-3
    assert file_digest(FingerprintSet(**arrays, meta=fps.meta)) != file_digest(fps)
