"""Settings of the gated PixelCNN task (kept apart from Keras: the CLI reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from kerasseq.config import RunConfig, param
from kerasseq.errors import UserError

# kerasseq.losses.pixelcnn.OUTPUTS and kerasseq.data.binarized_mnist.BINARIZATIONS, without
# importing Keras or NumPy (a test keeps them equal).
PIXELCNN_OUTPUTS = ("bernoulli", "softmax256")
BINARIZATIONS = ("stochastic", "threshold")


@dataclass(frozen=True)
class PixelCNNConfig(RunConfig):
    """Settings of the gated PixelCNN on binarised MNIST (defaults: a model of the paper's
    shape for a full run; the README's CPU run is shorter and says so)."""

    epochs: int = param(20, "passes over the 50,000 training images")
    learning_rate: float = param(1e-3, "Adam learning rate (cosine-decayed to 10% over the run)")
    clipnorm: float = param(0.0, "clip gradients to this global norm; 0 disables clipping "
                            "(off: the loss is summed over 784 pixels, so gradient norms are in "
                            "the hundreds, and Adam's steps do not grow with them)")
    num_layers: int = param(15, "gated layers (the first, mask A, with --first_kernel_size)")
    filters: int = param(64, "channels of the vertical and of the horizontal stack")
    kernel_size: int = param(3, "kernel of the mask-B gated layers (odd)")
    first_kernel_size: int = param(7, "kernel of the first, mask-A, gated layer (odd)")
    conditional: bool = param(False, "class-conditional: every layer's gates get a bias from "
                              "the digit's one-hot label (§2.3); samples then come one row "
                              "per class")
    output: str = param("bernoulli", "bernoulli: binarised pixels, one logit each; "
                        "softmax256: the grey levels, a 256-way softmax each (not the "
                        "binarised benchmark)", choices=PIXELCNN_OUTPUTS)
    binarization: str = param("stochastic", "stochastic: a pixel is 1 with probability "
                              "grey/255 (training images drawn anew each epoch, validation "
                              "and test drawn once with --data_seed); threshold: grey > 127",
                              choices=BINARIZATIONS)
    data_seed: int = param(0, "seed of the validation split and of the fixed binarisation of "
                           "the validation and test images")
    validation_size: int = param(10000, "training images held out for the per-epoch "
                                 "validation NLL (the papers' 50,000 / 10,000 split)")
    test_images: int = param(0, "evaluate the test NLL on the first N test images; 0: all "
                             "10,000")
    batch_size: int = param(64, "images per batch")
    sample_images: int = param(10, "samples drawn for the artifact grid (per class when "
                               "--conditional)")
    completion_images: int = param(8, "test images whose bottom half is occluded and "
                                   "completed, 3 completions each")

    def __post_init__(self):
        super().__post_init__()
        for name in ("num_layers", "filters", "kernel_size", "first_kernel_size", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        for name in ("kernel_size", "first_kernel_size"):
            if getattr(self, name) % 2 == 0:
                raise UserError(f"--{name} must be odd (a centre pixel); got {getattr(self, name)}")
        if not 1 <= self.validation_size < 60000:
            raise UserError(f"--validation_size must be in [1, 59999]; got {self.validation_size}")
        if not 0 <= self.test_images <= 10000:
            raise UserError(f"--test_images must be in [0, 10000] (0: all); got {self.test_images}")
        if self.sample_images < 0 or self.completion_images < 0:
            raise UserError("--sample_images and --completion_images must be >= 0")
