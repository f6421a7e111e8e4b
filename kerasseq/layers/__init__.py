"""Keras layers and cells (``keras.ops`` only; TensorFlow and JAX backends).

Every public layer is registered under the ``kerasseq`` package for ``.keras`` save/load.
Recurrent cells (leaky-integrator units, MUT1-3, a time-delay Elman cell) are Keras RNN
cells: run them with ``keras.layers.RNN(cell)``, as :func:`kerasseq.models.build_stacked_rnn`
runs Keras core recurrent layers; ``ConvLSTM`` is ``keras.layers.ConvLSTM2D``'s math with the
input convolutions out of the time loop (a whole-sequence layer, not a cell); new attention
layers land here.
"""

from kerasseq.layers.characters import CharacterEncoder
from kerasseq.layers.conv_lstm import ConvLSTM
from kerasseq.layers.drop_path import StochasticDepth
from kerasseq.layers.frames import DepthToSpace, EmptyFrames, LogScaling, SpaceToDepth
from kerasseq.layers.social import OccupancyPooling, SocialPooling, social_grid_mask
from kerasseq.layers.social_lstm import SocialLSTM, TrajectoryRollout
from kerasseq.layers.crf import CRF, crf_log_likelihood, crf_log_partition, crf_path_score, viterbi_decode
from kerasseq.layers.masking import ZeroMasked
from kerasseq.layers.maxout import Maxout
from kerasseq.layers.mut_cells import MUT1Cell, MUT2Cell, MUT3Cell
from kerasseq.layers.recurrent_cells import LeakyUnitCell, TimeDelayCell
from kerasseq.layers.attention_decoder import AttentionDecoderCell, AttentionRNN
from kerasseq.layers.attention import (BahdanauAttention, LuongAttention, causal_mask,
                                       masked_softmax, scaled_dot_product_attention)
from kerasseq.layers.positional import PositionEmbedding, SinusoidalPositionalEncoding, sinusoidal_encoding
from kerasseq.layers.transformer import TransformerDecoderBlock, TransformerEncoderBlock
from kerasseq.layers.vit import ClassTokenPositionEmbedding, PatchEmbedding, TokenPooling
from kerasseq.layers.swin import (PatchMerging, SwinBlock, WindowAttention, relative_position_index,
                                  shifted_window_mask, shifted_window_regions, window_partition,
                                  window_reverse)
from kerasseq.layers.swinv2 import PatchMergingV2, SwinV2Block, WindowAttentionV2, relative_coords_table
from kerasseq.layers.detr import (DETRDecoderLayer, DETREncoderLayer, ObjectQueries,
                                  SinePositionEmbedding2D, sine_position_encoding_2d)
from kerasseq.layers.forecasting import PatchTSTEncoder, ReversibleInstanceNorm, SeriesDecomposition, num_patches
from kerasseq.layers.narx import NARX, RNNEncoderDecoder
from kerasseq.layers.tree import BinaryTreeLSTM, RecursiveNN, RNTN, evaluate_tree_levels
from kerasseq.layers.captioning import ShowAndTellDecoder, SoftAttentionDecoder
from kerasseq.layers.word_detector import WordDetectionLoss
from kerasseq.layers.vqa import ImageAsWords
from kerasseq.layers.video import PerFrame
from kerasseq.layers.mixture_density import MixtureDensityHead
from kerasseq.layers.derivative_clipping import DerivativeClippedLSTMCell, GradientClip, clip_gradient
from kerasseq.layers.soft_window import SoftWindow, SoftWindowLSTM, one_hot_characters, window_weights
from kerasseq.layers.pixelcnn import GatedPixelCNNBlock, MaskedConv2D, color_groups, pixelcnn_mask
from kerasseq.layers.pixelrnn import DiagonalBiLSTM, RowLSTM
