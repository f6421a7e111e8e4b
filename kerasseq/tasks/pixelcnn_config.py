"""Settings of the gated PixelCNN task (kept apart from Keras: the CLI reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from kerasseq.config import RunConfig, param
from kerasseq.errors import UserError

# kerasseq.losses.pixelcnn.OUTPUTS, kerasseq.data.binarized_mnist.BINARIZATIONS and
# kerasseq.models.pixelrnn.PIXELRNN_KINDS, without importing Keras or NumPy (a test keeps them
# equal).
PIXELCNN_OUTPUTS = ("bernoulli", "softmax256", "logistic_mixture")
BINARIZATIONS = ("stochastic", "threshold")
PIXELRNN_KINDS = ("row_lstm", "diagonal_bilstm")
MODELS = ("gated_pixelcnn", *PIXELRNN_KINDS)
DATASETS = ("mnist", "cifar10")
TRAIN_IMAGES = {"mnist": 60000, "cifar10": 50000}


@dataclass(frozen=True)
class PixelCNNConfig(RunConfig):
    """Settings of the autoregressive image models (gated PixelCNN, PixelRNN) on binarised
    MNIST or CIFAR-10 (defaults: a gated PixelCNN of the paper's shape on binarised MNIST for
    a full run; the README's CPU runs are shorter and say so)."""

    model: str = param("gated_pixelcnn", "gated_pixelcnn (van den Oord et al. 2016b), or "
                       "PixelRNN's row_lstm or diagonal_bilstm (van den Oord et al. 2016a, "
                       "§3.1-3.2; --filters is then the hidden units h per layer, the "
                       "residual stream 2h)", choices=MODELS)
    dataset: str = param("mnist", "mnist: binarised MNIST (or its grey levels with an 8-bit "
                         "output); cifar10: CIFAR-10 RGB, 8 bits (the shared JPEG copy), test "
                         "bits/dim over 32·32·3", choices=DATASETS)

    epochs: int = param(20, "passes over the 50,000 training images")
    learning_rate: float = param(1e-3, "Adam learning rate (cosine-decayed to 10% over the run)")
    clipnorm: float = param(0.0, "clip gradients to this global norm; 0 disables clipping "
                            "(off: the loss is summed over 784 pixels, so gradient norms are in "
                            "the hundreds, and Adam's steps do not grow with them)")
    num_layers: int = param(15, "gated layers (the first, mask A, with --first_kernel_size); "
                            "PixelRNN: recurrent layers after the mask-A convolution")
    filters: int = param(64, "channels of the vertical and of the horizontal stack; PixelRNN: "
                         "hidden units h of each recurrent layer")
    kernel_size: int = param(3, "kernel of the mask-B gated layers (odd); the Row LSTM's "
                             "1 × k row convolutions")
    first_kernel_size: int = param(7, "kernel of the first, mask-A, gated layer or convolution "
                                   "(odd)")
    conditional: bool = param(False, "class-conditional: every layer's gates get a bias from "
                              "the digit's one-hot label (§2.3); samples then come one row "
                              "per class")
    output: str = param("bernoulli", "bernoulli: binarised pixels, one logit each (MNIST); "
                        "softmax256: the 8-bit levels, a 256-way softmax per colour, colours "
                        "in R, G, B order; logistic_mixture: PixelCNN++'s discretised "
                        "logistic mixture per pixel (not the binarised benchmark on MNIST)",
                        choices=PIXELCNN_OUTPUTS)
    num_mixtures: int = param(10, "logistics of the logistic_mixture output (PixelCNN++: 10)")
    binarization: str = param("stochastic", "stochastic: a pixel is 1 with probability "
                              "grey/255 (training images drawn anew each epoch, validation "
                              "and test drawn once with --data_seed); threshold: grey > 127",
                              choices=BINARIZATIONS)
    data_seed: int = param(0, "seed of the validation split and of the fixed binarisation of "
                           "the validation and test images")
    validation_size: int = param(10000, "training images held out for the per-epoch "
                                 "validation NLL (MNIST: the papers' 50,000 / 10,000 split); "
                                 "0: none (CIFAR-10's standard protocol trains on all 50,000)")
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
        train = TRAIN_IMAGES[self.dataset]
        if not 0 <= self.validation_size < train:
            raise UserError(f"--validation_size must be in [0, {train - 1}] for --dataset "
                            f"{self.dataset}; got {self.validation_size}")
        if self.dataset == "cifar10" and self.output == "bernoulli":
            raise UserError("--dataset cifar10 needs an 8-bit output: --output softmax256 or "
                            "logistic_mixture (bernoulli is for binarised MNIST)")
        if self.model != "gated_pixelcnn" and self.conditional:
            raise UserError(f"--conditional is for --model gated_pixelcnn; got --model "
                            f"{self.model}")
        if self.num_mixtures < 1:
            raise UserError(f"--num_mixtures must be >= 1; got {self.num_mixtures}")
        colours = 3 if self.dataset == "cifar10" else 1
        if self.output != "logistic_mixture" and self.filters % colours:
            raise UserError(f"--filters must be a multiple of the {colours} colours (one group "
                            f"of features per colour); got {self.filters}")
        if not 0 <= self.test_images <= 10000:
            raise UserError(f"--test_images must be in [0, 10000] (0: all); got {self.test_images}")
        if self.sample_images < 0 or self.completion_images < 0:
            raise UserError("--sample_images and --completion_images must be >= 0")
