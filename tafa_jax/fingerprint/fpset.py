"""The fingerprint-set file: npz (no pickle) with JSON metadata, digest and version.

One ``.npz`` holds the arrays and a ``meta_json`` byte array. The content
digest is a SHA-256 over every array (name, dtype, shape, bytes) and the
metadata without the digest itself, so any change to the file is detected.
Fingerprints are the owner's secret: the file is created with mode ``0o600``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from jaxtyping import Float, Int

from tafa_jax.io import atomic_write_bytes, load_npz, npz_bytes

FORMAT = "tafa-jax/fingerprint-set"
VERSION = 1
ARRAYS = ("probes", "owner_outputs", "owner_bend", "distance", "neuron", "margin", "steepness",
          "group")


@dataclasses.dataclass(frozen=True, eq=False)
class FingerprintSet:
    """K fingerprint pairs of an owner network.

    Attributes:
      probes: ``(K, P, *in)`` the probe inputs of each pair: ``x-``, the midpoint
        ``m`` (on the owner's boundary), ``x+``, then any extra probes.
      owner_outputs: ``(K, P, *out)`` the owner's outputs on the probes.
      owner_bend: ``(K,)`` the owner's bend statistic on each pair (> 0).
      distance: ``(K,)`` each pair's distance ``||x+ - x-||``.
      neuron: ``(K,)`` index of the owner's flipping ReLU.
      margin: ``(K,)`` distance from the midpoint to the nearest other owner boundary.
      steepness: ``(K,)`` ``||grad_x z_k||`` of the flipping neuron at the midpoint.
      group: ``(K,)`` fingerprint group of each pair (``0..G-1``); pairs of one group lie
        on the same owner boundary and must all bend for the group to match.
      meta: JSON-able metadata: network, domain, config, key, owner digest, counts.
    """

    probes: Float[np.ndarray, "K P *in"]
    owner_outputs: Float[np.ndarray, "K P *out"]
    owner_bend: Float[np.ndarray, " K"]
    distance: Float[np.ndarray, " K"]
    neuron: Int[np.ndarray, " K"]
    margin: Float[np.ndarray, " K"]
    steepness: Float[np.ndarray, " K"]
    group: Int[np.ndarray, " K"]
    meta: dict[str, Any]

    def __post_init__(self) -> None:
        k = self.probes.shape[0] if self.probes.ndim else 0
        if self.probes.ndim < 3 or self.probes.shape[1] < 3:
            raise ValueError(f"probes must have shape (K, P>=3, *in), got {self.probes.shape}")
        if self.owner_outputs.shape[:2] != self.probes.shape[:2]:
            raise ValueError(f"owner_outputs must start with {self.probes.shape[:2]}, "
                             f"got {self.owner_outputs.shape}")
        for name in ARRAYS[2:]:
            arr = getattr(self, name)
            if arr.shape != (k,):
                raise ValueError(f"{name} must have shape ({k},), got {arr.shape}")
        group_layout(self.group)

    @property
    def n_pairs(self) -> int:
        return int(self.probes.shape[0])

    @property
    def n_probes(self) -> int:
        return int(self.probes.shape[1])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.probes.shape[2:])

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(self.owner_outputs.shape[2:])

    @property
    def n_groups(self) -> int:
        return group_layout(self.group)[0]

    @property
    def lines_per_group(self) -> int:
        """Pairs (or profile lines) per group (:func:`group_layout`)."""
        return group_layout(self.group)[1]

    @property
    def queries_per_suspect(self) -> int:
        return self.n_pairs * self.n_probes

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(getattr(self, name)) for name in ARRAYS}

    def subset(self, groups: np.ndarray) -> FingerprintSet:
        """The fingerprint groups ``groups`` (e.g. the first 30, for a query-budget study)."""
        groups = np.asarray(groups)
        idx = np.flatnonzero(np.isin(self.group, groups))
        arrays = {name: a[idx] for name, a in self.arrays().items()}
        _, arrays["group"] = np.unique(arrays["group"], return_inverse=True)
        arrays["group"] = arrays["group"].astype(np.int32)
        return FingerprintSet(**arrays, meta={**self.meta, "subset_of": self.meta.get("digest")})


def group_layout(group) -> tuple[int, int]:
    """``(G, T)`` for a group array laid out as ``[0]*T + [1]*T + ... + [G-1]*T``.

    Every fingerprint set has this layout (a group's pairs or lines are contiguous,
    all groups are the same size); scoring profile lines relies on it, so anything
    else is refused.
    """
    group = np.asarray(group)
    if group.ndim != 1 or group.size == 0:
        raise ValueError(f"group must be a non-empty 1-D array, got shape {group.shape}")
    n_groups = int(group.max()) + 1
    per = group.size // n_groups
    if per * n_groups != group.size or not np.array_equal(
            group, np.repeat(np.arange(n_groups), per)):
        raise ValueError("group must list groups 0..G-1 in order, each of the same size "
                         f"(e.g. [0, 0, 1, 1]); got {group[:12].tolist()}"
                         + (" ..." if group.size > 12 else ""))
    return n_groups, per


def content_digest(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(json.dumps([name, str(a.dtype), list(a.shape)]).encode())
        h.update(a.tobytes())
    clean = {k: v for k, v in meta.items() if k != "digest"}
    h.update(json.dumps(clean, sort_keys=True).encode())
    return h.hexdigest()


def file_digest(fps: FingerprintSet) -> str:
    """The digest :func:`save` writes into the set's file (``meta["digest"]`` once
    loaded), for a set held in memory."""
    return content_digest(fps.arrays(), {**fps.meta, "format": FORMAT, "version": VERSION})


def save(path: str | os.PathLike, fps: FingerprintSet) -> Path:
    """Write atomically, readable by its owner only (mode 0o600). Returns the path."""
    arrays = fps.arrays()
    meta = {**fps.meta, "format": FORMAT, "version": VERSION, "digest": file_digest(fps)}
    blob = json.dumps(meta, sort_keys=True).encode()
    data = npz_bytes({**arrays, "meta_json": np.frombuffer(blob, np.uint8)})
    return atomic_write_bytes(path, data, mode=0o600)


def load(path: str | os.PathLike) -> FingerprintSet:
    """Read and validate a fingerprint-set file (format, version, digest, shapes)."""
    path = Path(path)
    raw = load_npz(path)
    missing = [k for k in (*ARRAYS, "meta_json") if k not in raw]
    if missing:
        raise ValueError(f"{path} is not a tafa-jax fingerprint set: missing arrays {missing}")
    try:
        meta = json.loads(raw["meta_json"].tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: corrupt metadata ({err})") from err
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: expected format {FORMAT!r}, found {meta.get('format')!r}")
    if meta.get("version") != VERSION:
        raise ValueError(f"{path}: fingerprint format version {meta.get('version')} is not "
                         f"supported (this tafa-jax reads version {VERSION})")
    arrays = {k: raw[k] for k in ARRAYS}
    if content_digest(arrays, meta) != meta.get("digest"):
        raise ValueError(f"{path}: content digest mismatch: the file was modified or damaged")
    return FingerprintSet(**arrays, meta=meta)
