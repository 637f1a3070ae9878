"""PyTorch behind the implementation protocol (``reference/implementation.py``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reference.spec import Spec
from torch_impl import losses, model, optimizers


@dataclass
class TorchHandle:
    spec: Spec
    body: torch.nn.Sequential
    head: torch.nn.Module
    optimizer: torch.optim.Optimizer
    dtype: torch.dtype
    device: str
    scheduler: object = None  # native "lr-schedule" only


def _precision_guard(device: str) -> None:
    # float32 parity needs full-precision matmuls: TF32 off (torch's default for matmul, but a user or
    # TORCH_ALLOW_TF32_CUBLAS_OVERRIDE can turn it on), and cuDNN's TF32 too.
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")


class TorchImplementation:
    name = "torch"
    native: frozenset = frozenset()  # aspects left at torch's defaults (reference/native.py); empty: aligned

    def available(self) -> str | None:
        return None

    def devices(self) -> list[str]:
        return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    def build(self, spec, weights, *, dtype, device) -> TorchHandle:
        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA is not available to torch here")
        _precision_guard(device)
        body, head = model.build(spec, weights, dtype, device, self.native)
        opt = optimizers.make_native(spec.optimizer.name, spec.optimizer.params, body.parameters(), self.native)
        h = TorchHandle(spec, body, head, opt, model.DTYPES[dtype], device)
        if "lr-schedule" in self.native:
            from reference.native import LR_DECAY

            h.scheduler = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=LR_DECAY)
        return h

    def _tensor(self, h: TorchHandle, a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a))
        return t.to(h.device) if t.dtype == torch.int64 else t.to(device=h.device, dtype=h.dtype)

    def forward(self, h, x):
        with torch.no_grad():
            return h.head(h.body(self._tensor(h, x))).cpu().numpy()

    def layer_outputs(self, h, x):
        outs, a = [], self._tensor(h, x)
        with torch.no_grad():
            for module in h.body:
                a = module(a)
                if not isinstance(module, torch.nn.Linear):
                    outs.append(a.cpu().numpy())
            outs.append(h.head(a).cpu().numpy())
        return outs

    def _loss(self, h: TorchHandle, x, y) -> torch.Tensor:
        return self._loss_on(h, self._tensor(h, x), self._tensor(h, y))

    def _loss_on(self, h: TorchHandle, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        spec = h.spec
        z = h.body(x)
        a = h.head(z)
        if "probabilities" in self.native:
            loss = losses.probability_loss(spec.loss.name, spec.loss.reduction, a, y)
        else:
            loss = losses.data_loss(spec.loss.name, spec.loss.reduction, z, a, y)
        for layer, lin in zip(spec.layers, model.linears(h.body)):
            if layer.l2:
                loss = loss + layer.l2 * (lin.weight * lin.weight).sum()
        return loss

    def loss_and_grads(self, h, x, y):
        h.body.zero_grad(set_to_none=False)
        loss = self._loss(h, x, y)
        loss.backward()
        return float(loss.item()), model.canonical(h.body, grads=True)

    def step(self, h, x, y):
        h.optimizer.zero_grad(set_to_none=False)
        self._loss(h, x, y).backward()
        h.optimizer.step()
        if h.scheduler is not None:
            h.scheduler.step()
        return model.canonical(h.body)

    def weights(self, h):
        return model.canonical(h.body)

    def train(self, h, x, y, batches):
        """The plain torch loop: zero_grad, loss.backward(), optimizer.step(), on tensors already on the device."""
        xt, yt = self._tensor(h, x), self._tensor(h, y)
        for idx in batches:
            i = torch.from_numpy(np.asarray(idx)).to(h.device)
            h.optimizer.zero_grad(set_to_none=False)
            self._loss_on(h, xt[i], yt[i]).backward()
            h.optimizer.step()
            if h.scheduler is not None:
                h.scheduler.step()
        return model.canonical(h.body)
