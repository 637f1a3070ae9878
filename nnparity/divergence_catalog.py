"""The divergences ``nnparity divergences`` measures: each a setting a user porting a model leaves at
its framework's default, the two implementations it sets apart, what each does, and the aligned
setting that removes the gap. Sources: ../shared/research/divergences.md and what this project measured.

Every topic is measured on real data (the first 256 digits or Fashion-MNIST images) over the shared
batch schedule; its network is the smallest that shows the effect.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reference import spec as S
from reference.native import LR_DECAY, WEIGHT_DECAY, Native


def _digits(activation="relu", alpha=None, optimizer=("sgd", {"learning_rate": 0.05}), l2=0.0, loss="categorical_crossentropy",
            kernel=("glorot_uniform", {}), divide_by=16.0, target="digit", units=32, between=()) -> S.Spec:
    act = S.Activation(activation, {"alpha": alpha} if alpha is not None else {})
    out_units, out_act = (1, "sigmoid") if loss == "binary_crossentropy" else (10, "softmax")
    init = S.Initializer(*kernel)
    return S.validate(S.Spec(
        name=f"divergence-digits-{activation}", description="", source=S.Source(""), seed=0, dtype="float64",
        input_shape=(64,),
        layers=(S.Layer(units, act, init, S.Initializer("zeros"), l2=l2), *between,
                S.Layer(out_units, S.Activation(out_act), init, S.Initializer("zeros"), l2=l2)),
        loss=S.Loss(loss), optimizer=S.Optimizer(*optimizer),
        training=S.Training(S.Dataset("digits", {"divide_by": divide_by, "target": target}), batch_size=32, epochs=10),
    ))


@dataclass(frozen=True)
class Topic:
    key: str
    title: str
    sides: tuple[str, str]  # the implementations compared
    native: tuple[Native, ...]  # the aspects left at each framework's default
    defaults: tuple[str, str]  # what each side does natively
    aligned: str  # the setting that removes the gap
    spec: Callable[[], S.Spec]
    aligned_spec: Callable[[], S.Spec] | None = None  # when aligning also changes the spec itself
    dtype: str = "float64"
    # The sides left at their defaults (None: both). A side not listed is already aligned: it runs the
    # aligned spec in the native measurement too (a Keras model whose L2 a torch port turns into weight_decay).
    native_sides: tuple[str, ...] | None = None
    # What each side is asked (reference/checks/trajectory.py, stopping.py): "predictions" after 1 and K steps,
    # "losses" (the loss each reports) after 1 and K steps, "epoch-predictions" after the first and the last epoch,
    # "stopped-predictions" (an early-stopped fit).
    measured: str = "predictions"
    group: str = ""  # a family --topic also accepts by name: "data-parallel"


_MOMENTUM = ("momentum", {"learning_rate": 0.05, "momentum": 0.9})


def _scheduled() -> S.Spec:
    """The digits network with SGD at a rate halving every 8 steps: one epoch of the 256-row pool at batch 32."""
    import dataclasses

    base = _digits()
    schedule = S.Schedule("exponential_decay", {"initial_learning_rate": 0.05, "decay_steps": 8, "decay_rate": 0.5,
                                                "staircase": False, "per": "step"})
    return S.validate(dataclasses.replace(base, optimizer=dataclasses.replace(base.optimizer, schedule=schedule)))


def _class_weighted() -> S.Spec:
    """The digits network on a class-weighted loss: digit 9 weighs 4, digit 8 half (Keras's default reduction)."""
    import dataclasses

    base = _digits()
    weights = (1.0,) * 8 + (0.5, 4.0)
    return S.validate(dataclasses.replace(base, training=dataclasses.replace(base.training, class_weight=weights)))


def _batch_size(rows: int) -> Callable[[], S.Spec]:
    """The digits network trained for 10 epochs of the 256-row pool in batches of ``rows``."""
    import dataclasses

    def spec():
        base = _digits()
        return dataclasses.replace(base, training=dataclasses.replace(base.training, batch_size=rows))
    return spec


def _summed() -> S.Spec:
    """The digits network on a summed cross-entropy (reduction='sum') at a rate for its sum: 0.05 / 32."""
    import dataclasses

    base = _digits(optimizer=("sgd", {"learning_rate": 0.05 / 32}))
    return S.validate(dataclasses.replace(base, loss=dataclasses.replace(base.loss, reduction="sum")))


def _clipped(rule: str) -> Callable[[], S.Spec]:
    """The digits network with SGD clipped at 0.3: above the first layer's kernel norm (0.64 - 0.75 over the first 50
    steps) and the second's (0.33 - 0.43), below both biases' (0.10 - 0.19), and below the global norm (0.74 - 0.86)."""
    import dataclasses

    def spec():
        base = _digits()
        return dataclasses.replace(base, optimizer=dataclasses.replace(base.optimizer, clip=S.Clip(rule, 0.3)))
    return spec


def _early_stopped(l2: float, patience: int) -> Callable[[], S.Spec]:
    """The digits network with SGD at 0.5 for up to 30 epochs of the pool's first 192 rows, stopped on the last 64 as
    Keras's EarlyStopping does, the best epoch's weights restored. Measured on the reference: without L2, patience 1,
    the validation loss is lowest after epoch 6 and training stops after epoch 7; with l2 = 0.003, patience 2, it
    stops after epoch 8 (best 6) watching the loss with its L2 terms, after epoch 13 (best 11) watching the data loss."""
    import dataclasses

    def spec():
        base = _digits(optimizer=("sgd", {"learning_rate": 0.5}), l2=l2)
        rule = S.EarlyStopping(validation_split=0.25, patience=patience, restore_best_weights=True)
        return S.validate(dataclasses.replace(base, training=dataclasses.replace(base.training, epochs=30, early_stopping=rule)))
    return spec


CATALOG: list[Topic] = [
    Topic("adam-epsilon", "Adam's epsilon: value and placement", ("torch", "keras-tensorflow"), (Native.OPTIMIZER_DEFAULTS,),
          ("Adam(lr): eps 1e-8 added to sqrt(v)/sqrt(1-b2^t)", "Adam(lr): epsilon-hat 1e-7 added to sqrt(v)"),
          "eps_mode and epsilon stated on both sides (no constant maps one onto the other)",
          lambda: _digits(optimizer=("adam", {"learning_rate": 1e-3}))),
    Topic("rmsprop-defaults", "RMSprop's defaults", ("torch", "keras-tensorflow"), (Native.OPTIMIZER_DEFAULTS,),
          ("RMSprop(lr): alpha 0.99, eps 1e-8 outside the root", "RMSprop(lr): rho 0.9, epsilon 1e-7 inside the root"),
          "rho, epsilon and eps_mode stated on both sides",
          lambda: _digits(optimizer=("rmsprop", {"learning_rate": 1e-3}))),
    Topic("adagrad-defaults", "Adagrad's defaults", ("torch", "keras-tensorflow"), (Native.OPTIMIZER_DEFAULTS,),
          ("Adagrad(lr): initial accumulator 0, eps 1e-10 outside", "Adagrad(lr): initial accumulator 0.1, epsilon 1e-7 inside"),
          "initial_accumulator, epsilon and eps_mode stated on both sides",
          lambda: _digits(optimizer=("adagrad", {"learning_rate": 1e-2}))),
    Topic("sgd-default-lr", "SGD's default learning rate", ("torch", "keras-tensorflow"), (Native.SGD_DEFAULT_LR,),
          ("SGD(params): lr 1e-3 (torch 2.13)", "compile(optimizer='sgd'): SGD(0.01)"),
          "the learning rate stated on both sides",
          lambda: _digits(optimizer=("sgd", {"learning_rate": 0.01}))),
    Topic("leaky-relu-slope", "leaky_relu's default slope", ("torch", "keras-tensorflow"), (Native.LEAKY_RELU_DEFAULT,),
          ("nn.LeakyReLU(): slope 0.01", "activation='leaky_relu': slope 0.2 (layers.LeakyReLU(): 0.3)"),
          "the slope stated on both sides (here 0.01)",
          lambda: _digits(activation="leaky_relu", alpha=0.01)),
    Topic("default-init", "default initialisation", ("torch", "keras-tensorflow"), (Native.INIT_DEFAULTS,),
          ("nn.Linear: U(+-1/sqrt(fan_in)) weights and biases", "Dense: glorot_uniform kernels, zero biases"),
          "the same weights copied into both (nnparity draws them once from the spec's seed)",
          lambda: _digits()),
    Topic("weight-decay", "weight_decay= is coupled L2 in torch, decoupled in Keras", ("torch", "keras-tensorflow"), (Native.WEIGHT_DECAY,),
          (f"SGD(momentum=0.9, weight_decay={WEIGHT_DECAY}): g += wd w", f"SGD(momentum=0.9, weight_decay={WEIGHT_DECAY}): w -= lr wd w first"),
          f"an L2 term on the kernels instead (l2 = {WEIGHT_DECAY / 2}, i.e. Keras L2({WEIGHT_DECAY / 2}))",
          lambda: _digits(optimizer=("momentum", {"learning_rate": 0.05, "momentum": 0.9})),
          lambda: _digits(optimizer=("momentum", {"learning_rate": 0.05, "momentum": 0.9}), l2=WEIGHT_DECAY / 2)),
    Topic("momentum-schedule", "momentum under a learning-rate schedule", ("torch", "keras-tensorflow"), (Native.LR_SCHEDULE,),
          (f"SGD(momentum=0.9) + ExponentialLR({LR_DECAY}): b = mu b + g, w -= lr_t b",
           f"SGD(ExponentialDecay(.., 1, {LR_DECAY}), momentum=0.9): v = mu v - lr_t g, w += v"),
          "a constant learning rate (the two momentum forms agree exactly then), or one form on both sides",
          lambda: _digits(optimizer=("momentum", {"learning_rate": 0.05, "momentum": 0.9}))),
    Topic("softmax-probabilities", "softmax cross-entropy on probabilities, by Keras backend", ("keras-tensorflow", "keras-jax"),
          (Native.PROBABILITIES,),
          ("Dense(softmax) + CategoricalCrossentropy(): quietly computed from the logits",
           "the same code: probabilities clipped to [1e-7, 1 - 1e-7] before the log"),
          "a linear last layer and from_logits=True on every backend",
          lambda: S.load("fashion_sigmoid400_numpy")),
    Topic("bce-probabilities", "binary cross-entropy on a saturated sigmoid", ("torch", "keras-jax"), (Native.PROBABILITIES,),
          ("nn.Sigmoid + nn.BCELoss: each log clamped at -100", "Dense(sigmoid) + BinaryCrossentropy(): p clipped to [1e-7, 1 - 1e-7]"),
          "the logits: BCEWithLogitsLoss and from_logits=True",
          lambda: _digits(loss="binary_crossentropy", target="even", kernel=("normal", {"std": 1.0}), divide_by=1.0)),
    Topic("softplus-threshold", "softplus above 20", ("torch", "keras-tensorflow"), (Native.SOFTPLUS_DEFAULT,),
          ("nn.Softplus(): returns x itself above threshold 20", "softplus: log(1 + e^x) everywhere"),
          "torch threshold 40 (beyond it log(1 + e^-x) is below half an ulp in float64)",
          lambda: _digits(activation="softplus", kernel=("normal", {"std": 1.0}), divide_by=1.0,
                          optimizer=("sgd", {"learning_rate": 1e-4}))),
    Topic("keras-float64-torch", "Keras in float64 on the torch backend", ("numpy", "keras-torch"), (Native.FLOAT64_STOCK,),
          ("the float64 reference", "Dense(dtype='float64'): its matmul runs in float32 (keras#23704); losses' means too"),
          "nnparity's fixes: einsum for the product, sums divided by counts, floatx = float64 while building",
          lambda: _digits(optimizer=("adam", {"learning_rate": 1e-3}), l2=0.01)),
    Topic("keras-float64-tensorflow", "Keras in float64 on the tensorflow backend", ("numpy", "keras-tensorflow"), (Native.FLOAT64_STOCK,),
          ("the float64 reference", "Python-float hyperparameters and L2 rounded through float32 (tensorflow#35938); "
           "leaky_relu's slope a C++ float; gelu's constants float32"),
          "numpy.float64 hyperparameters, an exact L2 factor, leaky_relu and gelu with float64 constants, floatx = float64",
          lambda: S.load("coverage_activations")),
    Topic("keras-float64-jax", "Keras in float64 on the jax backend", ("numpy", "keras-jax"), (Native.FLOAT64_STOCK,),
          ("the float64 reference", "tanh returns float32; ops.mean in the losses computes in float32; "
           "the learning rate is a float32 variable"),
          "jnp.tanh, sums divided by counts, floatx = float64 while building",
          lambda: S.load("coverage_activations")),
    Topic("batch-norm-momentum", "BatchNorm's momentum: the weight of the old statistic (Keras) or the new (torch)",
          ("torch", "keras-tensorflow"), (Native.BATCH_NORM_MOMENTUM,),
          ("BatchNorm1d(): momentum 0.1 on the batch statistic (= Keras 0.9)", "BatchNormalization(): momentum 0.99 on the moving one"),
          "one value, converted: torch momentum = 1 - Keras momentum",
          lambda: _digits(optimizer=_MOMENTUM, between=(S.BatchNorm(),))),
    Topic("batch-norm-epsilon", "BatchNorm's epsilon", ("torch", "keras-tensorflow"), (Native.BATCH_NORM_EPSILON,),
          ("BatchNorm1d(): eps 1e-5", "BatchNormalization(): epsilon 1e-3"),
          "the same epsilon stated on both sides",
          lambda: _digits(optimizer=_MOMENTUM, between=(S.BatchNorm(),))),
    Topic("batch-norm-variance", "BatchNorm's moving variance: unbiased (torch) or biased (Keras) batch variance",
          ("torch", "keras-tensorflow"), (Native.BATCH_NORM_VARIANCE,),
          ("BatchNorm1d: moving variance follows var * n/(n-1)", "BatchNormalization: follows the biased var (normalising uses it on both)"),
          "one convention on both sides (nnparity's running_variance: a torch subclass, or a Keras one, adds the difference)",
          lambda: _digits(optimizer=_MOMENTUM, between=(S.BatchNorm(momentum=0.9),))),
    Topic("weight-decay-norm", "weight_decay= reaches biases and BatchNorm's gamma and beta; Keras's L2 does not",
          ("torch", "keras-tensorflow"), (Native.WEIGHT_DECAY,),
          (f"SGD(momentum=0.9, weight_decay={WEIGHT_DECAY}): every parameter",
           f"Dense(kernel_regularizer=L2({WEIGHT_DECAY / 2})): the kernels only"),
          "weight decay on the kernels only (torch: a parameter group with weight_decay=0 for biases, gamma, beta; or L2 terms)",
          lambda: _digits(optimizer=_MOMENTUM, between=(S.BatchNorm(),)),
          lambda: _digits(optimizer=_MOMENTUM, between=(S.BatchNorm(),), l2=WEIGHT_DECAY / 2),
          native_sides=("torch",)),
    Topic("layer-norm-epsilon", "LayerNorm's epsilon", ("torch", "keras-tensorflow"), (Native.LAYER_NORM_DEFAULTS,),
          ("nn.LayerNorm(): eps 1e-5", "LayerNormalization(): epsilon 1e-3"),
          "the same epsilon stated on both sides",
          lambda: _digits(optimizer=_MOMENTUM, between=(S.LayerNorm(),))),
    Topic("dropout-generators", "dropout masks from each framework's own generator", ("torch", "keras-tensorflow"),
          (Native.OWN_DROPOUT,),
          ("nn.Dropout(0.5): masks from torch's generator", "layers.Dropout(0.5): masks from Keras's seed generator"),
          "the same masks on both sides (nnparity gives each dropout layer its mask, drawn from the spec's seed and the step)",
          lambda: _digits(optimizer=_MOMENTUM, between=(S.Dropout(0.5),))),
    Topic("schedule-per-epoch", "a Keras schedule advances every step; a torch scheduler when step() is called, usually per epoch",
          ("torch", "keras-tensorflow"), (Native.SCHEDULE_PER_EPOCH,),
          ("ExponentialLR(gamma=0.5), scheduler.step() once per epoch (8 steps): the rate halves at each epoch's end",
           "SGD(ExponentialDecay(0.05, decay_steps=8, decay_rate=0.5)): the rate falls every step, halving over 8"),
          "one schedule on both sides: ExponentialLR(gamma=0.5 ** (1/8)) stepped after every optimizer.step() (or "
          "staircase=True in Keras, for torch's per-epoch halving)",
          _scheduled, native_sides=("torch",)),
    Topic("weighted-mean", "class weights: Keras divides the weighted sum by the rows, torch's CrossEntropyLoss(weight=) "
          "by the weights", ("torch", "keras-tensorflow"), (Native.WEIGHTED_MEAN,),
          ("CrossEntropyLoss(weight=w)(z, labels): sum w_y l / sum w_y",
           "fit(class_weight=w): sum w_y l / N (sum_over_batch_size)"),
          "one convention on both sides: weighted_reduction stated (Keras: a loss with reduction="
          "'mean_with_sample_weight'; torch: reduction='none', then (w * l).sum() / len(l))",
          _class_weighted, native_sides=("torch",)),
    Topic("clipnorm-per-tensor", "clipnorm: each tensor by its own norm (Keras) or one global norm (torch clip_grad_norm_)",
          ("torch", "keras-tensorflow"), (Native.CLIP_GRAD_NORM,),
          ("clip_grad_norm_(model.parameters(), 0.3): g * min(1, c / (norm(all g) + 1e-6))",
           "SGD(clipnorm=0.3): each tensor g * c / max(norm(g), c)"),
          "one rule on both sides: in torch clip_grad_norm_ on each parameter alone, its 1e-6 taken out through "
          "clip_grads_with_norm_ (nnparity's torch adapter); or global_clipnorm in Keras where torch's global norm is meant",
          _clipped("clipnorm"), native_sides=("torch",)),
    Topic("clip-grad-norm-epsilon", "global norm clipping: torch's 1e-6 in the denominator", ("torch", "keras-tensorflow"),
          (Native.CLIP_GRAD_NORM,),
          ("clip_grad_norm_(model.parameters(), 0.3): c / (norm(g) + 1e-6)", "SGD(global_clipnorm=0.3): c / norm(g)"),
          "the norm less 1e-6 passed to clip_grads_with_norm_ (torch), or clip_epsilon = 1e-6 declared and accepted as "
          "a gap of 1e-6 / norm(g) (Keras has no epsilon to set)",
          _clipped("global_clipnorm"), native_sides=("torch",)),
    Topic("early-stopping-restore", "early stopping: Keras's EarlyStopping keeps the last epoch's weights by default",
          ("torch", "keras-tensorflow"), (Native.KERAS_EARLY_STOPPING,),
          ("the loop a torch user writes: the best epoch's state_dict kept and loaded back at the end",
           "EarlyStopping(monitor='val_loss', patience=1): restore_best_weights=False, the weights `patience` epochs "
           "past the best"),
          "EarlyStopping(..., restore_best_weights=True) (or a torch loop that keeps its last weights)",
          _early_stopped(0.0, 1), native_sides=("keras-tensorflow",), measured="stopped-predictions"),
    Topic("early-stopping-monitor", "early stopping: what val_loss is (Keras: L2 terms included; a torch loop: the "
          "criterion alone)", ("torch", "keras-tensorflow"), (Native.VALIDATION_DATA_LOSS,),
          ("criterion(model(x_val), y_val) watched: the data loss, without the L2 terms added to the training loss",
           "EarlyStopping(monitor='val_loss'): the data loss plus the model's regularization losses (model.losses)"),
          "the L2 terms added to the torch loop's validation loss, as Keras's val_loss has them (Keras has no switch "
          "for the other way)",
          _early_stopped(0.003, 2), native_sides=("torch",), measured="stopped-predictions"),
    Topic("sklearn-sgd-momentum", "scikit-learn's solver='sgd' has momentum 0.9 with Nesterov's by default",
          ("keras-tensorflow", "sklearn"), (Native.OPTIMIZER_DEFAULTS,),
          ("SGD(learning_rate=0.05): plain gradient descent",
           "MLPClassifier(solver='sgd', learning_rate_init=0.05): momentum=0.9, nesterovs_momentum=True"),
          "momentum=0 in scikit-learn (or Keras's SGD(momentum=0.9, nesterov=True): the same velocity form)",
          lambda: _digits(), native_sides=("sklearn",)),
    Topic("sklearn-adam-epsilon", "Adam's epsilon: scikit-learn's 1e-8, Keras's 1e-7 (both epsilon-hat)",
          ("keras-tensorflow", "sklearn"), (Native.OPTIMIZER_DEFAULTS,),
          ("Adam(1e-3): epsilon-hat 1e-7 added to sqrt(v)", "MLPClassifier(solver='adam'): epsilon 1e-8, the same form"),
          "epsilon stated on both sides (the forms agree, unlike torch's)",
          lambda: _digits(optimizer=("adam", {"learning_rate": 1e-3})), native_sides=("sklearn",)),
    Topic("sklearn-alpha", "scikit-learn's alpha is halved and divided by the batch's rows",
          ("keras-tensorflow", "sklearn"), (Native.SKLEARN_ALPHA,),
          ("Dense(kernel_regularizer=L2(0.01)): 0.01 sum W^2 added to the loss",
           "MLPClassifier(alpha=0.01): 0.5 * 0.01 sum W^2 / N, N = 32 here: 1/64 of Keras's"),
          "alpha = 2 l2 N for batches of N rows (nnparity sets it for each batch: the last, short batch needs its own, "
          "and one alpha regularises differently at another batch size)",
          lambda: _digits(l2=0.01), native_sides=("sklearn",)),
    Topic("sklearn-init", "default initialisation: scikit-learn's Glorot factor 2 for logistic, biases drawn too",
          ("keras-tensorflow", "sklearn"), (Native.INIT_DEFAULTS,),
          ("Dense(sigmoid): glorot_uniform kernels U(+-sqrt(6 / (in + out))), zero biases",
           "MLPClassifier(activation='logistic'): kernels and biases U(+-sqrt(2 / (in + out)))"),
          "the same weights copied into both (nnparity draws them once from the spec's seed)",
          lambda: _digits(activation="sigmoid")),
    Topic("sklearn-squared-loss", "scikit-learn's squared loss is half the mean squared error",
          ("numpy", "sklearn"), (Native.SKLEARN_SQUARED_LOSS,),
          ("the spec's mse: mean (a - y)^2, gradient 2 (a - y) / N",
           "MLPRegressor(solver='sgd', momentum=0, learning_rate_init=lr): 0.5 mean (a - y)^2, gradient (a - y) / N"),
          "learning_rate_init = 2 lr (and Adam's epsilon / 2: nnparity's mapping), or the spec's half_sse",
          lambda: S.load("regression_sigmoid10")),
    Topic("sklearn-log-loss-clip", "scikit-learn's log loss clips probabilities at the dtype's epsilon",
          ("keras-tensorflow", "sklearn"), (),
          ("categorical_crossentropy(from_logits=True): -log softmax(z)_y, unbounded",
           "MLPClassifier's log loss: probabilities clipped into eps .. 1 - eps, eps = 2.2e-16 in float64, so a row "
           "scores at most -log(eps) = 36.04 however wrong (its gradient, p - y, is not clipped: the predictions of "
           "both stay within rounding)"),
          "nothing in scikit-learn turns the clip off: its loss equals the cross-entropy wherever every row's "
          "probability of its class is above eps (here: the inputs scaled to [0, 1] instead of raw pixels 0 - 16, "
          "whose logits stay within 36 of each other)",
          lambda: _digits(divide_by=1.0), aligned_spec=lambda: _digits(), measured="losses"),
    Topic("sklearn-batch-size", "fit's default batch size: scikit-learn min(200, n), Keras 32",
          ("keras-tensorflow", "sklearn"), (),
          ("model.fit(x, y, epochs=10): batch_size=32, 8 steps an epoch of the 256 rows",
           "MLPClassifier(solver='sgd', momentum=0).fit(x, y): batch_size='auto' = min(200, n), 2 steps an epoch "
           "(200 rows, then 56)"),
          "batch_size=32 given to scikit-learn (or 200 to Keras); compared epoch for epoch on the shared order",
          _batch_size(200), aligned_spec=_batch_size(32), native_sides=("sklearn",), measured="epoch-predictions"),
    Topic("ddp-local-mean", "over replicas: each replica's own mean loss, averaged by DDP (uneven shards)",
          ("numpy", "torch-x3"), (Native.DDP_LOCAL_MEAN,),
          ("one process: the mean over each batch of 32 rows",
           "DDP over 3 replicas (gloo), each back-propagating criterion(model(x_r), y_r), its mean over its 11, 11 or "
           "10 rows, which DDP averages: rows of the third replica weigh 1/30, the others' 1/33"),
          "each replica's summed loss times N / B (torch's own DDP test: the mean times world_size * local_bs / "
          "global_bs; nnparity's reference/replicas.py)",
          lambda: _digits(), group="data-parallel"),
    Topic("ddp-sampler-padding", "over replicas: DistributedSampler pads each epoch with its first rows",
          ("numpy", "torch-x3"), (Native.DDP_SAMPLER_PADDING,),
          ("one process: 10 epochs of the 256 rows in batches of 30 (8 of them, then 16)",
           "DDP over 3 replicas, each reading DistributedSampler(shuffle=False) through DataLoader(batch_size=10): "
           "each epoch padded to 258 rows with its first 2 and dealt in turn, so its last step trains on 18 rows, 2 "
           "of them for the second time that epoch"),
          "a row count that N divides (or nnparity's split: each global batch cut into N parts, the last uneven, "
          "nothing repeated, each replica's summed loss times N / B: reference/replicas.py)",
          _batch_size(30), measured="epoch-predictions", group="data-parallel"),
    Topic("keras-tf-local-mean", "over replicas: Keras on TensorFlow's loss, each replica's own mean over N (uneven shards)",
          ("numpy", "keras-tensorflow-x3"), (Native.KERAS_LOCAL_MEAN,),
          ("one process: the mean over each batch of 32 rows",
           "MirroredStrategy over 3 replicas: Keras's loss on each replica's 11, 11 or 10 rows, its mean divided by 3 "
           "(scale_loss_for_distribution), which the optimizer's all-reduce sums: the mean of the replicas' means"),
          "each replica's summed loss over the global batch size (tf.nn.compute_average_loss(per_example_loss, "
          "global_batch_size=B); nnparity's keras_impl/replicated_tensorflow.py)",
          lambda: _digits(), group="data-parallel"),
    Topic("keras-tf-replica-l2", "over replicas: the L2 term added on every replica (a custom loop's model.losses)",
          ("numpy", "keras-tensorflow-x2"), (Native.KERAS_REPLICA_L2,),
          ("one process: the data loss plus L2(0.01) on both kernels, once",
           "a custom MirroredStrategy loop: each replica's loss plus sum(model.losses), unscaled; the all-reduce sums "
           "the replicas' gradients, so the L2 gradient counts twice"),
          "tf.nn.scale_regularization_loss(sum(model.losses)): the L2 term over the number of replicas (what Keras's "
          "own fit does)",
          lambda: _digits(l2=0.01), group="data-parallel"),
    Topic("keras-tf-replica-clip", "over replicas: Keras on TensorFlow clips each replica's part of the gradient",
          ("numpy", "keras-tensorflow-x2"), (Native.KERAS_REPLICA_CLIP,),
          ("one process: SGD(0.05, global_clipnorm=0.3): the batch's gradient (norm 0.74 - 0.86) scaled to norm 0.3",
           "MirroredStrategy over 2 replicas, Keras's optimizer.apply on each: each replica's part of the gradient "
           "clipped to norm 0.3 before the all-reduce sums the parts (base_optimizer.apply: _clip_gradients, then "
           "_backend_update_step)"),
          "the gradient all-reduced first and the sum clipped (Keras has no switch for it; nnparity's "
          "keras_impl/replicated_tensorflow.py clips the sum and hands apply each replica's 1/N of it)",
          _clipped("global_clipnorm"), group="data-parallel"),
    Topic("replica-batch-stats", "over replicas: batch normalization by each replica's own rows' statistics",
          ("numpy", "keras-tensorflow-x2"), (Native.KERAS_REPLICA_BATCH_STATS,),
          ("one process: BatchNormalization by the mean and variance of the batch's 32 rows",
           "MirroredStrategy over 2 replicas, Keras's BatchNormalization as it is (synchronized=False): each replica "
           "normalizes its 16 rows by their own mean and variance (torch's DDP does the same; its SyncBatchNorm is "
           "GPU-only)"),
          "BatchNormalization(synchronized=True): the statistics all-reduced over the replicas (sums, sums of "
          "squares and counts), the global batch's",
          lambda: _digits(optimizer=_MOMENTUM, between=(S.BatchNorm(),)), group="data-parallel"),
    Topic("ddp-summed-loss", "over replicas: a summed loss under DDP's gradient averaging",
          ("numpy", "torch-x2"), (Native.DDP_SUMMED_LOSS,),
          ("one process: CrossEntropyLoss(reduction='sum') over the batch, SGD(0.05 / 32)",
           "DDP over 2 replicas, the same loss on each replica's 16 rows: DDP averages the gradients, so each step "
           "is half the one-process step (1/N)"),
          "each replica's sum times N (or the learning rate times N)",
          _summed, group="data-parallel"),
]
