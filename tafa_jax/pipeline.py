"""The owner's workflow end to end: data -> owner -> zoo -> fingerprints -> verdicts -> report.

Each stage is a function whose output can be saved; :func:`run_scenario`
chains them for the demo and ``tafa-jax run``.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from tafa_jax import report as _report
from tafa_jax._version import __version__
from tafa_jax.bend import link_saturation
from tafa_jax.data import (
    image_domain,
    load_dermamnist,
    load_fashion_mnist,
    load_warfarin,
    noise_domain,
    standardised_normal_domain,
    tabular_domain,
)
from tafa_jax.data.domains import Domain
from tafa_jax.data.owner_labelled import SOURCE as OWNER_LABELLED_SOURCE
from tafa_jax.data.owner_labelled import check_metric, owner_labelled_splits
from tafa_jax.fingerprint import FingerprintSet, GenerationConfig, generate
from tafa_jax.fingerprint.fpset import file_digest
from tafa_jax.io import atomic_write_bytes, load_npz, npz_bytes, read_json, write_json
from tafa_jax.nets.network import Network, Params, check_params
from tafa_jax.nets.stacking import params_digest, stack_init
from tafa_jax.scenarios import CALIBRATION_KEYS, REFERENCE_DATA, Scenario
from tafa_jax.verify import MatchConfig, ZooSuspects, summarize, verify
from tafa_jax.verify.calibrate import (
    CALIBRATION_MODELS,
    Calibration,
    fit_calibration,
    rescore,
    save_calibration,
)
from tafa_jax.zoo import build_zoo
from tafa_jax.zoo.arch import network_from_spec
from tafa_jax.zoo.build import Zoo, ZooData, flatten_params, unflatten_params
from tafa_jax.zoo.recipes import skin_recipe, warfarin_recipe
from tafa_jax.zoo.train import TrainConfig, evaluate, train_group

OWNER_FORMAT = "tafa-jax/owner"
OWNER_VERSION = 1
Progress = Callable[[str, float], None]  # (message, fraction done)


@dataclasses.dataclass(frozen=True, eq=False)
class ScenarioData:
    """A scenario's training data (for the owner and the zoo) and its input domain;
    ``owner_labelled``: domain samples labelled by the owner, not data rows
    (:func:`owner_labelled_data`)."""

    zoo_data: ZooData
    domain: Domain
    source: str
    synthetic: bool
    owner_labelled: bool = False

    @property
    def split_sizes(self) -> tuple[int, int, int]:
        """Rows of the pirate, owner and test splits."""
        zd = self.zoo_data
        return len(zd.x_pirate), len(zd.x_owner), len(zd.x_test)


# -- data ----------------------------------------------------------------------------
def load_data(scenario: Scenario, *, data_dir: str | None = None, synthetic: bool = False,
              seed: int = 0, image_size: int | None = None) -> ScenarioData:
    """Load a scenario's data and declare its input domain.

    Real data unless ``synthetic=True``; a missing data set raises
    FileNotFoundError saying how to get it (never a silent synthetic fallback).
    """
    if scenario.name == "warfarin":
        path = None if data_dir is None else data_dir
        d = load_warfarin(seed=seed, path=path, synthetic=synthetic)
        zd = ZooData(d.x_pirate, d.y_pirate[:, None], d.x_owner, d.y_owner[:, None], d.x_test,
                     d.y_test[:, None])
        if scenario.fingerprint_domain == "normal":
            dom = standardised_normal_domain(d.x_owner.shape[1], name="warfarin")
        else:
            dom = tabular_domain(d.x_owner, d.binary_mask, name="warfarin")
        return ScenarioData(zd, dom, d.source, d.synthetic)
    if scenario.name == "skin":
        size = image_size or int(scenario.owner_spec["image_size"])
        sp = load_dermamnist(path=data_dir, synthetic=synthetic, image_size=size, seed=seed)
        rng = np.random.default_rng(seed)
        idx = rng.permutation(sp.train.images.shape[0])
        half = idx.size // 2
        own, pir = idx[:half], idx[half:]
        zd = ZooData(sp.train.images[pir], sp.train.labels[pir], sp.train.images[own],
                     sp.train.labels[own], sp.test.images, sp.test.labels)
        return ScenarioData(zd, image_domain((size, size, 3), name="skin"), sp.source,
                            sp.synthetic)
    if scenario.name == "fashion":
        tr = load_fashion_mnist("train", data_dir=data_dir, synthetic=synthetic, seed=seed)
        te = load_fashion_mnist("test", data_dir=data_dir, synthetic=synthetic, seed=seed + 1)
        idx = np.random.default_rng(seed).permutation(tr.images.shape[0])
        half = idx.size // 2
        own, pir = idx[:half], idx[half:]
        zd = ZooData(tr.images[pir], tr.labels[pir], tr.images[own], tr.labels[own], te.images,
                     te.labels)
        return ScenarioData(zd, noise_domain(64, name="fashion-noise"), tr.source, tr.synthetic)
    raise ValueError(f"unknown scenario {scenario.name!r}")


def owner_labelled_data(scenario: Scenario, domain: Domain, split_sizes: Sequence[int],
                        net: Network, params: Params, utility: float, key: jax.Array
                        ) -> ScenarioData:
    """Data for a zoo without the owner's data: pirate, owner and test splits of
    ``split_sizes = (n_pirate, n_owner, n_test)`` samples of ``domain`` (the
    fingerprint domain), labelled by the owner and disturbed by its test
    ``utility`` (:mod:`tafa_jax.data.owner_labelled`). Raises ``ValueError`` for a
    generative scenario (no labels to draw) or bad sizes."""
    check_metric(scenario.utility_metric)
    if len(split_sizes) != 3:
        raise ValueError(f"split_sizes must be (n_pirate, n_owner, n_test); got "
                         f"{tuple(split_sizes)}")
    (xp, yp), (xo, yo), (xt, yt) = owner_labelled_splits(
        net, params, domain, split_sizes, metric=scenario.utility_metric, utility=utility,
        key=key)
    return ScenarioData(ZooData(xp, yp, xo, yo, xt, yt), domain, OWNER_LABELLED_SOURCE,
                        synthetic=False, owner_labelled=True)


# -- owner ---------------------------------------------------------------------------
def train_owner(scenario: Scenario, data: ScenarioData, key: jax.Array, *,
                steps: int | None = None) -> tuple[Network, Params, float]:
    """Train the owner; returns ``(net, params, utility on the test split)``.

    Supervised scenarios (warfarin, skin) use one jitted ``lax.scan`` program;
    the fashion WGAN is trained by :func:`tafa_jax.gan.train_fashion_owner`.
    """
    net = network_from_spec(scenario.owner_spec)
    steps = owner_training_steps(scenario, steps)
    if scenario.name == "fashion":
        return _train_fashion_owner(net, data, key, steps)
    cfg = owner_train_config(scenario, steps)
    k_init, k_train = jax.random.split(key)
    p0 = stack_init(net, k_init, 1)
    zd = data.zoo_data
    params, _ = train_group(net, p0, zd.x_owner, zd.y_owner, cfg, keys=k_train[None])
    utility = float(evaluate(net, params, zd.x_test, zd.y_test, scenario.utility_metric)[0])
    return net, jax.tree.map(lambda a: a[0], params), utility


def owner_training_steps(scenario: Scenario, steps: int | None = None) -> int:
    """The owner's training steps: ``steps`` (an int >= 1), or the scenario's recipe
    (fashion: the headline WGAN's generator iterations)."""
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"the owner's training steps (--owner-steps) must be an int "
                             f">= 1, got {steps!r}")
        return int(steps)
    if scenario.name == "fashion":
        from tafa_jax import gan

        return gan.fashion_configs("headline")[0].steps
    return scenario.owner_train.steps


def owner_train_config(scenario: Scenario, steps: int | None = None) -> TrainConfig:
    """The supervised owner's ``TrainConfig``: the scenario's, with ``steps`` if given."""
    return dataclasses.replace(scenario.owner_train,
                               steps=owner_training_steps(scenario, steps))


def owner_recipe(scenario: Scenario, steps: int | None = None) -> dict[str, Any] | None:
    """How a supervised owner was trained, for the report: :func:`owner_train_config`
    with the schedule always named; ``None`` for fashion (the WGAN's settings are
    :func:`tafa_jax.gan.fashion_configs`')."""
    if scenario.name == "fashion":
        return None
    cfg = owner_train_config(scenario, steps)
    return {**cfg.to_json(), "schedule": cfg.schedule}


# The fashion owner's critic and quality scorer travel beside the generator: the
# pirates' adversarial fine-tuning needs the critic, every utility needs the scorer.
_GAN_EXTRAS: dict[str, dict[str, Any]] = {}


def _quality_scorer(data: ScenarioData, key: jax.Array, steps: int):
    from tafa_jax import gan

    zd = data.zoo_data
    return gan.train_quality_scorer(zd.x_owner, zd.y_owner, key=jax.random.fold_in(key, 7),
                                    steps=steps, eval_images=zd.x_test, eval_labels=zd.y_test)


def _train_fashion_owner(net: Network, data: ScenarioData, key: jax.Array,
                         steps: int) -> tuple[Network, Params, float]:
    from tafa_jax import gan

    cfg = gan.fashion_recipe("headline", owner_steps=steps).owner_cfg
    gen, critic = gan.train_fashion_owner(data.zoo_data.x_owner, cfg, key, gen_net=net)
    scorer = _quality_scorer(data, key, steps=min(1000, max(50, cfg.steps)))
    quality = float(gan.frechet_distance(scorer, net, jax.tree.map(lambda a: a[None], gen),
                                         jax.random.fold_in(key, 8), n_samples=1024)[0])
    _GAN_EXTRAS[params_digest(gen)] = {"critic": critic, "scorer": scorer}
    return net, gen, quality


def save_owner(out_dir: str | os.PathLike, scenario: Scenario, params: Params, utility: float,
               data: ScenarioData, *, steps: int | None = None) -> Path:
    """Write ``owner.npz`` (no pickle) and ``owner.json`` (spec, digest, utility, and
    ``train_steps``: the ``steps`` it was trained, ``null`` when not given), atomically.
    ``tafa-jax build-zoo`` gives ``train_steps`` to the fashion headline recipe."""
    out = Path(out_dir)
    atomic_write_bytes(out / "owner.npz", npz_bytes(flatten_params(params)), mode=0o600)
    extras = _GAN_EXTRAS.get(params_digest(params))
    if extras is not None:
        atomic_write_bytes(out / "critic.npz", npz_bytes(flatten_params(extras["critic"])),
                           mode=0o600)
    write_json(out / "owner.json", {
        "format": OWNER_FORMAT, "version": OWNER_VERSION, "scenario": scenario.name,
        "architecture": scenario.owner_spec, "digest": params_digest(params),
        "utility": utility, "utility_metric": scenario.utility_metric,
        "data_source": data.source, "synthetic": data.synthetic,
        "domain": data.domain.to_json(), "split_sizes": list(data.split_sizes),
        "train_steps": None if steps is None else owner_training_steps(scenario, steps),
        "tafa_jax_version": __version__})
    return out


def load_owner(out_dir: str | os.PathLike) -> tuple[Network, Params, dict[str, Any]]:
    """Read an owner directory, checking format, version, architecture and digest."""
    out = Path(out_dir)
    meta = read_json(out / "owner.json")
    if meta.get("format") != OWNER_FORMAT or meta.get("version") != OWNER_VERSION:
        raise ValueError(f"{out}: not a tafa-jax owner directory (format {meta.get('format')!r},"
                         f" version {meta.get('version')!r})")
    net = network_from_spec(meta["architecture"])
    params = jax.tree.map(np.asarray, unflatten_params(load_npz(out / "owner.npz")))
    check_params(net, params)
    if params_digest(params) != meta["digest"]:
        raise ValueError(f"{out / 'owner.npz'}: params digest mismatch: the file was modified")
    if (out / "critic.npz").is_file():
        critic = jax.tree.map(np.asarray, unflatten_params(load_npz(out / "critic.npz")))
        _GAN_EXTRAS.setdefault(meta["digest"], {})["critic"] = critic
    return net, params, meta


# -- zoo -----------------------------------------------------------------------------
def zoo_recipe(scenario: Scenario, size: str):
    if scenario.name == "warfarin":
        return warfarin_recipe(size)
    if scenario.name == "skin":
        return skin_recipe(size)
    raise ValueError(f"the {scenario.name} zoo is built by tafa_jax.gan.fashion_zoo")


def make_zoo(scenario: Scenario, out_dir: str | os.PathLike, net: Network, params: Params,
             data: ScenarioData, key: jax.Array, *, size: str = "headline",
             progress: Callable[[dict], None] | None = None,
             owner_steps: int | None = None) -> Zoo:
    """Build (or resume) the scenario's labelled suspect zoo in ``out_dir``.

    ``owner_steps``: how long the owner trained, when not the scenario's default.
    Only fashion's headline zoo uses it: its negatives train as long as the owner,
    its pirates fine-tune a tenth as long (:func:`tafa_jax.gan.fashion_recipe`). The
    supervised zoos' recipes train their members for fixed steps of their own.
    """
    if scenario.name == "fashion":
        from tafa_jax import gan

        extras = _GAN_EXTRAS.get(params_digest(params), {})
        if "critic" not in extras:
            raise ValueError("the fashion zoo needs the owner's critic: train the owner with "
                             "tafa-jax (it saves critic.npz beside owner.npz)")
        scorer = extras.get("scorer") or _quality_scorer(data, key, steps=300)
        zd = data.zoo_data
        recipe = gan.fashion_recipe(size, owner_steps=owner_steps if size == "headline"
                                    else None)
        return gan.fashion_zoo(out_dir, gen_net=net, owner_gen=params,
                               owner_critic=extras["critic"], data_pirate_images=zd.x_pirate,
                               data_owner_images=zd.x_owner, scorer=scorer, size=size, key=key,
                               progress=progress, recipe=recipe)
    return build_zoo(out_dir, owner_net=net, owner_params=params, data=data.zoo_data,
                     recipe=zoo_recipe(scenario, size), utility_metric=scenario.utility_metric,
                     key=key, progress=progress, owner_spec=scenario.owner_spec,
                     owner_labelled=data.owner_labelled)


# -- verification --------------------------------------------------------------------
def suspect_table(zoo: Zoo, results, owner_result=None) -> list[dict[str, Any]]:
    """Verification results joined with the zoo's ground truth, in report form.

    Excluded positives (utility filter) and distilled copies keep ``label=None``
    so they stay out of the headline metrics; they are reported on their own rows.
    """
    rows = []
    if owner_result is not None:
        rows.append(_row(owner_result, "owner", None, "owner", None))
    for r in results:
        rec = zoo.record(r.id)
        m = rec.member
        group = m.group
        label: int | None = m.label
        if rec.excluded:
            group, label = "excluded", None
        elif group == "distillation":
            label = None
        rows.append(_row(r, m.kind, label, group, rec.utility))
    return rows


def _row(r, kind, label, group, utility) -> dict[str, Any]:
    return {"id": r.id, "kind": kind, "label": label, "group": group, "score": r.score,
            "matching_rate": r.rate, "pair_rate": r.pair_rate, "decision": r.decision,
            "failed": r.failed, "reason": r.reason, "utility": utility}


def zoo_suspects(zoo: Zoo) -> list[ZooSuspects]:
    """The zoo's members as verifier suspects, one stacked batch per architecture."""
    return [ZooSuspects(n, p, ids) for n, p, ids in zoo.grouped().values()]


def verify_zoo(fps: FingerprintSet, zoo: Zoo, owner: tuple[Network, Params],
               match: MatchConfig, *, time_compile: bool = False,
               calibration: Calibration | None = None
               ) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Verify the owner and every zoo member; returns report rows and timings.

    With ``time_compile`` the verification runs a second time, warm, so the
    report can give compile time apart; sweeps and studies leave it off. With a
    ``calibration`` each row's score is the calibrated score (its decision
    ``score >= match.tau``) and ``matching_rate`` keeps the rate.
    """
    groups = zoo_suspects(zoo)
    net, params = owner
    owner_s = ZooSuspects(net, jax.tree.map(lambda a: np.asarray(a)[None], params), ["owner"])
    t0 = time.perf_counter()
    res = verify(fps, [owner_s, *groups], match)
    first = time.perf_counter() - t0
    if calibration is not None:
        res = rescore(res, calibration, match.tau)
    rows = suspect_table(zoo, res[1:], res[0])
    if not time_compile:
        return rows, {"verify_first_call": first}
    t0 = time.perf_counter()
    verify(fps, [owner_s, *groups], match)
    again = time.perf_counter() - t0
    return rows, {"verify_first_call": first, "verify_compiled": again,
                  "verify_compile_estimate": max(first - again, 0.0)}


def calibrate_on_zoo(fps: FingerprintSet | Sequence[FingerprintSet], zoo: Zoo,
                     match: MatchConfig, *, smoothing: float = 1.0, source: str = "",
                     leave_out: Collection[str] = (), model: str = "mixture",
                     include_excluded: bool | None = None) -> Calibration:
    """Fit the calibrated score (:mod:`tafa_jax.verify.calibrate`) for ``fps`` on a
    labelled reference zoo: its utility-filtered copies against its independent
    models (excluded and distilled members stay out), evidence counted under
    ``match``. Several fingerprint sets of one layout (other keys) pool their
    groups into one table: the table belongs to the rule and the layout, not to
    a key. Members whose params digest is in ``leave_out`` stay out too (the
    zoo it will score: deterministic transforms such as fp16 give the same model
    in both). ``source`` (where the zoo lives) is recorded in the table's meta.
    ``model`` (:data:`~tafa_jax.verify.calibrate.CALIBRATION_MODELS`, as
    :func:`fit_calibration`; each copy's attack is :attr:`Member.attack`):
    ``"mixture"`` (the default) scores a suspect by the mixture of the attacks' own
    evidence distributions. ``include_excluded`` keeps the copies the zoo's
    utility filter flagged (not those whose utility is not finite: they
    diverged); by default it does so for a zoo trained on
    owner-labelled samples (its manifest says so), whose utilities measure the
    samples, not the attacks. Raises ``ValueError`` when the zoo lacks either side,
    the sets differ in layout, or the model is unknown.
    """
    if model not in CALIBRATION_MODELS:  # before any verification
        raise ValueError(f"unknown calibration model {model!r}; expected one of "
                         f"{CALIBRATION_MODELS}")
    if include_excluded is None:
        include_excluded = bool(zoo.manifest.get("owner_labelled"))
    if not isinstance(include_excluded, bool):
        raise ValueError(f"include_excluded must be True, False or None (the zoo's "
                         f"choice); got {include_excluded!r}")
    sets = [fps] if isinstance(fps, FingerprintSet) else list(fps)
    if not sets:
        raise ValueError("calibrate_on_zoo needs at least one fingerprint set")
    layouts = {(f.n_probes, f.lines_per_group) for f in sets}
    if len(layouts) > 1:
        raise ValueError(f"the fingerprint sets must share one layout (probes per line, "
                         f"lines per group) to share a table; got {sorted(layouts)}")
    groups = zoo_suspects(zoo)
    first = verify(sets[0], groups, match)
    table = suspect_table(zoo, first)  # labels: utility-filtered, distilled apart
    records = [zoo.record(r.id) for r in first]
    # each set's group evidence (G,) per suspect, in the same suspect order; only
    # the counts are kept, not every set's bend profiles
    evidence = [[np.asarray(r.support) for r in res]
                for res in (first, *(verify(f, groups, match) for f in sets[1:]))]
    skip = set(leave_out)
    shared = [rec.digest in skip for rec in records]
    label = [None if out else 1 if (include_excluded and rec.excluded
                                    and rec.member.group == "positive"
                                    and rec.utility is not None
                                    and np.isfinite(rec.utility)) else t["label"]
             for t, rec, out in zip(table, records, shared)]  # diverged copies stay out
    n_copies, n_independent = label.count(1), label.count(0)
    if not n_copies or not n_independent:
        where = f" {source}" if source else ""
        raise ValueError(f"the reference zoo{where} needs labelled copies and "
                         f"independent models to calibrate on; it has {n_copies} and "
                         f"{n_independent}" + (f" ({sum(shared)} left out)" if leave_out else ""))

    # one row per group (sets may differ in group count), with its suspect's attack
    rows: dict[int, list[tuple[int, str]]] = {1: [], 0: []}
    for per_set in evidence:
        for s, rec, lab in zip(per_set, records, label):
            if lab in rows:
                rows[lab] += [(int(c), rec.member.attack) for c in s.ravel()]
    copies, independent = (np.array([[c] for c, _ in rows[side]]) for side in (1, 0))
    digests = [file_digest(f) for f in sets]  # what each set's file says, saved or not
    return fit_calibration(copies, independent, sets[0].lines_per_group, smoothing=smoothing,
                           attacks=[a for _, a in rows[1]], model=model,
                           meta={"n_probes": sets[0].n_probes,
                                 "match": dataclasses.asdict(match),
                                 "link_saturation": link_saturation(
                                     match.link or sets[0].meta.get("link")),
                                 "fingerprints_digest": digests if len(sets) > 1
                                 else digests[0],
                                 "fingerprint_sets": len(sets),
                                 "zoo": source, "copies": n_copies,
                                 "independent": n_independent, "left_out": sum(shared),
                                 "flagged_copies_kept": include_excluded})


def metrics_of(rows: list[dict[str, Any]], key: str = "score") -> dict[str, float]:
    """ARUC and friends of report ``rows`` by their ``key`` (the score, or
    ``"matching_rate"``), labelled rows only, failed ones left out."""
    pos = np.array([r[key] for r in rows if r["label"] == 1 and not r["failed"]])
    neg = np.array([r[key] for r in rows if r["label"] == 0 and not r["failed"]])
    if pos.size == 0 or neg.size == 0:
        return {"n_pos": int(pos.size), "n_neg": int(neg.size)}
    return summarize(pos, neg)


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "jax": jax.__version__, "devices": [str(d) for d in jax.devices()],
            "tafa_jax": __version__}


# -- the whole scenario ----------------------------------------------------------------
def run_scenario(
    scenario: Scenario,
    out_dir: str | os.PathLike,
    *,
    zoo_size: str = "headline",
    n_pairs: int | None = None,
    distance: float | None = None,
    seed: int = 0,
    data_dir: str | None = None,
    synthetic: bool = False,
    owner_steps: int | None = None,
    generation: GenerationConfig | None = None,
    match: MatchConfig | None = None,
    progress: Progress | None = None,
    sweep: tuple[float, ...] = (),
    rule: str | None = None,
    calibrate: str | None = None,
    calibration_keys: int = CALIBRATION_KEYS,
) -> dict[str, Any]:
    """Train the owner, build the zoo, fingerprint, verify everything, write the report.

    ``rule`` names the scenario's fingerprint rule (:meth:`Scenario.rule`:
    ``"pairs"`` or ``"profile"``; ``None``, the scenario's default, profile lines);
    ``generation`` and ``match`` override it, and
    without ``match`` the matching rule follows the generated fingerprints
    (:meth:`Scenario.match_for`). Fingerprint groups the owner itself fails under
    that rule are replaced at generation (:func:`~tafa_jax.fingerprint.generate`).
    With ``calibrate`` (:data:`~tafa_jax.scenarios.REFERENCE_DATA`; ``None``: the
    matching rate) a second zoo of the same recipe is built from another key
    (resumable), the calibrated score is fitted on it (:func:`calibrate_on_zoo`,
    written to ``calibration.json``) and scores the headline zoo; the matching
    rate's metrics stay in the result (``calibration["metrics_matching_rate"]``).
    ``calibrate`` says what that zoo is trained on: ``"data"``, the scenario's
    data (``reference_zoo/``), or ``"owner-labelled"``, domain samples labelled
    by the owner (:func:`owner_labelled_data`; ``reference_zoo_owner_labelled/``), which
    needs no data rows and keeps every copy it makes in the table, the utility
    filter's too (on owner-labelled samples every model errs more than on the
    data, so the filter measures the samples, not the attack;
    :func:`calibrate_on_zoo`). The table pools the reference zoo's evidence
    under ``calibration_keys`` fingerprint sets of the rule: the run's own and
    ones generated from other keys for the table only (the table belongs to
    the rule, not the key; three keys measured better than one, docs/method.md).
    ``owner_steps`` (an int >= 1; ``None``: the scenario's) trains the owner that
    long; fashion's headline zoo then trains its negatives as long and its pirates
    a tenth as long (:func:`make_zoo`).
    Writes into ``out_dir``: ``owner/``, ``zoo/``, ``fingerprints.npz``, and the
    report (``report.json``, ``report.md``, PNG plots). Returns the result dict.
    """
    rule_gen = scenario.rule(rule)[0]  # a bad name fails before any training
    if calibrate not in (None, *REFERENCE_DATA):  # all before any training
        raise ValueError(f"calibrate must be None (the matching rate) or one of "
                         f"{REFERENCE_DATA}, what the reference zoo is trained on; got "
                         f"{calibrate!r}")
    if calibrate and (isinstance(calibration_keys, bool)
                      or not isinstance(calibration_keys, (int, np.integer))
                      or calibration_keys < 1):
        raise ValueError(f"calibration_keys (--calibration-keys) must be an integer >= 1, "
                         f"the fingerprint sets the table pools; got {calibration_keys!r}")
    if calibrate == "owner-labelled":
        check_metric(scenario.utility_metric)
    steps = owner_training_steps(scenario, owner_steps)  # a bad length fails before training
    say = progress or (lambda msg, frac: None)
    out = Path(out_dir)
    key = jax.random.key(seed)
    k_owner, k_zoo, k_fp = jax.random.split(key, 3)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    say("loading data", 0.0)
    data = load_data(scenario, data_dir=data_dir, synthetic=synthetic, seed=seed)
    timings["data"] = time.perf_counter() - t

    t = time.perf_counter()
    say("training the owner", 0.05)
    net, params, utility = train_owner(scenario, data, k_owner, steps=owner_steps)
    save_owner(out / "owner", scenario, params, utility, data, steps=steps)
    timings["owner_training"] = time.perf_counter() - t

    t = time.perf_counter()
    say("building the suspect zoo", 0.15)
    zoo = make_zoo(scenario, out / "zoo", net, params, data, k_zoo, size=zoo_size,
                   owner_steps=owner_steps,
                   progress=lambda e: say(f"zoo: {e.get('event')} {e.get('group')}",
                                          0.15 + 0.55 * e.get("trained", 0) / max(
                                              e.get("total", 1), 1)))
    timings["zoo_building"] = time.perf_counter() - t
    ref_zoo = None
    if calibrate:
        t = time.perf_counter()
        say("building the reference zoo (calibration)", 0.7)
        ref_data, ref_dir = data, "reference_zoo"
        if calibrate == "owner-labelled":
            ref_data = owner_labelled_data(scenario, data.domain, data.split_sizes, net,
                                           params, utility, jax.random.fold_in(k_zoo, 2))
            ref_dir = "reference_zoo_owner_labelled"
        ref_zoo = make_zoo(scenario, out / ref_dir, net, params, ref_data,
                           jax.random.fold_in(k_zoo, 1), size=zoo_size,
                           owner_steps=owner_steps,
                           progress=lambda e: say(f"reference zoo: {e.get('event')} "
                                                  f"{e.get('group')}", 0.7))
        timings["reference_zoo_building"] = time.perf_counter() - t

    gcfg = generation or rule_gen
    if n_pairs is not None:
        gcfg = gcfg.with_groups(n_pairs)
    if distance is not None:
        gcfg = dataclasses.replace(gcfg, distances=(distance,))
    mcfg = match or scenario.match_for(gcfg.probes, gcfg.siblings)
    t = time.perf_counter()
    say("generating fingerprints", 0.75)
    fps = generate(net, params, data.domain, gcfg, k_fp, match=mcfg)
    fps.meta["scenario"] = scenario.name
    from tafa_jax.fingerprint import save as save_fps

    save_fps(out / "fingerprints.npz", fps)
    timings["fingerprint_generation"] = time.perf_counter() - t

    cal, cal_info = None, None
    if ref_zoo is not None:
        t = time.perf_counter()
        say("fitting the calibrated score on the reference zoo", 0.8)
        # sets from other keys, for the table only: the same rule on the same owner
        others = [generate(net, params, data.domain, gcfg, jax.random.fold_in(k_fp, j),
                           match=mcfg) for j in range(1, int(calibration_keys))]
        cal = calibrate_on_zoo([fps, *others], ref_zoo, mcfg,
                               source=f"{out / ref_dir} ({ref_data.source})",
                               leave_out={r.digest for r in zoo.records})
        save_calibration(out / "calibration.json", cal)
        cal_info = {"file": "calibration.json", "reference_zoo": ref_dir,
                    "reference_data": ref_data.source,
                    "fingerprint_keys": int(calibration_keys),
                    **{k: cal.meta[k] for k in ("copies", "independent", "left_out", "model")},
                    "llr": cal.llr.tolist()}
        timings["calibration"] = time.perf_counter() - t

    t = time.perf_counter()
    say("verifying suspects", 0.85)
    rows, vt = verify_zoo(fps, zoo, (net, params), mcfg, time_compile=True, calibration=cal)
    timings["verification"] = time.perf_counter() - t
    timings.update(vt)
    if cal_info is not None:
        cal_info["metrics_matching_rate"] = metrics_of(rows, "matching_rate")

    sweep_rows = []
    if sweep:
        say("sweeping the pair distance", 0.9)
        sweep_rows = distance_sweep(net, params, data.domain, zoo, gcfg, mcfg, sweep, k_fp)

    owner_row = rows[0]
    result = {
        "title": f"TAFA fingerprinting: {scenario.name}",
        "scenario": scenario.name,
        "rule": "profile" if gcfg.probes > 3 else "pairs",
        "data_source": ("SYNTHETIC data (requested with --synthetic)" if data.synthetic
                        else f"{scenario.data}: {data.source}"),
        "synthetic": data.synthetic,
        "machine": machine_info(),
        "config": {"generation": gcfg.to_json(), "match": dataclasses.asdict(mcfg),
                   "zoo_size": zoo_size, "seed": seed, "owner_utility": utility,
                   "owner_steps": steps,
                   "owner_train": owner_recipe(scenario, owner_steps),
                   "utility_metric": scenario.utility_metric,
                   "fingerprint_search": fps.meta["search"]},
        "suspects": rows,
        "metrics": metrics_of(rows),
        "threshold": mcfg.tau,
        "owner_rate": owner_row["matching_rate"],
        "calibration": cal_info,
        "timings": timings,
        "distance_sweep": sweep_rows,
        "n_pairs": fps.n_pairs,
        "n_groups": fps.n_groups,
        "queries_per_suspect": fps.queries_per_suspect,
        "pair_distance": float(gcfg.distances[0]),
    }
    say("writing the report", 0.97)
    _report.write_report(out, result)
    say("done", 1.0)
    return result


def quick_generation(gen: GenerationConfig) -> GenerationConfig:
    """``gen`` reduced as ``tafa-jax demo --quick`` runs it (CI, smoke runs): 4096
    candidate lines and about 50 pairs or lines, whatever the group size."""
    return dataclasses.replace(gen.with_groups(max(2, 50 // gen.siblings)), n_candidates=4096)


def distance_sweep(net: Network, params: Params, domain: Domain, zoo: Zoo,
                   gcfg: GenerationConfig, mcfg: MatchConfig, distances: tuple[float, ...],
                   key: jax.Array) -> list[dict[str, Any]]:
    """Fig. 7: ARUC (and AUC, TPR) against the pair distance d, same zoo and key."""
    out = []
    for d in distances:
        cfg = dataclasses.replace(gcfg, distances=(float(d),))
        try:
            fps = generate(net, params, domain, cfg, key, match=mcfg)
        except ValueError as err:
            out.append({"d": float(d), "aruc": None, "error": str(err)})
            continue
        rows, _ = verify_zoo(fps, zoo, (net, params), mcfg)
        m = metrics_of(rows)
        out.append({"d": float(d), "aruc": m.get("aruc"), "roc_auc": m.get("roc_auc"),
                    "tpr_at_1fpr": m.get("tpr_at_1fpr"), "n_pairs": fps.n_pairs})
    return out

