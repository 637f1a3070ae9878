r"""The tolerance policy: how far an implementation may land from the reference, per dtype and check.

Every bound is a rounding-error estimate times a safety factor, in terms of the case:

* :math:`u` — unit roundoff of the run's dtype: :math:`2^{-53} \approx 1.1\cdot10^{-16}` (float64),
  :math:`2^{-24} \approx 6.0\cdot10^{-8}` (float32);
* :math:`n` — the widest fan-in (the longest dot product of the forward pass);
* :math:`B` — rows in the check batch (the length of the batch sums in the loss and the gradients);
* :math:`L` — the number of layers (each adds one rounding stage forward, two backward);
* :math:`K` — trajectory steps;
* :math:`\kappa` — how badly the optimizer's constants condition its arithmetic: Keras forms
  :math:`1 - \beta_2` in the run's dtype, and :math:`1 - 0.999` loses :math:`\log_{10} 1000 = 3`
  digits to cancellation, so :math:`\kappa = \max 1/(1-\beta)` over its decay rates (Adam 1000,
  RMSprop 10, Adagrad and the SGD family 1).

Summing n roundings of independent sign grows like :math:`\sqrt{n}\,u` (Higham & Mary's
probabilistic bound), hence the square roots. The safety factor :math:`S = 16` covers the constant
factors of those bounds (a few roundings per multiply-add, the transcendental functions' own few
ulps, conditioning of the activations) and is the same for every check and dtype.

**Relative to what.** Every bound below is relative to the tensor's *operand scale* :math:`s_T`
(``reference/magnitudes.py``), not to the tensor's own size: a computed result errs in proportion to
the magnitudes of the operands that produced it (:math:`|\mathrm{fl}(a-b) - (a-b)| \le u(|a|+|b|)`),
and a result that cancels (a bias of 0.01 minus an Adam step of 0.01, a batch sum of gradients of
both signs, an mse at an exact fit) is far smaller than they are. The error reported is
:math:`\max|a - r| / \max(s_T, \max|r|)`; where nothing cancels :math:`s_T \le \max|r|`, so every bound
is exactly as tight as when it was measured against the tensor itself. How each scale is built:

* forward, loss, grads, large-logits: the reference computes a magnitude for every element beside
  its answer: sums in quadrature of their terms' magnitudes, propagated through the network
  (magnitudes.py states the rules); the loss keeps the second-order :math:`u|a|^2` of a squared error
  at an exact fit;
* a step :math:`w' = w - \Delta`: :math:`\max(|w'|, \sqrt{w^2 + \Delta^2})`, from the weights before the
  step and the reference optimizer's update (the error of :math:`\Delta`, at most :math:`\kappa u|\Delta|`,
  and of the subtraction are both bounded by :math:`S u \kappa` of it);
* a trajectory after k steps: the largest :math:`|w|` the tensor has had in steps 0..k, since its
  accumulated error is the sum of every earlier step's, each bounded by that step's operands.

=============  ======================================================  =====================
check          bound (relative to the operand scale)                   float64, fashion
                                                                       784-500-300-100-10
=============  ======================================================  =====================
weights        0: a copy in and out is exact                           0
forward        :math:`S u \sqrt{n} L`                                   2.0e-13
forward-       the same bound, in training mode: a batch normalization   2.0e-13 (7.1e-14 for
training       adds its mean and variance over the B rows (n >= B) and   the batch-normalised
               one stage to L; a dropout multiplies by 0 or the exact    breast-cancer net)
               1/(1 - rate) rounded once (no stage)
loss           :math:`S u \sqrt{n B} L`                                 1.6e-12
grads          :math:`S u \sqrt{n B}\, 2L`                              3.2e-12
large-logits   the grads bound times the largest logit Z (1000, 150):     3.2e-9
               at that scale every rounding of z is amplified Z-fold
               in exp(z - max z) (an activation's conditioning, which
               the operand scales leave to the tolerance)
step-<opt>     :math:`S u (\kappa + \gamma + \sigma)` (the optimizer      1.8e-12 (Adam)
               alone, from the implementation's own gradient;
               :math:`\gamma` the clipping's, :math:`\sigma` the
               schedule's, below); ``schedule-<s>`` the same
state          :math:`S u \sqrt{n B} L`: the moving statistics after one
               step, :math:`m' = \mu m + (1 - \mu)\,\bar{x}`, where the
               batch statistic :math:`\bar{x}` is a B-row sum of inputs
               that carry the forward pass's rounding (hence the loss's
               bound); the blend adds two roundings, relative to the step
               scale :math:`\max(|m'|, \sqrt{m^2 + (m' - m)^2})`
trajectory     after k steps :math:`S u \sum_{i \le k} (1 + r_i(\sqrt{n B}\,2L + \kappa + \gamma + \sigma))`,
               and at least :math:`S\,\sigma_k`
=============  ======================================================  =====================

**Clipping** (``reference/clipping.py``) scales the gradient by :math:`c / \lVert g\rVert`: the norm is a sum of
:math:`M` squares (:math:`\sqrt{M} u` relative, :math:`M` the largest tensor's size for ``clipnorm``, every
parameter for ``global_clipnorm``), the square root, the division and the product add one rounding each,
so the clipped gradient, and with it the update, errs by :math:`\gamma u` relative, :math:`\gamma = \sqrt{M} + 3`.
``clipvalue`` is exact (:math:`\gamma = 0`): a comparison, no arithmetic. For the fashion 784-500-300-100-10
network under ``global_clipnorm`` (:math:`M = 573{,}910`), :math:`S u \gamma` is 1.4e-12 in float64 and 7.3e-4 in
float32.

**A schedule** (``reference/schedules.py``) computes each step's rate from a closed form (a few roundings) or,
in torch, recursively (one more rounding per index), and a cosine near its end cancels to a few roundings of
its peak: :math:`\sigma = 4 + i_{max} + 4\,\eta_{max}/\eta_{min}` (the last for a cosine only) units of u over
the indices a check reaches (``schedules.condition``).

The layer kinds enter only through :math:`n` and :math:`L` (``reference/layers``: each kind's
``reduction`` and ``stages``) and through the operand scales: a normalization's output is
:math:`\gamma \hat{x} + \beta` with :math:`|\hat{x}| \le \sqrt{B}` (batch) or :math:`\sqrt{D}` (layer), and its
subtraction of the mean cancels exactly where the scales (``magnitudes.py``) keep the operands' size.

In a trajectory each step rounds the weights themselves (the 1) and adds the gradient's rounding
through the update :math:`\eta g`, which is only a fraction :math:`r_i = \max|w_{i+1} - w_i| / \max|w_i|`
of the weights (measured on the reference's own run, typically 1e-3 to 1e-2); the errors of the
steps add up.

:math:`\sigma_k` is the reference's own sensitivity: the separation, after k steps, of two reference
runs whose starting weights differ by one rounding (a relative :math:`u`, random signs). A network
trained in a chaotic regime (the digits ``NeuralNetwork``: saturated sigmoids, gradients summed
over 100 raw-pixel rows) amplifies any rounding about threefold per step, so two correct
implementations are O(1) apart after 30 steps; past the step where :math:`S\sigma_k` exceeds the
formula, the trajectory check can only assert that an implementation diverges no faster than
rounding itself makes it. The report shows that step and the growth rate.
"""
from __future__ import annotations

import math

import numpy as np

from reference.spec import Spec

UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24}
SAFETY = 16.0


def optimizer_condition(name: str, params: dict) -> float:
    """kappa: 1 / (1 - decay) for the decay rates the optimizer forms in the run's dtype."""
    rates = [params[k] for k in ("beta_2", "beta_1", "rho") if k in params]
    return max([1.0] + [1.0 / (1.0 - r) for r in rates])


def update_condition(optimizer, spec: Spec, horizon: int, steps_per_epoch: int = 1) -> float:
    """kappa + gamma + sigma: the optimizer's constants, its clipping, its schedule over ``horizon`` steps (the
    epochs they span, for a per-epoch schedule)."""
    from reference import schedules

    schedule = getattr(optimizer, "schedule", None)
    index_horizon = horizon if schedule is None or schedule.per == "step" else -(-horizon // steps_per_epoch)
    return (optimizer_condition(optimizer.name, optimizer.params) + clip_condition(optimizer, spec)
            + schedules.condition(schedule, index_horizon))


def clip_condition(optimizer, spec: Spec) -> float:
    """gamma: the relative rounding, in units of u, that the optimizer's gradient clipping adds (module docstring)."""
    clip = getattr(optimizer, "clip", None)
    if clip is None or clip.rule == "clipvalue":
        return 0.0
    from reference.weights import tensor_shapes

    sizes = [math.prod(shape) for shape in tensor_shapes(spec)]
    m = sum(sizes) if clip.rule == "global_clipnorm" else max(sizes)
    return math.sqrt(m) + 3


def widest_sum(spec: Spec, batch: int) -> int:
    """n: the longest sum any layer forms in the forward pass (a dense layer's fan-in, batch normalization's
    mean over the batch, layer normalization's over the features), each kind saying its own."""
    from reference.layers import kind

    return max(kind(layer).reduction(layer, width, batch) for (width, _), layer in zip(spec.layer_sizes(), spec.layers))


def depth(spec: Spec) -> int:
    """L: the rounding stages of the forward pass, each kind saying how many it adds."""
    from reference.layers import kind

    return max(1, sum(kind(layer).stages(layer) for layer in spec.layers))


def shape_factors(spec: Spec, batch: int) -> tuple[float, int]:
    """(sqrt(n * B), L)."""
    return math.sqrt(widest_sum(spec, batch) * batch), depth(spec)


def replica_term(replicas: int) -> float:
    """The all-reduce's rounding over N replicas, in units of u of the gradient's operand scale: N - 1 additions
    of the replicas' partial gradients and two scalings (N / B on each replica's loss, 1 / N in the average);
    the partial sums themselves are another order of the batch sum the bounds already cover
    (``reference/replicas.py``). 0 for one process."""
    return 0.0 if replicas <= 1 else replicas + 1.0


def tolerance(check: str, spec: Spec, dtype: str, batch: int, optimizer=None, horizon: int = 2,
              steps_per_epoch: int = 1, replicas: int = 1) -> float:
    """The bound for a single-shot check or an optimizer step (``check`` "step"; see the module docstring); over
    ``replicas``, the loss's and gradients' add ``replica_term``."""
    u = UNIT_ROUNDOFF[dtype]
    n = widest_sum(spec, batch)
    root_nb, L = shape_factors(spec, batch)
    rep = replica_term(replicas)
    if check == "weights":
        return 0.0
    if check == "forward":
        return SAFETY * u * math.sqrt(n) * L
    if check in ("loss", "state"):
        return SAFETY * u * (root_nb * L + rep)
    if check == "grads":
        return SAFETY * u * (root_nb * 2 * L + rep)
    if check == "large-logits":
        from reference.checks import LARGE_LOGIT

        return SAFETY * u * (root_nb * 2 * L + rep) * LARGE_LOGIT[dtype]
    if check == "step":
        return SAFETY * u * update_condition(optimizer, spec, horizon, steps_per_epoch)
    raise ValueError(f"unknown check {check!r}")


def relative_step(after: list, before: list) -> float:
    """r_i of one step: the largest relative change of any weight tensor, against the larger of its
    values before and after (a tensor that starts at zero, as biases do, has r = 1 on its first step)."""
    return max(float(np.abs(a - b).max() / max(np.abs(a).max(), np.abs(b).max(), 1e-300)) for a, b in zip(after, before))


def trajectory_bounds(spec: Spec, dtype: str, batch: int, optimizer, relative_steps: list[float],
                      steps_per_epoch: int = 1, replicas: int = 1) -> list[float]:
    """The formula's bound after each step: S u sum_i (1 + r_i (sqrt(n B) 2L + kappa + gamma + sigma + rho)), rho
    the all-reduce's ``replica_term``."""
    u = UNIT_ROUNDOFF[dtype]
    root_nb, L = shape_factors(spec, batch)
    gain = (root_nb * 2 * L + update_condition(optimizer, spec, len(relative_steps), steps_per_epoch)
            + replica_term(replicas))
    total, out = 0.0, []
    for r in relative_steps:
        total += SAFETY * u * (1 + r * gain)
        out.append(total)
    return out


def trajectory_tolerances(bounds: list[float], shadow: list[float]) -> list[float]:
    """Per step: the formula, or S times the reference's own separation after one rounding, if larger."""
    return [max(b, SAFETY * s) for b, s in zip(bounds, shadow)]


def chaos_horizon(bounds: list[float], shadow: list[float]) -> int | None:
    """The first step at which rounding alone exceeds the formula's bound, or None."""
    return next((k for k, (b, s) in enumerate(zip(bounds, shadow)) if SAFETY * s > b), None)


def growth_rate(shadow: list[float]) -> float | None:
    """The geometric mean growth of the shadow separation per step, while it is still small."""
    pts = [(k, s) for k, s in enumerate(shadow) if 0 < s < 1e-3]
    if len(pts) < 2:
        return None
    (k0, s0), (k1, s1) = pts[0], pts[-1]
    return (s1 / s0) ** (1.0 / (k1 - k0)) if k1 > k0 else None
