"""tafa-jax: task-agnostic fingerprinting of ReLU networks (TAFA), in JAX.

The public API is what this module names; everything else is private.
"""

from tafa_jax._version import __version__
from tafa_jax.compile_cache import enable_compile_cache
from tafa_jax.nets import (
    Network,
    critic,
    generator,
    mlp,
    params_digest,
    resnet18,
    small_cnn,
    stack,
    stack_init,
    unstack,
    zoo_apply,
)

__all__ = [
    "Network", "__version__", "critic", "enable_compile_cache", "generator", "mlp",
    "params_digest", "resnet18", "small_cnn", "stack", "stack_init", "unstack", "zoo_apply",
]
