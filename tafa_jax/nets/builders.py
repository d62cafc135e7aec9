"""The paper's networks as :class:`Network` values."""

from __future__ import annotations

from collections.abc import Sequence

from tafa_jax.nets.modules import HEADS, MLP, Activation, Head, ResNet18, SmallCNN
from tafa_jax.nets.network import Network


def _check_head(head: str) -> None:
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; expected one of {HEADS}")


def mlp(
    in_features: int,
    hidden: Sequence[int],
    out_features: int = 1,
    *,
    head: Head = "none",
    clip: tuple[float, float] = (0.0, 1.0),
    out_shift: float = 0.0,
    out_scale: float = 1.0,
    activation: Activation = "relu",
    name: str = "mlp",
) -> Network:
    """A ReLU MLP ``in -> hidden... -> out`` with an optional head.

    The warfarin owner is ``mlp(31, (100,), 1)``: "three layers, hidden layer of 100".
    """
    _check_head(head)
    if in_features <= 0 or out_features <= 0 or any(int(h) <= 0 for h in hidden):
        raise ValueError(f"layer widths must be positive, got in={in_features}, "
                         f"hidden={tuple(hidden)}, out={out_features}")
    module = MLP(features=(*map(int, hidden), int(out_features)), head=head, clip=clip,
                 out_shift=out_shift, out_scale=out_scale, activation=activation)
    return Network(name, module, (int(in_features),), (int(out_features),),
                   linear_stem=True)


def generator(latent: int = 64, hidden: Sequence[int] = (128, 256, 512),
              image_shape: tuple[int, ...] = (28, 28, 1), name: str = "generator") -> Network:
    """WGAN FCN generator 64-128-256-512-784, ReLU hidden layers, tanh output in [-1, 1]."""
    size = 1
    for s in image_shape:
        size *= s
    module = MLP(features=(*hidden, size), head="tanh", output_shape=tuple(image_shape))
    return Network(name, module, (latent,), tuple(image_shape), linear_stem=True)


def critic(image_shape: tuple[int, ...] = (28, 28, 1), hidden: Sequence[int] = (512, 256),
           name: str = "critic") -> Network:
    """WGAN FCN critic 784-512-256-1 with ReLU hidden layers and a linear score."""
    size = 1
    for s in image_shape:
        size *= s
    return Network(name, MLP(features=(*hidden, 1)), tuple(image_shape), (1,),
                   linear_stem=True)


def resnet18(num_classes: int = 7, image_size: int = 224, channels: int = 3, *,
             head: Head = "none", widths: Sequence[int] = (64, 128, 256, 512),
             name: str = "resnet18") -> Network:
    """torchvision-topology ResNet-18, NHWC input ``(image_size, image_size, channels)``."""
    _check_head(head)
    if image_size < 8:
        raise ValueError(f"image_size must be >= 8, got {image_size}")
    module = ResNet18(num_classes=num_classes, head=head, widths=tuple(widths))
    return Network(name, module, (image_size, image_size, channels), (num_classes,),
                   has_train_mode=True, linear_stem=True)


def small_cnn(num_classes: int = 7, image_size: int = 28, channels: int = 3, *,
              head: Head = "none", conv_channels: Sequence[int] = (8, 16),
              name: str = "small_cnn") -> Network:
    """A two-conv ReLU CNN for cheap tests of the image path."""
    _check_head(head)
    module = SmallCNN(num_classes=num_classes, channels=tuple(conv_channels), head=head)
    return Network(name, module, (image_size, image_size, channels), (num_classes,),
                   linear_stem=True)
