"""Frozen containers for image data sets: the values the image loaders return."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jaxtyping import Float, Int


@dataclass(frozen=True, eq=False)
class ImageSet:
    """A set of images with integer labels.

    Attributes:
        images: ``float32 (N, H, W, C)``, channels last, values in ``value_range``.
        labels: ``int32 (N,)`` class indices.
        value_range: ``(low, high)`` bounds of the pixel values, e.g. ``(-1, 1)``
            for Fashion-MNIST (a generator's tanh range) or ``(0, 1)`` for DermaMNIST.
        source: where the data came from: a file or folder path, or ``"synthetic"``.
        synthetic: True when the images were generated, not read from the real data set.
    """

    images: Float[np.ndarray, "N H W C"]
    labels: Int[np.ndarray, " N"]
    value_range: tuple[float, float]
    source: str
    synthetic: bool

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(
                f"ImageSet.images must have shape (N, H, W, C); got shape {self.images.shape}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"ImageSet.labels must have shape ({self.images.shape[0]},) to match the "
                f"images; got shape {self.labels.shape}"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True, eq=False)
class ImageSplits:
    """Train / validation / test image sets of one data set (same source, same flag)."""

    train: ImageSet
    val: ImageSet
    test: ImageSet
    source: str
    synthetic: bool
