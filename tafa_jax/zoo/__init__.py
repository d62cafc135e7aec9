"""Suspect zoos: vmapped training, pirate transforms (positives), independent
models (negatives), and their storage (see PROTOCOL.md "The suspect zoo")."""

from tafa_jax.zoo.arch import arch_key, describe_network, network_from_spec, network_spec
from tafa_jax.zoo.build import (
    FORMAT_VERSION,
    MemberRecord,
    Zoo,
    ZooData,
    build_zoo,
    flatten_params,
    load_zoo,
    plan,
    unflatten_params,
    utility_excluded,
)
from tafa_jax.zoo.obfuscate import (
    last_layer,
    permute_hidden,
    prune_magnitude,
    quantize,
    reinit_last_layer,
    rescale_relu,
    weight_noise,
)
from tafa_jax.zoo.recipes import (
    KINDS,
    NEGATIVE_KINDS,
    POSITIVE_KINDS,
    GroupSpec,
    Member,
    ZooRecipe,
    skin_recipe,
    warfarin_recipe,
    weights_only_recipe,
)
from tafa_jax.zoo.train import TrainConfig, evaluate, loss_value, train_group, trainable_bits

__all__ = [
    "FORMAT_VERSION", "KINDS", "NEGATIVE_KINDS", "POSITIVE_KINDS", "GroupSpec", "Member",
    "MemberRecord", "TrainConfig", "Zoo", "ZooData", "ZooRecipe", "arch_key", "build_zoo",
    "describe_network", "evaluate", "flatten_params", "last_layer", "load_zoo", "loss_value",
    "network_from_spec", "network_spec", "permute_hidden", "plan", "prune_magnitude", "quantize",
    "reinit_last_layer", "rescale_relu", "skin_recipe", "train_group", "trainable_bits",
    "unflatten_params", "utility_excluded", "warfarin_recipe", "weight_noise",
    "weights_only_recipe",
]
