"""Architectures as data: a JSON spec (builder name + kwargs) <-> a :class:`Network`.

A zoo manifest stores each member's architecture as a spec such as
``{"builder": "mlp", "in_features": 31, "hidden": [100], "out_features": 1,
"head": "clip", ...}``, so loading a zoo never needs code beyond the builders in
:mod:`tafa_jax.nets`.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from tafa_jax.nets import builders
from tafa_jax.nets.modules import MLP, ResNet18, SmallCNN
from tafa_jax.nets.network import Network

ArchSpec = dict[str, Any]

BUILDERS: dict[str, Callable[..., Network]] = {
    "mlp": builders.mlp,
    "generator": builders.generator,
    "critic": builders.critic,
    "resnet18": builders.resnet18,
    "small_cnn": builders.small_cnn,
}


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(a) for a in v]
    return v


def _tupled(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_tupled(a) for a in v)
    return v


def network_spec(builder: str, **kwargs: Any) -> ArchSpec:
    """A complete, canonical spec for ``BUILDERS[builder](**kwargs)``.

    Defaults are filled in, tuples become lists, and the spec is checked by
    building the network once.

    Raises:
      ValueError: unknown builder or arguments the builder does not accept.
    """
    if builder not in BUILDERS:
        raise ValueError(f"unknown network builder {builder!r}; expected one of {sorted(BUILDERS)}")
    fn = BUILDERS[builder]
    sig = inspect.signature(fn)
    try:
        bound = sig.bind(**kwargs)
    except TypeError as err:
        raise ValueError(
            f"bad arguments for builder {builder!r}: {err}; it takes {list(sig.parameters)}"
        ) from err
    bound.apply_defaults()
    spec: ArchSpec = {"builder": builder}
    spec.update({k: _jsonable(v) for k, v in bound.arguments.items()})
    network_from_spec(spec)  # validates the values
    return spec


def network_from_spec(spec: Mapping[str, Any]) -> Network:
    """Rebuild the :class:`Network` a spec describes (the inverse of :func:`describe_network`)."""
    if not isinstance(spec, Mapping) or "builder" not in spec:
        raise ValueError(f"an architecture spec is a dict with a 'builder' key, got {spec!r}")
    builder = spec["builder"]
    if builder not in BUILDERS:
        raise ValueError(f"unknown network builder {builder!r}; expected one of {sorted(BUILDERS)}")
    kwargs = {k: _tupled(v) for k, v in spec.items() if k != "builder"}
    try:
        return BUILDERS[builder](**kwargs)
    except TypeError as err:
        raise ValueError(
            f"bad arguments for builder {builder!r} in spec {dict(spec)}: {err}"
        ) from err


def _candidates(net: Network) -> list[ArchSpec]:
    m = net.module
    if isinstance(m, MLP):
        feats = [int(f) for f in m.features]
        out: list[ArchSpec] = []
        if len(net.input_shape) == 1 and m.output_shape is None:
            out.append(dict(builder="mlp", in_features=net.input_shape[0], hidden=feats[:-1],
                            out_features=feats[-1], head=m.head, clip=list(m.clip),
                            out_shift=m.out_shift, out_scale=m.out_scale,
                            activation=m.activation, name=net.name))
        if len(net.input_shape) == 1 and m.output_shape is not None:
            out.append(dict(builder="generator", latent=net.input_shape[0], hidden=feats[:-1],
                            image_shape=list(m.output_shape), name=net.name))
        out.append(dict(builder="critic", image_shape=list(net.input_shape), hidden=feats[:-1],
                        name=net.name))
        return out
    if isinstance(m, ResNet18) and len(net.input_shape) == 3:
        return [dict(builder="resnet18", num_classes=m.num_classes, image_size=net.input_shape[0],
                     channels=net.input_shape[2], head=m.head, widths=list(m.widths),
                     name=net.name)]
    if isinstance(m, SmallCNN) and len(net.input_shape) == 3:
        return [dict(builder="small_cnn", num_classes=m.num_classes,
                     image_size=net.input_shape[0], channels=net.input_shape[2], head=m.head,
                     conv_channels=list(m.channels), name=net.name)]
    return []


def describe_network(net: Network) -> ArchSpec:
    """The spec of a network made by one of the :data:`BUILDERS`.

    Raises:
      ValueError: the network was not made by a known builder (build it with one,
        or pass its spec explicitly).
    """
    for cand in _candidates(net):
        try:
            spec = network_spec(cand.pop("builder"), **cand)
        except (ValueError, TypeError):
            continue
        if network_from_spec(spec) == net:
            return spec
    raise ValueError(
        f"cannot describe network {net.name!r} ({type(net.module).__name__}, input "
        f"{net.input_shape}, output {net.output_shape}) as one of the builders "
        f"{sorted(BUILDERS)}; build it with a tafa_jax.nets builder or pass its spec explicitly"
    )


def arch_key(spec: Mapping[str, Any]) -> str:
    """A short, stable name for an architecture, e.g. ``"mlp-31x100x1-3f2a9c1d"``."""
    text = json.dumps(dict(spec), sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    net = network_from_spec(spec)
    if spec["builder"] == "mlp":
        shape = "x".join(str(v) for v in (spec["in_features"], *spec["hidden"],
                                          spec["out_features"]))
    else:
        shape = f"{math.prod(net.input_shape)}to{math.prod(net.output_shape)}"
    return f"{spec['builder']}-{shape}-{digest}"
