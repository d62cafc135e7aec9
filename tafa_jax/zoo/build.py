"""Build, store, resume and load suspect zoos.

A zoo directory holds::

    manifest.json          format version, owner digest, recipe, every member
    groups/<group>.npz     one file per recipe group: params stacked on axis 0,
                           keys are '/'-joined paths ('params/dense0/kernel')

Every write is atomic. The manifest is rewritten after each group, so an
interrupted build resumes where it stopped: groups already on disk (and whose
digests check out) are skipped. A recipe of the same name that has grown or
changed keeps its unchanged groups, trains the new and changed ones, and leaves
out the groups it no longer has (their files stay on disk); a recipe of another
name, owner, key, utility metric or tolerance is refused.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tafa_jax.io import atomic_write_bytes, load_npz, npz_bytes, read_json, sha256_file, write_json
from tafa_jax.nets.network import Network, Params, check_params, forward
from tafa_jax.nets.stacking import params_digest, unstack
from tafa_jax.zoo import obfuscate as obf
from tafa_jax.zoo.arch import arch_key, describe_network, network_from_spec
from tafa_jax.zoo.recipes import GroupSpec, Member, ZooRecipe, kind_group, kind_label
from tafa_jax.zoo.train import METRICS, evaluate, train_group

FORMAT = "tafa-zoo"
FORMAT_VERSION = 1
UTILITY_METRICS = (*METRICS, "quality")
DEFAULT_TOLERANCE = {"accuracy": 0.05, "mae": 0.15, "mse": 1.15 ** 2 - 1.0, "quality": 1.5}

UtilityFn = Callable[[Network, Params], Any]
Progress = Callable[[dict[str, Any]], None]


class ZooData(NamedTuple):
    """The arrays a zoo is built from (``TabularSplits`` has the same fields)."""

    x_pirate: np.ndarray
    y_pirate: np.ndarray
    x_owner: np.ndarray
    y_owner: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclasses.dataclass(frozen=True)
class MemberRecord:
    """A built member: its spec, utility and where its params live."""

    member: Member
    utility: float | None
    excluded: bool
    digest: str
    file: str
    index: int

    @property
    def id(self) -> str:
        return self.member.id

    def to_json(self) -> dict[str, Any]:
        return {**self.member.to_json(), "arch_key": arch_key(self.member.architecture),
                "utility": self.utility, "excluded": self.excluded, "digest": self.digest,
                "file": self.file, "index": self.index}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> MemberRecord:
        u = d.get("utility")
        return cls(Member.from_json(d), None if u is None else float(u), bool(d["excluded"]),
                   d["digest"], d["file"], int(d["index"]))


@dataclasses.dataclass(frozen=True, eq=False)
class Zoo:
    """A loaded (or freshly built) zoo.

    Attributes:
      path: the zoo directory.
      manifest: the parsed ``manifest.json``.
      records: every member, in manifest order.
      params: recipe group name -> stacked params of that group's members.
      trained_groups: groups trained or transformed by the call that returned this.
      skipped_groups: groups found finished on disk and not rebuilt (resumption).
    """

    path: Path
    manifest: dict[str, Any]
    records: tuple[MemberRecord, ...]
    params: dict[str, Params]
    trained_groups: int = 0
    skipped_groups: int = 0

    def __len__(self) -> int:
        return len(self.records)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    @functools.cached_property
    def _by_id(self) -> dict[str, MemberRecord]:
        return {r.id: r for r in self.records}

    def record(self, member_id: str) -> MemberRecord:
        """The member called ``member_id`` (a dict look-up: verifiers call this per suspect)."""
        try:
            return self._by_id[member_id]
        except KeyError:
            raise KeyError(f"no member {member_id!r} in zoo {self.path}") from None

    def member_params(self, member_id: str) -> Params:
        r = self.record(member_id)
        return jax.tree.map(lambda a: a[r.index], self.params[r.member.train_group])

    def labels(self) -> dict[str, int]:
        return {r.id: r.member.label for r in self.records}

    def grouped(self, *, include_excluded: bool = True,
                groups: tuple[str, ...] | None = None
                ) -> dict[str, tuple[Network, Params, list[str]]]:
        """Stacked params per architecture, ready for ``vmap``-ed verification.

        Args:
          include_excluded: keep positives flagged by the utility filter.
          groups: keep only these zoo groups (``"positive"``, ``"negative"``,
            ``"distillation"``); all by default.

        Returns:
          ``{arch_key: (network, params stacked (n, ...), [member ids])}``, the ids in
          the order of the stack.
        """
        by_arch: dict[str, list[MemberRecord]] = {}
        for r in self.records:
            if r.excluded and not include_excluded:
                continue
            if groups is not None and r.member.group not in groups:
                continue
            by_arch.setdefault(arch_key(r.member.architecture), []).append(r)
        out = {}
        for key, recs in by_arch.items():
            net = network_from_spec(recs[0].member.architecture)
            parts = []
            for group_name in dict.fromkeys(r.member.train_group for r in recs):
                idx = np.asarray([r.index for r in recs if r.member.train_group == group_name])
                parts.append(jax.tree.map(lambda a, i=idx: jnp.asarray(a)[i],
                                          self.params[group_name]))
            stacked = jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)
            ids = [r.id for g in dict.fromkeys(r.member.train_group for r in recs)
                   for r in recs if r.member.train_group == g]
            out[key] = (net, stacked, ids)
        return out


# -- npz (de)serialisation ------------------------------------------------------
def flatten_params(params: Params) -> dict[str, np.ndarray]:
    """``{'params/dense0/kernel': array, ...}`` for npz storage."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        out["/".join(str(getattr(k, "key", k)) for k in path)] = np.asarray(leaf)
    return out


def unflatten_params(flat: Mapping[str, np.ndarray]) -> Params:
    """The inverse of :func:`flatten_params` (nested dicts)."""
    tree: dict[str, Any] = {}
    for name, a in flat.items():
        node = tree
        *parents, last = name.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = jnp.asarray(a)
    return tree


# -- utility filter -------------------------------------------------------------
def utility_excluded(metric: str, owner: float, member: float, tolerance: float) -> bool:
    """True when ``member``'s utility is beyond ``tolerance`` of the owner's.

    ``accuracy``: absolute drop (fraction; 0.05 is 5 points). ``mae``/``mse``:
    relative rise (0.15 is +15 %). ``quality`` (lower is better, e.g. a Fréchet
    distance): ratio to the owner's (1.5 is 1.5x). A non-finite value is excluded.
    """
    if member is None or not math.isfinite(member):
        return True
    if metric == "accuracy":
        return owner - member > tolerance
    if metric in ("mae", "mse"):
        return member > owner * (1.0 + tolerance)
    if metric == "quality":
        return member > owner * tolerance
    raise ValueError(f"unknown utility metric {metric!r}; expected one of {UTILITY_METRICS}")


# -- building -------------------------------------------------------------------
def _as_data(data: Any) -> ZooData:
    if isinstance(data, ZooData):
        return data
    if isinstance(data, Mapping):
        return ZooData(**{f: np.asarray(data[f]) for f in ZooData._fields})
    try:
        return ZooData(*(np.asarray(getattr(data, f)) for f in ZooData._fields))
    except AttributeError as err:
        raise ValueError(f"data needs fields {ZooData._fields} (a ZooData, TabularSplits or "
                         f"dict); {err}") from err


def _root_key(key: Any) -> jax.Array:
    """A typed PRNG key from a typed key or raw ``uint32`` key data."""
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    return jax.random.wrap_key_data(jnp.asarray(key, jnp.uint32))


def plan(recipe: ZooRecipe, owner_spec: Mapping[str, Any]) -> list[tuple[GroupSpec, list[Member]]]:
    """Every group of the recipe with its members (ids, labels, architectures)."""
    out = []
    for g in recipe.groups:
        if g.arch is None:
            spec = dict(owner_spec)
        elif "builder" in g.arch:
            spec = dict(g.arch)
        else:
            spec = {**owner_spec, **g.arch}
        try:
            net = network_from_spec(spec)
        except (ValueError, TypeError) as err:
            raise ValueError(f"group {g.name!r}: bad architecture {spec}: {err}") from err
        owner_net = network_from_spec(owner_spec)
        if (net.input_shape, net.output_shape) != (owner_net.input_shape, owner_net.output_shape):
            raise ValueError(f"group {g.name!r}: a suspect must have the owner's input and output "
                             f"shapes {owner_net.input_shape} -> {owner_net.output_shape}, got "
                             f"{net.input_shape} -> {net.output_shape}")
        train = {} if g.train is None else {"train": g.train.to_json()}
        members = [Member(id=f"{g.name}-v{j}-s{s}", kind=g.kind, label=kind_label(g.kind),
                          group=kind_group(g.kind), settings={**v, **train}, seed=s,
                          architecture=spec, train_group=g.name)
                   for j, v in enumerate(g.variants) for s in range(int(g.seeds))]
        out.append((g, members))
    return out


def _setting(g: GroupSpec, name: str, default: float) -> np.ndarray:
    return np.asarray([float(v.get(name, default)) for v in g.variants for _ in range(g.seeds)],
                      np.float32)


def _build_group(g: GroupSpec, members: list[Member], owner_net: Network, owner_params: Params,
                 data: ZooData, keys: jax.Array) -> Params:
    """Stacked params ``(len(members), ...)`` of one group."""
    n = len(members)
    net = network_from_spec(members[0].architecture)
    base = jax.tree.map(lambda a: jnp.broadcast_to(a, (n, *a.shape)), owner_params)
    k_init, k_train = jax.vmap(lambda k: jax.random.split(k))(keys).T
    cfg = g.train
    lrs = jnp.asarray(_setting(g, "lr", cfg.lr if cfg is not None else 0.0))
    kind = g.kind

    def fit(p0, x, y, **kw):
        if cfg is None:
            raise ValueError(f"group {g.name!r}: kind {kind!r} needs a TrainConfig")
        return train_group(net, p0, x, y, cfg, keys=k_train, lrs=lrs, **kw)[0]

    last = (obf.last_layer(owner_net),)
    if kind == "ftll":
        return fit(base, data.x_pirate, data.y_pirate, trainable=last)
    if kind in ("ftal_small", "ftal_large"):
        return fit(base, data.x_pirate, data.y_pirate)
    if kind in ("rtll", "rtal"):
        p0 = jax.vmap(lambda p, k: obf.reinit_last_layer(owner_net, p, k))(base, k_init)
        return fit(p0, data.x_pirate, data.y_pirate, trainable=last if kind == "rtll" else None)
    if kind in ("prune", "fineprune"):
        pruned, masks = jax.vmap(obf.prune_magnitude)(base, jnp.asarray(_setting(g, "ratio", 0)))
        if kind == "prune":
            return pruned
        return fit(pruned, data.x_pirate, data.y_pirate, masks=masks)
    if kind in ("fp16", "int8"):
        return jax.vmap(lambda p: obf.quantize(p, kind))(base)
    if kind == "noise":
        return jax.vmap(obf.weight_noise)(base, k_init, jnp.asarray(_setting(g, "scale", 0.05)))
    if kind == "permute":
        return jax.vmap(lambda p, k: obf.permute_hidden(owner_net, p, k))(base, k_init)
    if kind == "rescale":
        return jax.vmap(lambda p, k, lo, hi: obf.rescale_relu(owner_net, p, k, lo, hi))(
            base, k_init, jnp.asarray(_setting(g, "low", 0.5)),
            jnp.asarray(_setting(g, "high", 2.0)))
    fresh = jax.vmap(net.init)(k_init)
    if kind == "distill":
        teacher = np.asarray(forward(owner_net, owner_params, jnp.asarray(data.x_pirate)))
        if cfg is not None and cfg.loss == "xent":
            teacher = np.asarray(jax.nn.softmax(teacher.reshape(teacher.shape[0], -1), -1))
        return fit(fresh, data.x_pirate, teacher)
    if kind == "neg_subset":
        x_all = np.concatenate([data.x_owner, data.x_pirate])
        y_all = np.concatenate([data.y_owner, data.y_pirate])
        fracs = _setting(g, "fraction", 0.5)
        if len(set(fracs.tolist())) != 1:
            raise ValueError(f"group {g.name!r}: all neg_subset variants of a group need the "
                             "same fraction (it fixes the array shapes); use one group per "
                             "fraction")
        m = max(1, int(round(float(fracs[0]) * x_all.shape[0])))
        index = jax.vmap(lambda k: jax.random.permutation(k, x_all.shape[0])[:m])(k_init)
        return fit(fresh, x_all, y_all, data_index=index)
    return fit(fresh, data.x_owner, data.y_owner)  # the other negatives


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Atomically write a zoo manifest, with the flat member list derived from its groups."""
    manifest = {**manifest, "members": [m for g in manifest["groups"].values()
                                        for m in g["members"]]}
    write_json(out / "manifest.json", manifest)


def build_zoo(
    out_dir: str | Path,
    *,
    owner_net: Network,
    owner_params: Params,
    data: Any,
    recipe: ZooRecipe,
    utility_metric: str = "mae",
    utility_tolerance: float | None = None,
    key: Any,
    progress: Progress | None = None,
    utility_fn: UtilityFn | None = None,
    owner_spec: Mapping[str, Any] | None = None,
    owner_labelled: bool = False,
) -> Zoo:
    """Build (or resume) a zoo directory from an owner model and a recipe.

    Args:
      out_dir: the zoo directory; created if missing. If it already holds a
        manifest for the same owner, key and recipe name, finished groups whose spec
        the recipe has not changed are skipped (a grown recipe trains only its new
        and changed groups); another owner, key, recipe name, utility metric,
        tolerance or ``owner_labelled`` raises ``ValueError``.
      owner_net, owner_params: the owner model (one model, not stacked).
      data: ``x_pirate, y_pirate, x_owner, y_owner, x_test, y_test`` (a
        :class:`ZooData`, ``TabularSplits`` or dict). Only the weight-only kinds
        ignore the training splits; ``x_test, y_test`` give every member's utility.
      recipe: the :class:`ZooRecipe`.
      utility_metric: ``"mae"``, ``"mse"``, ``"accuracy"``, or ``"quality"`` (lower
        is better, computed by ``utility_fn``).
      utility_tolerance: see :func:`utility_excluded`; default 0.05 (accuracy drop),
        0.15 (MAE rise), 1.5 (quality ratio).
      key: the root PRNG key; each member's key is derived from it and its id.
      progress: called with a dict after each group: ``{"event": "trained" |
        "skipped", "group", "members", "seconds", "trained", "skipped", "total"}``.
      utility_fn: optional ``(net, stacked params) -> (n,)`` utilities, replacing
        :func:`~tafa_jax.zoo.train.evaluate` on the test split.
      owner_spec: the owner's architecture spec when it cannot be inferred.
      owner_labelled: ``data`` is domain samples labelled by the owner
        (:mod:`tafa_jax.data.owner_labelled`), not data rows; recorded in the
        manifest (``"owner_labelled": true``), and a directory built otherwise is
        not resumed.

    Returns:
      The :class:`Zoo`, with ``trained_groups`` and ``skipped_groups`` counts.
    """
    if utility_metric not in UTILITY_METRICS:
        raise ValueError(f"unknown utility metric {utility_metric!r}; expected one of "
                         f"{UTILITY_METRICS}")
    if utility_metric == "quality" and utility_fn is None:
        raise ValueError("utility_metric='quality' needs a utility_fn(net, params) -> (n,) scores")
    tol = DEFAULT_TOLERANCE[utility_metric] if utility_tolerance is None else float(
        utility_tolerance)
    if not (math.isfinite(tol) and (tol > 0 if utility_metric == "quality" else tol >= 0)):
        raise ValueError(f"utility_tolerance must be a finite number >= 0 (> 0 for a quality "
                         f"ratio), got {utility_tolerance!r}")
    data = _as_data(data)
    spec = dict(owner_spec) if owner_spec is not None else describe_network(owner_net)
    if network_from_spec(spec) != owner_net:
        raise ValueError("owner_spec does not describe owner_net")
    check_params(owner_net, owner_params)
    key = _root_key(key)
    planned = plan(recipe, spec)

    def utilities(net: Network, stacked: Params) -> np.ndarray:
        if utility_fn is not None:
            return np.asarray(utility_fn(net, stacked), np.float64).reshape(-1)
        return evaluate(net, stacked, data.x_test, data.y_test, utility_metric)

    owner_stack = jax.tree.map(lambda a: jnp.asarray(a)[None], owner_params)
    owner_utility = float(utilities(owner_net, owner_stack)[0])
    out = Path(out_dir)
    head = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "owner": {"digest": params_digest(owner_params), "architecture": spec,
                  "utility": owner_utility},
        "recipe": recipe.to_json(), "recipe_digest": recipe.digest(),
        "key": np.asarray(jax.random.key_data(key)).tolist(),
        "utility_metric": utility_metric, "utility_tolerance": tol,
        **({"owner_labelled": True} if owner_labelled else {}),
    }
    manifest: dict[str, Any] = {**head, "groups": {}}
    done_params: dict[str, Params] = {}
    if (out / "manifest.json").exists():
        old = read_json(out / "manifest.json")
        for field in ("format_version", "key", "utility_metric", "utility_tolerance",
                      "owner_labelled"):
            if old.get(field) != head.get(field):
                raise ValueError(f"{out} already holds a different zoo ({field} differs); "
                                 "build into a new directory or delete this one")
        if old.get("owner", {}).get("digest") != head["owner"]["digest"]:
            raise ValueError(f"{out} already holds a zoo of a different owner (digest differs); "
                             "build into a new directory or delete this one")
        if old.get("recipe", {}).get("name") != recipe.name:
            raise ValueError(f"{out} already holds a zoo of recipe "
                             f"{old.get('recipe', {}).get('name')!r}, not {recipe.name!r}; "
                             "build into a new directory or delete this one")
        # a grown or edited recipe keeps the finished groups it did not change
        old_specs = {g["name"]: g for g in old.get("recipe", {}).get("groups", [])}
        new_specs = {g["name"]: g for g in head["recipe"]["groups"]}
        for name, entry in old.get("groups", {}).items():
            if name not in new_specs or _canonical(old_specs.get(name)) != _canonical(
                    new_specs[name]):
                continue  # changed: trained again; gone: left out
            recs = [MemberRecord.from_json(m) for m in entry["members"]]
            try:
                done_params[name] = _load_group(out, name, entry, recs)
            except (ValueError, FileNotFoundError):
                continue  # missing or damaged: rebuild it
            manifest["groups"][name] = entry
        if set(manifest["groups"]) != set(old.get("groups", {})):
            # never leave the manifest naming a file that is about to be trained again
            write_manifest(out, _ordered(manifest, planned))

    trained = skipped = 0
    total = len(planned)
    for g, members in planned:
        t0 = time.perf_counter()
        if g.name in manifest["groups"]:
            skipped += 1
            event = "skipped"
        else:
            keys = jnp.stack([jax.random.fold_in(key, zlib.crc32(m.id.encode())) for m in members])
            stacked = _build_group(g, members, owner_net, owner_params, data, keys)
            stacked = jax.block_until_ready(stacked)
            net = network_from_spec(members[0].architecture)
            util = utilities(net, stacked)
            file = f"groups/{g.name}.npz"
            atomic_write_bytes(out / file, npz_bytes(flatten_params(stacked)))
            recs = []
            for i, (m, p) in enumerate(zip(members, unstack(stacked), strict=True)):
                u = float(util[i])
                excluded = bool(m.label == 1 and utility_excluded(utility_metric, owner_utility,
                                                                  u, tol))
                recs.append(MemberRecord(m, u if math.isfinite(u) else None, excluded,
                                         params_digest(p), file, i))
            manifest["groups"][g.name] = {"file": file, "sha256": sha256_file(out / file),
                                          "kind": g.kind,
                                          "arch_key": arch_key(members[0].architecture),
                                          "members": [r.to_json() for r in recs]}
            manifest = _ordered(manifest, planned)
            write_manifest(out, manifest)
            done_params[g.name] = stacked
            trained += 1
            event = "trained"
        if progress is not None:
            progress({"event": event, "group": g.name, "members": len(members),
                      "seconds": time.perf_counter() - t0, "trained": trained,
                      "skipped": skipped, "total": total})
    manifest = _ordered(manifest, planned)
    write_manifest(out, manifest)
    zoo = load_zoo(out, _params=done_params)
    return dataclasses.replace(zoo, trained_groups=trained, skipped_groups=skipped)


def _canonical(spec: Mapping[str, Any] | None) -> str:
    """A group spec's JSON text, the same for a spec and its round trip through a file."""
    return json.dumps(spec, sort_keys=True)


def _ordered(manifest: dict[str, Any], planned) -> dict[str, Any]:
    order = [g.name for g, _ in planned]
    groups = manifest["groups"]
    return {**manifest, "groups": {n: groups[n] for n in order if n in groups}}


# -- loading --------------------------------------------------------------------
def _load_group(root: Path, name: str, entry: Mapping[str, Any],
                recs: list[MemberRecord]) -> Params:
    path = root / entry["file"]
    ids = ", ".join(r.id for r in recs)
    if not path.is_file():
        raise FileNotFoundError(f"zoo {root}: file {entry['file']} of group {name!r} is missing "
                                f"(members {ids}); rebuild the zoo to restore it")
    try:
        stacked = unflatten_params(load_npz(path))
    except ValueError as err:
        raise ValueError(f"zoo {root}: file {entry['file']} of group {name!r} (members {ids}) "
                         f"cannot be read: {err}") from err
    try:
        members = unstack(stacked)
    except (ValueError, IndexError) as err:
        raise ValueError(f"zoo {root}: file {entry['file']} (members {ids}) is malformed") from err
    if len(members) != len(recs):
        raise ValueError(f"zoo {root}: file {entry['file']} holds {len(members)} models, the "
                         f"manifest lists {len(recs)} (members {ids}); it was tampered with")
    for r, p in zip(recs, members, strict=True):
        if params_digest(p) != r.digest:
            raise ValueError(f"zoo {root}: member {r.id!r} in {entry['file']} fails its digest "
                             "check: the file was modified or damaged; rebuild the zoo")
    if sha256_file(path) != entry["sha256"]:
        raise ValueError(f"zoo {root}: file {entry['file']} (members {ids}) fails its sha256 "
                         "check: it was modified; rebuild the zoo")
    return stacked


def load_zoo(path: str | Path, *, _params: dict[str, Params] | None = None) -> Zoo:
    """Load a zoo directory, checking every member's digest.

    Raises:
      FileNotFoundError: no manifest, or a group file is missing (names the members).
      ValueError: wrong format version, or a tampered file (names the member).
    """
    root = Path(path)
    manifest = read_json(root / "manifest.json")
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{root}/manifest.json is not a {FORMAT} v{FORMAT_VERSION} manifest "
                         f"(format={manifest.get('format')!r}, "
                         f"version={manifest.get('format_version')!r})")
    records: list[MemberRecord] = []
    params: dict[str, Params] = {}
    for name, entry in manifest["groups"].items():
        recs = [MemberRecord.from_json(m) for m in entry["members"]]
        if _params is not None and name in _params:
            params[name] = _params[name]
        else:
            params[name] = _load_group(root, name, entry, recs)
        records.extend(recs)
    return Zoo(root, manifest, tuple(records), params)
