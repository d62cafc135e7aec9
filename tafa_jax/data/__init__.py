"""Data for the three scenarios (IWPC warfarin, Fashion-MNIST, DermaMNIST) and input domains."""

from tafa_jax.data.containers import ImageSet, ImageSplits
from tafa_jax.data.dermamnist import load_dermamnist, upsample, write_dermamnist_fixture
from tafa_jax.data.domains import (
    Domain,
    image_domain,
    noise_domain,
    standardised_normal_domain,
    tabular_domain,
)
from tafa_jax.data.fashion_mnist import load_fashion_mnist
from tafa_jax.data.iwpc import (
    FEATURES,
    TabularSplits,
    find_iwpc_pickle,
    iwpc_features,
    load_iwpc_table,
    load_warfarin,
)

__all__ = [
    "FEATURES",
    "Domain",
    "ImageSet",
    "ImageSplits",
    "TabularSplits",
    "find_iwpc_pickle",
    "image_domain",
    "iwpc_features",
    "load_dermamnist",
    "load_fashion_mnist",
    "load_iwpc_table",
    "load_warfarin",
    "noise_domain",
    "standardised_normal_domain",
    "tabular_domain",
    "upsample",
    "write_dermamnist_fixture",
]
