"""The fashion scenario: WGAN training, a sample-quality score, and its suspect zoo.

PROTOCOL.md, scenario "fashion": a WGAN on Fashion-MNIST with an FCN generator
64-128-256-512-784 (tanh output) and an FCN critic 784-512-256-1. This module

* trains ``N`` WGANs at once (:func:`train_wgan`): one jitted program, ``vmap``
  over members, ``lax.scan`` over generator iterations. The recipe is the WGAN
  paper's (Arjovsky et al. 2017, Algorithm 1): ``n_critic`` critic updates per
  generator update, RMSProp at ``5e-5``, and **weight clipping** of every critic
  parameter (kernels and biases) to ``[-clip, clip]``, applied after each critic
  update (so a returned critic always lies inside the box);
* scores sample quality offline (:class:`QualityScorer`, :func:`frechet_distance`):
  the Fréchet distance between Gaussian fits of a small Fashion-MNIST
  classifier's last-hidden-layer ReLU features on generated and on real images
  (an "FID" with a small in-domain classifier instead of Inception). Lower is
  better; the zoo's utility filter excludes a positive whose score is
  > 1.5x the owner's;
* builds the suspect zoo (:func:`fashion_zoo`) in the storage format of
  :mod:`tafa_jax.zoo.build`, so ``load_zoo(dir).grouped()`` works unchanged.
  Weight-only positives and distillation go through
  :func:`~tafa_jax.zoo.build.build_zoo`; the adversarially trained groups
  (FTAL, fine-pruning, independent WGANs) are trained here and appended to the
  same manifest with :func:`store_group` / :func:`add_trained_groups`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from tafa_jax.io import atomic_write_bytes, npz_bytes, read_json, sha256_file
from tafa_jax.nets import builders
from tafa_jax.nets.network import Network, Params, check_params, forward, forward_with_preacts
from tafa_jax.nets.stacking import params_digest, unstack, zoo_size
from tafa_jax.zoo import obfuscate as obf
from tafa_jax.zoo.arch import arch_key, describe_network, network_from_spec
from tafa_jax.zoo.build import (
    DEFAULT_TOLERANCE,
    MemberRecord,
    Zoo,
    ZooData,
    build_zoo,
    flatten_params,
    load_zoo,
    utility_excluded,
    write_manifest,
)
from tafa_jax.zoo.recipes import (
    GroupSpec,
    Member,
    ZooRecipe,
    kind_group,
    kind_label,
    weights_only_recipe,
)
from tafa_jax.zoo.train import TrainConfig, train_group

WGAN_OPTIMIZERS = ("rmsprop", "adam")
SIZES = ("small", "headline")
GAN_KINDS = ("ftal_small", "ftal_large", "fineprune", "neg_same", "neg_width", "neg_subset",
             "neg_optim")

Progress = Callable[[dict[str, Any]], None]


# -- WGAN training ----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class WGANConfig:
    """How a WGAN (weight clipping) is trained. Hashable: a static jit argument.

    Attributes:
      steps: generator iterations; each runs ``n_critic`` critic updates first.
      batch_size: real images (drawn with replacement) and latents per update.
      n_critic: critic updates per generator update (5 in the WGAN paper).
      lr: learning rate of both networks (``5e-5`` in the WGAN paper), used when
        :func:`train_wgan` gets no per-member ``lrs``.
      clip: critic weight clipping bound ``c``: every critic parameter is clipped to
        ``[-c, c]`` after each critic update (0.01 in the paper).
      optimizer: ``"rmsprop"`` (the paper's; decay 0.99, eps 1e-8 as PyTorch's
        default) or ``"adam"`` (b1 0.5, b2 0.999).
    """

    steps: int = 20000
    batch_size: int = 64
    n_critic: int = 5
    lr: float = 5e-5
    clip: float = 0.01
    optimizer: str = "rmsprop"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "n_critic"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < 1:
                raise ValueError(f"WGANConfig.{name} must be an int >= 1, got {v!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"WGANConfig.lr must be a finite number > 0, got {self.lr!r}")
        if not (isinstance(self.clip, (int, float)) and math.isfinite(self.clip)
                and self.clip > 0):
            raise ValueError(f"WGANConfig.clip (critic weight clipping) must be a finite "
                             f"number > 0, got {self.clip!r}")
        if self.optimizer not in WGAN_OPTIMIZERS:
            raise ValueError(f"unknown WGAN optimizer {self.optimizer!r}; expected one of "
                             f"{WGAN_OPTIMIZERS}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class WGANLosses(NamedTuple):
    """Per-member, per-generator-iteration losses, numpy ``(N, steps)``.

    ``critic``: ``mean D(G(z)) - mean D(x)`` after the iteration's last critic
    update (its negative is the critic's Wasserstein estimate).
    ``generator``: ``-mean D(G(z))``.
    """

    critic: np.ndarray
    generator: np.ndarray


def _typed_keys(keys: Any) -> jax.Array:
    """``(N,)`` typed PRNG keys from typed keys or raw ``uint32`` key data ``(N, 2)``."""
    if not (isinstance(keys, jax.Array) and jax.dtypes.issubdtype(keys.dtype,
                                                                   jax.dtypes.prng_key)):
        try:
            keys = jax.random.wrap_key_data(jnp.asarray(keys, jnp.uint32))
        except (TypeError, ValueError) as err:
            raise ValueError(f"keys must be (N,) PRNG keys (e.g. jax.random.split(key, N)) or "
                             f"raw uint32 key data (N, 2); got {keys!r:.80}: {err}") from err
    if keys.ndim != 1 or keys.shape[0] < 1:
        raise ValueError(f"keys must have shape (N,) with N >= 1, one PRNG key per member "
                         f"(e.g. jax.random.split(key, N)); got shape {keys.shape}")
    return keys


def _root_key(key: Any) -> jax.Array:
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"key must be a single PRNG key, got shape {key.shape}")
        return key
    return jax.random.wrap_key_data(jnp.asarray(key, jnp.uint32))


def _direction(cfg: WGANConfig) -> optax.GradientTransformation:
    """The optimiser without its learning rate: updates are ``p - lr * u``."""
    if cfg.optimizer == "rmsprop":
        return optax.scale_by_rms(decay=0.99, eps=1e-8)
    return optax.scale_by_adam(b1=0.5, b2=0.999)


def _check_gan_nets(gen_net: Network, critic_net: Network) -> None:
    if tuple(gen_net.output_shape) != tuple(critic_net.input_shape):
        raise ValueError(f"the generator's output shape {gen_net.output_shape} must be the "
                         f"critic's input shape {critic_net.input_shape}")
    if math.prod(critic_net.output_shape) != 1:
        raise ValueError(f"the critic must output one score per image, got output shape "
                         f"{critic_net.output_shape}")


def _check_images(images: Any, shape: tuple[int, ...], what: str = "images") -> jax.Array:
    x = jnp.asarray(images)
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != tuple(shape) or x.shape[0] < 1:
        raise ValueError(f"{what} must have shape (rows >= 1, *{tuple(shape)}), got "
                         f"{tuple(x.shape)}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"{what} must be floating point (in [-1, 1]), got dtype {x.dtype}")
    return x.astype(jnp.float32)


def train_wgan(
    gen_net: Network,
    critic_net: Network,
    images: Any,
    cfg: WGANConfig,
    keys: Any,
    gen_init: Params | None = None,
    critic_init: Params | None = None,
    *,
    lrs: Any = None,
    gen_masks: Params | None = None,
    pad_members: bool = True,
) -> tuple[Params, Params, WGANLosses]:
    """Train ``N`` WGANs (weight clipping) together in one jitted program.

    Each member ``m`` splits ``keys[m]`` into a generator-init, a critic-init and a
    training key; the training key fixes its real minibatches and latents. A member
    trained alone (``keys[m:m+1]``) follows the same computation as in the group.

    Args:
      gen_net, critic_net: the architectures (static); the generator's output shape
        is the critic's input shape.
      images: ``(rows, *image_shape)`` real images in ``[-1, 1]``, shared by the group.
      cfg: the :class:`WGANConfig`.
      keys: ``(N,)`` PRNG keys (or raw key data ``(N, 2)``), one per member.
      gen_init, critic_init: optional stacked starting params ``(N, ...)`` (e.g. the
        owner's, broadcast, for pirate fine-tuning); fresh inits from ``keys`` if None.
      lrs: optional ``(N,)`` per-member learning rates (default ``cfg.lr``).
      gen_masks: optional 0/1 masks shaped like ``gen_init["params"]`` (``(N, ...)``):
        masked generator weights are zeroed at the start and stay zero (fine-pruning).
      pad_members: run ``N`` rounded up to a power of two >= 2 (copies of the last
        member, dropped from the results), so groups of nearby sizes share one
        compiled program. Members are independent, so results do not change.

    Returns:
      ``(gen_params, critic_params, losses)``: stacked ``(N, ...)`` params and a
      :class:`WGANLosses` of ``(N, steps)`` arrays.

    Raises:
      ValueError: bad config, keys, shapes or params.
    """
    if not isinstance(cfg, WGANConfig):
        raise ValueError(f"cfg must be a WGANConfig, got {type(cfg).__name__}")
    _check_gan_nets(gen_net, critic_net)
    keys = _typed_keys(keys)
    n = keys.shape[0]
    x = _check_images(images, tuple(critic_net.input_shape))
    for what, net, p0 in (("gen_init", gen_net, gen_init), ("critic_init", critic_net,
                                                              critic_init)):
        if p0 is not None:
            try:
                check_params(net, p0, leading=(n,))
            except ValueError as err:
                raise ValueError(f"{what} must be {net.name} params stacked on a leading axis "
                                 f"of {n} (one per key): {err}") from err
    lrs = (jnp.full((n,), cfg.lr, jnp.float32) if lrs is None
           else jnp.asarray(lrs, jnp.float32))
    if lrs.shape != (n,) or not bool(jnp.all(lrs > 0)):
        raise ValueError(f"lrs must be ({n},) positive learning rates, got shape {lrs.shape}")
    if gen_masks is not None:
        if gen_init is None:
            raise ValueError("gen_masks need gen_init (the params the masks were computed from)")
        want = jax.tree.structure(gen_init["params"])
        if jax.tree.structure(gen_masks) != want:
            raise ValueError("gen_masks must be a pytree shaped like gen_params['params']")
        for m, p in zip(jax.tree.leaves(gen_masks), jax.tree.leaves(gen_init["params"]),
                        strict=True):
            if tuple(m.shape) != tuple(p.shape):
                raise ValueError(f"gen_masks leaf shape {tuple(m.shape)} does not match the "
                                 f"param's {tuple(p.shape)}")
    # pad to a power of two (>= 2) with copies of the last member, dropped below
    n_run = max(2, 1 << (n - 1).bit_length()) if pad_members else n
    if n_run != n:
        idx = jnp.minimum(jnp.arange(n_run), n - 1)
        take = lambda t: None if t is None else jax.tree.map(  # noqa: E731
            lambda a: jnp.asarray(a)[idx], t)
        gen_init, critic_init, gen_masks = take(gen_init), take(critic_init), take(gen_masks)
        keys, lrs = keys[idx], lrs[idx]
    k_gen, k_critic, k_train = _split3(keys)
    g0: Params = _stack_init(gen_net, k_gen) if gen_init is None else gen_init
    c0: Params = _stack_init(critic_net, k_critic) if critic_init is None else critic_init
    if gen_masks is None:  # all-ones masks: pruned and unpruned groups share one program
        gen_masks = jax.tree.map(lambda a: jnp.ones(a.shape, jnp.float32), g0["params"])
    static_cfg = dataclasses.replace(cfg, lr=1.0)  # lr is per-member data, not program identity
    g, c, cl, gl = _train_wgan(gen_net, critic_net, static_cfg, g0, c0, x, k_train, lrs,
                               gen_masks)
    if n_run != n:
        g, c = jax.tree.map(lambda a: a[:n], g), jax.tree.map(lambda a: a[:n], c)
        cl, gl = cl[:n], gl[:n]
    return g, c, WGANLosses(np.asarray(cl), np.asarray(gl))


@jax.jit
def _split3(keys: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    k = jax.vmap(lambda k: jax.random.split(k, 3))(keys)
    return k[:, 0], k[:, 1], k[:, 2]


@functools.partial(jax.jit, static_argnums=0)
def _stack_init(net: Network, keys: jax.Array) -> Params:
    return jax.vmap(net.init)(keys)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _train_wgan(gen_net, critic_net, cfg, gen0, critic0, images, keys, lrs, masks):
    tx = _direction(cfg)
    latent = tuple(gen_net.input_shape)
    rows = images.shape[0]
    bs = cfg.batch_size

    def member(g0, c0, key, lr, mask):
        def gen_vars(gp):
            return {**g0, "params": gp}

        def critic_vars(cp):
            return {**c0, "params": cp}

        gp0 = jax.tree.map(lambda p, m: p * m.astype(p.dtype), g0["params"], mask)
        cp0 = c0["params"]

        def critic_step(carry, k):
            gp, cp, cs = carry
            k_idx, k_z = jax.random.split(k)
            xb = images[jax.random.randint(k_idx, (bs,), 0, rows)]
            z = jax.random.normal(k_z, (bs, *latent), jnp.float32)
            fake = jax.lax.stop_gradient(forward(gen_net, gen_vars(gp), z))

            def loss(cp):
                both = forward(critic_net, critic_vars(cp), jnp.concatenate([fake, xb]))
                return jnp.mean(both[:bs]) - jnp.mean(both[bs:])

            val, grads = jax.value_and_grad(loss)(cp)
            updates, cs = tx.update(grads, cs, cp)
            cp = jax.tree.map(lambda p, u: jnp.clip(p - lr * u, -cfg.clip, cfg.clip),
                              cp, updates)
            return (gp, cp, cs), val

        def step(carry, _):
            gp, cp, gs, cs, k = carry
            k, k_c, k_g = jax.random.split(k, 3)
            (gp, cp, cs), c_losses = jax.lax.scan(
                critic_step, (gp, cp, cs), jax.random.split(k_c, cfg.n_critic))
            z = jax.random.normal(k_g, (bs, *latent), jnp.float32)

            def loss(gp):
                return -jnp.mean(forward(critic_net, critic_vars(cp),
                                         forward(gen_net, gen_vars(gp), z)))

            val, grads = jax.value_and_grad(loss)(gp)
            grads = jax.tree.map(lambda g, m: g * m.astype(g.dtype), grads, mask)
            updates, gs = tx.update(grads, gs, gp)
            gp = jax.tree.map(lambda p, u, m: (p - lr * u) * m.astype(p.dtype), gp, updates, mask)
            return (gp, cp, gs, cs, k), (c_losses[-1], val)

        carry0 = (gp0, cp0, tx.init(gp0), tx.init(cp0), key)
        (gp, cp, _, _, _), (cl, gl) = jax.lax.scan(step, carry0, None, length=cfg.steps)
        return gen_vars(gp), critic_vars(cp), cl, gl

    return jax.vmap(member)(gen0, critic0, keys, lrs, masks)


def train_fashion_owner(
    images: Any,
    cfg: WGANConfig,
    key: Any,
    *,
    gen_net: Network | None = None,
    critic_net: Network | None = None,
) -> tuple[Params, Params]:
    """The owner WGAN: one member of :func:`train_wgan` from a fresh init.

    Returns:
      ``(gen_params, critic_params)`` of one model each (not stacked).
    """
    gen_net = builders.generator() if gen_net is None else gen_net
    critic_net = builders.critic() if critic_net is None else critic_net
    keys = _root_key(key)[None]
    g, c, _ = train_wgan(gen_net, critic_net, images, cfg, keys)
    return jax.tree.map(lambda a: a[0], g), jax.tree.map(lambda a: a[0], c)


def sample(gen_net: Network, gen_params_stacked: Params, key: Any, n: int) -> jax.Array:
    """``(N, n, *image_shape)`` images of every member on the same ``n`` latents."""
    z = jax.random.normal(_root_key(key), (int(n), *gen_net.input_shape), jnp.float32)
    return _sample(gen_net, gen_params_stacked, z)


@functools.partial(jax.jit, static_argnums=0)
def _sample(gen_net, params, z):
    return jax.vmap(lambda p: forward(gen_net, p, z))(params)


# -- sample quality -----------------------------------------------------------------
def frechet_gaussian(mu1: Any, cov1: Any, mu2: Any, cov2: Any) -> float:
    """``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))`` in float64.

    The trace term uses ``tr (S1 S2)^(1/2) = tr (A S2 A)^(1/2)`` with ``A = S1^(1/2)``,
    both from ``eigh`` of symmetric PSD matrices (negative eigenvalues from rounding
    are clipped to 0), so it is exact for rank-deficient covariances too.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"means (d,) and covariances (d, d) must match, got {mu1.shape}, "
                         f"{mu2.shape}, {s1.shape}, {s2.shape}")
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = a @ s2 @ a
    ev = np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)
    d = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(ev)))
    return max(d, 0.0)


def _moments(sums: np.ndarray, outer: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    mu = sums / n
    cov = (outer - n * np.outer(mu, mu)) / max(n - 1, 1)
    return mu, (cov + cov.T) / 2


def classifier_features(net: Network, params: Params, x: jax.Array) -> jax.Array:
    """Un-jitted ``(batch, d)`` ReLU outputs of the layer listed last in
    ``net.kink_layout()`` (the last hidden layer of the MLP and SmallCNN builders).
    Images are reshaped to the classifier's input shape (e.g. ``(784,)``)."""
    x = x.reshape((x.shape[0], *net.input_shape))
    _, z = forward_with_preacts(net, params, x)
    width = net.kink_layout()[-1][1]
    return jax.nn.relu(z[:, z.shape[1] - width:])


@functools.partial(jax.jit, static_argnums=0)
def _feature_moments(net, params, x):
    f = classifier_features(net, params, x).astype(jnp.float32)
    return f.sum(0), f.T @ f


@functools.partial(jax.jit, static_argnums=(0, 1))
def _gen_feature_moments(gen_net, clf_net, clf_params, gen_chunk, z):
    def one(p):
        f = classifier_features(clf_net, clf_params, forward(gen_net, p, z))
        return f.sum(0), f.T @ f

    return jax.vmap(one)(gen_chunk)


@dataclasses.dataclass(frozen=True, eq=False)
class QualityScorer:
    """A Fréchet sample-quality score: a trained classifier and the real images' statistics.

    Attributes:
      net, params: the classifier (one model).
      mean, cov: ``(d,)``, ``(d, d)`` float64 Gaussian fit of the real images' features.
      n_reference: how many real images the fit used.
      accuracy: the classifier's accuracy on its evaluation images (None if none given).
    """

    net: Network
    params: Params
    mean: np.ndarray
    cov: np.ndarray
    n_reference: int
    accuracy: float | None = None

    @property
    def dim(self) -> int:
        return int(self.net.kink_layout()[-1][1])

    def digest(self) -> str:
        """A SHA-256 of the classifier params and the reference statistics."""
        h = hashlib.sha256(params_digest(self.params).encode())
        h.update(np.ascontiguousarray(self.mean).tobytes())
        h.update(np.ascontiguousarray(self.cov).tobytes())
        return h.hexdigest()

    def moments(self, images: Any, *, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of the features of ``images`` ``(n >= 2, 28, 28, 1)``."""
        x = np.asarray(images, np.float32)
        if x.ndim < 2 or x.shape[0] < 2 or math.prod(x.shape[1:]) != math.prod(
                self.net.input_shape):
            raise ValueError(f"images must be (n >= 2, ...) with {math.prod(self.net.input_shape)}"
                             f" values each, got {x.shape}")
        sums, outer = np.zeros(self.dim), np.zeros((self.dim, self.dim))
        for start in range(0, x.shape[0], batch_size):
            s, o = _feature_moments(self.net, self.params, jnp.asarray(x[start:start + batch_size]))
            sums += np.asarray(s, np.float64)
            outer += np.asarray(o, np.float64)
        return _moments(sums, outer, x.shape[0])

    def image_distance(self, images: Any) -> float:
        """The Fréchet distance of a set of images to the real images (0 for the same set)."""
        mu, cov = self.moments(images)
        return frechet_gaussian(mu, cov, self.mean, self.cov)


def train_quality_scorer(
    images: Any,
    labels: Any,
    *,
    key: Any,
    steps: int = 1000,
    batch_size: int = 64,
    lr: float = 1e-3,
    classifier: Network | None = None,
    reference_images: Any = None,
    eval_images: Any = None,
    eval_labels: Any = None,
) -> QualityScorer:
    """Train a small Fashion-MNIST classifier with ``train_group`` and fit the real
    images' feature statistics.

    Args:
      images, labels: ``(n, 28, 28, 1)`` images in ``[-1, 1]`` and int labels 0-9.
      key: PRNG key of the classifier's init and minibatches.
      steps, batch_size, lr: Adam training of the classifier (cross-entropy).
      classifier: default ``mlp(784, (256, 64), 10)``: features are its 64 last-hidden
        ReLU outputs. Any network whose input holds 784 values works
        (e.g. ``small_cnn(10, 28, 1)``).
      reference_images: the real images of the Gaussian fit (default ``images``).
      eval_images, eval_labels: optional held-out set for :attr:`QualityScorer.accuracy`.
    """
    from tafa_jax.nets import mlp
    from tafa_jax.zoo.train import evaluate

    x = np.asarray(images, np.float32)
    y = np.asarray(labels).astype(np.int32).reshape(-1)
    if x.ndim < 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ValueError(f"images (n >= 2, ...) and labels (n,) must match, got {x.shape}, "
                         f"{y.shape}")
    net = mlp(math.prod(x.shape[1:]), (256, 64), 10, name="fashion_scorer") if (
        classifier is None) else classifier
    if math.prod(net.input_shape) != math.prod(x.shape[1:]):
        raise ValueError(f"classifier input {net.input_shape} does not hold images "
                         f"{x.shape[1:]}")
    if not net.kink_layout():
        raise ValueError("the classifier needs at least one ReLU layer (its features)")
    k_init, k_train = jax.random.split(_root_key(key))
    p0 = jax.tree.map(lambda a: a[None], net.init(k_init))
    cfg = TrainConfig("adam", lr, int(steps), int(batch_size), loss="xent")
    xs = x.reshape((x.shape[0], *net.input_shape))
    trained, _ = train_group(net, p0, jnp.asarray(xs), jnp.asarray(y), cfg, keys=k_train[None])
    params = jax.tree.map(lambda a: a[0], trained)
    acc = None
    if eval_images is not None:
        xe = np.asarray(eval_images, np.float32)
        acc = float(evaluate(net, trained,
                             jnp.asarray(xe.reshape((xe.shape[0], *net.input_shape))),
                             jnp.asarray(eval_labels), "accuracy")[0])
    ref = x if reference_images is None else np.asarray(reference_images, np.float32)
    scorer = QualityScorer(net, params, np.zeros(1), np.zeros((1, 1)), 0, acc)
    mu, cov = scorer.moments(ref)
    return dataclasses.replace(scorer, mean=mu, cov=cov, n_reference=int(ref.shape[0]))


def frechet_distance(
    scorer: QualityScorer,
    gen_net: Network,
    gen_params_stacked: Params,
    key: Any,
    n_samples: int = 2048,
    *,
    member_chunk: int = 8,
    sample_chunk: int = 4096,
) -> np.ndarray:
    """Every member's Fréchet distance to the real images, numpy ``(N,)`` float64.

    All members are scored on the same ``n_samples`` latents (drawn from ``key``), so
    differences between members are not sampling noise of the latents. Members are
    processed ``member_chunk`` at a time (the last chunk padded), latents
    ``sample_chunk`` at a time, so one compiled program serves any zoo size.
    """
    n_samples = int(n_samples)
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2 (a covariance), got {n_samples}")
    if math.prod(gen_net.output_shape) != math.prod(scorer.net.input_shape):
        raise ValueError(f"generator output {gen_net.output_shape} does not fit the scorer's "
                         f"classifier input {scorer.net.input_shape}")
    n = zoo_size(gen_params_stacked)
    check_params(gen_net, gen_params_stacked, leading=(n,))
    z = jax.random.normal(_root_key(key), (n_samples, *gen_net.input_shape), jnp.float32)
    c = int(member_chunk)  # fixed (not min(c, n)): one compiled program for every group
    if c < 1:
        raise ValueError(f"member_chunk must be >= 1, got {member_chunk}")
    d = scorer.dim
    out = np.zeros(n)
    for start in range(0, n, c):
        idx = np.minimum(np.arange(start, start + c), n - 1)
        chunk = jax.tree.map(lambda a, i=idx: jnp.asarray(a)[i], gen_params_stacked)
        sums, outer = np.zeros((c, d)), np.zeros((c, d, d))
        for s0 in range(0, n_samples, sample_chunk):
            s, o = _gen_feature_moments(gen_net, scorer.net, scorer.params, chunk,
                                        z[s0:s0 + sample_chunk])
            sums += np.asarray(s, np.float64)
            outer += np.asarray(o, np.float64)
        for j in range(min(c, n - start)):
            mu, cov = _moments(sums[j], outer[j], n_samples)
            if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(cov))):
                out[start + j] = np.inf
                continue
            out[start + j] = frechet_gaussian(mu, cov, scorer.mean, scorer.cov)
    return out


# -- zoo groups trained adversarially ----------------------------------------------
@dataclasses.dataclass(frozen=True)
class GANGroup:
    """A zoo group trained with :func:`train_wgan` (stored like a recipe group).

    Attributes:
      name: the group (and file) name, unique within the zoo.
      kind: ``ftal_small`` / ``ftal_large`` (owner generator and critic fine-tuned
        adversarially on the pirate split), ``fineprune`` (pruned owner generator
        fine-tuned so, mask fixed), or a negative kind (``neg_same``, ``neg_width``,
        ...: fresh WGANs trained on the owner's split).
      seeds: members per variant.
      variants: settings per variant: ``lr`` (any kind), ``ratio`` (fineprune).
      cfg: the :class:`WGANConfig`.
      arch: generator builder overrides for negatives, e.g. ``{"hidden": [96, 192, 384]}``.
      job: groups with the same job (same cfg, init and data) train in one program.
    """

    name: str
    kind: str
    seeds: int
    cfg: WGANConfig
    variants: tuple[Mapping[str, Any], ...] = ({},)
    arch: Mapping[str, Any] | None = None
    job: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in GAN_KINDS:
            raise ValueError(f"GAN group {self.name!r}: kind {self.kind!r} is not trained "
                             f"adversarially; expected one of {GAN_KINDS}")
        if not isinstance(self.cfg, WGANConfig):
            raise ValueError(f"GAN group {self.name!r}: cfg must be a WGANConfig, got "
                             f"{type(self.cfg).__name__}")
        GroupSpec(self.name, "fp16")  # validates the name (it names a file)
        object.__setattr__(self, "variants", tuple(dict(v) for v in self.variants))
        if int(self.seeds) < 1 or not self.variants:
            raise ValueError(f"GAN group {self.name!r} is empty: seeds={self.seeds}, "
                             f"{len(self.variants)} variants")
        allowed = {"lr", "ratio"} if self.kind == "fineprune" else {"lr"}
        for v in self.variants:
            extra = sorted(set(v) - allowed)
            if extra:
                raise ValueError(f"GAN group {self.name!r}: settings {extra} do not apply to "
                                 f"kind {self.kind!r}; it takes {sorted(allowed)}")
            if "lr" in v and not float(v["lr"]) > 0:
                raise ValueError(f"GAN group {self.name!r}: lr must be > 0, got {v['lr']}")
            if self.kind == "fineprune" and not 0.0 <= float(v.get("ratio", -1)) < 1.0:
                raise ValueError(f"GAN group {self.name!r}: every fineprune variant needs a "
                                 f"'ratio' in [0, 1), got {v.get('ratio')}")
        if self.arch is not None and kind_label(self.kind) == 1:
            raise ValueError(f"GAN group {self.name!r}: arch overrides apply to negatives only")

    @property
    def pirated(self) -> bool:
        return kind_label(self.kind) == 1

    @property
    def size(self) -> int:
        return int(self.seeds) * len(self.variants)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "seeds": int(self.seeds),
                "variants": [dict(v) for v in self.variants], "cfg": self.cfg.to_json(),
                "arch": None if self.arch is None else dict(self.arch),
                "job": self.job or self.name}

    def members(self, owner_spec: Mapping[str, Any]) -> list[Member]:
        spec = dict(owner_spec) if self.arch is None else {**owner_spec, **self.arch}
        return [Member(id=f"{self.name}-v{j}-s{s}", kind=self.kind, label=kind_label(self.kind),
                       group=kind_group(self.kind),
                       settings={**v, "wgan": self.cfg.to_json()}, seed=s,
                       architecture=spec, train_group=self.name)
                for j, v in enumerate(self.variants) for s in range(int(self.seeds))]


@dataclasses.dataclass(frozen=True)
class FashionRecipe:
    """The fashion zoo as data: build_zoo's part and the adversarially trained part."""

    name: str
    weights: ZooRecipe
    gan: tuple[GANGroup, ...]
    owner_cfg: WGANConfig
    ft_cfg: WGANConfig
    n_latents: int  # latents the pirate queries the owner on (distillation)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "weights": self.weights.to_json(),
                "gan": [g.to_json() for g in self.gan], "owner_cfg": self.owner_cfg.to_json(),
                "ft_cfg": self.ft_cfg.to_json(), "n_latents": self.n_latents}

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()

    def counts(self) -> dict[str, int]:
        out = self.weights.counts()
        for g in self.gan:
            out[kind_group(g.kind)] += g.size
        return out

    def kinds(self, group: str = "positive") -> list[str]:
        return sorted(set(self.weights.kinds(group))
                      | {g.kind for g in self.gan if kind_group(g.kind) == group})


def fashion_configs(size: str = "small") -> tuple[WGANConfig, WGANConfig]:
    """``(owner_cfg, ft_cfg)``: the owner's (and every negative's) WGAN recipe, and the
    pirate's fine-tuning recipe (its lr is set per group).

    ``headline``: owner 20000 generator iterations, batch 64, n_critic 5, RMSProp
    5e-5, clip 0.01; fine-tuning 2000 iterations. ``small`` (CI): 4 and 3 iterations
    of batch 16, n_critic 2.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    if size == "small":
        return WGANConfig(steps=4, batch_size=16, n_critic=2), WGANConfig(
            steps=3, batch_size=16, n_critic=2)
    return WGANConfig(steps=20000), WGANConfig(steps=2000)


def fashion_recipe(size: str = "small", *, owner_cfg: WGANConfig | None = None,
                   ft_cfg: WGANConfig | None = None,
                   owner_steps: int | None = None) -> FashionRecipe:
    """The fashion zoo's recipe.

    Positives: the weight-only kinds of :func:`~tafa_jax.zoo.recipes.weights_only_recipe`
    (prune 20/40/60/80 %, fp16, int8, weight noise at 0.01 and 0.05 x std, hidden
    permutation, ReLU rescaling), FTAL (owner generator and critic trained on the
    pirate split at lr 0.2x and 2x the owner's), fine-pruning (pruned generator
    fine-tuned adversarially, mask fixed, at the small lr). Distillation: fresh
    generators regressed (MSE, Adam) on the owner's outputs for pirate latents.
    Negatives: independent WGANs of the owner's recipe with other seeds on the
    owner's split, and of a narrower generator 64-96-192-384-784.

    ``headline``: 34 positives over 9 kinds, 3 distilled, 34 negatives (30 same-recipe,
    4 narrower). ``small``: 13 positives over 9 kinds, 1 distilled, 3 negatives.

    ``owner_steps`` (headline only, not with ``owner_cfg`` or ``ft_cfg``): the owner
    trained that many generator iterations instead of 20000. The negatives, which
    follow the owner's recipe, train as long, and the pirates fine-tune a tenth as
    long (the paper's 2000 of 20000), at least 1. The small (CI) recipe keeps its
    own short lengths whatever the owner's.
    """
    if owner_steps is not None:
        if size != "headline":
            raise ValueError(f"owner_steps scales the headline recipe only (the small recipe "
                             f"keeps its own lengths); got size {size!r}")
        if owner_cfg is not None or ft_cfg is not None:
            raise ValueError("give owner_steps or owner_cfg/ft_cfg, not both")
        if (isinstance(owner_steps, bool) or not isinstance(owner_steps, (int, np.integer))
                or owner_steps < 1):
            raise ValueError(f"owner_steps must be an int >= 1 (the owner's generator "
                             f"iterations), got {owner_steps!r}")
        own, ft = fashion_configs("headline")
        owner_cfg = dataclasses.replace(own, steps=int(owner_steps))
        ft_cfg = dataclasses.replace(ft, steps=max(1, int(owner_steps) * ft.steps // own.steps))
    own_default, ft_default = fashion_configs(size)
    owner_cfg = own_default if owner_cfg is None else owner_cfg
    ft_cfg = ft_default if ft_cfg is None else ft_cfg
    small = size == "small"
    s = (lambda a, b: a if small else b)  # noqa: E731
    lr_small, lr_large = 0.2 * owner_cfg.lr, 2.0 * owner_cfg.lr
    n_latents = s(256, 20000)
    distill = TrainConfig("adam", 1e-3, s(5, 5000), s(16, 64), loss="mse")
    base = weights_only_recipe(size)
    weights = ZooRecipe(f"fashion-{size}", (
        *base.groups, GroupSpec("distill", "distill", s(1, 3), train=distill)))
    gan = (
        GANGroup("ftal_small", "ftal_small", s(1, 6), ft_cfg, ({"lr": lr_small},), job="ftal"),
        GANGroup("ftal_large", "ftal_large", s(1, 6), ft_cfg, ({"lr": lr_large},), job="ftal"),
        GANGroup("fineprune", "fineprune", 1,
                 ft_cfg, tuple({"ratio": r, "lr": lr_small}
                               for r in ((0.5,) if small else (0.2, 0.4, 0.6, 0.8)))),
        GANGroup("neg_same", "neg_same", s(2, 30), owner_cfg),
        GANGroup("neg_width", "neg_width", s(1, 4), owner_cfg, arch={"hidden": [96, 192, 384]}),
    )
    return FashionRecipe(f"fashion-{size}", weights, gan, owner_cfg, ft_cfg, n_latents)


# -- storage of externally trained groups ------------------------------------------
def store_group(
    zoo_dir: str | Path,
    name: str,
    kind: str,
    members: Sequence[Member],
    stacked: Params,
    utilities: Any,
    *,
    owner_utility: float,
    utility_metric: str = "quality",
    utility_tolerance: float | None = None,
) -> dict[str, Any]:
    """Write one group's stacked params as ``groups/<name>.npz`` (atomically) and
    return its manifest entry, in :mod:`tafa_jax.zoo.build`'s format.

    Positives beyond the utility tolerance of ``owner_utility`` are flagged
    ``excluded``. The caller puts the entry under ``manifest["groups"][name]``.
    """
    root = Path(zoo_dir)
    parts = unstack(stacked)
    util = np.asarray(utilities, np.float64).reshape(-1)
    if len(parts) != len(members) or util.shape[0] != len(members):
        raise ValueError(f"group {name!r}: {len(members)} members, {len(parts)} params, "
                         f"{util.shape[0]} utilities")
    tol = (DEFAULT_TOLERANCE[utility_metric] if utility_tolerance is None
           else float(utility_tolerance))
    file = f"groups/{name}.npz"
    atomic_write_bytes(root / file, npz_bytes(flatten_params(stacked)))
    recs = []
    for i, (m, p) in enumerate(zip(members, parts, strict=True)):
        u = float(util[i])
        excluded = bool(m.label == 1 and utility_excluded(utility_metric, owner_utility, u, tol))
        recs.append(MemberRecord(m, u if math.isfinite(u) else None, excluded,
                                 params_digest(p), file, i))
    return {"file": file, "sha256": sha256_file(root / file), "kind": kind,
            "arch_key": arch_key(members[0].architecture),
            "members": [r.to_json() for r in recs]}


def add_trained_groups(
    zoo_dir: str | Path,
    groups: Mapping[str, tuple[str, Sequence[Member], Params]],
    *,
    utility_fn: Callable[[Network, Params], Any],
    meta: Mapping[str, Any] | None = None,
) -> Zoo:
    """Append groups trained outside :func:`~tafa_jax.zoo.build.build_zoo` to a zoo.

    Args:
      zoo_dir: a zoo directory built by ``build_zoo`` (its manifest gives the owner's
        utility, the metric and the tolerance).
      groups: ``{name: (kind, members, stacked params)}``; member ``train_group`` must
        be ``name``. An existing group of that name is replaced.
      utility_fn: ``(net, stacked params) -> (n,)`` utilities.
      meta: extra top-level manifest fields to record (e.g. how the groups were made).

    Returns:
      The reloaded :class:`Zoo` (every digest checked).
    """
    root = Path(zoo_dir)
    manifest = read_json(root / "manifest.json")
    for name, (kind, members, stacked) in groups.items():
        if not members or any(m.train_group != name for m in members):
            raise ValueError(f"group {name!r}: members must be non-empty with train_group "
                             f"{name!r}")
        net = network_from_spec(members[0].architecture)
        owner = network_from_spec(manifest["owner"]["architecture"])
        if (net.input_shape, net.output_shape) != (owner.input_shape, owner.output_shape):
            raise ValueError(f"group {name!r}: a suspect must have the owner's input and output "
                             f"shapes {owner.input_shape} -> {owner.output_shape}")
        check_params(net, stacked, leading=(len(members),))
        entry = store_group(root, name, kind, members, stacked, utility_fn(net, stacked),
                            owner_utility=float(manifest["owner"]["utility"]),
                            utility_metric=manifest["utility_metric"],
                            utility_tolerance=manifest["utility_tolerance"])
        manifest["groups"][name] = entry
    if meta:
        manifest.update(dict(meta))
    write_manifest(root, manifest)
    return load_zoo(root)


def _verified_group(root: Path, name: str, entry: Mapping[str, Any]) -> Params | None:
    """The group's stacked params if its file matches the manifest entry, else None."""
    from tafa_jax.io import load_npz
    from tafa_jax.zoo.build import unflatten_params

    path = root / entry.get("file", "")
    try:
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            return None
        stacked = unflatten_params(load_npz(path))
        parts = unstack(stacked)
        if len(parts) != len(entry["members"]):
            return None
        for m, p in zip(entry["members"], parts, strict=True):
            if params_digest(p) != m["digest"]:
                return None
    except (ValueError, KeyError, IndexError, OSError):
        return None
    return stacked


# -- the fashion zoo ---------------------------------------------------------------
def fashion_zoo(
    out_dir: str | Path,
    *,
    gen_net: Network,
    owner_gen: Params,
    owner_critic: Params,
    data_pirate_images: Any,
    data_owner_images: Any,
    scorer: QualityScorer,
    size: str = "small",
    key: Any,
    progress: Progress | None = None,
    critic_net: Network | None = None,
    recipe: FashionRecipe | None = None,
    n_quality_samples: int | None = None,
    utility_tolerance: float | None = None,
) -> Zoo:
    """Build (or resume) the fashion suspect zoo of an owner WGAN generator.

    The weight-only positives and distillation are built by
    :func:`~tafa_jax.zoo.build.build_zoo` (utility metric ``"quality"``: the
    Fréchet distance of :func:`frechet_distance`, lower is better, positives
    > 1.5x the owner's excluded). The adversarially trained groups of the recipe
    (FTAL, fine-pruning, independent WGANs; see :func:`fashion_recipe`) are trained
    with :func:`train_wgan` and appended to the same manifest, one file per group;
    groups sharing a ``job`` train in one vmapped program. An interrupted build
    resumes: finished groups whose files check out are skipped.

    Args:
      out_dir: the zoo directory.
      gen_net: the owner generator's architecture (a ``generator`` builder network).
      owner_gen, owner_critic: the owner's generator and critic (one model each).
      data_pirate_images: the pirate's real images (disjoint from the owner's).
      data_owner_images: the owner's training images (negatives train on them).
      scorer: the :class:`QualityScorer` giving every member's utility.
      size: ``"small"`` (CI) or ``"headline"``; ignored when ``recipe`` is given.
      key: the root PRNG key; each member's key is derived from it and its id.
      progress: called after each group with build_zoo's event dict (``total``
        counts all groups).
      critic_net: the owner critic's architecture (default ``critic()``).
      recipe: a :class:`FashionRecipe` (default ``fashion_recipe(size)``).
      n_quality_samples: generated images per Fréchet score (default 512 small,
        10000 headline).
      utility_tolerance: the quality ratio tolerance (default 1.5).

    Returns:
      The :class:`Zoo`; ``grouped()`` stacks the generators per architecture.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    recipe = fashion_recipe(size) if recipe is None else recipe
    critic_net = builders.critic(tuple(gen_net.output_shape)) if critic_net is None else critic_net
    _check_gan_nets(gen_net, critic_net)
    check_params(gen_net, owner_gen)
    check_params(critic_net, owner_critic)
    x_pirate = _check_images(data_pirate_images, tuple(gen_net.output_shape),
                             "data_pirate_images")
    x_owner = _check_images(data_owner_images, tuple(gen_net.output_shape), "data_owner_images")
    n_q = (512 if size == "small" else 10000) if n_quality_samples is None else int(
        n_quality_samples)
    root_key = _root_key(key)
    k_quality = jax.random.fold_in(root_key, zlib.crc32(b"quality"))
    k_latents = jax.random.fold_in(root_key, zlib.crc32(b"pirate-latents"))

    def utility_fn(net: Network, stacked: Params) -> np.ndarray:
        return frechet_distance(scorer, net, stacked, k_quality, n_q)

    spec = describe_network(gen_net)
    gan_meta = {"recipe": recipe.to_json(), "digest": recipe.digest(),
                "owner_critic": {"digest": params_digest(owner_critic),
                                 "architecture": describe_network(critic_net)},
                "quality": {"metric": "frechet", "scorer": scorer.digest(),
                            "feature_dim": scorer.dim, "n_samples": n_q,
                            "n_reference": scorer.n_reference}}
    out = Path(out_dir)
    stash: dict[str, tuple[dict[str, Any], Params]] = {}
    if (out / "manifest.json").exists():
        old = read_json(out / "manifest.json")
        old_gan = old.get("gan")
        if old_gan is not None and (old_gan.get("digest") != gan_meta["digest"]
                                    or old_gan.get("owner_critic") != gan_meta["owner_critic"]
                                    or old_gan.get("quality") != gan_meta["quality"]):
            raise ValueError(f"{out} already holds a different fashion zoo (its GAN recipe, "
                             "owner critic or quality score differs); build into a new "
                             "directory or delete this one")
        if old_gan is not None:
            for g in recipe.gan:
                entry = old.get("groups", {}).get(g.name)
                if entry is not None:
                    stacked = _verified_group(out, g.name, entry)
                    if stacked is not None:
                        stash[g.name] = (entry, stacked)

    jobs: dict[str, list[GANGroup]] = {}
    for g in recipe.gan:
        jobs.setdefault(g.job or g.name, []).append(g)
    total = len(recipe.weights.groups) + len(recipe.gan)
    counts = {"trained": 0, "skipped": 0}

    def relay(ev: dict[str, Any]) -> None:
        counts["trained"], counts["skipped"] = ev["trained"], ev["skipped"]
        if progress is not None:
            progress({**ev, "total": total})

    latents = np.asarray(jax.random.normal(k_latents, (recipe.n_latents, *gen_net.input_shape),
                                           jnp.float32))
    dummy = np.zeros((recipe.n_latents,), np.float32)
    data = ZooData(latents, dummy, latents, dummy, latents, dummy)
    wzoo = build_zoo(out, owner_net=gen_net, owner_params=owner_gen, data=data,
                     recipe=recipe.weights, utility_metric="quality",
                     utility_tolerance=utility_tolerance, key=root_key, progress=relay,
                     utility_fn=utility_fn, owner_spec=spec)
    manifest = read_json(out / "manifest.json")
    manifest["gan"] = gan_meta
    params: dict[str, Params] = dict(wzoo.params)
    for name, (entry, stacked) in stash.items():
        manifest["groups"][name] = entry
        params[name] = stacked
    write_manifest(out, manifest)
    owner_utility = float(manifest["owner"]["utility"])
    tol = float(manifest["utility_tolerance"])
    trained, skipped = counts["trained"], counts["skipped"]

    for job in jobs.values():
        t0 = time.perf_counter()
        if all(g.name in stash for g in job):
            for g in job:
                skipped += 1
                if progress is not None:
                    progress({"event": "skipped", "group": g.name, "members": g.size,
                              "seconds": 0.0, "trained": trained, "skipped": skipped,
                              "total": total})
            continue
        stacked_job, members_job = _train_job(job, spec, gen_net, critic_net, owner_gen,
                                              owner_critic, x_pirate, x_owner, root_key)
        seconds = (time.perf_counter() - t0) / len(job)
        for g, members, stacked in zip(job, members_job, stacked_job, strict=True):
            net = network_from_spec(members[0].architecture)
            entry = store_group(out, g.name, g.kind, members, stacked, utility_fn(net, stacked),
                                owner_utility=owner_utility, utility_metric="quality",
                                utility_tolerance=tol)
            manifest["groups"][g.name] = entry
            params[g.name] = stacked
            write_manifest(out, manifest)
            trained += 1
            if progress is not None:
                progress({"event": "trained", "group": g.name, "members": g.size,
                          "seconds": seconds, "trained": trained, "skipped": skipped,
                          "total": total})
    zoo = load_zoo(out, _params=params)
    return dataclasses.replace(zoo, trained_groups=trained, skipped_groups=skipped)


_prune_stack = jax.jit(jax.vmap(obf.prune_magnitude))


def _train_job(job: list[GANGroup], spec: Mapping[str, Any], gen_net: Network,
               critic_net: Network, owner_gen: Params, owner_critic: Params,
               x_pirate: jax.Array, x_owner: jax.Array, root_key: jax.Array
               ) -> tuple[list[Params], list[list[Member]]]:
    """Train the groups of one job together; their stacked params and members."""
    first = job[0]
    for g in job[1:]:
        if (g.cfg, g.pirated, g.arch, g.kind == "fineprune") != (
                first.cfg, first.pirated, first.arch, first.kind == "fineprune"):
            raise ValueError(f"GAN groups {first.name!r} and {g.name!r} share a job but differ "
                             "in cfg, init, architecture or masking")
    members_job = [g.members(spec) for g in job]
    members = [m for ms in members_job for m in ms]
    n = len(members)
    net = network_from_spec(members[0].architecture)
    if (net.input_shape, net.output_shape) != (gen_net.input_shape, gen_net.output_shape):
        raise ValueError(f"GAN group {first.name!r}: a suspect must have the owner's input and "
                         f"output shapes {gen_net.input_shape} -> {gen_net.output_shape}")
    keys = jnp.stack([jax.random.fold_in(root_key, zlib.crc32(m.id.encode())) for m in members])
    lrs = np.asarray([float(m.settings.get("lr", first.cfg.lr)) for m in members], np.float32)
    masks = None
    if first.pirated:
        g0 = jax.tree.map(lambda a: jnp.broadcast_to(jnp.asarray(a), (n, *a.shape)), owner_gen)
        c0 = jax.tree.map(lambda a: jnp.broadcast_to(jnp.asarray(a), (n, *a.shape)),
                          owner_critic)
        if first.kind == "fineprune":
            ratios = jnp.asarray([float(m.settings["ratio"]) for m in members], jnp.float32)
            g0, masks = _prune_stack(g0, ratios)
        images = x_pirate
    else:
        g0 = c0 = None
        images = x_owner
    g, _, _ = train_wgan(net, critic_net, images, first.cfg, keys, g0, c0, lrs=lrs,
                         gen_masks=masks)
    g = jax.block_until_ready(g)
    out, start = [], 0
    for ms in members_job:
        stop = start + len(ms)
        out.append(jax.tree.map(lambda a, s=start, e=stop: a[s:e], g))
        start = stop
    return out, members_job
