"""Native mode: the aspects in which an adapter may fall back to its framework's own defaults.

Aligned mode (the default, an empty set) maps every convention onto the reference's. Native mode
is what a user porting a model writes without thinking of the differences; ``nnparity
divergences`` measures how far that lands and which aligned setting closes the gap. An adapter that
knows native mode reads the flags a case carries (``Case.native``) before it builds.
"""

NATIVE_FLAGS = {
    "optimizer-defaults": "the optimizer built with the learning rate (and momentum) only; every other hyperparameter, "
                          "epsilon's placement included, the framework's default",
    "sgd-default-lr": "plain SGD with the framework's default learning rate (torch 1e-3, Keras 'sgd' 0.01)",
    "leaky-relu-default": "leaky_relu without a slope: the framework's default",
    "init-defaults": "the framework's default initialisers, seeded by the framework, instead of the shared weights",
    "probabilities": "the softmax/sigmoid inside the model and the loss computed on its probabilities",
    "weight-decay": "the optimizer's weight_decay argument (every parameter) instead of an L2 term on the kernels",
    "lr-schedule": "an exponential learning-rate decay, 0.9 per step (torch ExponentialLR, Keras ExponentialDecay)",
    "softplus-default": "torch's Softplus with its default threshold (the identity above 20)",
    "float64-stock": "Keras in float64 without nnparity's fixes (floatx, constant casts, float32 matmul/mean)",
}
WEIGHT_DECAY = 0.01  # the weight_decay a native "weight-decay" run passes to its optimizer
LR_DECAY = 0.9  # per step, for "lr-schedule"
