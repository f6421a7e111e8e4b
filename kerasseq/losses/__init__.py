"""Losses that Keras lacks (backend-agnostic): the linear-chain CRF's negative
log-likelihood. Sparse categorical cross-entropy from Keras serves the language models."""

from kerasseq.losses.crf import CRFNegativeLogLikelihood
from kerasseq.losses.smoothing import SmoothedSparseCrossEntropy
from kerasseq.losses.detr import DETRLoss, DETRSetLoss
from kerasseq.losses.centernet import CenterNetLoss, centernet_focal_loss, render_centernet_targets
from kerasseq.losses.nowcasting import BalancedMSEMAE
from kerasseq.losses.bivariate import (BivariateGaussianNLL, bivariate_gaussian_nll,
                                       bivariate_gaussian_params, sample_bivariate_gaussian)
from kerasseq.losses.quantile import PinballLoss
from kerasseq.losses.treebank import RootCrossEntropy
from kerasseq.losses.mixture_density import (MixtureDensityNLL, mixture_density_nll,
                                             mixture_density_params, num_mixture_components,
                                             sample_mixture_density)
from kerasseq.losses.pixelcnn import (DiscretizedLogisticMixtureNLL,
                                      discretized_logistic_mixture_log_prob,
                                      discretized_logistic_mixture_nll, ImageNLL, image_nll,
                                      sample_discretized_logistic_mixture)
