"""PyTorch behind the implementation protocol (``reference/implementation.py``).

The model is ``torch_impl/model.py``'s (one builder per layer kind), the losses ``losses.py``'s, the
optimizers ``optimizers.py``'s, the learning-rate schedulers ``schedules.py``'s: each a name -> builder table,
so every reference kind, activation, loss, optimizer and schedule has a builder (parity_tests/test_adapters.py
holds the tables to that). ``supports`` declines only what no torch class expresses: a staircase decay every
fractional number of steps (``StepLR``), a warm-up from 0 (``LinearLR``), RMSprop's Keras momentum form.
Clipping runs between ``backward()`` and ``optimizer.step()``, the scheduler after ``optimizer.step()`` (per
step) or in ``end_epoch`` (per epoch), where torch users put them. ``forward(training=True)`` and ``loss_and_grads`` run BatchNorm in training mode, which updates its
running statistics in torch: they restore them, as the protocol says those change nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reference import weighting
from reference.native import LR_DECAY, Native
from reference.spec import Spec
from torch_impl import losses, model, optimizers, schedules


@dataclass
class TorchHandle:
    spec: Spec
    model: model.TorchModel
    optimizer: torch.optim.Optimizer
    dtype: torch.dtype
    device: str
    native: frozenset = frozenset()
    scheduler: object = None  # native LR_SCHEDULE only
    stepper: schedules.Stepper | None = None  # the spec's learning-rate schedule
    params: list = None  # the model's parameters, in the optimizer's order (what clipping clips)


def _precision_guard(device: str) -> None:
    # float32 parity needs full-precision matmuls: TF32 off (torch's default for matmul, but a user or
    # TORCH_ALLOW_TF32_CUBLAS_OVERRIDE can turn it on), and cuDNN's TF32 too.
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")


class TorchImplementation:
    name = "torch"
    native_aspects = frozenset(Native)  # every aspect has torch's own default to fall back to

    def available(self) -> str | None:
        return None

    def supports(self, spec) -> str | None:
        opt = spec.optimizer
        if opt.name == "rmsprop" and opt.params["momentum"] > 0 and opt.params["momentum_form"] == "keras":
            return ("rmsprop with momentum_form = 'keras' (the rate inside the momentum buffer): torch's RMSprop, and "
                    "nnparity's Keras-epsilon one after it, keep the rate outside")
        return schedules.declines(opt.schedule)

    def devices(self) -> list[str]:
        return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    def build(self, spec, weights, *, dtype, device, native: frozenset = frozenset()) -> TorchHandle:
        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA is not available to torch here")
        _precision_guard(device)
        m = model.build(spec, weights, dtype, device, native)
        params = list(model.parameters(m))
        opt = optimizers.make_native(spec.optimizer.name, spec.optimizer.params, params, native)
        h = TorchHandle(spec, m, opt, model.DTYPES[dtype], device, frozenset(native), params=params)
        if Native.LR_SCHEDULE in native:
            h.scheduler = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=LR_DECAY)
        if spec.optimizer.schedule is not None:
            h.stepper = schedules.Stepper(schedules.native(spec.optimizer.schedule, native), opt)
        return h

    def _tensor(self, h: TorchHandle, a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a))
        if t.dtype == torch.bool:
            return t.to(h.device)
        return t.to(h.device) if t.dtype == torch.int64 else t.to(device=h.device, dtype=h.dtype)

    def _masks(self, h, masks) -> dict | None:
        return None if masks is None else {k: self._tensor(h, m) for k, m in masks.items()}

    def forward(self, h, x, training=False, masks=None):
        snapshot = model.state_snapshot(h.model) if training else None
        with torch.no_grad():
            a = h.model.head(h.model.logits(self._tensor(h, x), training=training, masks=self._masks(h, masks)))
        if snapshot is not None:
            model.restore(h.model, snapshot)
        return a.cpu().numpy()

    def layer_outputs(self, h, x, training=False, masks=None):
        return [o.cpu().numpy() for o in self._layer_tensors(h, x, training, masks)]

    def _layer_tensors(self, h, x, training, masks) -> list[torch.Tensor]:
        """Every layer's output, the last one through the head; the state as it was."""
        snapshot = model.state_snapshot(h.model) if training else None
        a, outs = self._tensor(h, x), []
        h.model.prepare(training, self._masks(h, masks))
        with torch.no_grad():
            for module in h.model.layers:
                a = module(a)
                outs.append(a)
            outs[-1] = h.model.head(a)
        if snapshot is not None:
            model.restore(h.model, snapshot)
        return outs

    def _loss_on(self, h: TorchHandle, x: torch.Tensor, y: torch.Tensor, masks=None, sample_weight=None,
                 training: bool = True, penalty: bool = True) -> torch.Tensor:
        """C in training mode (or inference mode: a validation loss): the data loss from the logits (weighted as the
        spec says), and every tensor's L2 term (unless ``penalty`` is False)."""
        spec = h.spec
        z = h.model.logits(x, training=training, masks=masks)
        a = h.model.head(z)
        if Native.PROBABILITIES in h.native:
            loss = losses.probability_loss(spec.loss.name, spec.loss.reduction, a, y)
        elif Native.WEIGHTED_MEAN in h.native and spec.training.class_weight is not None:
            cw = torch.tensor(spec.training.class_weight, dtype=h.dtype, device=h.device)
            labels = y if y.dim() == 1 else y.argmax(dim=-1)
            loss = torch.nn.functional.cross_entropy(z, labels, weight=cw, reduction=spec.loss.reduction)
        elif sample_weight is not None or spec.training.class_weight is not None:
            cw = None if spec.training.class_weight is None else torch.tensor(spec.training.class_weight, dtype=h.dtype,
                                                                                device=h.device)
            labels = None if cw is None else self._tensor(h, weighting.labels(y.cpu().numpy()))
            loss = losses.weighted_loss(spec.loss, z, a, y, cw, sample_weight, labels)
        else:
            loss = losses.data_loss(spec.loss.name, spec.loss.reduction, z, a, y)
        return loss + self._penalty(h) if penalty else loss

    @staticmethod
    def _penalty(h: TorchHandle) -> torch.Tensor:
        """Every tensor's L2 term, l2 * sum(t**2), summed (a zero where the spec has none)."""
        total = torch.zeros((), dtype=h.dtype, device=h.device)
        for (i, name), l2 in _penalised(h.spec):
            t = h.model.tensor(i, name)
            total = total + l2 * (t * t).sum()
        return total

    def _weights(self, h, sample_weight):
        return None if sample_weight is None else self._tensor(h, np.asarray(sample_weight))

    def loss_and_grads(self, h, x, y, masks=None, sample_weight=None):
        h.model.zero_grad(set_to_none=False)
        snapshot = model.state_snapshot(h.model)
        loss = self._loss_on(h, self._tensor(h, x), self._tensor(h, y), self._masks(h, masks), self._weights(h, sample_weight))
        loss.backward()
        model.restore(h.model, snapshot)
        return float(loss.item()), model.canonical(h.model, grads=True)

    def step(self, h, x, y, masks=None, sample_weight=None):
        h.optimizer.zero_grad(set_to_none=False)
        self._loss_on(h, self._tensor(h, x), self._tensor(h, y), self._masks(h, masks), self._weights(h, sample_weight)).backward()
        self.clip_gradients(h)
        h.optimizer.step()
        self._after_step(h)
        return model.canonical(h.model)

    def _after_step(self, h: TorchHandle) -> None:
        if h.scheduler is not None:
            h.scheduler.step()
        if h.stepper is not None:
            h.stepper.after_step()

    def end_epoch(self, h):
        """``scheduler.step()`` once per epoch, for a per-epoch schedule (``schedules.Stepper``)."""
        if h.stepper is not None:
            h.stepper.after_epoch()

    def fit(self, h, x, y, epochs, x_val, y_val):
        """Early stopping as a torch user writes it (torch has no callback for it): after each epoch the validation
        loss in eval mode (``_stop_early``)."""
        xt, yt = self._tensor(h, x), self._tensor(h, y)
        xv, yv = self._tensor(h, x_val), self._tensor(h, y_val)
        penalty = Native.VALIDATION_DATA_LOSS not in h.native  # natively: criterion(model(x_val), y_val)

        def train_epoch(e: int) -> None:
            self._steps(h, xt, yt, epochs[e])
            self.end_epoch(h)

        def validation_loss() -> float:
            with torch.no_grad():
                return float(self._loss_on(h, xv, yv, training=False, penalty=penalty))

        monitored = self._stop_early(h.spec.training.early_stopping, h.model, len(epochs), train_epoch, validation_loss)
        return model.canonical(h.model), monitored

    @staticmethod
    def _stop_early(rule, module: torch.nn.Module, epochs: int, train_epoch, validation_loss) -> list[float]:
        """Keras's rule around ``train_epoch(e)``: an improvement beats the best by more than min_delta; stop once
        ``patience`` epochs have passed without one, never after the first; the best state_dict copied and reloaded
        (``restore_best_weights``). The monitored ``validation_loss()`` after each epoch it ran."""
        import copy

        best, wait, kept, monitored = float("inf"), 0, None, []
        for e in range(epochs):
            train_epoch(e)
            monitored.append(validation_loss())
            if rule.restore_best_weights and kept is None:
                kept = copy.deepcopy(module.state_dict())
            wait += 1
            if monitored[-1] < best - rule.min_delta:
                best, wait = monitored[-1], 0
                if rule.restore_best_weights:
                    kept = copy.deepcopy(module.state_dict())
            elif wait >= rule.patience and e > 0:
                break
        if kept is not None:
            module.load_state_dict(kept)
        return monitored

    def clip_gradients(self, h: TorchHandle) -> None:
        """The spec's gradient clipping, between ``backward()`` and ``optimizer.step()`` (``optimizers.clip_gradients``)."""
        clip = h.spec.optimizer.clip
        if Native.CLIP_GRAD_NORM in h.native and clip is not None and clip.rule != "clipvalue":
            torch.nn.utils.clip_grad_norm_(h.params, clip.threshold)
            return
        optimizers.clip_gradients(clip, h.params)

    def weights(self, h):
        return model.canonical(h.model)

    def state(self, h):
        return model.canonical(h.model, state=True)

    def train(self, h, x, y, batches):
        self._steps(h, self._tensor(h, x), self._tensor(h, y), batches)
        return model.canonical(h.model)

    def _steps(self, h, xt, yt, batches) -> None:
        """The plain torch loop: zero_grad, loss.backward(), optimizer.step(), on tensors already on the device."""
        for idx in batches:
            i = torch.from_numpy(np.asarray(idx)).to(h.device)
            h.optimizer.zero_grad(set_to_none=False)
            self._loss_on(h, xt[i], yt[i]).backward()
            self.clip_gradients(h)
            h.optimizer.step()
            self._after_step(h)


def _penalised(spec) -> list[tuple[tuple[int, str], float]]:
    from reference.weights import layer_tensors

    return [((i, t.name), t.l2) for i, t in layer_tensors(spec) if t.trainable and t.l2]
