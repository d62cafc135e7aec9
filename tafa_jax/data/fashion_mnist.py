"""Fashion-MNIST through ``tensorflow_datasets.data_source`` (no TensorFlow needed).

Images come back as ``float32 (N, 28, 28, 1)`` scaled to ``[-1, 1]``, the range of a
generator with a tanh output, and labels as ``int32 (N,)``.

The data must already be prepared on disk; nothing is downloaded here. Tests use
``tfds.testing.mock_data``, which replaces the records with random ones of the
same structure.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from tafa_jax.data.containers import ImageSet

SPLIT_SIZES = {"train": 60000, "test": 10000}
IMAGE_SHAPE = (28, 28, 1)
VALUE_RANGE = (-1.0, 1.0)
_CHUNK = 4096

_PREPARE_HINT = (
    "prepare it on a machine with internet access with\n"
    "  python -c \"import tensorflow_datasets as tfds; "
    "tfds.data_source('fashion_mnist', download=True)\"\n"
    "then copy ~/tensorflow_datasets/fashion_mnist to this machine (into ~/tensorflow_datasets, "
    "$TFDS_DATA_DIR, or a folder you pass as data_dir=)"
)


def _base_split(split: str) -> str:
    """``"train[:1000]"`` -> ``"train"``; raises for anything but train/test."""
    base = re.match(r"^\s*([a-z]+)", split) if isinstance(split, str) else None
    if base is None or base.group(1) not in SPLIT_SIZES:
        raise ValueError(
            f"Fashion-MNIST has splits 'train' and 'test' (tfds slices such as 'train[:1000]' "
            f"work too); got split={split!r}"
        )
    return base.group(1)


def _read_records(source, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Read ``n`` records in chunks through ``__getitems__`` (one batched call per chunk)."""
    images = np.empty((n, *IMAGE_SHAPE), np.uint8)
    labels = np.empty((n,), np.int32)
    batched = hasattr(source, "__getitems__")
    for start in range(0, n, _CHUNK):
        keys = list(range(start, min(start + _CHUNK, n)))
        records = None
        if batched:
            try:
                records = source.__getitems__(keys)
            except TypeError:  # tfds 4.9.10's mock has a broken __getitems__
                batched = False
        if records is None:
            records = [source[k] for k in keys]
        for i, rec in zip(keys, records, strict=True):
            images[i] = np.asarray(rec["image"]).reshape(IMAGE_SHAPE)
            labels[i] = int(rec["label"])
    return images, labels


def _synthetic(split: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Made-up 28x28 images: one bright rectangle whose size and place depend on the label."""
    rng = np.random.default_rng([seed, list(SPLIT_SIZES).index(split)])
    labels = rng.integers(0, 10, n).astype(np.int32)
    rows = np.arange(28)[None, :, None]
    cols = np.arange(28)[None, None, :]
    top = (2 + labels % 5)[:, None, None]
    height = (10 + 2 * (labels // 5) + rng.integers(0, 4, n))[:, None, None]
    width = (8 + labels + rng.integers(0, 3, n))[:, None, None]
    left = 14 - width // 2
    box = (rows >= top) & (rows < top + height) & (cols >= left) & (cols < left + width)
    img = box * rng.uniform(120, 255, (n, 1, 1)) + rng.normal(0, 12, (n, 28, 28))
    return np.clip(img, 0, 255).astype(np.uint8)[..., None], labels


def _scale(images_uint8: np.ndarray) -> np.ndarray:
    return (images_uint8.astype(np.float32) / 127.5 - 1.0).astype(np.float32)


def load_fashion_mnist(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    limit: int | None = None,
    synthetic: bool = False,
    seed: int = 0,
) -> ImageSet:
    """Load Fashion-MNIST images and labels from a prepared tfds folder.

    Args:
        split: ``"train"`` (60000 images) or ``"test"`` (10000), or a tfds slice
            such as ``"train[:1000]"``.
        data_dir: the tfds data folder; ``None`` uses tfds's default
            (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
        limit: read only the first ``limit`` records (tfds stores them shuffled).
        synthetic: generate made-up images of the same shapes instead, labelled
            ``synthetic=True``; never used unless asked.
        seed: seeds the synthetic images only; real records are read in order.

    Returns:
        An ``ImageSet`` with images ``float32 (N, 28, 28, 1)`` in ``[-1, 1]`` and
        labels ``int32 (N,)``.

    Raises:
        FileNotFoundError: the data set is not prepared in ``data_dir``.
        ValueError: unknown split, bad limit, or records of the wrong shape.
    """
    base = _base_split(split)
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None; got {limit!r}")
    if synthetic:
        n = limit if limit is not None else SPLIT_SIZES[base]
        images, labels = _synthetic(base, n, seed)
        return ImageSet(_scale(images), labels, VALUE_RANGE, "synthetic", True)

    import tensorflow_datasets as tfds

    where = str(data_dir) if data_dir is not None else "tfds's default data folder"
    try:
        source = tfds.data_source(
            "fashion_mnist",
            split=split,
            data_dir=None if data_dir is None else str(data_dir),
            download=False,
        )
    except (KeyError, ValueError, RuntimeError, OSError, AssertionError) as err:
        raise FileNotFoundError(
            f"Fashion-MNIST ({split!r}) is not prepared in {where} "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
            + _PREPARE_HINT
        ) from err
    n = len(source) if limit is None else min(limit, len(source))
    try:
        images, labels = _read_records(source, n)
    except (KeyError, ValueError, TypeError) as err:
        raise ValueError(
            f"Fashion-MNIST records in {where} are not dicts with 'image' (28, 28, 1) uint8 and "
            f"'label' ({err}); the prepared data may be from another version, prepare it again"
        ) from err
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(
            f"Fashion-MNIST labels must lie in 0..9; found {labels.min()}..{labels.max()} "
            f"in {where}"
        )
    src = str(Path(data_dir)) if data_dir is not None else "tfds:fashion_mnist"
    return ImageSet(_scale(images), labels, VALUE_RANGE, f"{src} [{split}]", False)
