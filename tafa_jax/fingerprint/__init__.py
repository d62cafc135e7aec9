"""TAFA fingerprint generation: batched activation-pattern search, selection, file format."""

from tafa_jax.fingerprint.fpset import FingerprintSet, load, save
from tafa_jax.fingerprint.generate import GenerationConfig, generate
from tafa_jax.fingerprint.search import Candidates, SearchConfig, bend_statistic, search
from tafa_jax.fingerprint.select import RULES, SelectConfig, select

__all__ = [
    "RULES", "Candidates", "FingerprintSet", "GenerationConfig", "SearchConfig", "SelectConfig",
    "bend_statistic", "generate", "load", "save", "search", "select",
]
