"""How the oracle calls an implementation: the protocol as each check uses it, compatible with every version.

A dense-only spec is asked exactly as before layer kinds existed (``forward(h, x)``, ``step(h, x, y)``), so
an implementation written for dense networks keeps working unchanged. A spec with mode-dependent layers
adds ``training=``; one with dropout adds ``masks=`` (``reference/masks.py``); one with state reads it back
through ``state(h)``; one with sample weights passes each batch's as ``sample_weight=``; one whose learning rate advances per epoch is told where epochs end (``end_epoch(h)``).
An implementation without ``supports`` is taken to handle dense layers only, without gradient clipping, at a
constant learning rate.
"""
from __future__ import annotations

from reference import native as N
from reference import spec as S
from reference import weighting
from reference.layers import KINDS
from reference.masks import Masks


def _mode_dependent(spec: S.Spec) -> bool:
    return any(KINDS[layer.type].mode_dependent for layer in spec.layers)


def _has_dropout(spec: S.Spec) -> bool:
    return any(layer.type == "dropout" for layer in spec.layers)


def has_state(spec: S.Spec) -> bool:
    return any(layer.type == "batch_norm" for layer in spec.layers)


def declined(impl, spec: S.Spec, check: str | None = None) -> str | None:
    """Why ``impl`` declines ``spec`` (for ``check``): its ``supports`` (and ``supports_check``), or — without
    one — any layer that is not dense."""
    supports = getattr(impl, "supports", None)
    if supports is None:
        other = sorted({layer.type for layer in spec.layers if layer.type != "dense"})
        if other:
            return (f"the spec has {', '.join(other)} layers and the implementation declares no supports(spec): "
                    "it is taken to implement dense layers only")
        if spec.optimizer.clip is not None:
            return (f"the spec clips gradients ({spec.optimizer.clip.rule}) and the implementation declares no "
                    "supports(spec): it is taken to implement dense layers without clipping")
        if weighting.weighted(spec):
            return ("the spec weights its rows (class_weight or sample_weight) and the implementation declares no "
                    "supports(spec): it is taken to implement an unweighted loss")
        if spec.training.early_stopping is not None:
            return ("the spec stops early and the implementation declares no supports(spec): it is taken to train "
                    "for a fixed number of steps")
        if spec.optimizer.schedule is not None:
            return (f"the spec's learning rate follows a schedule ({spec.optimizer.schedule.name}) and the implementation "
                    "declares no supports(spec): it is taken to implement a constant learning rate")
        return None
    why = supports(spec)
    if why is None and check is not None and hasattr(impl, "supports_check"):
        why = impl.supports_check(check, spec)
    if why is None and spec.training.early_stopping is not None and not hasattr(impl, "fit"):
        return "the spec stops early and the implementation has no fit(handle, x, y, epochs, x_val, y_val)"
    if why is None and per_epoch(spec) and not hasattr(impl, "end_epoch"):
        return "the spec's learning-rate schedule advances per epoch and the implementation has no end_epoch(handle)"
    return None if why is None else str(why)


def per_epoch(spec: S.Spec) -> bool:
    return spec.optimizer.schedule is not None and spec.optimizer.schedule.per == "epoch"


def end_epoch(impl, h, spec: S.Spec) -> None:
    """An epoch of the shared schedule ended: told to specs with a learning-rate schedule (a per-step one ignores it;
    a native port may step its scheduler there), by implementations that listen."""
    if spec.optimizer.schedule is not None and hasattr(impl, "end_epoch"):
        impl.end_epoch(h)


def build(impl, case, spec: S.Spec | None = None, weights=None):
    """A fresh handle for ``case`` (or ``spec``). Native aspects go to ``build`` only when the case has them, and
    only to an implementation that lists them in ``native_aspects``."""
    spec = spec or case.spec
    kw = dict(dtype=case.dtype, device=case.device)
    if case.native:
        missing = case.native - frozenset(getattr(impl, "native_aspects", ()))
        if missing:
            raise ValueError(f"{impl.name} cannot run native aspect(s) {', '.join(N.keys(missing))}: not in its native_aspects")
        kw["native"] = frozenset(case.native)
    return impl.build(spec, [w.copy() for w in (case.weights if weights is None else weights)], **kw)


def _mode(spec: S.Spec, training: bool, masks: Masks | None) -> dict:
    kw = {}
    if _mode_dependent(spec):
        kw["training"] = training
    if _has_dropout(spec) and training:
        kw["masks"] = masks
    return kw


def forward(impl, h, spec: S.Spec, x, *, training: bool = False, masks: Masks | None = None):
    return impl.forward(h, x, **_mode(spec, training, masks))


def layer_outputs(impl, h, spec: S.Spec, x, *, training: bool = False, masks: Masks | None = None):
    return impl.layer_outputs(h, x, **_mode(spec, training, masks))


def _data(spec: S.Spec, masks: Masks | None, sample_weight) -> dict:
    kw = {"masks": masks} if _has_dropout(spec) else {}
    if spec.training.sample_weight is not None:
        kw["sample_weight"] = sample_weight
    return kw


def loss_and_grads(impl, h, spec: S.Spec, x, y, masks: Masks | None = None, sample_weight=None):
    return impl.loss_and_grads(h, x, y, **_data(spec, masks, sample_weight))


def step(impl, h, spec: S.Spec, x, y, masks: Masks | None = None, sample_weight=None):
    return impl.step(h, x, y, **_data(spec, masks, sample_weight))


def state(impl, h, spec: S.Spec) -> list:
    return list(impl.state(h)) if has_state(spec) else []
