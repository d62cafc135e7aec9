"""Pure-functional ReLU networks (Flax Linen) and zoo stacking."""

from tafa_jax.nets.builders import critic, generator, mlp, resnet18, small_cnn
from tafa_jax.nets.network import (
    Network,
    Params,
    abstract_params,
    check_input,
    check_params,
    forward,
    forward_full,
    forward_full_on_lines,
    forward_pattern,
    forward_with_preacts,
    train_apply,
)
from tafa_jax.nets.stacking import (
    member_batching,
    over_members,
    params_digest,
    resolve_members,
    stack,
    stack_init,
    unstack,
    zoo_apply,
    zoo_size,
)

__all__ = [
    "Network", "Params", "abstract_params", "check_input", "check_params", "critic", "forward",
    "forward_full", "forward_full_on_lines", "forward_pattern", "forward_with_preacts",
    "generator", "member_batching", "mlp", "over_members",
    "params_digest", "resnet18", "resolve_members", "small_cnn", "stack", "stack_init",
    "train_apply", "unstack",
    "zoo_apply", "zoo_size",
]
