"""Task metrics that Keras lacks (backend-agnostic)."""

from kerasseq.metrics.information import BitsPerToken, nats_to_bits
from kerasseq.metrics.entities import entity_scores
from kerasseq.metrics.coco import coco_evaluate
from kerasseq.metrics.captions import caption_scores
from kerasseq.metrics.nowcasting import RADAR_THRESHOLDS, NowcastScores, binary_cross_entropy, ssim
from kerasseq.metrics.trajectories import best_of, displacement_errors
from kerasseq.metrics.sentiment import PhraseAccuracy, RootAccuracy, root_labels
from kerasseq.metrics.mixture_density import MixtureDensityNatsPerSequence
