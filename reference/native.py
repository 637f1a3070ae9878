"""Native mode: the aspects in which an adapter may fall back to its framework's own defaults.

Aligned mode (the default, no aspect) maps every convention onto the reference's. Native mode is what a
user porting a model writes without thinking of the differences; ``nnparity divergences`` measures how
far that lands and which aligned setting closes the gap.

It is a typed part of the protocol: a case carries a ``frozenset[Native]``; an implementation that can run
aspects lists them in ``native_aspects`` and receives them as ``build(..., native=...)``. A case asking an
implementation for an aspect it does not list is an error, never a silent aligned run — and a misspelt
aspect is an AttributeError where it is written.
"""
from __future__ import annotations

from enum import Enum


class Native(Enum):
    OPTIMIZER_DEFAULTS = ("the optimizer built with the learning rate (and momentum) only; every other hyperparameter, "
                          "epsilon's placement included, the framework's default")
    SGD_DEFAULT_LR = "plain SGD with the framework's default learning rate (torch 1e-3, Keras 'sgd' 0.01)"
    LEAKY_RELU_DEFAULT = "leaky_relu without a slope: the framework's default"
    INIT_DEFAULTS = "the framework's default initialisers, seeded by the framework, instead of the shared weights"
    PROBABILITIES = "the softmax/sigmoid inside the model and the loss computed on its probabilities"
    WEIGHT_DECAY = "the optimizer's weight_decay argument (every parameter) instead of an L2 term on the kernels"
    LR_SCHEDULE = "an exponential learning-rate decay, 0.9 per step (torch ExponentialLR, Keras ExponentialDecay)"
    SOFTPLUS_DEFAULT = "torch's Softplus with its default threshold (the identity above 20)"
    FLOAT64_STOCK = "Keras in float64 without nnparity's fixes (floatx, constant casts, float32 matmul/mean)"
    BATCH_NORM_MOMENTUM = "batch normalization's momentum left at the framework's default (torch 0.1 = Keras 0.9; Keras 0.99)"
    BATCH_NORM_EPSILON = "batch normalization's epsilon left at the framework's default (torch 1e-5, Keras 1e-3)"
    BATCH_NORM_VARIANCE = ("the batch variance the moving variance follows, the framework's own (torch: unbiased, "
                           "n/(n-1); Keras: biased)")
    LAYER_NORM_DEFAULTS = "layer normalization with the framework's own epsilon (torch 1e-5, Keras 1e-3)"
    OWN_DROPOUT = "the framework's own dropout layer and random generator instead of the given masks"
    SCHEDULE_PER_EPOCH = ("a per-step learning-rate schedule ported to a scheduler stepped once per epoch, as torch's "
                          "tutorials loop: one decay of decay_rate per epoch")
    WEIGHTED_MEAN = ("class weights as torch users pass them, CrossEntropyLoss(weight=w) on class labels: the weighted "
                     "sum divided by the sum of the rows' weights, whatever the spec's weighted_reduction")
    CLIP_GRAD_NORM = ("a norm clipping (clipnorm or global_clipnorm) as torch users write it: clip_grad_norm_ over every "
                      "parameter, one global norm plus 1e-6")
    KERAS_EARLY_STOPPING = ("Keras's EarlyStopping(monitor='val_loss', patience=p, min_delta=d) as users write it, "
                            "restore_best_weights left at its default, False: training ends on the last epoch's weights")
    VALIDATION_DATA_LOSS = ("the validation loss as a torch loop computes it, criterion(model(x_val), y_val): the data "
                            "loss alone, without the L2 terms that Keras's val_loss includes")
    SKLEARN_ALPHA = ("the spec's L2 factor passed to scikit-learn as alpha unchanged (alpha = l2), as one ports "
                     "Keras's L2(l2): scikit-learn adds 0.5 alpha sum W^2 / N, so it regularises 1 / (2N) as much")
    SKLEARN_SQUARED_LOSS = ("MLPRegressor's squared loss as it is, at the spec's learning rate: half the spec's mse, so "
                            "every gradient, and so every SGD step, is half the spec's")
    DDP_LOCAL_MEAN = ("over replicas, each replica's loss the mean over its own rows (criterion(model(x_r), y_r)), "
                      "which DDP then averages: the mean of the replicas' means")
    DDP_SUMMED_LOSS = ("over replicas, a summed loss (reduction='sum') as one process writes it, each replica summing "
                       "its own rows, which DDP then averages: 1/N of the global sum's gradient")
    DDP_SAMPLER_PADDING = ("over replicas, each epoch read through DistributedSampler(shuffle=False, drop_last=False) "
                           "and a DataLoader of B/N rows per replica, each replica's mean loss: the epoch padded with its "
                           "first rows to a multiple of N, so those rows are trained on twice")
    KERAS_LOCAL_MEAN = ("over replicas, Keras's own loss under tf.distribute: each replica's mean over its own rows "
                        "divided by the number of replicas (keras/src/losses/loss.py, scale_loss_for_distribution), "
                        "which the optimizer's all-reduce sums: the mean of the replicas' means")
    KERAS_REPLICA_L2 = ("over replicas, the model's L2 losses added unscaled on every replica, as a custom training "
                        "loop adds sum(model.losses) without tf.nn.scale_regularization_loss: the all-reduce sums N of them")
    KERAS_REPLICA_CLIP = ("over replicas, Keras's clipping as it is under tf.distribute: optimizer.apply clips each "
                          "replica's own part of the gradient, then its all-reduce sums the clipped parts")
    KERAS_REPLICA_BATCH_STATS = ("over replicas, Keras's BatchNormalization as it is (synchronized=False): each replica "
                                 "normalizes by its own rows' mean and variance, and its moving statistics follow them")

    @property
    def key(self) -> str:
        """The aspect as it crosses processes: its name."""
        return self.name


Aspects = frozenset  # of Native

WEIGHT_DECAY = 0.01  # the weight_decay a native WEIGHT_DECAY run passes to its optimizer
LR_DECAY = 0.9  # per step, for LR_SCHEDULE


def from_keys(keys) -> frozenset:
    return frozenset(Native[k] for k in keys)


def keys(aspects) -> list[str]:
    return sorted(a.key for a in aspects)
