import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tafa_jax import nets


@pytest.fixture(scope="module")
def mlp():
    net = nets.mlp(31, (100,), 1)
    params = net.init(jax.random.key(0))
    # Flax starts biases at zero (every boundary through the origin); spread them out.
    return net, jax.tree.map(
        lambda a: a + 0.3 * jax.random.normal(jax.random.key(9), a.shape) if a.ndim == 1 else a,
        params,
    )


@pytest.fixture(scope="module")
def cnn():
    net = nets.small_cnn(7, 12, 3)
    return net, net.init(jax.random.key(1))


def test_resnet18_param_count_matches_torchvision():
    assert nets.resnet18(num_classes=1000, image_size=224).num_params() == 11_689_512


def test_generator_and_critic_shapes():
    g, c = nets.generator(), nets.critic()
    pg, pc = g.init(jax.random.key(0)), c.init(jax.random.key(1))
    img = g.apply(pg, jnp.ones((3, 64)))
    assert img.shape == (3, 28, 28, 1)
    assert float(jnp.max(jnp.abs(img))) <= 1.0
    assert c.apply(pc, img).shape == (3, 1)
    widths = [leaf.shape for leaf in jax.tree.leaves(pg["params"]) if leaf.ndim == 2]
    assert widths == [(64, 128), (128, 256), (256, 512), (512, 784)]


def test_vmapped_zoo_equals_loop(mlp):
    net, _ = mlp
    zoo = nets.stack_init(net, jax.random.key(3), 6)
    x = jax.random.normal(jax.random.key(4), (5, 31))
    out = nets.zoo_apply(net, zoo, x)
    loop = jnp.stack([net.apply(p, x) for p in nets.unstack(zoo)])
    np.testing.assert_allclose(out, loop, rtol=1e-5, atol=1e-5)
    assert not np.allclose(out[0], out[1])  # members differ


def test_convolutional_zoos_run_members_one_after_another_on_the_cpu(mlp, cnn):
    net, _ = cnn
    zoo = nets.stack_init(net, jax.random.key(3), 4)
    mlp_zoo = nets.stack_init(mlp[0], jax.random.key(3), 4)
    assert nets.member_batching(zoo, backend="cpu") == "map"
    assert nets.member_batching(mlp_zoo, backend="cpu") == "vmap"  # no convolution
    assert nets.member_batching(zoo, backend="gpu") == "vmap"
    assert nets.member_batching(zoo, backend="cpu", devices=2) == "vmap"  # a sharded axis
    one = jax.tree.map(lambda a: a[:1], zoo)
    assert nets.member_batching(one, backend="cpu") == "vmap"  # nothing to batch
    x = jax.random.normal(jax.random.key(4), (5, 12, 12, 3))
    loop = jnp.stack([net.apply(p, x) for p in nets.unstack(zoo)])
    np.testing.assert_allclose(nets.zoo_apply(net, zoo, x), loop, rtol=1e-5, atol=1e-5)
    for mode in ("vmap", "map"):
        out = jax.jit(lambda z, m=mode: nets.over_members(lambda p: net.apply(p, x), (z,), m))(
            zoo)
        np.testing.assert_allclose(out, loop, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="'vmap' or 'map'"):
        nets.over_members(lambda p: p, (zoo,), "pmap")
    assert nets.resolve_members("vmap", zoo) == "vmap"
    assert nets.resolve_members("auto", zoo) == nets.member_batching(zoo)
    with pytest.raises(ValueError, match="members must be 'auto', 'vmap' or 'map'"):
        nets.resolve_members("pmap", zoo)


def test_pattern_is_sign_of_independent_preactivations(mlp):
    net, p = mlp
    x = jax.random.normal(jax.random.key(5), (8, 31))
    w, b = p["params"]["dense0"]["kernel"], p["params"]["dense0"]["bias"]
    z_ref = x @ w + b
    _, z = net.preactivations(p, x)
    np.testing.assert_allclose(z, z_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(net.pattern(p, x), (z_ref > 0).astype(np.int32))


def test_resnet_pattern_includes_maxpool_switches():
    net = nets.resnet18(7, 16, widths=(4, 8, 8, 8))
    p = net.init(jax.random.key(0))
    x = jax.random.uniform(jax.random.key(1), (2, 16, 16, 3))
    _, z = net.preactivations(p, x)
    pat = net.pattern(p, x)
    n_relu = sum(n for _, n in net.kink_layout())
    assert z.shape == (2, n_relu)
    assert pat.shape[1] > n_relu  # switches follow the ReLU bits
    np.testing.assert_array_equal(pat[:, :n_relu], (z > 0).astype(np.int32))


def _affine_on_segment(net, p, a, b):
    pts = jnp.stack([a, (a + b) / 2, b])
    y = net.apply(p, pts).reshape(3, -1)
    pat = net.pattern(p, pts)
    return y, pat


def _assert_affine_inside_one_region(net, p, a, u, length):
    """Halve the segment until its three probes share one activation pattern, then
    require F(midpoint) = (F(a) + F(b)) / 2. Always asserts: a region has positive width."""
    for _ in range(40):
        y, pat = _affine_on_segment(net, p, a, a + length * u)
        if bool(jnp.all(pat[0] == pat[2])) and bool(jnp.all(pat[0] == pat[1])):
            break
        length /= 2
    else:
        raise AssertionError("no single-region segment found")
    bend = float(jnp.abs(y[0] + y[2] - 2 * y[1]).max())
    assert bend <= 1e-4 * (float(jnp.abs(y).max()) + 1.0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**30), length=st.floats(1e-3, 0.5))
def test_mlp_piecewise_affine_property(mlp, seed, length):
    net, p = mlp
    ka, ku = jax.random.split(jax.random.key(seed))
    a = jax.random.normal(ka, (31,))
    u = jax.random.normal(ku, (31,))
    _assert_affine_inside_one_region(net, p, a, u / jnp.linalg.norm(u), length)


def test_single_flip_bends(mlp):
    """Across one flipped first-layer neuron F is not affine: second difference != 0."""
    net, p = mlp
    w = p["params"]["dense0"]["kernel"][:, 0]
    b = p["params"]["dense0"]["bias"][0]
    a_out = p["params"]["dense1"]["kernel"][0, 0]
    c = -b * w / jnp.dot(w, w)  # on neuron 0's boundary
    u = w / jnp.linalg.norm(w)
    d = 1e-3
    pts = jnp.stack([c - d / 2 * u, c, c + d / 2 * u])
    pat = net.pattern(p, pts)
    assert int(jnp.sum(pat[0] != pat[2])) == 1
    y = net.apply(p, pts)[:, 0]
    bend = float(y[0] + y[2] - 2 * y[1])
    expected = float(a_out * jnp.linalg.norm(w) * d / 2)  # slope change times half-length
    np.testing.assert_allclose(bend, expected, rtol=1e-2)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**30), length=st.floats(1e-3, 0.3))
def test_cnn_piecewise_affine_property(cnn, seed, length):
    net, p = cnn
    ka, ku = jax.random.split(jax.random.key(seed))
    a = jax.random.uniform(ka, net.input_shape)
    u = jax.random.normal(ku, net.input_shape)
    _assert_affine_inside_one_region(net, p, a, u / jnp.linalg.norm(u), length)


def test_resnet_inference_is_piecewise_affine():
    net = nets.resnet18(7, 16, widths=(4, 8, 8, 8))
    p = net.init(jax.random.key(2))
    # give batch norm non-trivial running statistics with one training pass
    x_train = jax.random.uniform(jax.random.key(3), (8, 16, 16, 3))
    _, p = nets.train_apply(net, p, x_train)
    a = jax.random.uniform(jax.random.key(4), net.input_shape)
    u = jax.random.normal(jax.random.key(5), net.input_shape)
    checked = 0
    for length in (1e-4, 3e-4, 1e-3):
        b = a + length * u / jnp.linalg.norm(u)
        y, pat = _affine_on_segment(net, p, a, b)
        if bool(jnp.all(pat[0] == pat[2])) and bool(jnp.all(pat[0] == pat[1])):
            checked += 1
            assert float(jnp.abs(y[0] + y[2] - 2 * y[1]).max()) <= 1e-4 * (
                float(jnp.abs(y).max()) + 1)
    assert checked >= 1


def test_batchnorm_train_mode_updates_stats():
    net = nets.resnet18(7, 16, widths=(4, 8, 8, 8))
    p = net.init(jax.random.key(0))
    x = jax.random.uniform(jax.random.key(1), (4, 16, 16, 3))
    _, p2 = nets.train_apply(net, p, x)
    before = jax.tree.leaves(p["batch_stats"])
    after = jax.tree.leaves(p2["batch_stats"])
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
    assert nets.params_digest(p["params"]) == nets.params_digest(p2["params"])


def test_no_recompile_on_same_shapes(mlp):
    from tafa_jax.nets import network, stacking

    net, p = mlp
    x = jnp.ones((4, 31))
    x2 = x + 1.0
    zoo = nets.stack_init(net, jax.random.key(0), 3)
    zoo2 = nets.stack_init(net, jax.random.key(1), 3)
    p2 = nets.stack_init(net, jax.random.key(2), 1)
    p2 = jax.tree.map(lambda a: a[0], p2)
    net.apply(p, x)
    nets.zoo_apply(net, zoo, x)
    net.pattern(p, x)
    sizes = [f._cache_size() for f in (network._apply, stacking._zoo_apply, network._pattern)]
    net.apply(p2, x2)
    nets.zoo_apply(net, zoo2, x2)
    net.pattern(p2, x2)
    fns = (network._apply, stacking._zoo_apply, network._pattern)
    assert [f._cache_size() for f in fns] == sizes
    net.apply(p, jnp.ones((13, 31)))  # a new batch size is a new shape: one compile
    assert network._apply._cache_size() == sizes[0] + 1


def test_bad_inputs_raise_clear_errors(mlp):
    net, p = mlp
    with pytest.raises(ValueError, match=r"expected input shape \('batch', 31\)"):
        net.apply(p, jnp.ones((4, 30)))
    with pytest.raises(ValueError, match="rank 2"):
        net.apply(p, jnp.ones((31,)))
    with pytest.raises(ValueError, match="floating-point"):
        net.apply(p, jnp.ones((4, 31), jnp.int32))
    other = nets.mlp(31, (50, 50), 1).init(jax.random.key(0))
    with pytest.raises(ValueError, match="another architecture"):
        net.apply(other, jnp.ones((4, 31)))
    wider = nets.mlp(31, (64,), 1).init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"dense0.*has shape \(64,\), expected \(100,\)"):
        net.apply(wider, jnp.ones((4, 31)))
    with pytest.raises(ValueError, match="at least one model"):
        nets.stack_init(net, jax.random.key(0), 0)
    with pytest.raises(ValueError, match="unknown head"):
        nets.mlp(31, (10,), 1, head="relu6")  # type: ignore[arg-type]


def test_digest_is_stable_and_sensitive(mlp):
    _, p = mlp
    d1 = nets.params_digest(p)
    assert d1 == nets.params_digest(jax.tree.map(np.asarray, p))
    q = jax.tree.map(lambda a: a, p)
    q["params"]["dense1"]["bias"] = q["params"]["dense1"]["bias"] + 1e-7
    assert nets.params_digest(q) != d1


@pytest.mark.parametrize("build", [
    lambda: nets.mlp(7, (12, 9), 2), lambda: nets.generator(8, (16, 16), (4, 4, 1)),
    lambda: nets.critic((4, 4, 1), (8, 4)), lambda: nets.small_cnn(3, 8, 2),
    lambda: nets.resnet18(3, 16, widths=(4, 4, 8, 8))])
def test_line_forward_with_affine_stem_equals_pointwise(build):
    net = build()
    assert net.linear_stem
    p = net.init(jax.random.key(0))
    C, G, D = 5, 7, net.input_size
    x0 = jax.random.uniform(jax.random.key(1), (C, D))
    u = jax.random.normal(jax.random.key(2), (C, D))
    ts = jnp.linspace(-0.4, 0.4, G)
    pts = (x0[:, None] + ts[None, :, None] * u[:, None]).reshape((C * G, *net.input_shape))
    want = nets.forward_full(net, p, pts)
    for got in (nets.forward_full_on_lines(net, p, x0, u, ts),
                nets.forward_full_on_lines(dataclasses.replace(net, linear_stem=False), p, x0,
                                           u, ts)):
        np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-4)
        # patterns may differ only where a pre-activation is at float noise from zero
        z = np.asarray(want[1])
        differ = np.asarray(got[2])[:, : z.shape[1]] != np.asarray(want[2])[:, : z.shape[1]]
        assert np.all(np.abs(z[differ]) < 1e-4)
