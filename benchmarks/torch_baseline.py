"""The PyTorch per-model baseline: the same weights and probes, one model at a time.

This is how a per-model script verifies a zoo: load each suspect's weights into
a torch module, run the ``K * P`` probes under ``torch.no_grad()``, and compute
the per-pair bend statistic and cosine (the formulas of
:func:`tafa_jax.verify.score.pair_stats`). Only the architectures with a direct
torch equivalent are supported: :class:`~tafa_jax.nets.modules.MLP` (warfarin
owner, generator) and :class:`~tafa_jax.nets.modules.SmallCNN`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tafa_jax.bend import TANH_SATURATION
from tafa_jax.nets import Network
from tafa_jax.nets.modules import MLP, SmallCNN

EPS = 1e-12


def supports(net: Network) -> bool:
    return isinstance(net.module, MLP | SmallCNN) and getattr(
        net.module, "activation", "relu") == "relu"


def _link(torch: Any, y, link: str):
    if link == "identity":
        return y
    if link == "atanh":  # the same saturation bounds as tafa_jax.bend.inverse_link
        return torch.atanh(torch.clamp(y, -1 + TANH_SATURATION, 1 - TANH_SATURATION))
    if link == "clr":
        logp = torch.log(torch.clamp(y, min=1e-30))
        return logp - logp.mean(-1, keepdim=True)
    if link == "logit":
        p = torch.clamp(y, TANH_SATURATION / 2, 1 - TANH_SATURATION / 2)
        return torch.log(p) - torch.log1p(-p)
    raise ValueError(f"unknown link {link!r}")


def _head(torch: Any, y, head: str, clip: tuple[float, float]):
    if head == "none":
        return y
    if head == "clip":
        return torch.clamp(y, clip[0], clip[1])
    if head == "sigmoid":
        return torch.sigmoid(y)
    if head == "tanh":
        return torch.tanh(y)
    if head == "softmax":
        return torch.softmax(y, -1)
    raise ValueError(f"unknown head {head!r}")


def _pair_stats(torch: Any, y, owner_e, link: str):
    """``y (K, P, O)`` -> bend ``(K,)`` and cosine with the owner's bend vector ``(K,)``."""
    y = _link(torch, y, link)
    lo, mid, hi = y[:, 0], y[:, 1], y[:, 2]
    e = lo + hi - 2 * mid
    e_norm = torch.linalg.vector_norm(e, dim=-1)
    chord = torch.linalg.vector_norm(hi - lo, dim=-1)
    chord = torch.maximum(chord, 1e-4 * torch.linalg.vector_norm(mid, dim=-1))
    b = e_norm / (chord + EPS)
    cos = (e * owner_e).sum(-1) / (e_norm * torch.linalg.vector_norm(owner_e, dim=-1) + EPS)
    return b, cos


def model_weights(torch: Any, net: Network, params: dict) -> list:
    """One model's Linen params as torch tensors in torch's layouts."""
    p = params["params"]
    t = lambda a: torch.from_numpy(np.array(a, np.float32, order="C"))  # noqa: E731  (a copy)
    if isinstance(net.module, MLP):
        n = len(net.module.features)
        return [(t(np.asarray(p[f"dense{i}"]["kernel"]).T), t(p[f"dense{i}"]["bias"]))
                for i in range(n)]
    if isinstance(net.module, SmallCNN):
        convs = [(t(np.transpose(np.asarray(p[f"conv{i}"]["kernel"]), (3, 2, 0, 1))),
                  t(p[f"conv{i}"]["bias"])) for i in range(len(net.module.channels))]
        return [*convs, (t(np.asarray(p["fc"]["kernel"]).T), t(p["fc"]["bias"]))]
    raise ValueError(f"no torch baseline for network {net.name!r}")


def make_verifier(torch: Any, net: Network, probes: np.ndarray, owner_outputs: np.ndarray,
                  link: str) -> Callable[[list], tuple[Any, Any]]:
    """``verify_one(weights) -> (bend (K,), cos (K,))`` for one suspect, in torch."""
    import torch.nn.functional as F

    k, p = probes.shape[:2]
    x = torch.from_numpy(np.array(probes.reshape(k * p, *probes.shape[2:]), np.float32))
    oy = _link(torch, torch.from_numpy(np.array(owner_outputs.reshape(k, p, -1), np.float32)),
               link)
    owner_e = oy[:, 0] + oy[:, 2] - 2 * oy[:, 1]
    mod = net.module
    if isinstance(mod, MLP):
        x = x.reshape(k * p, -1)

        def forward(w):
            h = x
            for wi, bi in w[:-1]:
                h = torch.relu(F.linear(h, wi, bi))
            y = F.linear(h, *w[-1])
            return _head(torch, mod.out_shift + mod.out_scale * y, mod.head, mod.clip)
    elif isinstance(mod, SmallCNN):
        x = x.permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW

        def forward(w):
            h = x
            for wi, bi in w[:-1]:
                h = torch.relu(F.conv2d(h, wi, bi, stride=2, padding=1))
            h = F.avg_pool2d(h, 2, 2)
            h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # flatten in NHWC order
            return _head(torch, F.linear(h, *w[-1]), mod.head, (0.0, 1.0))
    else:
        raise ValueError(f"no torch baseline for network {net.name!r}")

    def verify_one(w):
        with torch.no_grad():
            return _pair_stats(torch, forward(w).reshape(k, p, -1), owner_e, link)

    return verify_one
