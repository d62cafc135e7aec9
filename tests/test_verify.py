import dataclasses
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tafa_jax import nets
from tafa_jax.data.domains import Domain
from tafa_jax.fingerprint import GenerationConfig, generate
from tafa_jax.verify import (
    BlackBoxSuspect,
    MatchConfig,
    ZooSuspects,
    query_blackbox,
    verify,
    zoo_pair_stats,
)
from tafa_jax.zoo.obfuscate import permute_hidden, rescale_relu


def _spread(params, key, scale=0.3):
    return jax.tree.map(
        lambda a: a + scale * jax.random.normal(jax.random.key(key), a.shape) if a.ndim == 1
        else a, params)


@pytest.fixture(scope="module")
def setup():
    net = nets.mlp(8, (24, 16), 3, head="softmax")
    owner = _spread(net.init(jax.random.key(0)), 9)
    domain = Domain("box8", (8,), low=-2.0, high=2.0)
    cfg = GenerationConfig(n_pairs=16, n_candidates=256, distances=(0.05,), grid=24, chunk=128)
    fps = generate(net, owner, domain, cfg, jax.random.key(1))
    others = [_spread(net.init(jax.random.key(10 + i)), 20 + i) for i in range(5)]
    return net, owner, fps, others


def test_owner_scores_one_and_copies_too(setup):
    net, owner, fps, _ = setup
    perm = permute_hidden(net, owner, jax.random.key(3))
    resc = rescale_relu(net, owner, jax.random.key(4))
    zoo = nets.stack([owner, perm, resc])
    for cfg in (MatchConfig(), MatchConfig(same_sign=True)):
        res = verify(fps, [ZooSuspects(net, zoo, ["owner", "perm", "rescale"])], cfg)
        assert [r.score for r in res] == [1.0, 1.0, 1.0]
        assert all(r.decision for r in res)
        assert all(r.groups is not None and r.groups.shape == (fps.n_groups,)
                   and r.groups.mean() == r.score for r in res)


def test_affine_suspect_scores_zero(setup):
    net, _, fps, _ = setup
    w = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)

    def affine(x):  # an affine model behind the owner's softmax head
        z = x @ w + 1.0
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    res = verify(fps, [BlackBoxSuspect("affine", affine)])
    assert res[0].score == 0.0 and res[0].decision is False
    np.testing.assert_allclose(res[0].bend, 0.0, atol=1e-3)


def test_softmax_head_is_not_a_kink(setup):
    """A smooth head bends by O(d^2): an owner-free smooth network must not match."""
    net, _, fps, _ = setup
    smooth = nets.mlp(8, (24, 16), 3, head="softmax", activation="softplus")
    p = smooth.init(jax.random.key(5))
    res = verify(fps, [BlackBoxSuspect("smooth", lambda x: np.asarray(smooth.apply(p, x)))])
    assert res[0].score == 0.0


def test_zoo_equals_loop_equals_blackbox(setup):
    net, owner, fps, others = setup
    zoo = nets.stack(others)
    b_zoo, c_zoo = zoo_pair_stats(net, zoo, fps.probes, fps.owner_outputs, chunk=2)
    for i, p in enumerate(others):
        b1, c1 = zoo_pair_stats(net, nets.stack([p]), fps.probes, fps.owner_outputs)
        np.testing.assert_allclose(b_zoo[i], b1[0], rtol=1e-3, atol=2e-4)  # f32 noise
        np.testing.assert_allclose(c_zoo[i], c1[0], rtol=1e-4, atol=1e-5)
    fns = [BlackBoxSuspect(f"bb{i}", lambda x, p=p: np.asarray(net.apply(p, jnp.asarray(x))))
           for i, p in enumerate(others)]
    res_bb = verify(fps, fns, batch_size=7)
    res_zoo = verify(fps, [ZooSuspects(net, zoo, [f"z{i}" for i in range(5)])])
    for a, b in zip(res_bb, res_zoo):
        np.testing.assert_allclose(a.bend, b.bend, rtol=1e-3, atol=2e-4)
        assert a.score == b.score
        np.testing.assert_array_equal(a.support, b.support)
    # a group matches exactly when its evidence count is the whole group
    per = fps.lines_per_group
    for r in res_zoo:
        np.testing.assert_array_equal(r.groups, (r.support >= per).astype(np.float32))
        assert r.rate == r.score
    assert len({tuple(r.support) for r in res_zoo}) > 1  # the test can fail


def test_failing_blackboxes_are_recorded_and_the_rest_goes_on(setup):
    net, owner, fps, _ = setup

    def boom(x):
        raise RuntimeError("server down")

    def wrong_shape(x):
        return np.zeros((x.shape[0], 5), np.float32)

    def nan(x):
        return np.full((x.shape[0], 3), np.nan, np.float32)

    good = BlackBoxSuspect("good", lambda x: np.asarray(net.apply(owner, jnp.asarray(x))))
    res = verify(fps, [BlackBoxSuspect("boom", boom), BlackBoxSuspect("shape", wrong_shape),
                       BlackBoxSuspect("nan", nan), good], retries=1)
    by_id = {r.id: r for r in res}
    assert by_id["boom"].failed and "server down" in by_id["boom"].reason
    assert by_id["shape"].failed and "expected" in by_id["shape"].reason
    assert by_id["nan"].failed and "NaN" in by_id["nan"].reason
    assert not by_id["good"].failed and by_id["good"].score == 1.0


def test_blackbox_timeout_is_a_failure(setup):
    import time

    _, _, fps, _ = setup

    def slow(x):
        time.sleep(2.0)
        return np.zeros((x.shape[0], 3), np.float32)

    res = verify(fps, [BlackBoxSuspect("slow", slow)], timeout=0.05)
    assert res[0].failed and "timed out" in res[0].reason


def test_bad_input_errors(setup):
    net, owner, fps, _ = setup
    wrong = nets.mlp(5, (8,), 3)
    with pytest.raises(ValueError, match="input shape"):
        verify(fps, [ZooSuspects(wrong, nets.stack([wrong.init(jax.random.key(0))]), ["w"])])
    with pytest.raises(ValueError, match="no suspects"):
        verify(fps, [])
    with pytest.raises(ValueError, match="unique"):
        verify(fps, [BlackBoxSuspect("a", np.asarray), BlackBoxSuspect("a", np.asarray)])
    with pytest.raises(ValueError, match="rho"):
        MatchConfig(rho=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        query_blackbox(np.asarray, fps.probes, (3,), batch_size=0)


def test_direction_rule_uses_output_space(setup):
    net, owner, fps, others = setup
    zoo = nets.stack([owner, *others])
    loose = verify(fps, [ZooSuspects(net, zoo, [str(i) for i in range(6)])], MatchConfig())
    strict = verify(fps, [ZooSuspects(net, zoo, [str(i) for i in range(6)])],
                    MatchConfig(min_cos=0.99))
    assert strict[0].score == 1.0
    assert all(s.score <= lo.score for s, lo in zip(strict, loose))


SHARD_SCRIPT = r"""
import json, jax, numpy as np
from tafa_jax import nets
from tafa_jax.data.domains import Domain
from tafa_jax.fingerprint import GenerationConfig, generate
from tafa_jax.verify import zoo_pair_stats
assert jax.local_device_count() == 4, jax.devices()
net = nets.mlp(8, (24, 16), 3)
zoo = nets.stack_init(net, jax.random.key(0), 10)
zoo = jax.tree.map(lambda a: a + 0.1 * np.ones_like(a), zoo)
owner = jax.tree.map(lambda a: a[0], zoo)
fps = generate(net, owner, Domain("b", (8,), low=-2.0, high=2.0),
               GenerationConfig(n_pairs=8, n_candidates=256, distances=(0.05,), grid=24,
                                chunk=128), jax.random.key(1))
b4, _ = zoo_pair_stats(net, zoo, fps.probes, fps.owner_outputs, chunk=4)
b1, _ = zoo_pair_stats(net, zoo, fps.probes, fps.owner_outputs, chunk=4, devices=1)
print(json.dumps({"b4": b4.tolist(), "b1": b1.tolist()}))
"""


def test_sharded_equals_unsharded():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", SHARD_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(res["b4"], res["b1"], rtol=1e-4, atol=1e-6)
    assert np.asarray(res["b4"]).shape == (10, 8)


def test_profile_group_matching_on_hand_made_profiles():
    from tafa_jax.verify.score import profile_group_matches

    r = np.zeros((2, 3, 9), np.float32)  # 2 groups of 3 lines, 9 cells each
    r[0, 0, 5], r[0, 1, 6], r[0, 2, 4] = 1.0, 1.0, 1.0  # kinks line up within one cell
    r[1, 0, 5], r[1, 1, 5], r[1, 2, 8] = 1.0, 1.0, 1.0  # the third line's kink is far off
    group = np.repeat(np.arange(2), 3)
    got = profile_group_matches(r.reshape(6, 9), group, beta=0.5, tol=1)
    np.testing.assert_array_equal(got, [1.0, 0.0])
    np.testing.assert_array_equal(profile_group_matches(r.reshape(6, 9), group, 0.5, 3), [1, 1])


def test_profile_jump_tolerance_on_hand_made_profiles():
    from tafa_jax.verify.score import profile_group_matches

    r = np.zeros((3, 3, 9), np.float32)  # 3 groups of 3 lines, 9 cells each
    s = np.zeros_like(r)  # relative jumps
    # group 0: one kink split over two cells on line 1; jumps 0.8 = 0.5 + 0.3, 0.8
    r[0, 0, 4], r[0, 1, 4], r[0, 1, 5], r[0, 2, 3] = 1, 1, 1, 1
    s[0, 0, 4], s[0, 1, 4], s[0, 1, 5], s[0, 2, 3] = 0.8, 0.5, 0.3, 0.8
    # group 1: kinks line up but the third line's jump is another neuron's (-2.0)
    r[1, :, 4] = 1
    s[1, :, 4] = [0.8, 0.8, -2.0]
    # group 2: a flipped head flips every jump alike
    r[2, :, 4] = 1
    s[2, :, 4] = -3.0
    group = np.repeat(np.arange(3), 3)
    args = (r.reshape(9, 9), group, 0.5, 1)
    np.testing.assert_array_equal(profile_group_matches(*args), [1, 1, 1])
    np.testing.assert_array_equal(profile_group_matches(*args, s.reshape(9, 9), 0.2), [1, 0, 1])
    # the first line's kink at cell 3 lines up with the second line's one cell on,
    # although the first line also holds another neuron's kink two cells on
    r2, s2 = np.zeros((2, 9), np.float32), np.zeros((2, 9), np.float32)
    r2[0, [3, 5]], s2[0, [3, 5]] = 1, [0.8, 5.0]
    r2[1, 4], s2[1, 4] = 1, 0.8
    np.testing.assert_array_equal(profile_group_matches(r2, np.zeros(2, int), 0.5, 1, s2, 0.2),
                                  [1])
    # the reference jump is the lines' median, not the first line's: a first line whose
    # kink merged with a neighbour's (jump 0.3) costs that line alone, while lines of
    # three different jumps never agree with their median on more than one line
    r5, s5 = np.zeros((2, 5, 9), np.float32), np.zeros((2, 5, 9), np.float32)
    r5[:, :, 4] = 1
    s5[0, :, 4] = [0.3, 0.8, 0.8, 0.8, 0.8]
    s5[1, :, 4] = [0.8, 0.2, 3.0, 0.2, 3.0]
    g5 = np.repeat(np.arange(2), 5)
    got = profile_group_matches(r5.reshape(10, 9), g5, 0.5, 1, s5.reshape(10, 9), 0.2, 0.8)
    np.testing.assert_array_equal(got, [1, 0])
    np.testing.assert_array_equal(  # ... and every line is needed at quorum 1
        profile_group_matches(r5.reshape(10, 9), g5, 0.5, 1, s5.reshape(10, 9), 0.2), [0, 0])
    # the reference is the median of the lines that have a kink: a mean (1.68) or a
    # median counting kink-free lines as 0 would fail these groups
    r6, s6 = np.zeros((2, 5, 9), np.float32), np.zeros((2, 5, 9), np.float32)
    r6[0, :, 4], s6[0, :, 4] = 1, [0.8, 0.8, 0.8, 3.0, 3.0]
    r6[1, :2, 4], s6[1, :2, 4] = 1, 0.8  # 2 of 5 lines have the kink
    g6 = np.repeat(np.arange(2), 5)
    for q, want in ((0.6, [1, 0]), (0.4, [1, 1]), (0.8, [0, 0])):
        got = profile_group_matches(r6.reshape(10, 9), g6, 0.5, 1, s6.reshape(10, 9), 0.2, q)
        np.testing.assert_array_equal(got, want)
    # a line read the other way round (cells reversed) gives the same matches; with
    # kinks on both sides of a cell the one with the larger jump is read
    rng = np.random.default_rng(0)
    rr = (rng.random((4, 12, 15)) < 0.25).astype(np.float32)
    ss = rng.choice([0.5, 0.8, 1.0, 2.0], size=rr.shape).astype(np.float32)
    g12 = np.repeat(np.arange(3), 4)
    for q in (0.5, 0.75, 1.0):
        np.testing.assert_array_equal(
            profile_group_matches(rr, g12, 0.5, 1, ss, 0.3, q),
            profile_group_matches(rr[..., ::-1], g12, 0.5, 1, ss[..., ::-1], 0.3, q))
    r3, s3 = np.zeros((3, 9), np.float32), np.zeros((3, 9), np.float32)
    r3[0, 4], s3[0, 4] = 1, 0.8
    r3[1, [3, 5]], s3[1, [3, 5]] = 1, [5.0, 0.8]  # another neuron's kink on one side
    r3[2, 3], s3[2, 3] = 1, 0.8
    one3 = np.zeros(3, int)
    assert (profile_group_matches(r3, one3, 0.5, 1, s3, 0.2)
            == profile_group_matches(r3[:, ::-1], one3, 0.5, 1, s3[:, ::-1], 0.2))
    # a non-finite jump is no kink; at least one line is always needed; tol >= 0
    r2n, s2n = np.zeros((2, 9), np.float32), np.zeros((2, 9), np.float32)
    r2n[:, 4], s2n[:, 4] = 1, [0.8, np.nan]
    np.testing.assert_array_equal(
        profile_group_matches(r2n, np.zeros(2, int), 0.5, 1, s2n, 0.2, 0.5), [1])
    np.testing.assert_array_equal(
        profile_group_matches(np.zeros((10, 9)), g6, 0.5, 1, np.zeros((10, 9)), 0.2, 1e-12),
        [0, 0])
    with pytest.raises(ValueError, match="tol"):
        profile_group_matches(r6.reshape(10, 9), g6, 0.5, -1)
    with pytest.raises(ValueError, match="profile_jump_tol"):
        MatchConfig(profile_jump_tol=0.0)
    with pytest.raises(ValueError, match="give both"):
        profile_group_matches(*args, None, 0.2)
    with pytest.raises(ValueError, match="profile's shape"):
        profile_group_matches(*args, s.reshape(9, 9)[:, :3], 0.2)


@pytest.mark.parametrize("jump_tol", [None, 0.05])
def test_profile_fingerprints_match_the_owner_and_its_copies(setup, jump_tol):
    net, owner, _, others = setup
    cfg = GenerationConfig(n_pairs=6, n_candidates=256, distances=(0.2,), grid=24, chunk=128,
                           probes=9, siblings=3, spread=0.3)
    fps = generate(net, owner, Domain("box8", (8,), low=-2.0, high=2.0), cfg, jax.random.key(3))
    assert fps.probes.shape == (18, 9, 8) and fps.n_groups == 6
    perm = permute_hidden(net, owner, jax.random.key(3))
    resc = rescale_relu(net, owner, jax.random.key(4))
    zoo = ZooSuspects(net, nets.stack([owner, perm, resc]), ["owner", "perm", "rescale"])
    res = verify(fps, [zoo], MatchConfig(beta=0.05, profile_jump_tol=jump_tol))
    assert [r.score for r in res] == [1.0, 1.0, 1.0]
    assert all((r.support == 3).all() for r in res)  # every line of every group
    assert res[0].cos.shape == (18, 7)
    # the owner's own jump at each line's centre, relative to itself
    np.testing.assert_allclose(res[0].cos[:, 3], 1.0, rtol=1e-3)


def test_default_chunk_is_cache_sized_and_results_do_not_depend_on_it(setup):
    from tafa_jax.verify.query import default_chunk

    net, _, fps, others = setup
    c = default_chunk(net, fps.queries_per_suspect)
    assert 4 <= c <= 4096 and c & (c - 1) == 0
    assert default_chunk(nets.generator(), 300) <= default_chunk(nets.mlp(31, (100,), 1), 300)
    zoo = nets.stack(others)
    b_auto, _ = zoo_pair_stats(net, zoo, fps.probes, fps.owner_outputs)
    b_one, _ = zoo_pair_stats(net, zoo, fps.probes, fps.owner_outputs, chunk=1)
    np.testing.assert_allclose(b_auto, b_one, rtol=1e-3, atol=2e-4)


def test_pair_groups_match_when_every_pair_bends_and_with_same_sign_one_way():
    from tafa_jax.verify.verify import GroupLayout, score_pairs

    layout = GroupLayout(3, np.array([0, 0, 0, 1, 1, 1]), np.ones(6, np.float32))
    b = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 1]], np.float32)  # bends (beta 0.5)
    cos = np.array([[1, 1, 1, -1, -1, -1],  # one copy agrees, the other is flipped: both fine
                    [1, -1, 1, 1, 1, 1]], np.float32)  # mixed signs in group 0
    m, g, support = score_pairs(b, cos, layout, MatchConfig(beta=0.5))
    np.testing.assert_array_equal(m, b)
    np.testing.assert_array_equal(g, [[1, 1], [1, 0]])
    np.testing.assert_array_equal(support, [[3, 3], [3, 2]])
    _, g, support = score_pairs(b, cos, layout, MatchConfig(beta=0.5, same_sign=True))
    np.testing.assert_array_equal(g, [[1, 1], [0, 0]])
    np.testing.assert_array_equal(support, [[3, 3], [2, 2]])  # the most that bend one way


def test_profile_quorum_counts_the_lines_that_show_the_kink():
    from tafa_jax.verify.score import profile_group_matches

    r = np.zeros((2, 5, 9), np.float32)  # 2 groups of 5 lines
    r[0, :, 4] = 1.0
    r[0, 3, 4] = 0.0  # one sibling misses the kink: 4 of 5 lines show it
    r[1, :2, 4] = 1.0  # 2 of 5 lines
    group = np.repeat(np.arange(2), 5)
    flat = r.reshape(10, 9)
    np.testing.assert_array_equal(profile_group_matches(flat, group, 0.5, 1), [0, 0])
    np.testing.assert_array_equal(profile_group_matches(flat, group, 0.5, 1, quorum=0.8), [1, 0])
    np.testing.assert_array_equal(profile_group_matches(flat, group, 0.5, 1, quorum=0.4), [1, 1])
    # verify's scorer takes the quorum from the match config
    from types import SimpleNamespace

    from tafa_jax.verify.verify import score_pairs

    lines = SimpleNamespace(n_probes=11, group=group)  # 9 cells = 11 probes - 2
    for q, want in ((1.0, [0, 0]), (0.8, [1, 0])):
        cfg = MatchConfig(beta=0.5, profile_quorum=q)
        _, g, support = score_pairs(flat, np.zeros_like(flat), lines,  # type: ignore[arg-type]
                                    cfg)
        np.testing.assert_array_equal(g, want)
        np.testing.assert_array_equal(support, [4, 2])  # lines with the kink, per group
    # 25 lines, 7 show the kink: quorum 0.28 (0.28 * 25 = 7.000000000000001 in floats)
    # needs 7 lines, 0.29 needs 8
    r25 = np.zeros((25, 9), np.float32)
    r25[:7, 4] = 1.0
    one = np.zeros(25, int)
    np.testing.assert_array_equal(profile_group_matches(r25, one, 0.5, 1, quorum=0.28), [1])
    np.testing.assert_array_equal(profile_group_matches(r25, one, 0.5, 1, quorum=0.29), [0])
    # no line is the reference: the group's first line missing the kink costs that
    # line alone (3 of 5 lines still reach a 0.6 quorum, and 1 line a 0.2 one)
    r[0, 0, 4] = r[1, 0, 4] = 0.0
    np.testing.assert_array_equal(
        profile_group_matches(r.reshape(10, 9), group, 0.5, 1, quorum=0.6), [1, 0])
    np.testing.assert_array_equal(
        profile_group_matches(r.reshape(10, 9), group, 0.5, 1, quorum=0.2), [1, 1])
    # a group's lines must be contiguous and the groups equal-sized: an interleaved or
    # ragged layout is refused
    for bad_group in (np.tile(np.arange(2), 5), np.array([0] * 6 + [1] * 4)):
        with pytest.raises(ValueError, match="in order, each of the same size"):
            profile_group_matches(flat, bad_group, 0.5, 1)
    with pytest.raises(ValueError, match="lines"):
        profile_group_matches(flat[:8], group, 0.5, 1)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="profile_quorum"):
            MatchConfig(profile_quorum=bad)
        with pytest.raises(ValueError, match="quorum"):
            profile_group_matches(flat, group, 0.5, 1, quorum=bad)


def test_owner_fails_its_own_profile_group_when_a_neighbours_kink_joins_its_jump():
    from tafa_jax.verify.verify import owner_group_matches

    t = np.linspace(-1.0, 1.0, 11, dtype=np.float32)  # the crossing at the centre probe
    line = np.abs(t)
    y = np.tile(line, (2, 5, 1))[..., None]  # 2 groups of 5 lines, scalar output
    # group 1: on 3 of its 5 lines another kink one probe away, twice the owner's jump,
    # which the line's measured jump (summed over neighbouring cells) takes in
    y[1, :3, :, 0] += 4.0 * np.maximum(t - t[6], 0.0)
    rule = MatchConfig(beta=0.05, profile_tol=1, profile_jump_tol=0.5)
    np.testing.assert_array_equal(owner_group_matches(y, rule, "identity"), [1, 0])
    np.testing.assert_array_equal(owner_group_matches(
        y, dataclasses.replace(rule, profile_quorum=0.6), "identity"), [1, 1])
    with pytest.raises(ValueError, match=r"\(groups, lines, probes, \*out\)"):
        owner_group_matches(y[0], rule, "identity")


@pytest.mark.parametrize("link", ["atanh", "logit"])
def test_nearly_saturated_outputs_are_no_kinks(link):
    """float32 rounds tanh near +-1 (sigmoid near 1) to steps of 6e-8; the inverse
    link must not read that rounding as kinks, and must still see a real one."""
    from tafa_jax.bend import inverse_link, profile_statistic

    def head(z):  # sigmoid(2 z) = (1 + tanh(z)) / 2: the same saturation
        z = jnp.asarray(z, jnp.float32)
        return jnp.tanh(z) if link == "atanh" else jax.nn.sigmoid(2 * z)

    t = np.linspace(-1.0, 1.0, 41)[:, None]  # one profile line, 41 probes
    rng = np.random.default_rng(0)
    # 300 background pixels between 5.5 and 7.5 (a generator's near-saturated dark
    # image), 20 mid-range ones; all affine along the line: no kink anywhere
    b = np.concatenate([rng.uniform(5.5, 7.5, 300) * rng.choice([-1, 1], 300),
                        rng.uniform(-1.0, 1.0, 20)])
    a = np.concatenate([rng.uniform(-0.3, 0.3, 300), rng.uniform(-1.0, 1.0, 20)])
    z = a * t + b
    y = head(z)
    r = np.asarray(profile_statistic(inverse_link(y, link)))
    assert r.max() < 0.05, r.max()  # 0.05: fashion's kink threshold beta
    if link == "atanh":  # the earlier bound (1e-6) read the rounding as kinks
        old = np.asarray(profile_statistic(jnp.arctanh(jnp.clip(y, -1 + 1e-6, 1 - 1e-6))))
        assert (old >= 0.05).sum() > 10
    # a real kink among them: one mid-range pixel bends at the line's centre
    z_kink = z.copy()
    z_kink[:, -1] += 3.0 * np.maximum(t[:, 0], 0.0)
    rk = np.asarray(profile_statistic(inverse_link(head(z_kink), link)))
    assert rk.max() >= 0.05 and abs(int(np.argmax(rk)) - 19) <= 1


def test_fingerprints_read_with_another_saturation_bound_are_refused():
    from tafa_jax.bend import TANH_SATURATION, check_saturation, link_saturation

    assert link_saturation("atanh") == TANH_SATURATION and link_saturation("clr") is None
    check_saturation(None, "atanh", "x")  # older files record none
    check_saturation(TANH_SATURATION, "atanh", "x")
    check_saturation(1e-6, "identity", "x")  # a link without a bound: nothing to compare
    with pytest.raises(ValueError, match="generated with the atanh link read saturated"):
        check_saturation(1e-6, "atanh", "these fingerprints were generated")
