"""TAFA fingerprint generation: batched activation-pattern search, selection, file format."""

from tafa_jax.fingerprint.fpset import FingerprintSet, load, save
from tafa_jax.fingerprint.generate import GenerationConfig, generate
from tafa_jax.fingerprint.prune_choice import PRUNE_RATIOS, choose_surviving, pruning_survival
from tafa_jax.fingerprint.search import Candidates, SearchConfig, bend_statistic, search
from tafa_jax.fingerprint.select import RULES, SelectConfig, select

__all__ = [
    "PRUNE_RATIOS", "RULES", "Candidates", "FingerprintSet", "GenerationConfig", "SearchConfig",
    "SelectConfig",
    "bend_statistic", "choose_surviving", "generate", "load", "pruning_survival", "save",
    "search", "select",
]
