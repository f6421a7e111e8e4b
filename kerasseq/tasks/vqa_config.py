"""Settings of the visual question answering task (kept apart from Keras: the CLI reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from kerasseq.config import RunConfig, param
from kerasseq.errors import UserError
from kerasseq.tasks.captioning_config import CAPTION_ENCODERS, ImageEncoderSettings

# kerasseq.models.vqa.VQA_MODELS, without importing Keras (a test keeps them equal).
VQA_MODELS = ("vis_lstm", "2vis_blstm", "attention", "question_only", "image_only")


@dataclass(frozen=True)
class VQAConfig(RunConfig, ImageEncoderSettings):
    """Settings of DAQUAR question answering (defaults: VIS+LSTM on the reduced set, a small
    CNN trained from scratch, sized for a CPU)."""

    epochs: int = param(15, "at most this many passes over the training questions")
    patience: int = param(5, "stop after this many epochs without a better validation accuracy; "
                          "the best epoch's weights are kept")
    learning_rate: float = param(1e-3, "Adam learning rate (cosine-decayed to 10% over the run)")
    question_set: str = param("reduced", "reduced: DAQUAR's 37-class set (3,876 / 297 pairs); "
                              "full: the 894-class set (6,795 / 5,673)", choices=("reduced", "full"))
    model: str = param("vis_lstm", "vis_lstm: VIS+LSTM; 2vis_blstm: 2-VIS+BLSTM (Ren et al. 2015); "
                       "attention: the question attends over the CNN grid (Xu et al. 2015's soft "
                       "attention); question_only, image_only: baselines", choices=VQA_MODELS)
    image_size: int = param(64, "side of the square images the CNN sees (DAQUAR's are 169 × 128)")
    encoder: str = param("resnet", "resnet, vit or swin, trained from scratch (as captioning's)",
                         choices=CAPTION_ENCODERS)
    encoder_filters: str = param("16,32,64", "channels of the ResNet's stages (output stride "
                                 "4·2^(stages−1): a 4 × 4 grid at 64 pixels)")
    encoder_blocks: str = param("1,1,1", "residual blocks per ResNet stage")
    encoder_weights: str = param("", "start the encoder from a .weights.h5 file of it (or a "
                                 "captioning or vqa run's .keras model's encoder); empty: scratch")
    freeze_encoder: bool = param(False, "keep the encoder fixed (needs --encoder_weights)")
    shift: int = param(0, "training: translate the images by up to this many pixels (random "
                       "crops of the edge-padded image; no flips: questions say left and right)")
    embedding_dim: int = param(64, "word embedding size (and the projected image's)")
    units: int = param(128, "LSTM state size (per direction for 2vis_blstm)")
    attention_units: int = param(64, "attention: hidden size of the attention MLP")
    dropout: float = param(0.3, "dropout on the word embeddings and before the softmax layer")
    image_dropout: float = param(0.0, "dropout on the CNN's features (against memorising the "
                                 "training images)")
    batch_size: int = param(32, "questions per batch")
    question_length: int = param(32, "most words per question (DAQUAR's longest has 31)")
    min_count: int = param(1, "keep question words seen at least this often in training")
    validation_fraction: float = param(0.1, "share of the training images (with all their "
                                       "questions) held out for validation")
    plots: int = param(8, "test questions drawn with their image, predicted and true answer")

    def __post_init__(self):
        super().__post_init__()
        for name in ("patience", "image_size", "embedding_dim", "units", "attention_units",
                     "batch_size", "question_length", "min_count"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        for name in ("plots", "shift"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} must be >= 0; got {getattr(self, name)}")
        for name in ("dropout", "image_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise UserError(f"--{name} must be in [0, 1); got {getattr(self, name)}")
        if not 0 < self.validation_fraction < 1:
            raise UserError(f"--validation_fraction must be in (0, 1); got {self.validation_fraction}")
        self.check_encoder()
