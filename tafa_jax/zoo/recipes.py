"""Zoo recipes as data: which pirated and independent models to build, and how.

A :class:`ZooRecipe` is a tuple of :class:`GroupSpec`. A group is the unit of
training and of storage: its members share one architecture and one
:class:`~tafa_jax.zoo.train.TrainConfig`, so they train together in one vmapped
program. Within a group, members differ by seed and by a *variant* (a settings
dict such as ``{"ratio": 0.4}`` or ``{"lr": 3e-4}``), whose values are vmapped too.

Kinds (see PROTOCOL.md "The suspect zoo"):

========== ===== ============= ==================================================
kind       label group         what
========== ===== ============= ==================================================
ftll       1     positive      fine-tune the last layer on the pirate split
ftal_small 1     positive      fine-tune all layers, small lr
ftal_large 1     positive      fine-tune all layers, large lr
rtll       1     positive      re-initialise the last layer, train it
rtal       1     positive      re-initialise the last layer, train all layers
prune      1     positive      magnitude pruning, ``ratio`` in [0, 1)
fineprune  1     positive      pruning, then fine-tuning with the mask fixed
fp16/int8  1     positive      weight quantisation
noise      1     positive      Gaussian weight noise, ``scale`` x each tensor's std
permute    1     positive      permute hidden units (MLP)
rescale    1     positive      ReLU rescaling, ``a ~ U(low, high)`` (MLP)
distill    1     distillation  fresh init trained on the owner's outputs (pirate x)
neg_same   0     negative      owner architecture and recipe, other seeds
neg_width  0     negative      other widths (``arch`` override)
neg_depth  0     negative      other depths (``arch`` override)
neg_subset 0     negative      random ``fraction`` of owner + pirate rows
neg_optim  0     negative      other optimiser or learning rate
neg_arch   0     negative      another architecture, same input/output shapes
========== ===== ============= ==================================================
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from tafa_jax.zoo.train import TrainConfig

POSITIVE_KINDS = ("ftll", "ftal_small", "ftal_large", "rtll", "rtal", "prune", "fineprune",
                  "fp16", "int8", "noise", "permute", "rescale")
DISTILL_KINDS = ("distill",)
NEGATIVE_KINDS = ("neg_same", "neg_width", "neg_depth", "neg_subset", "neg_optim", "neg_arch")
KINDS = POSITIVE_KINDS + DISTILL_KINDS + NEGATIVE_KINDS
TRAINED_KINDS = ("ftll", "ftal_small", "ftal_large", "rtll", "rtal", "fineprune", "distill",
                 *NEGATIVE_KINDS)
WEIGHT_ONLY_KINDS = ("prune", "fp16", "int8", "noise", "permute", "rescale")

# settings a variant may set, per kind (values are vmapped within a group)
_SETTINGS: dict[str, tuple[str, ...]] = {
    "ftll": ("lr",), "ftal_small": ("lr",), "ftal_large": ("lr",), "rtll": ("lr",),
    "rtal": ("lr",), "prune": ("ratio",), "fineprune": ("ratio", "lr"), "fp16": (), "int8": (),
    "noise": ("scale",), "permute": (), "rescale": ("low", "high"), "distill": ("lr",),
    "neg_same": ("lr",), "neg_width": ("lr",), "neg_depth": ("lr",),
    "neg_subset": ("fraction", "lr"), "neg_optim": ("lr",), "neg_arch": ("lr",),
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


def kind_label(kind: str) -> int:
    """1 for pirated copies (including distillation), 0 for independent models."""
    return 0 if kind in NEGATIVE_KINDS else 1


def kind_group(kind: str) -> str:
    """``"positive"``, ``"negative"`` or ``"distillation"`` (reported on its own)."""
    if kind in NEGATIVE_KINDS:
        return "negative"
    return "distillation" if kind in DISTILL_KINDS else "positive"


@dataclasses.dataclass(frozen=True)
class Member:
    """One suspect model, as the manifest records it.

    Attributes:
      id: unique within the zoo, ``"{group}-v{variant}-s{seed}"``.
      kind: one of :data:`KINDS`.
      label: 1 pirated (positive or distillation), 0 independent.
      group: ``"positive"``, ``"negative"`` or ``"distillation"``.
      settings: the variant's settings (e.g. ``{"ratio": 0.4}``) plus the training
        config of trained kinds.
      seed: the seed index within its variant.
      architecture: the JSON spec of its network (see :mod:`tafa_jax.zoo.arch`).
      train_group: the name of the recipe group it was built in (and stored with).
    """

    id: str
    kind: str
    label: int
    group: str
    settings: Mapping[str, Any]
    seed: int
    architecture: Mapping[str, Any]
    train_group: str

    @property
    def attack(self) -> str:
        """The attack it comes from, ``"{group}-v{variant}"``: its id without the seed."""
        return self.id.rsplit("-s", 1)[0]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, "group": self.group,
                "settings": dict(self.settings), "seed": self.seed,
                "architecture": dict(self.architecture), "train_group": self.train_group}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Member:
        return cls(id=d["id"], kind=d["kind"], label=int(d["label"]), group=d["group"],
                   settings=dict(d["settings"]), seed=int(d["seed"]),
                   architecture=dict(d["architecture"]), train_group=d["train_group"])


@dataclasses.dataclass(frozen=True)
class GroupSpec:
    """A set of members trained (or transformed) together and stored in one file.

    Attributes:
      name: unique within the recipe; lower-case letters, digits, ``_`` and ``-``.
      kind: one of :data:`KINDS`.
      seeds: members per variant (>= 1).
      variants: settings dicts, one per variant (``({},)`` for none). Keys allowed
        per kind: see ``_SETTINGS`` (e.g. ``ratio`` for prune, ``scale`` for noise).
      train: the training config; required for trained kinds, ignored otherwise.
      arch: for negatives, overrides of the owner's builder kwargs (e.g.
        ``{"hidden": [50]}``) or a full spec with a ``"builder"`` key (``neg_arch``).
    """

    name: str
    kind: str
    seeds: int = 1
    variants: tuple[Mapping[str, Any], ...] = ({},)
    train: TrainConfig | None = None
    arch: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"group {self.name!r}: unknown obfuscation kind {self.kind!r}; "
                             f"expected one of {KINDS}")
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"group name {self.name!r} must match {_NAME.pattern} "
                             "(it names a file)")
        variants = tuple(dict(v) for v in self.variants)
        object.__setattr__(self, "variants", variants)
        if int(self.seeds) < 1 or not variants:
            raise ValueError(f"group {self.name!r} is empty: seeds={self.seeds}, "
                             f"{len(variants)} variants; a group needs seeds >= 1 and at least "
                             "one variant")
        for v in variants:
            extra = sorted(set(v) - set(_SETTINGS[self.kind]))
            if extra:
                raise ValueError(f"group {self.name!r}: settings {extra} do not apply to kind "
                                 f"{self.kind!r}; it takes {_SETTINGS[self.kind]}")
            if self.kind in ("prune", "fineprune"):
                if "ratio" not in v:
                    raise ValueError(f"group {self.name!r}: every {self.kind} variant needs a "
                                     "'ratio'")
                if not 0.0 <= float(v["ratio"]) < 1.0:
                    raise ValueError(f"group {self.name!r}: pruning ratio must be in [0, 1), "
                                     f"got {v['ratio']}")
            if "fraction" in v and not 0.0 < float(v["fraction"]) <= 1.0:
                raise ValueError(f"group {self.name!r}: fraction must be in (0, 1], "
                                 f"got {v['fraction']}")
            if "scale" in v and float(v["scale"]) < 0:
                raise ValueError(f"group {self.name!r}: noise scale must be >= 0, got {v['scale']}")
            if "low" in v or "high" in v:
                lo, hi = float(v.get("low", 0.5)), float(v.get("high", 2.0))
                if not 0 < lo <= hi:
                    raise ValueError(f"group {self.name!r}: rescale needs 0 < low <= high, "
                                     f"got low={lo}, high={hi}")
            if "lr" in v and not float(v["lr"]) > 0:
                raise ValueError(f"group {self.name!r}: lr must be > 0, got {v['lr']}")
        if self.kind in TRAINED_KINDS and self.train is None:
            raise ValueError(f"group {self.name!r}: kind {self.kind!r} is trained, so it needs "
                             "a TrainConfig (train=...)")
        if self.kind == "neg_arch" and (self.arch is None or "builder" not in self.arch):
            raise ValueError(f"group {self.name!r}: neg_arch needs arch= a full spec with a "
                             "'builder' key")
        if self.arch is not None and self.kind not in NEGATIVE_KINDS + DISTILL_KINDS:
            raise ValueError(f"group {self.name!r}: arch overrides apply to negatives and "
                             f"distillation only, not {self.kind!r}")

    @property
    def size(self) -> int:
        return int(self.seeds) * len(self.variants)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "seeds": int(self.seeds),
                "variants": [dict(v) for v in self.variants],
                "train": None if self.train is None else self.train.to_json(),
                "arch": None if self.arch is None else dict(self.arch)}


@dataclasses.dataclass(frozen=True)
class ZooRecipe:
    """A whole zoo as data: a name and its groups."""

    name: str
    groups: tuple[GroupSpec, ...]

    def __post_init__(self) -> None:
        groups = tuple(self.groups)
        object.__setattr__(self, "groups", groups)
        if not groups:
            raise ValueError(f"recipe {self.name!r} has no groups")
        names = [g.name for g in groups]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"recipe {self.name!r}: duplicate group names {dup}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "groups": [g.to_json() for g in self.groups]}

    def digest(self) -> str:
        text = json.dumps(self.to_json(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def counts(self) -> dict[str, int]:
        """Members per zoo group (``positive``, ``negative``, ``distillation``)."""
        out = {"positive": 0, "negative": 0, "distillation": 0}
        for g in self.groups:
            out[kind_group(g.kind)] += g.size
        return out

    def kinds(self, group: str = "positive") -> list[str]:
        return sorted({g.kind for g in self.groups if kind_group(g.kind) == group})


# -- the paper's scenarios ------------------------------------------------------
def _sized_configs(size: str, loss: str, small_steps: tuple[int, int, int],
                   head_steps: tuple[int, int, int], schedule: str = "constant"):
    """``(small, pick, ft, ft_large, own)`` for a recipe size.

    ``*_steps`` are ``(fine-tune steps, from-scratch steps, batch size)``; ``pick(a, b)``
    is ``a`` for the small size and ``b`` for the headline one. Fine-tuning uses Adam
    at 1e-4 and 1e-3 (constant), training from scratch Adam at 1e-3 with ``schedule``.
    """
    if size not in ("small", "headline"):
        raise ValueError(f"size must be 'small' or 'headline', got {size!r}")
    small = size == "small"
    ft_steps, own_steps, bs = small_steps if small else head_steps

    def pick(n_small, n_head):
        return n_small if small else n_head

    return (small, pick, TrainConfig("adam", 1e-4, ft_steps, bs, loss=loss),
            TrainConfig("adam", 1e-3, ft_steps, bs, loss=loss),
            TrainConfig("adam", 1e-3, own_steps, bs, loss=loss, schedule=schedule))


def warfarin_recipe(size: str = "small") -> ZooRecipe:
    """The warfarin zoo (MLP regression, losses in mg/week).

    ``"headline"``: 41 positives over 12 kinds, 3 distilled copies and 40 negatives
    (20 same-recipe seeds, widths 50 and 200, depth 2, data subsets, SGD and AdamW).
    ``"small"``: the same kinds with 1-4 members each and few steps, for CI.
    """
    small, s, ft, ft_large, own = _sized_configs(size, "mae", (30, 60, 32), (600, 3000, 64))
    ratios = (0.2, 0.4, 0.6, 0.8)
    groups = [
        GroupSpec("ftll", "ftll", s(1, 3), train=ft_large),
        GroupSpec("ftal_small", "ftal_small", s(1, 3), train=ft),
        GroupSpec("ftal_large", "ftal_large", s(1, 3), train=ft_large),
        GroupSpec("rtll", "rtll", s(1, 3), train=ft_large),
        GroupSpec("rtal", "rtal", s(1, 3), train=ft_large),
        GroupSpec("prune", "prune", 1, tuple({"ratio": r} for r in ratios)),
        GroupSpec("fineprune", "fineprune", s(1, 2), tuple({"ratio": r} for r in ratios),
                  train=ft_large),
        GroupSpec("fp16", "fp16"),
        GroupSpec("int8", "int8"),
        GroupSpec("noise", "noise", s(1, 2),
                  tuple({"scale": v} for v in ((0.05,) if small else (0.01, 0.05, 0.1)))),
        GroupSpec("permute", "permute", s(1, 3)),
        GroupSpec("rescale", "rescale", s(1, 3), ({"low": 0.5, "high": 2.0},)),
        GroupSpec("distill", "distill", s(1, 3), train=own),
        GroupSpec("neg_same", "neg_same", s(3, 20), train=own),
        GroupSpec("neg_width_50", "neg_width", s(1, 3), train=own, arch={"hidden": [50]}),
        GroupSpec("neg_width_200", "neg_width", s(1, 3), train=own, arch={"hidden": [200]}),
        GroupSpec("neg_depth_2", "neg_depth", s(1, 3), train=own, arch={"hidden": [100, 100]}),
        GroupSpec("neg_subset", "neg_subset", s(1, 5), ({"fraction": 0.5},), train=own),
        GroupSpec("neg_sgd", "neg_optim", s(1, 3),
                  train=dataclasses.replace(own, optimizer="sgd", lr=1e-3, momentum=0.9)),
        GroupSpec("neg_adamw", "neg_optim", s(1, 3),
                  train=dataclasses.replace(own, optimizer="adamw", lr=3e-3,
                                            weight_decay=1e-4)),
    ]
    return ZooRecipe(f"warfarin-{size}", tuple(groups))


def skin_recipe(size: str = "small") -> ZooRecipe:
    """A classification zoo (cross-entropy, accuracy): positives and same-architecture
    negatives (other seeds, data subsets, SGD). Distillation is skipped.
    Other-architecture negatives (``neg_arch``) depend on the owner's input shape;
    add them with ``GroupSpec``.

    ``"headline"``: 51 positives over 10 kinds and 30 negatives (20 same-recipe seeds,
    data subsets, SGD). The attacks that cost utility (FTAL at the large rate, RTAL,
    fine-pruning) have more seeds, and fine-pruning runs at both rates, so that at
    least 30 positives pass the utility filter against a converged owner (of 32
    positives 22 did on synthetic images, of 43 27). Independent models train with
    the owner's own recipe (Adam at 1e-3 with a cosine decay, 300 steps of 64:
    ``SKIN.owner_train``; the SGD ones at 1e-2 with the same decay), as PROTOCOL.md's
    hardest negatives do; pirates fine-tune for 100 steps, a third of it, at a
    constant rate. ``"small"``: 1-3 members per kind and few steps, for CI and the
    fixture studies.
    """
    small, s, ft, ft_large, own = _sized_configs(size, "xent", (10, 20, 16), (100, 300, 64),
                                                 schedule="cosine")
    return ZooRecipe(f"skin-{size}", (
        GroupSpec("ftll", "ftll", s(1, 3), train=ft_large),
        GroupSpec("ftal_small", "ftal_small", s(1, 3), train=ft),
        GroupSpec("ftal_large", "ftal_large", s(1, 5), train=ft_large),
        GroupSpec("rtll", "rtll", s(1, 3), train=ft_large),
        GroupSpec("rtal", "rtal", s(1, 5), train=ft_large),
        GroupSpec("prune", "prune", 1, tuple({"ratio": r} for r in (0.2, 0.4, 0.6, 0.8))),
        GroupSpec("fineprune", "fineprune", s(1, 3),
                  tuple({"ratio": r} for r in ((0.4, 0.8) if small else (0.2, 0.4, 0.6, 0.8))),
                  train=ft_large),
        # a careful pirate fine-prunes at the small rate too (headline only)
        *(() if small else (GroupSpec("fineprune_small", "fineprune", 2, tuple(
            {"ratio": r} for r in (0.2, 0.4, 0.6, 0.8)), train=ft),)),
        GroupSpec("fp16", "fp16"),
        GroupSpec("int8", "int8"),
        GroupSpec("noise", "noise", s(1, 3),
                  tuple({"scale": v} for v in ((0.05,) if small else (0.01, 0.05)))),
        GroupSpec("neg_same", "neg_same", s(2, 20), train=own),
        GroupSpec("neg_subset", "neg_subset", s(1, 5), ({"fraction": 0.5},), train=own),
        GroupSpec("neg_sgd", "neg_optim", s(1, 5),
                  train=dataclasses.replace(own, optimizer="sgd", lr=1e-2)),
    ))


def weights_only_recipe(size: str = "small", *, noise_scales: tuple[float, ...] = (0.01, 0.05),
                        mlp: bool = True) -> ZooRecipe:
    """Positives that need no training data (e.g. a WGAN generator): pruning,
    quantisation, weight noise and, for MLPs, permutation and ReLU rescaling.
    Negatives for such zoos come from independently trained owners.
    """
    if size not in ("small", "headline"):
        raise ValueError(f"size must be 'small' or 'headline', got {size!r}")
    n = 1 if size == "small" else 3
    groups = [
        GroupSpec("prune", "prune", 1, tuple({"ratio": r} for r in (0.2, 0.4, 0.6, 0.8))),
        GroupSpec("fp16", "fp16"),
        GroupSpec("int8", "int8"),
        GroupSpec("noise", "noise", n, tuple({"scale": v} for v in noise_scales)),
    ]
    if mlp:
        groups += [GroupSpec("permute", "permute", n), GroupSpec("rescale", "rescale", n)]
    return ZooRecipe(f"weights-only-{size}", tuple(groups))
