r"""Early stopping, Keras's rule (``keras/src/callbacks/early_stopping.py``, ``monitor_callback.py``), and the split
it watches.

**The split.** ``validation_split = f`` keeps the last rows for validation, as Keras's ``fit(validation_split=f)``
does before any shuffling: the first :math:`\lfloor n (1 - f) \rfloor` rows train, the rest validate.

**The rule**, after each epoch e (0-based), with the monitored value :math:`v_e` (the loss on the validation rows,
in inference mode, L2 terms included, as Keras logs ``val_loss``), ``best`` starting at :math:`+\infty` and
``wait`` at 0:

1. with ``restore_best_weights``, the first epoch's weights are kept as the best so far;
2. ``wait += 1``;
3. an improvement is :math:`v_e < \text{best} - \text{min\_delta}`: then ``best`` = :math:`v_e`, its weights are kept,
   ``wait = 0``, and training goes on;
4. otherwise, if ``wait >= patience`` and e > 0, training stops after epoch e.

At the end of training (stopped or not), ``restore_best_weights`` puts the kept weights (and batch-normalization
state) back. Keras's defaults: ``patience = 0``, ``min_delta = 0``, ``restore_best_weights = False`` (the last
epoch's weights, not the best).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from reference.params import Param, choice, flag, integer, number
from reference.spec import EarlyStopping

PARAMS: dict[str, Param] = {
    "validation_split": number(min=0, max=1, min_open=True, max_open=True),
    "patience": integer(0, min=0),
    "min_delta": number(0.0, min=0),
    "restore_best_weights": flag(False),
    "monitor": choice(("val_loss",), "val_loss"),
}


def split(n: int, rule: EarlyStopping) -> int:
    """How many of the n rows train (the rest validate)."""
    return int(math.floor(n * (1.0 - rule.validation_split)))


@dataclass
class Stopper:
    """The rule's state over a run: ``after_epoch`` says whether to stop; ``kept`` is what to restore, if anything."""

    rule: EarlyStopping
    best: float = math.inf
    wait: int = 0
    best_epoch: int | None = None
    kept: object = None
    stopped_epoch: int | None = None
    margins: list[float] = field(default_factory=list)  # per epoch, best - min_delta - value: how clear each decision was

    def after_epoch(self, epoch: int, value: float, snapshot) -> bool:
        """Epoch ``epoch`` ended with the monitored ``value``; ``snapshot()`` copies the weights. True: stop now."""
        if self.rule.restore_best_weights and self.best_epoch is None:  # Keras: "if best weights were never set"
            self.kept, self.best_epoch = snapshot(), epoch
        self.wait += 1
        self.margins.append(self.best - self.rule.min_delta - value)
        if value < self.best - self.rule.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.rule.restore_best_weights:
                self.kept = snapshot()
            return False
        if self.wait >= self.rule.patience and epoch > 0:
            self.stopped_epoch = epoch
            return True
        return False
