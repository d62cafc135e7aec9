"""Input domains: what the owner knows about valid inputs without storing any data.

A ``Domain`` is a box (per-coordinate ``[low, high]``) or a Gaussian
(``N(center, scale**2)``, optionally clipped to a box). Fingerprint search samples
from it, clips to it and checks membership; ``diameter`` gives a length scale for
pair distances. A domain is a small value that saves to JSON.

Constructors:

- ``tabular_domain``: per-feature min/max of the owner's own standardised
  features. The owner knows the ranges of their features; only these two
  vectors are kept, never a training row.
- ``image_domain``: a pixel box such as ``[0, 1]`` or ``[-1, 1]``.
- ``noise_domain``: the generator's latent ``N(0, I)``.
- ``standardised_normal_domain``: ``N(0, I)`` in the owner's standardised feature
  units: where the owner's data lives, described by the standardisation alone
  (mean 0, standard deviation 1 per feature). The warfarin default (see
  docs/method.md: fingerprints near the data survive fine-tuning better than
  fingerprints at the far corners of the feature-range box).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

FORMAT = "tafa-jax.domain"
VERSION = 1
KINDS = ("box", "gaussian")


def _as_array(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float32)
    try:
        np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(
            f"Domain.{what} must broadcast to the domain shape {shape}; got shape {arr.shape}"
        ) from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"Domain.{what} must be finite; got non-finite values")
    return arr


@dataclass(frozen=True, eq=False)
class Domain:
    """An input domain of shape ``shape``.

    Attributes:
        name: a label, e.g. ``"warfarin"``.
        shape: the shape of one input, e.g. ``(31,)`` or ``(28, 28, 1)``.
        kind: ``"box"`` (uniform in ``[low, high]``) or ``"gaussian"``
            (``N(center, scale**2)``, clipped to ``[low, high]`` when those are given).
        low, high: ``float32`` arrays broadcastable to ``shape``; required for a box.
        center, scale: ``float32`` arrays broadcastable to ``shape``; for a box they
            default to the midpoint and half-width, for a Gaussian to 0 and 1.
        binary_mask: optional ``bool`` array of exactly ``shape``; those coordinates
            take only the values ``low`` or ``high`` (one-hot and yes/no covariates).
    """

    name: str
    shape: tuple[int, ...]
    kind: str = "box"
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    center: np.ndarray | None = None
    scale: np.ndarray | None = None
    binary_mask: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.shape)
        if not shape or min(shape) < 1:
            raise ValueError(
                f"Domain.shape must be a non-empty tuple of positive ints; got {self.shape}"
            )
        if self.kind not in KINDS:
            raise ValueError(f"Domain.kind must be one of {KINDS}; got {self.kind!r}")
        set_ = lambda k, v: object.__setattr__(self, k, v)
        set_("shape", shape)
        low, high = _as_array(self.low, shape, "low"), _as_array(self.high, shape, "high")
        if (low is None) != (high is None):
            raise ValueError("Domain needs both low and high, or neither")
        if self.kind == "box" and low is None:
            raise ValueError("a box Domain needs low and high; pass arrays broadcastable to shape")
        if low is not None and high is not None and np.any(low > high):
            raise ValueError("Domain.low must be <= Domain.high everywhere")
        center = _as_array(self.center, shape, "center")
        scale = _as_array(self.scale, shape, "scale")
        if center is None:
            center = np.zeros((), np.float32)
            if self.kind == "box" and low is not None and high is not None:
                center = (low + high) / 2
        if scale is None:
            scale = np.ones((), np.float32)
            if self.kind == "box" and low is not None and high is not None:
                scale = (high - low) / 2
        if np.any(scale < 0) or (self.kind == "gaussian" and np.any(scale <= 0)):
            raise ValueError("Domain.scale must be positive (non-negative for a box)")
        mask = self.binary_mask
        if mask is not None:
            mask = np.asarray(mask)
            if mask.dtype != np.bool_ or mask.shape != shape:
                raise ValueError(
                    f"Domain.binary_mask must be a bool array of shape {shape}; got dtype "
                    f"{mask.dtype}, shape {mask.shape}"
                )
            if mask.any() and low is None:
                raise ValueError("binary coordinates need low and high (their two values)")
        for k, v in (("low", low), ("high", high), ("center", center), ("scale", scale),
                     ("binary_mask", mask)):
            set_(k, v)

    @property
    def size(self) -> int:
        """Number of coordinates, ``prod(shape)``."""
        return int(np.prod(self.shape))

    @property
    def diameter(self) -> float:
        """A length scale: ``||high - low||_2`` for a box, ``||scale||_2`` over all coordinates
        (``sqrt(dim) * scale`` for a constant scale) for a Gaussian."""
        if self.kind == "box":
            assert self.low is not None and self.high is not None
            d = np.broadcast_to(self.high - self.low, self.shape)
        else:
            assert self.scale is not None
            d = np.broadcast_to(self.scale, self.shape)
        return float(np.sqrt(np.sum(np.square(d, dtype=np.float64))))

    def sample(self, key: Array, n: int) -> Float[Array, "n ..."]:
        """Draw ``n`` inputs: uniform in the box, or ``N(center, scale**2)`` (clipped to the box
        if there is one). Binary coordinates are ``low`` or ``high`` with probability 1/2.

        Args:
            key: a ``jax.random`` key.
            n: number of samples.

        Returns:
            ``float32 (n, *shape)``.
        """
        k_val, k_bit = jax.random.split(key)
        full = (int(n), *self.shape)
        if self.kind == "box":
            assert self.low is not None and self.high is not None
            x = jax.random.uniform(k_val, full, jnp.float32, self.low, self.high)
        else:
            x = jnp.asarray(self.center) + jnp.asarray(self.scale) * jax.random.normal(
                k_val, full, jnp.float32
            )
            x = self.clip(x)
        if self.binary_mask is not None and self.binary_mask.any():
            bits = jax.random.bernoulli(k_bit, 0.5, full)
            lo = jnp.broadcast_to(jnp.asarray(self.low), self.shape)
            hi = jnp.broadcast_to(jnp.asarray(self.high), self.shape)
            x = jnp.where(jnp.asarray(self.binary_mask), jnp.where(bits, hi, lo), x)
        return x

    def clip(self, x: Float[Array, "..."]) -> Float[Array, "..."]:
        """Clip to ``[low, high]``; the identity for an unbounded Gaussian."""
        if self.low is None:
            return jnp.asarray(x)
        return jnp.clip(x, jnp.asarray(self.low), jnp.asarray(self.high))

    def contains(self, x: Float[Array, "..."], atol: float = 1e-5) -> Bool[Array, "*batch"]:
        """Whether each input lies in the domain (within ``atol``).

        Box coordinates must lie in ``[low - atol, high + atol]``; binary ones within
        ``atol`` of ``low`` or ``high``. An unbounded Gaussian contains every finite input.

        Args:
            x: ``(..., *shape)``.

        Returns:
            ``bool (...)``, one answer per input.
        """
        x = jnp.asarray(x)
        nd = len(self.shape)
        if x.shape[x.ndim - nd :] != self.shape:
            raise ValueError(f"contains expects inputs of shape (..., {self.shape}); got {x.shape}")
        ok = jnp.isfinite(x)
        if self.low is not None:
            lo, hi = jnp.asarray(self.low), jnp.asarray(self.high)
            ok &= (x >= lo - atol) & (x <= hi + atol)
            if self.binary_mask is not None:
                on_ends = (jnp.abs(x - lo) <= atol) | (jnp.abs(x - hi) <= atol)
                ok &= jnp.where(jnp.asarray(self.binary_mask), on_ends, True)
        return jnp.all(ok, axis=tuple(range(x.ndim - nd, x.ndim)))

    def to_json(self) -> dict[str, Any]:
        """A plain JSON-able dict (arrays as nested lists, in their stored shapes)."""

        def lst(a: np.ndarray | None) -> Any:
            return None if a is None else np.asarray(a).tolist()

        return {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "shape": list(self.shape),
            "kind": self.kind,
            "low": lst(self.low),
            "high": lst(self.high),
            "center": lst(self.center),
            "scale": lst(self.scale),
            "binary_mask": lst(self.binary_mask),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Domain:
        """Rebuild a domain from ``to_json``'s dict; checks format and version."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"expected a dict with format {FORMAT!r}; got {got!r}")
        if data.get("version") != VERSION:
            raise ValueError(
                f"domain format version {data.get('version')!r} is not supported (expected "
                f"{VERSION}); re-create the domain with this version of tafa-jax"
            )
        mask = data.get("binary_mask")
        return cls(
            name=str(data["name"]),
            shape=tuple(data["shape"]),
            kind=data["kind"],
            low=data.get("low"),
            high=data.get("high"),
            center=data.get("center"),
            scale=data.get("scale"),
            binary_mask=None if mask is None else np.asarray(mask, dtype=bool),
        )


def tabular_domain(
    x_owner_standardised: Float[np.ndarray, "n d"],
    binary_mask: Bool[np.ndarray, " d"] | None = None,
    margin: float = 0.0,
    name: str = "tabular",
) -> Domain:
    """A box from the per-feature min and max of the owner's standardised features.

    The owner knows the ranges of their own features; the domain keeps only the two
    ``(d,)`` vectors, never a row. Non-binary features are widened by ``margin`` (in
    standardised units) on each side; binary ones keep their two exact values.

    Args:
        x_owner_standardised: ``(n, d)`` owner features after standardising.
        binary_mask: ``(d,)`` bool, True for 0/1 covariates (``TabularSplits.binary_mask``).
        margin: non-negative widening of the non-binary ranges.
        name: the domain's label.
    """
    x = np.asarray(x_owner_standardised, np.float32)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"expected owner features of shape (n, d) with n >= 1; got {x.shape}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0; got {margin}")
    mask = np.zeros(x.shape[1], bool) if binary_mask is None else np.asarray(binary_mask, bool)
    if mask.shape != (x.shape[1],):
        raise ValueError(f"binary_mask must have shape ({x.shape[1]},); got {mask.shape}")
    low, high = x.min(axis=0), x.max(axis=0)
    low = np.where(mask, low, low - margin).astype(np.float32)
    high = np.where(mask, high, high + margin).astype(np.float32)
    # a binary column seen with one value only is not binary in the owner's data
    return Domain(name, (x.shape[1],), "box", low, high, binary_mask=mask & (high > low))


def image_domain(shape: tuple[int, ...], low: float = 0.0, high: float = 1.0,
                 name: str = "image") -> Domain:
    """A pixel box ``[low, high]`` for images of ``shape``, e.g. ``(28, 28, 1)``."""
    return Domain(name, tuple(shape), "box", np.asarray(low, np.float32),
                  np.asarray(high, np.float32))


def noise_domain(latent: int = 64, name: str = "noise") -> Domain:
    """The generator's latent space: ``N(0, I)`` in ``latent`` dimensions, unbounded."""
    return standardised_normal_domain(latent, 1.0, name)


def standardised_normal_domain(features: int, scale: float = 1.0,
                               name: str = "standardised") -> Domain:
    """``N(0, scale**2 I)`` over ``features`` standardised tabular features, unbounded.

    Standardised features have mean 0 and standard deviation 1 on the owner's
    data, so this domain sits where the data lives without keeping a row or even
    the feature ranges. Binary covariates are treated as continuous, as pairs
    that move them (``move_binary``) do anyway.
    """
    if int(features) < 1 or not scale > 0:
        raise ValueError(f"expected features >= 1 and scale > 0; got {features}, {scale}")
    return Domain(name, (int(features),), "gaussian", center=np.zeros((), np.float32),
                  scale=np.full((), scale, np.float32))
