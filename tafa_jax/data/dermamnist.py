"""DermaMNIST: MedMNIST's official ``dermamnist.npz`` (7 skin-lesion classes).

The file holds ``train_images (7007, 28, 28, 3) uint8``, ``train_labels (7007, 1)``,
and the same for ``val`` (1003) and ``test`` (2005). It is read with
``allow_pickle=False`` and checked key by key. Images come back as
``float32 (N, H, W, 3)`` in ``[0, 1]``; ``upsample`` resizes them (bilinear, in JAX)
to the 224 x 224 input of a ResNet-18.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from tafa_jax.data.containers import ImageSet, ImageSplits
from tafa_jax.io import atomic_write_bytes, load_npz, npz_bytes

N_CLASSES = 7
SPLITS = ("train", "val", "test")
OFFICIAL_SIZES = {"train": 7007, "val": 1003, "test": 2005}
VALUE_RANGE = (0.0, 1.0)
DEFAULT_PATH = Path("~/.medmnist/dermamnist.npz")

_WHERE_TO_GET = (
    "download dermamnist.npz from https://zenodo.org/records/10519652 into ~/.medmnist/, "
    "or `pip install medmnist` and run `python -m medmnist download`, or pass path= to the file"
)


def _default_path() -> Path:
    return DEFAULT_PATH.expanduser()


def _check_arrays(arrays: dict[str, np.ndarray], where: str) -> None:
    expected = [f"{s}_{k}" for s in SPLITS for k in ("images", "labels")]
    missing = [k for k in expected if k not in arrays]
    if missing:
        raise ValueError(
            f"{where} is not MedMNIST's dermamnist.npz: it lacks keys {missing} "
            f"(has {sorted(arrays)}); expected {expected}. " + _WHERE_TO_GET
        )
    size = None
    for s in SPLITS:
        img, lab = arrays[f"{s}_images"], arrays[f"{s}_labels"]
        if img.dtype != np.uint8:
            raise ValueError(
                f"{where}: {s}_images must be uint8 pixels 0..255; got dtype {img.dtype}. "
                "Use the official file, or write fixtures with write_dermamnist_fixture"
            )
        if img.ndim != 4 or img.shape[3] != 3 or img.shape[1] != img.shape[2]:
            raise ValueError(
                f"{where}: {s}_images must have shape (N, S, S, 3) (RGB, channels last); got "
                f"{img.shape}"
            )
        if size is not None and img.shape[1] != size:
            raise ValueError(
                f"{where}: all splits must share one image size; {s}_images is {img.shape[1]}, "
                f"the train images are {size}"
            )
        size = img.shape[1]
        if lab.shape not in ((img.shape[0], 1), (img.shape[0],)):
            raise ValueError(
                f"{where}: {s}_labels must have shape ({img.shape[0]}, 1) to match {s}_images; "
                f"got {lab.shape}"
            )
        if not np.issubdtype(lab.dtype, np.integer):
            raise ValueError(f"{where}: {s}_labels must be integers; got dtype {lab.dtype}")
        if lab.size and (lab.min() < 0 or lab.max() >= N_CLASSES):
            raise ValueError(
                f"{where}: {s}_labels must lie in 0..{N_CLASSES - 1}; found "
                f"{lab.min()}..{lab.max()}"
            )


def upsample(
    images: Float[Array, "N H W C"] | Float[np.ndarray, "N H W C"], size: int
) -> Float[Array, "N size size C"]:
    """Resize a batch of images to ``size x size`` with bilinear interpolation.

    Args:
        images: ``(N, H, W, C)`` float images (channels last).
        size: the output height and width, e.g. 224 for a ResNet-18.

    Returns:
        ``float32 (N, size, size, C)``, a JAX array. For all of DermaMNIST at 224 this
        is about 6 GB; upsample batch by batch instead.
    """
    images = jnp.asarray(images, jnp.float32)
    if images.ndim != 4:
        raise ValueError(f"upsample expects images of shape (N, H, W, C); got {images.shape}")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"upsample size must be a positive int; got {size!r}")
    n, _, _, c = images.shape
    return jax.image.resize(images, (n, size, size, c), method="bilinear")


def _synthetic_arrays(seed: int, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """Made-up RGB images: a coloured disc on skin tone, colour and radius set by the label."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    arrays = {}
    for s in SPLITS:
        n = sizes[s]
        labels = rng.integers(0, N_CLASSES, n)
        cy, cx = rng.uniform(10, 18, (2, n, 1, 1))
        radius = (4 + labels)[:, None, None] + rng.uniform(-1, 1, (n, 1, 1))
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 < radius**2)[..., None]
        skin = np.array([220, 170, 150]) + rng.normal(0, 10, (n, 1, 1, 3))
        lesion = np.stack([120 + 15 * labels, 60 + 5 * labels, 50 + 10 * labels], -1)
        img = np.where(disc, lesion[:, None, None, :], skin) + rng.normal(0, 8, (n, 28, 28, 3))
        arrays[f"{s}_images"] = np.clip(img, 0, 255).astype(np.uint8)
        arrays[f"{s}_labels"] = labels.astype(np.uint8)[:, None]
    return arrays


def write_dermamnist_fixture(
    path: str | os.PathLike, n_train: int = 20, n_val: int = 8, n_test: int = 8, seed: int = 0
) -> Path:
    """Write a small made-up npz in exactly the official ``dermamnist.npz`` format.

    Keys ``{train,val,test}_images`` ``uint8 (n, 28, 28, 3)`` and
    ``{train,val,test}_labels`` ``uint8 (n, 1)``. For tests; not real data.
    """
    arrays = _synthetic_arrays(seed, {"train": n_train, "val": n_val, "test": n_test})
    return atomic_write_bytes(path, npz_bytes(arrays))


def load_dermamnist(
    path: str | os.PathLike | None = None,
    synthetic: bool = False,
    image_size: int = 28,
    seed: int = 0,
) -> ImageSplits:
    """Load DermaMNIST's train / val / test images and labels.

    Args:
        path: MedMNIST's ``dermamnist.npz`` (or ``dermamnist_{64,128,224}.npz``);
            ``None`` reads ``~/.medmnist/dermamnist.npz``, MedMNIST's default folder.
        synthetic: generate made-up images in the official sizes instead, labelled
            ``synthetic=True``; never used unless asked.
        image_size: side of the returned images; files of another size are resized
            with ``upsample`` (bilinear).
        seed: seeds the synthetic images only.

    Returns:
        ``ImageSplits`` whose sets hold images ``float32 (N, image_size, image_size, 3)``
        in ``[0, 1]`` and labels ``int32 (N,)`` in ``0..6``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a valid dermamnist npz (keys, shapes, dtype, labels).
    """
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int; got {image_size!r}")
    if synthetic:
        if path is not None:
            raise ValueError("pass either path= or synthetic=True, not both")
        arrays, source = _synthetic_arrays(seed, OFFICIAL_SIZES), "synthetic"
    else:
        file = _default_path() if path is None else Path(path).expanduser()
        if not file.is_file():
            raise FileNotFoundError(
                f"expected DermaMNIST at {file}, found no file; " + _WHERE_TO_GET
            )
        arrays = load_npz(file)
        source = str(file)
        _check_arrays(arrays, source)

    def make(split: str) -> ImageSet:
        img = arrays[f"{split}_images"].astype(np.float32) / np.float32(255.0)
        if img.shape[1] != image_size:
            img = np.asarray(upsample(img, image_size)).clip(0.0, 1.0)
        labels = arrays[f"{split}_labels"].reshape(-1).astype(np.int32)
        return ImageSet(img.astype(np.float32), labels, VALUE_RANGE, source, bool(synthetic))

    return ImageSplits(make("train"), make("val"), make("test"), source, bool(synthetic))
