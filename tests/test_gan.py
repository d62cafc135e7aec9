"""The fashion scenario: WGAN training, Fréchet quality score, and the fashion zoo (tiny)."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tafa_jax import gan, nets
from tafa_jax import zoo as zoo_
from tafa_jax.data import load_fashion_mnist
from tafa_jax.zoo import ZooRecipe, load_zoo, prune_magnitude

TINY = gan.WGANConfig(steps=3, batch_size=8, n_critic=2, lr=5e-4)


@pytest.fixture(scope="module")
def nets_():
    return nets.generator(), nets.critic()


@pytest.fixture(scope="module")
def images():
    return load_fashion_mnist("train", limit=64, synthetic=True)


@pytest.fixture(scope="module")
def scorer(images):
    sc = gan.train_quality_scorer(images.images, images.labels, key=jax.random.key(0),
                                  steps=20, batch_size=16, eval_images=images.images[:16],
                                  eval_labels=images.labels[:16])
    assert 0.0 <= sc.accuracy <= 1.0 and sc.dim == 64 and sc.n_reference == 64
    return sc


@pytest.fixture(scope="module")
def owner(nets_, images):
    g, c = nets_
    return gan.train_fashion_owner(images.images[:32], TINY, jax.random.key(1), gen_net=g,
                                   critic_net=c)


def test_vmapped_members_equal_members_alone(nets_, images):
    g, c = nets_
    keys = jax.random.split(jax.random.key(3), 2)
    lrs = jnp.asarray([5e-4, 1e-4])
    x = images.images[:32]  # the owner's split: the programs are shared with other tests
    gp, cp, losses = gan.train_wgan(g, c, x, TINY, keys, lrs=lrs)
    assert losses.critic.shape == (2, TINY.steps) and losses.generator.shape == (2, TINY.steps)
    assert np.all(np.isfinite(losses.critic)) and np.all(np.isfinite(losses.generator))
    for i in range(2):
        gi, ci, li = gan.train_wgan(g, c, x, TINY, keys[i:i + 1], lrs=lrs[i:i + 1])
        for a, b in zip(jax.tree.leaves(gp), jax.tree.leaves(gi), strict=True):
            np.testing.assert_allclose(np.asarray(a[i]), np.asarray(b[0]), atol=2e-5, rtol=1e-4)
        for a, b in zip(jax.tree.leaves(cp), jax.tree.leaves(ci), strict=True):
            np.testing.assert_allclose(np.asarray(a[i]), np.asarray(b[0]), atol=2e-5, rtol=1e-4)
        np.testing.assert_allclose(losses.critic[i], li.critic[0], atol=1e-4, rtol=1e-3)
    # the two members differ (own keys and lrs), and the critic stays in the clip box
    assert not np.allclose(np.asarray(gp["params"]["dense0"]["kernel"][0]),
                           np.asarray(gp["params"]["dense0"]["kernel"][1]))
    for leaf in jax.tree.leaves(cp):
        assert float(jnp.max(jnp.abs(leaf))) <= TINY.clip + 1e-7


def test_fine_tuning_starts_from_given_params_and_keeps_masks(nets_, images, owner):
    g, c = nets_
    og, oc = owner
    stack1 = lambda p: jax.tree.map(lambda a: a[None], p)  # noqa: E731
    g0, masks = jax.vmap(lambda p: prune_magnitude(p, 0.5))(stack1(og))
    gp, cp, _ = gan.train_wgan(g, c, images.images[32:], TINY,
                               jax.random.split(jax.random.key(4), 1), g0, stack1(oc),
                               gen_masks=masks)
    k = np.asarray(gp["params"]["dense1"]["kernel"])
    m = np.asarray(masks["dense1"]["kernel"])
    assert np.all(k[m == 0] == 0) and np.mean(m == 0) > 0.45
    # fine-tuned, not re-initialised: still close to the owner
    d = np.asarray(gp["params"]["dense3"]["kernel"][0]) - np.asarray(
        og["params"]["dense3"]["kernel"])
    assert 0 < np.abs(d).max() < 0.05


def test_frechet_distance_properties(scorer, images, nets_):
    x = images.images
    assert scorer.image_distance(x) == pytest.approx(0.0, abs=1e-6 * max(1.0, np.trace(scorer.cov)))
    shifted = np.clip(x + 0.5, -1, 1)
    d1 = scorer.image_distance(shifted)
    d2 = scorer.image_distance(np.clip(x + 1.0, -1, 1))
    assert 0 < d1 < d2
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5,)), rng.normal(size=(5,))
    assert gan.frechet_gaussian(a, np.eye(5), b, np.eye(5)) == pytest.approx(np.sum((a - b) ** 2))
    assert gan.frechet_gaussian(a, np.eye(5), a, 4 * np.eye(5)) == pytest.approx(5.0)
    # generator members: finite, one value per member, identical members score identically
    g, _ = nets_
    p = nets.stack_init(g, jax.random.key(5), 2)
    p = jax.tree.map(lambda a: jnp.concatenate([a, a[:1]]), p)
    fd = gan.frechet_distance(scorer, g, p, jax.random.key(6), 64, member_chunk=2)
    assert fd.shape == (3,) and np.all(np.isfinite(fd)) and np.all(fd > 0)
    assert fd[0] == pytest.approx(fd[2], rel=1e-5)


def test_headline_recipe_follows_the_owners_length():
    """A shorter owner gives same-recipe negatives of its length and pirates a tenth."""
    default = gan.fashion_recipe("headline")
    assert gan.fashion_recipe("headline", owner_steps=default.owner_cfg.steps).digest() == (
        default.digest())
    short = gan.fashion_recipe("headline", owner_steps=1000)
    assert short.owner_cfg == dataclasses.replace(default.owner_cfg, steps=1000)
    assert short.ft_cfg == dataclasses.replace(default.ft_cfg, steps=100)
    assert short.digest() != default.digest()
    by_kind = {g.kind: g.cfg.steps for g in short.gan}
    assert by_kind["neg_same"] == by_kind["neg_width"] == 1000
    assert by_kind["ftal_small"] == by_kind["ftal_large"] == by_kind["fineprune"] == 100
    assert gan.fashion_recipe("headline", owner_steps=3).ft_cfg.steps == 1
    assert short.counts() == default.counts()
    with pytest.raises(ValueError, match="headline recipe only"):
        gan.fashion_recipe("small", owner_steps=1000)
    with pytest.raises(ValueError, match="not both"):
        gan.fashion_recipe("headline", owner_steps=1000, owner_cfg=TINY)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="owner_steps must be an int"):
            gan.fashion_recipe("headline", owner_steps=bad)


def test_fashion_zoo_small(tmp_path, nets_, images, owner, scorer):
    g, c = nets_
    og, oc = owner
    full = gan.fashion_recipe("small", owner_cfg=TINY, ft_cfg=TINY)
    assert full.counts()["positive"] >= 9 and len(full.kinds("positive")) >= 9
    assert full.counts()["negative"] >= 3 and full.counts()["distillation"] >= 1
    # keep CI fast: build_zoo's other weight-only kinds are tested in test_zoo, and the
    # narrower negatives only cost another compile (their architecture is checked here)
    keep = {"prune", "fp16", "permute", "distill"}
    recipe = dataclasses.replace(
        full, weights=ZooRecipe(full.weights.name, tuple(
            g for g in full.weights.groups if g.name in keep)),
        gan=tuple(g for g in full.gan if g.kind != "neg_width"))
    owner_spec = zoo_.describe_network(g)
    narrow = [grp for grp in full.gan if grp.kind == "neg_width"][0].members(owner_spec)[0]
    assert narrow.label == 0 and narrow.architecture["hidden"] == [96, 192, 384]
    assert zoo_.network_from_spec(narrow.architecture).output_shape == g.output_shape
    head = gan.fashion_recipe("headline")
    assert head.counts()["positive"] >= 30 and len(head.kinds("positive")) >= 8
    assert head.counts()["negative"] >= 30
    events = []
    z = gan.fashion_zoo(tmp_path / "zoo", gen_net=g, owner_gen=og, owner_critic=oc,
                        data_pirate_images=images.images[32:], data_owner_images=images.images[:32],
                        scorer=scorer, size="small", key=jax.random.key(7), progress=events.append,
                        critic_net=c, recipe=recipe, n_quality_samples=64)
    total = len(recipe.weights.groups) + len(recipe.gan)
    assert z.trained_groups == total and len(events) == total
    loaded = load_zoo(tmp_path / "zoo")
    kinds = {r.member.kind for r in loaded.records}
    assert kinds == keep | {"ftal_small", "ftal_large", "fineprune", "neg_same"}
    labels = loaded.labels()
    assert set(labels.values()) == {0, 1}
    assert all(np.isfinite(r.utility) for r in loaded.records)
    grouped = loaded.grouped()
    assert len(grouped) == 1  # every member has the owner's generator architecture
    n_seen = 0
    for net, stacked, ids in grouped.values():
        assert net.input_shape == (64,) and net.output_shape == (28, 28, 1)
        nets.check_params(net, stacked, leading=(len(ids),))
        n_seen += len(ids)
    assert n_seen == len(loaded)
    # a function-preserving copy scores like the owner
    owner_u = loaded.manifest["owner"]["utility"]
    perm = [r for r in loaded.records if r.member.kind == "permute"][0]
    assert perm.utility == pytest.approx(owner_u, rel=1e-3)
    # resumption: everything is found on disk
    z2 = gan.fashion_zoo(tmp_path / "zoo", gen_net=g, owner_gen=og, owner_critic=oc,
                         data_pirate_images=images.images[32:],
                         data_owner_images=images.images[:32], scorer=scorer, size="small",
                         key=jax.random.key(7), critic_net=c, recipe=recipe, n_quality_samples=64)
    assert z2.trained_groups == 0 and z2.skipped_groups == total
    assert z2.ids == loaded.ids
    manifest = json.loads((tmp_path / "zoo" / "manifest.json").read_text())
    assert len(manifest["members"]) == len(loaded)
    # another GAN recipe in the same directory is refused
    other = dataclasses.replace(recipe, ft_cfg=gan.WGANConfig(steps=2, batch_size=8, n_critic=2))
    with pytest.raises(ValueError, match="different fashion zoo"):
        gan.fashion_zoo(tmp_path / "zoo", gen_net=g, owner_gen=og, owner_critic=oc,
                        data_pirate_images=images.images[32:],
                        data_owner_images=images.images[:32], scorer=scorer,
                        key=jax.random.key(7), critic_net=c, recipe=other, n_quality_samples=64)


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": 0}, "steps"), ({"batch_size": 0}, "batch_size"), ({"n_critic": 0}, "n_critic"),
    ({"lr": 0.0}, "lr"), ({"clip": -1.0}, "clip"), ({"optimizer": "sgd"}, "optimizer"),
    ({"steps": 2.5}, "steps"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gan.WGANConfig(**kwargs)


def test_bad_inputs(nets_, images):
    g, c = nets_
    keys = jax.random.split(jax.random.key(0), 2)
    with pytest.raises(ValueError, match="images must have shape"):
        gan.train_wgan(g, c, images.images[:, :14], TINY, keys)
    with pytest.raises(ValueError, match="one PRNG key per member"):
        gan.train_wgan(g, c, images.images, TINY, jax.random.key(0))
    with pytest.raises(ValueError, match="gen_init"):
        gan.train_wgan(g, c, images.images, TINY, keys, gen_init=g.init(jax.random.key(0)))
    with pytest.raises(ValueError, match="critic's input shape"):
        gan.train_wgan(nets.generator(image_shape=(14, 14, 1)), c, images.images, TINY, keys)
    with pytest.raises(ValueError, match="WGANConfig"):
        gan.train_wgan(g, c, images.images, {"steps": 3}, keys)
    with pytest.raises(ValueError, match="size"):
        gan.fashion_recipe("huge")
    with pytest.raises(ValueError, match="not trained adversarially"):
        gan.GANGroup("x", "prune", 1, TINY)


def test_make_zoo_gives_the_headline_recipe_the_owners_length(monkeypatch, nets_, owner,
                                                              images):
    from tafa_jax import pipeline
    from tafa_jax.data.domains import noise_domain
    from tafa_jax.scenarios import FASHION
    from tafa_jax.zoo import ZooData

    og, oc = owner
    seen = []
    monkeypatch.setattr(gan, "fashion_zoo", lambda out, **kw: seen.append(kw) or "zoo")
    monkeypatch.setitem(pipeline._GAN_EXTRAS, pipeline.params_digest(og),
                        {"critic": oc, "scorer": "scorer"})
    x = images.images
    data = pipeline.ScenarioData(ZooData(x, images.labels, x, images.labels, x, images.labels),
                                 noise_domain(64), "synthetic", True)
    for size, steps, want in (("headline", 1000, (1000, 100)), ("headline", None, (20000, 2000)),
                              ("small", 1000, (4, 3))):
        assert pipeline.make_zoo(FASHION, "unused", nets_[0], og, data, jax.random.key(0),
                                 size=size, owner_steps=steps) == "zoo"
        recipe = seen[-1]["recipe"]
        assert (recipe.owner_cfg.steps, recipe.ft_cfg.steps) == want
        assert recipe.name == f"fashion-{size}" and seen[-1]["size"] == size
