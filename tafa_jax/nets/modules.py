"""Flax Linen modules for the paper's ReLU networks.

Every ReLU goes through :func:`relu`, which records its pre-activation in the
``"preacts"`` collection when that collection is mutable. Max-pool layers record
their arg-max "switch" in ``"switches"`` likewise. Both come from the one
forward pass, so there is no second copy of a network for the activation
pattern (see :mod:`tafa_jax.nets.network`).

Images are NHWC. Modules take a batch: ``x`` has shape ``(batch, *input_shape)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

Head = Literal["none", "clip", "sigmoid", "tanh", "softmax"]
HEADS: tuple[str, ...] = ("none", "clip", "sigmoid", "tanh", "softmax")
Activation = Literal["relu", "gelu", "softplus", "identity"]


def relu(module: nn.Module, z: jax.Array, activation: Activation = "relu") -> jax.Array:
    """ReLU that records its pre-activation ``z`` in the ``preacts`` collection.

    ``activation`` other than ``"relu"`` exists only to build kink-free control
    networks (GELU, softplus, affine), which TAFA must refuse.
    """
    if activation == "relu":
        module.sow("preacts", "z", z)
        return nn.relu(z)
    if activation == "gelu":
        return nn.gelu(z)
    if activation == "softplus":
        return nn.softplus(z)
    return z


def apply_head(y: jax.Array, head: Head, clip: tuple[float, float]) -> jax.Array:
    """Output head. ``clip`` is piecewise affine; the others are smooth."""
    if head == "none":
        return y
    if head == "clip":
        return jnp.clip(y, clip[0], clip[1])
    if head == "sigmoid":
        return nn.sigmoid(y)
    if head == "tanh":
        return jnp.tanh(y)
    if head == "softmax":
        return nn.softmax(y, axis=-1)
    raise ValueError(f"unknown head {head!r}; expected one of {HEADS}")


class MLP(nn.Module):
    """Fully connected network: ReLU hidden layers, then an affine layer and a head.

    ``features`` lists every layer's width, the output last: ``(100, 1)`` is the
    warfarin owner 31-100-1. ``out_shift + out_scale * y`` is applied before the
    head, so a regression net can work in standard units and output raw units.
    """

    features: Sequence[int]
    head: Head = "none"
    clip: tuple[float, float] = (0.0, 1.0)
    out_shift: float = 0.0
    out_scale: float = 1.0
    activation: Activation = "relu"
    output_shape: tuple[int, ...] | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = x.reshape((x.shape[0], -1))
        for i, width in enumerate(self.features[:-1]):
            h = relu(self, nn.Dense(width, name=f"dense{i}")(h), self.activation)
        y = nn.Dense(self.features[-1], name=f"dense{len(self.features) - 1}")(h)
        y = apply_head(self.out_shift + self.out_scale * y, self.head, self.clip)
        if self.output_shape is not None:
            y = y.reshape((x.shape[0], *self.output_shape))
        return y


def _max_pool_with_switch(module: nn.Module, h: jax.Array) -> jax.Array:
    """3x3/2 max-pool (padding 1) that records the arg-max of each window.

    The input follows a ReLU, so it is >= 0 and zero padding equals -inf
    padding up to ties at zero, where the map is continuous anyway.
    """
    if module.is_mutable_collection("switches"):
        patches = jax.lax.conv_general_dilated_patches(
            h, (3, 3), (2, 2), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        b, ho, wo, _ = patches.shape
        patches = patches.reshape(b, ho, wo, h.shape[-1], 9)
        module.sow("switches", "argmax", jnp.argmax(patches, axis=-1).astype(jnp.int32))
    return nn.max_pool(h, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: two 3x3 convs with batch norm, residual add."""

    filters: int
    strides: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        norm = lambda name: nn.BatchNorm(  # noqa: E731
            use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name
        )
        h = nn.Conv(self.filters, (3, 3), (self.strides,) * 2, padding=((1, 1), (1, 1)),
                    use_bias=False, name="conv1")(x)
        h = relu(self, norm("bn1")(h))
        h = nn.Conv(self.filters, (3, 3), padding=((1, 1), (1, 1)), use_bias=False,
                    name="conv2")(h)
        h = norm("bn2")(h)
        if self.strides != 1 or x.shape[-1] != self.filters:
            x = nn.Conv(self.filters, (1, 1), (self.strides,) * 2, use_bias=False,
                        name="down_conv")(x)
            x = norm("down_bn")(x)
        return relu(self, h + x)


class ResNet18(nn.Module):
    """ResNet-18 with torchvision's topology, NHWC.

    7x7/2 conv, BN, ReLU, 3x3/2 max-pool, four stages of two BasicBlocks
    (64, 128, 256, 512 filters; projection shortcuts where the shape changes),
    global average pool, FC. With ``train=False`` batch norm uses its running
    statistics, so the network is piecewise affine in its input.
    """

    num_classes: int = 7
    head: Head = "none"
    widths: Sequence[int] = (64, 128, 256, 512)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = nn.Conv(self.widths[0], (7, 7), (2, 2), padding=((3, 3), (3, 3)), use_bias=False,
                    name="conv1")(x)
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                         name="bn1")(h)
        h = relu(self, h)
        h = _max_pool_with_switch(self, h)
        for stage, width in enumerate(self.widths):
            for block in range(2):
                strides = 2 if stage > 0 and block == 0 else 1
                h = BasicBlock(width, strides, name=f"layer{stage + 1}_{block}")(h, train)
        h = jnp.mean(h, axis=(1, 2))
        y = nn.Dense(self.num_classes, name="fc")(h)
        return apply_head(y, self.head, (0.0, 1.0))


class SmallCNN(nn.Module):
    """A cheap CNN for tests of the image path: two ReLU convs, avg-pool, FC."""

    num_classes: int = 7
    channels: Sequence[int] = (8, 16)
    head: Head = "none"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        del train
        h = x
        for i, c in enumerate(self.channels):
            h = nn.Conv(c, (3, 3), (2, 2), padding=((1, 1), (1, 1)), name=f"conv{i}")(h)
            h = relu(self, h)
        h = nn.avg_pool(h, (2, 2), strides=(2, 2))
        h = h.reshape((h.shape[0], -1))
        return apply_head(nn.Dense(self.num_classes, name="fc")(h), self.head, (0.0, 1.0))
