"""Verification across whole zoos and black boxes, and the metrics."""

from tafa_jax.verify.metrics import aruc, roc_auc, summarize, tpr_at_fpr
from tafa_jax.verify.query import QueryFailure, query_blackbox, zoo_pair_stats
from tafa_jax.verify.score import MatchConfig, matches, pair_stats
from tafa_jax.verify.verify import BlackBoxSuspect, SuspectResult, ZooSuspects, verify

__all__ = [
    "BlackBoxSuspect", "MatchConfig", "QueryFailure", "SuspectResult", "ZooSuspects", "aruc",
    "matches", "pair_stats", "query_blackbox", "roc_auc", "summarize", "tpr_at_fpr", "verify",
    "zoo_pair_stats",
]
