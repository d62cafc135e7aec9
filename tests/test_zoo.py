import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tafa_jax import nets, zoo
from tafa_jax.io import atomic_write_bytes, load_npz, npz_bytes
from tafa_jax.zoo import train as ztrain

IN = 6


def _data(seed=0, n=64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, IN)).astype(np.float32)
    y = (30.0 + 8.0 * x[:, 0] - 4.0 * x[:, 1] + 2.0 * np.maximum(x[:, 2], 0)).astype(np.float32)
    return x, y


@pytest.fixture(scope="module")
def owner():
    net = nets.mlp(IN, (12, 10), 1, out_shift=30.0, out_scale=8.0)
    x, y = _data(0)
    p0 = jax.tree.map(lambda a: a[None], net.init(jax.random.key(0)))
    cfg = zoo.TrainConfig("adam", 1e-2, 150, 16, loss="mae")
    trained, _ = zoo.train_group(net, p0, x, y, cfg, keys=jax.random.split(jax.random.key(1), 1))
    return net, jax.tree.map(lambda a: a[0], trained)


@pytest.fixture(scope="module")
def data():
    xo, yo = _data(0)
    xp, yp = _data(1, 48)
    xt, yt = _data(2, 48)
    return zoo.ZooData(xp, yp, xo, yo, xt, yt)


def _take(tree, i):
    return jax.tree.map(lambda leaf: leaf[i:i + 1], tree)


def _kernels(params):
    return [(jax.tree_util.keystr(p), w) for p, w in
            jax.tree_util.tree_flatten_with_path(params["params"])[0] if w.ndim == 2]


# -- obfuscations ---------------------------------------------------------------
@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.6, 0.8])
def test_pruning_zeroes_the_right_fraction_per_kernel(owner, ratio):
    _, params = owner
    pruned, mask = zoo.prune_magnitude(params, ratio)
    for (name, w), (_, w0) in zip(_kernels(pruned), _kernels(params), strict=True):
        zeros = int(np.sum(np.asarray(w) == 0))
        assert zeros == int(np.floor(ratio * w.size + 1e-4)), name
        # the survivors are the largest ones
        if zeros:
            assert np.max(np.abs(w0)[np.asarray(w) == 0]) <= np.min(np.abs(w0)[np.asarray(w) != 0])
    for layer in params["params"]:
        np.testing.assert_array_equal(pruned["params"][layer]["bias"],
                                      params["params"][layer]["bias"])
        assert set(np.unique(mask[layer]["kernel"])) <= {0.0, 1.0}


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5])
def test_pruning_ratio_out_of_range_is_refused(owner, ratio):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        zoo.prune_magnitude(owner[1], ratio)


def test_int8_has_at_most_256_values_and_fp16_round_trips(owner):
    _, params = owner
    q = zoo.quantize(params, "int8")
    for leaf, ref in zip(jax.tree.leaves(q["params"]), jax.tree.leaves(params["params"]),
                         strict=True):
        assert leaf.dtype == jnp.float32
        assert len(np.unique(np.asarray(leaf))) <= 2 ** 8
        assert float(jnp.max(jnp.abs(leaf - ref))) <= float(jnp.max(jnp.abs(ref))) / 127 / 2 + 1e-6
    h = zoo.quantize(params, "fp16")
    for leaf, ref in zip(jax.tree.leaves(h["params"]), jax.tree.leaves(params["params"]),
                         strict=True):
        np.testing.assert_array_equal(leaf, np.asarray(ref).astype(np.float16).astype(np.float32))
    with pytest.raises(ValueError, match="unknown quantisation"):
        zoo.quantize(params, "int4")


@pytest.mark.parametrize("transform", ["permute", "rescale"])
def test_function_preserving_rewrites(owner, transform):
    net, params = owner
    key = jax.random.key(5)
    if transform == "permute":
        new = zoo.permute_hidden(net, params, key)
    else:
        new = zoo.rescale_relu(net, params, key, 0.5, 2.0)
    x = jax.random.normal(jax.random.key(6), (200, IN)) * 3
    np.testing.assert_allclose(net.apply(new, x), net.apply(params, x), rtol=1e-5, atol=1e-4)
    assert nets.params_digest(new) != nets.params_digest(params)
    assert not np.allclose(new["params"]["dense0"]["kernel"], params["params"]["dense0"]["kernel"])


def test_rewrites_refuse_non_mlp():
    cnn = nets.small_cnn(3, 8, 1)
    p = cnn.init(jax.random.key(0))
    with pytest.raises(NotImplementedError, match="MLP"):
        zoo.permute_hidden(cnn, p, jax.random.key(1))
    # weight-only kinds work on any network
    pruned, _ = zoo.prune_magnitude(p, 0.5)
    k = np.asarray(pruned["params"]["conv0"]["kernel"])
    assert np.sum(k == 0) == k.size // 2


def test_weight_noise_is_relative_and_reinit_replaces_only_the_last_layer(owner):
    net, params = owner
    noisy = zoo.weight_noise(params, jax.random.key(2), 0.1)
    w, w0 = noisy["params"]["dense0"]["kernel"], params["params"]["dense0"]["kernel"]
    ratio = float(jnp.std(w - w0) / jnp.std(w0))
    assert 0.07 < ratio < 0.13
    re = zoo.reinit_last_layer(net, params, jax.random.key(3))
    assert zoo.last_layer(net) == "dense2"
    assert nets.params_digest(re["params"]["dense0"]) == \
        nets.params_digest(params["params"]["dense0"])
    assert not np.allclose(re["params"]["dense2"]["kernel"], params["params"]["dense2"]["kernel"])


# -- training -------------------------------------------------------------------
def test_ftll_leaves_other_layers_bit_identical(owner, data):
    net, params = owner
    n = 3
    base = jax.tree.map(lambda a: jnp.broadcast_to(a, (n, *a.shape)), params)
    cfg = zoo.TrainConfig("adamw", 1e-2, 20, 8, weight_decay=0.1, loss="mse", l2=0.1)
    out, losses = zoo.train_group(net, base, data.x_pirate, data.y_pirate, cfg,
                                  keys=jax.random.split(jax.random.key(0), n),
                                  trainable=("dense2",))
    assert losses.shape == (n, 20)
    for layer in ("dense0", "dense1"):
        for leaf in ("kernel", "bias"):
            got = np.asarray(out["params"][layer][leaf])
            assert np.array_equal(got, np.broadcast_to(params["params"][layer][leaf], got.shape))
    assert not np.allclose(out["params"]["dense2"]["kernel"][0],
                           params["params"]["dense2"]["kernel"])
    with pytest.raises(ValueError, match="not in the network"):
        zoo.train_group(net, base, data.x_pirate, data.y_pirate, cfg,
                        keys=jax.random.split(jax.random.key(0), n), trainable=("fc",))


def test_batch_norm_stats_follow_the_trainable_selection():
    net = nets.resnet18(3, 8, 1, widths=(4, 4, 4, 4))
    p0 = nets.stack_init(net, jax.random.key(0), 2)
    x = jax.random.normal(jax.random.key(1), (16, 8, 8, 1))
    y = jnp.arange(16) % 3
    cfg = zoo.TrainConfig("adam", 1e-2, 2, 4, loss="xent")
    keys = jax.random.split(jax.random.key(2), 2)
    ftll, _ = zoo.train_group(net, p0, x, y, cfg, keys=keys, trainable=(zoo.last_layer(net),))
    frozen = lambda t: {k: v for k, v in t["params"].items() if k != "fc"}  # noqa: E731
    assert all(np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(frozen(ftll)), jax.tree.leaves(frozen(p0)), strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(ftll["batch_stats"]), jax.tree.leaves(p0["batch_stats"]), strict=True))
    assert not np.array_equal(ftll["params"]["fc"]["kernel"], p0["params"]["fc"]["kernel"])


def test_convolutional_group_trains_the_same_mapped_or_vmapped():
    net = nets.resnet18(3, 16, 1, widths=(4, 8, 8, 8))
    p0 = nets.stack_init(net, jax.random.key(0), 3)
    x = jax.random.normal(jax.random.key(1), (32, 16, 16, 1))
    y = jnp.arange(32) % 3
    cfg = zoo.TrainConfig("adam", 1e-3, 3, 16, loss="xent")
    keys = jax.random.split(jax.random.key(2), 3)
    mapped, l_map = zoo.train_group(net, p0, x, y, cfg, keys=keys, members="map")
    batched, l_vmap = zoo.train_group(net, p0, x, y, cfg, keys=keys, members="vmap")
    auto, _ = zoo.train_group(net, p0, x, y, cfg, keys=keys)  # the CPU's choice: map
    np.testing.assert_allclose(l_map, l_vmap, rtol=1e-4, atol=1e-5)
    for a, b, c in zip(jax.tree.leaves(mapped), jax.tree.leaves(batched), jax.tree.leaves(auto),
                       strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
        assert np.array_equal(a, c)
    assert not np.allclose(mapped["params"]["fc"]["kernel"][0], p0["params"]["fc"]["kernel"][0])
    np.testing.assert_allclose(zoo.evaluate(net, mapped, x, y, "accuracy"),
                               [float(jnp.mean(jnp.argmax(net.apply(p, x), -1) == y))
                                for p in nets.unstack(mapped)])
    with pytest.raises(ValueError, match="members must be 'auto', 'vmap' or 'map'"):
        zoo.train_group(net, p0, x, y, cfg, keys=keys, members="pmap")


def test_vmapped_group_equals_members_trained_one_at_a_time(owner, data):
    net, params = owner
    n = 3
    x, y = data.x_owner, data.y_owner
    base = jax.tree.map(lambda a: jnp.broadcast_to(a, (n, *a.shape)), params)
    _, masks = jax.vmap(zoo.prune_magnitude)(base, jnp.array([0.2, 0.4, 0.6]))
    keys = jax.random.split(jax.random.key(4), n)
    index = jnp.stack([jnp.arange(i, i + 40) for i in range(n)])
    lrs = jnp.array([1e-3, 3e-3, 1e-2])
    cfg = zoo.TrainConfig("sgd", 1e-3, 15, 8, loss="huber", momentum=0.9)
    group, losses = zoo.train_group(net, base, x, y, cfg, keys=keys, data_index=index,
                                    masks=masks, lrs=lrs)
    size_before = ztrain._train._cache_size()
    for i in range(n):
        one, loss_one = zoo.train_group(net, _take(base, i), x, y, cfg, keys=keys[i:i + 1],
                                        data_index=index[i:i + 1], masks=_take(masks, i),
                                        lrs=lrs[i:i + 1])
        for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(_take(group, i)), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(loss_one, losses[i:i + 1], rtol=1e-4, atol=1e-4)
    # the per-member runs share one compiled program (n=1), learning rate is data
    assert ztrain._train._cache_size() == size_before + 1
    # pruned weights stayed zero
    for m, p in zip(jax.tree.leaves(masks), jax.tree.leaves(group["params"]), strict=True):
        assert np.all(np.asarray(p)[np.asarray(m) == 0] == 0)


def test_training_reduces_the_loss_and_evaluate(owner, data):
    net, _ = owner
    p0 = nets.stack_init(net, jax.random.key(7), 2)
    cfg = zoo.TrainConfig("adam", 1e-2, 60, 16, loss="mse")
    out, losses = zoo.train_group(net, p0, data.x_owner, data.y_owner, cfg,
                                  keys=jax.random.split(jax.random.key(8), 2))
    assert np.all(np.mean(losses[:, -10:], 1) < np.mean(losses[:, :5], 1))
    mae = zoo.evaluate(net, out, data.x_test, data.y_test, "mae", batch_size=20)
    ref = np.mean(np.abs(np.asarray(jax.vmap(lambda p: net.apply(p, data.x_test))(out))[..., 0]
                         - data.y_test), axis=1)
    np.testing.assert_allclose(mae, ref, rtol=1e-5)
    with pytest.raises(ValueError, match="unknown metric"):
        zoo.evaluate(net, out, data.x_test, data.y_test, "r2")


def test_train_config_validation():
    with pytest.raises(ValueError, match="unknown optimizer"):
        zoo.TrainConfig("rmsprop")
    with pytest.raises(ValueError, match="unknown loss"):
        zoo.TrainConfig(loss="hinge")
    with pytest.raises(ValueError, match="adamw"):
        zoo.TrainConfig("adam", weight_decay=0.1)
    with pytest.raises(ValueError, match="unknown schedule"):
        zoo.TrainConfig(schedule="linear")
    # a constant rate writes the JSON it wrote before the field existed (recipe digests
    # of finished zoos stay valid); a cosine one says so
    assert "schedule" not in zoo.TrainConfig().to_json()
    assert zoo.TrainConfig(schedule="cosine").to_json()["schedule"] == "cosine"


def test_cosine_schedule_scales_each_step(owner, data):
    net, params = owner
    p0 = jax.tree.map(lambda a: a[None], params)
    x, y, key = data.x_owner, data.y_owner, jax.random.key(3)
    plain = zoo.TrainConfig("sgd", 1e-2, 1, 8, loss="mse", momentum=0.0)
    cosine = dataclasses.replace(plain, steps=2, schedule="cosine")
    both, _ = zoo.train_group(net, p0, x, y, cosine, keys=key[None])
    # plain SGD has no state: two cosine steps are a step at lr, then one at lr * (1 +
    # cos(pi / 2)) / 2 = lr / 2 with the minibatch key the first step carried on
    first, _ = zoo.train_group(net, p0, x, y, plain, keys=key[None])
    second, _ = zoo.train_group(net, first, x, y, plain, keys=jax.random.split(key)[0][None],
                                lrs=jnp.array([0.5e-2]))
    for a, b in zip(jax.tree.leaves(both), jax.tree.leaves(second), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    full, _ = zoo.train_group(net, p0, x, y, dataclasses.replace(plain, steps=2),
                              keys=key[None])
    moved = [float(jnp.abs(a - b).max()) for a, b in
             zip(jax.tree.leaves(full), jax.tree.leaves(both), strict=True)]
    assert max(moved) > 1e-6  # the constant rate's second step is another step


# -- recipes --------------------------------------------------------------------
def test_warfarin_recipes_meet_protocol_sizes():
    head = zoo.warfarin_recipe("headline")
    counts = head.counts()
    assert counts["positive"] >= 30 and counts["negative"] >= 30 and counts["distillation"] >= 1
    assert len(head.kinds("positive")) >= 8
    neg = {g.name: g.size for g in head.groups if g.kind.startswith("neg_")}
    assert neg["neg_same"] == max(neg.values())
    small = zoo.warfarin_recipe("small")
    assert set(small.kinds("positive")) == set(head.kinds("positive"))
    assert sum(small.counts().values()) < 40


def test_skin_recipes_meet_protocol_sizes_and_train_negatives_like_the_owner():
    from tafa_jax.scenarios import SKIN

    head = zoo.skin_recipe("headline")
    counts = head.counts()
    assert counts["positive"] >= 30 and counts["negative"] >= 30
    assert len(head.kinds("positive")) >= 8
    same = next(g for g in head.groups if g.kind == "neg_same")
    # PROTOCOL.md's hardest negatives: the owner's own recipe, other seeds
    assert same.train == SKIN.owner_train
    assert same.size == max(g.size for g in head.groups if g.kind.startswith("neg_"))
    fine_tune = {g.train.steps for g in head.groups if g.kind in ("ftal_small", "ftal_large")}
    assert fine_tune and max(fine_tune) < SKIN.owner_train.steps
    small = zoo.skin_recipe("small")
    assert set(small.kinds("positive")) == set(head.kinds("positive"))
    assert sum(small.counts().values()) < 20


def test_bad_recipes_fail_clearly():
    cfg = zoo.TrainConfig(steps=2)
    with pytest.raises(ValueError, match="unknown obfuscation kind 'dropout'"):
        zoo.GroupSpec("x", "dropout")
    with pytest.raises(ValueError, match=r"pruning ratio must be in \[0, 1\)"):
        zoo.GroupSpec("p", "prune", 1, ({"ratio": 1.0},))
    with pytest.raises(ValueError, match="empty"):
        zoo.GroupSpec("p", "prune", 1, ())
    with pytest.raises(ValueError, match="empty"):
        zoo.GroupSpec("n", "neg_same", 0, train=cfg)
    with pytest.raises(ValueError, match="needs a TrainConfig"):
        zoo.GroupSpec("f", "ftll")
    with pytest.raises(ValueError, match="do not apply"):
        zoo.GroupSpec("f", "fp16", 1, ({"ratio": 0.5},))
    with pytest.raises(ValueError, match="duplicate"):
        zoo.ZooRecipe("r", (zoo.GroupSpec("a", "fp16"), zoo.GroupSpec("a", "int8")))
    with pytest.raises(ValueError, match="no groups"):
        zoo.ZooRecipe("r", ())


def test_architecture_specs_round_trip():
    for net in (nets.mlp(31, (100,), 1, head="clip", clip=(0.0, 300.0)), nets.generator(),
                nets.critic(), nets.small_cnn(7, 28, 3), nets.resnet18(7, 32, widths=(8, 8, 8, 8))):
        spec = zoo.describe_network(net)
        assert zoo.network_from_spec(json.loads(json.dumps(spec))) == net
    assert zoo.network_spec("mlp", in_features=31, hidden=(100,))["hidden"] == [100]
    with pytest.raises(ValueError, match="unknown network builder"):
        zoo.network_from_spec({"builder": "vgg"})
    with pytest.raises(ValueError, match="bad arguments"):
        zoo.network_spec("mlp", in_features=3, depth=2)


# -- building, storage, resumption ------------------------------------------------
def _tiny_recipe(ratios=(0.0, 0.5)):
    ft = zoo.TrainConfig("adam", 1e-3, 5, 8, loss="mae")
    return zoo.ZooRecipe("tiny", (
        zoo.GroupSpec("prune", "prune", 1, tuple({"ratio": r} for r in ratios)),
        zoo.GroupSpec("ftll", "ftll", 2, train=ft),
        zoo.GroupSpec("permute", "permute", 1),
        zoo.GroupSpec("neg_same", "neg_same", 2, train=ft),
        zoo.GroupSpec("neg_width", "neg_width", 1, train=ft, arch={"hidden": [5]}),
    ))


@pytest.fixture(scope="module")
def built(tmp_path_factory, owner, data):
    net, params = owner
    out = tmp_path_factory.mktemp("zoo")
    events = []
    z = zoo.build_zoo(out, owner_net=net, owner_params=params, data=data, recipe=_tiny_recipe(),
                      utility_metric="mae", key=jax.random.key(0), progress=events.append)
    return out, z, events


def test_build_writes_manifest_and_round_trips(built, owner):
    out, z, events = built
    assert [e["event"] for e in events] == ["trained"] * 5 and z.skipped_groups == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format_version"] == zoo.FORMAT_VERSION
    assert manifest["owner"]["digest"] == nets.params_digest(owner[1])
    assert len(manifest["members"]) == len(z) == 8
    m = next(r for r in manifest["members"] if r["id"] == "neg_width-v0-s0")
    assert m["architecture"]["hidden"] == [5] and m["label"] == 0 and m["group"] == "negative"
    assert set(m) >= {"id", "kind", "group", "label", "settings", "seed", "architecture",
                      "utility", "excluded", "digest", "file", "index"}
    loaded = zoo.load_zoo(out)
    assert loaded.records == z.records
    for r in loaded.records:
        assert nets.params_digest(loaded.member_params(r.id)) == r.digest
    # the unpruned copy is the owner itself
    assert loaded.record("prune-v0-s0").digest == nets.params_digest(owner[1])
    grouped = loaded.grouped()
    assert sorted(len(ids) for _, _, ids in grouped.values()) == [1, 7]
    for arch, (net, stacked, ids) in grouped.items():
        ys = nets.zoo_apply(net, stacked, jnp.zeros((2, IN)))
        assert ys.shape == (len(ids), 2, 1), arch
        for i, mid in enumerate(ids):
            assert nets.params_digest(jax.tree.map(lambda a, i=i: a[i], stacked)) == \
                loaded.record(mid).digest


def test_tampered_or_missing_file_is_refused(built, tmp_path):
    import shutil
    out, z, _ = built
    copy = tmp_path / "zoo"
    shutil.copytree(out, copy)
    f = copy / "groups" / "neg_same.npz"
    arrays = load_npz(f)
    arrays["params/dense0/kernel"][1, 0, 0] += 1e-3  # a valid npz with one weight changed
    atomic_write_bytes(f, npz_bytes(arrays))
    with pytest.raises(ValueError, match="member 'neg_same-v0-s1'.*digest"):
        zoo.load_zoo(copy)
    f.unlink()
    with pytest.raises(FileNotFoundError, match="neg_same-v0-s0"):
        zoo.load_zoo(copy)


def test_resumed_build_skips_finished_groups(tmp_path, owner, data):
    net, params = owner
    recipe = _tiny_recipe()
    events = []

    def interrupt(event):
        events.append(event)
        if event["trained"] == 2:
            raise KeyboardInterrupt

    kwargs = dict(owner_net=net, owner_params=params, data=data, recipe=recipe,
                  key=jax.random.key(0))
    with pytest.raises(KeyboardInterrupt):
        zoo.build_zoo(tmp_path, progress=interrupt, **kwargs)
    assert len(zoo.load_zoo(tmp_path)) == 4  # prune (2) and ftll (2) are on disk
    events.clear()
    z = zoo.build_zoo(tmp_path, progress=events.append, **kwargs)
    assert (z.trained_groups, z.skipped_groups) == (3, 2)
    assert [e["event"] for e in events] == ["skipped"] * 2 + ["trained"] * 3
    again = zoo.build_zoo(tmp_path, **kwargs)
    assert (again.trained_groups, again.skipped_groups) == (0, 5)
    assert again.records == z.records
    # an edited recipe trains its changed group again and keeps the others
    events.clear()
    edited = zoo.build_zoo(tmp_path, progress=events.append,
                           **{**kwargs, "recipe": _tiny_recipe((0.0, 0.3))})
    assert [e["group"] for e in events if e["event"] == "trained"] == ["prune"]
    assert edited.record("prune-v1-s0").member.settings == {"ratio": 0.3}
    assert edited.record("prune-v1-s0").digest != z.record("prune-v1-s0").digest
    assert edited.record("ftll-v0-s1") == z.record("ftll-v0-s1")
    assert edited.manifest["recipe_digest"] == _tiny_recipe((0.0, 0.3)).digest()
    with pytest.raises(ValueError, match=r"different zoo \(key differs\)"):
        zoo.build_zoo(tmp_path, **{**kwargs, "key": jax.random.key(1)})
    # a recipe of another name (another size, a mistyped directory) is refused whole
    other = zoo.ZooRecipe("other", _tiny_recipe().groups)
    with pytest.raises(ValueError, match="recipe 'tiny', not 'other'"):
        zoo.build_zoo(tmp_path, **{**kwargs, "recipe": other})
    with pytest.raises(ValueError, match="utility_tolerance must be"):
        zoo.build_zoo(tmp_path, utility_tolerance=float("nan"), **kwargs)
    # a group the recipe no longer has is left out of the manifest
    fewer = zoo.ZooRecipe("tiny", _tiny_recipe((0.0, 0.3)).groups[:-1])
    kept = zoo.build_zoo(tmp_path, **{**kwargs, "recipe": fewer})
    assert (kept.trained_groups, kept.skipped_groups) == (0, 4)
    assert not any(r.member.train_group == "neg_width" for r in kept.records)
    assert not any(r.member.train_group == "neg_width"
                   for r in zoo.load_zoo(tmp_path).records)
    # a zoo trained on the data is not resumed as one on owner-labelled samples
    assert "owner_labelled" not in json.loads((tmp_path / "manifest.json").read_text())
    with pytest.raises(ValueError, match=r"different zoo \(owner_labelled differs\)"):
        zoo.build_zoo(tmp_path, owner_labelled=True, **kwargs)


def test_excluded_when_utility_out_of_tolerance(tmp_path, owner, data):
    net, params = owner
    recipe = zoo.ZooRecipe("ex", (zoo.GroupSpec("prune", "prune", 1,
                                                ({"ratio": 0.0}, {"ratio": 0.95})),))
    z = zoo.build_zoo(tmp_path, owner_net=net, owner_params=params, data=data, recipe=recipe,
                      utility_metric="mae", utility_tolerance=0.15, key=jax.random.key(0))
    owner_mae = z.manifest["owner"]["utility"]
    keep, drop = z.record("prune-v0-s0"), z.record("prune-v1-s0")
    assert keep.utility == pytest.approx(owner_mae) and not keep.excluded
    assert drop.utility > 1.15 * owner_mae and drop.excluded
    assert "prune-v1-s0" not in sum((ids for *_, ids in z.grouped(include_excluded=False)
                                     .values()), [])
    assert zoo.utility_excluded("accuracy", 0.90, 0.84, 0.05)
    assert not zoo.utility_excluded("accuracy", 0.90, 0.86, 0.05)
    assert zoo.utility_excluded("quality", 10.0, 16.0, 1.5)
    assert zoo.utility_excluded("mae", 10.0, float("nan"), 0.15)
