"""Settings of the image-captioning task (kept apart from Keras: the CLI reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from kerasseq.config import RunConfig, param
from kerasseq.errors import UserError

# kerasseq.models.captioning.CAPTION_MODELS, without importing Keras (a test keeps them equal).
CAPTION_MODELS = ("showtell", "attend")
# kerasseq.models.captioning.CAPTION_ENCODERS, without importing Keras.
CAPTION_ENCODERS = ("resnet", "vit", "swin")


class ImageEncoderSettings:
    """The image-encoder settings shared by the captioning and VQA settings: parsing of
    ``encoder_filters`` / ``encoder_blocks`` and their checks against ``encoder``,
    ``image_size``, ``freeze_encoder`` and ``encoder_weights``."""

    def stages(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``(filters, blocks)`` of the encoder stages, parsed."""
        try:
            filters = tuple(int(v) for v in self.encoder_filters.split(","))
            blocks = tuple(int(v) for v in self.encoder_blocks.split(","))
        except ValueError:
            raise UserError(f"--encoder_filters and --encoder_blocks expect comma-separated "
                            f"integers; got {self.encoder_filters!r} and {self.encoder_blocks!r}")
        if not filters or min(filters + blocks) < 1:
            raise UserError("--encoder_filters and --encoder_blocks entries must be >= 1")
        return filters, blocks

    def check_encoder(self) -> None:
        """A UserError naming the setting when the encoder settings do not fit together."""
        filters, blocks = self.stages()
        if len(filters) != len(blocks):
            raise UserError(f"--encoder_filters and --encoder_blocks need one entry per stage; got "
                            f"{self.encoder_filters!r} and {self.encoder_blocks!r}")
        stride = 4 * 2 ** (len(filters) - 1) if self.encoder == "resnet" else 16
        if self.image_size % stride:
            raise UserError(f"--image_size {self.image_size} must be a multiple of the encoder's "
                            f"output stride {stride}")
        if self.freeze_encoder and not self.encoder_weights:
            raise UserError("--freeze_encoder needs --encoder_weights (a fixed random encoder "
                            "would be meaningless)")


@dataclass(frozen=True)
class CaptioningConfig(RunConfig, ImageEncoderSettings):
    """Settings of Flickr8k captioning (defaults: Show, Attend and Tell with soft attention,
    encoder trained from scratch, sized for a CPU)."""

    epochs: int = param(10, "at most this many passes over the 6,000 training images (×5 captions)")
    patience: int = param(3, "stop after this many epochs without a better dev CIDEr (greedy); "
                          "the best epoch's weights are kept")
    learning_rate: float = param(1e-3, "Adam learning rate (cosine-decayed to 10% over the run)")
    model: str = param("attend", "attend: Show, Attend and Tell, soft attention (Xu et al. 2015); "
                       "showtell: Show and Tell (Vinyals et al. 2015)", choices=CAPTION_MODELS)
    image_size: int = param(128, "side of the crops the encoder sees (random in training, centred "
                            "in evaluation)")
    resize: int = param(144, "images are first resized to this side (the crop is taken from it)")
    encoder: str = param("resnet", "resnet: a small ResNet; vit: a 4-block ViT (16-pixel patches); "
                         "swin: a 2+2+2-block Swin (windows of 4); all trained from scratch",
                         choices=CAPTION_ENCODERS)
    encoder_filters: str = param("32,64,128", "channels of the ResNet encoder's stages (output "
                                 "stride 4·2^(stages−1): 8×8 annotation vectors at 128 pixels)")
    encoder_blocks: str = param("2,2,2", "residual blocks per encoder stage")
    encoder_weights: str = param("", "start the encoder from these weights: a captioning run's "
                                 ".keras model (its encoder) or a .weights.h5 of the encoder; "
                                 "empty: from scratch")
    freeze_encoder: bool = param(False, "keep the encoder fixed (a decoder trained on fixed features)")
    embedding_dim: int = param(128, "word embedding size (and Show and Tell's image embedding)")
    units: int = param(256, "LSTM state size")
    attention_units: int = param(256, "attend: hidden size of the attention MLP")
    image_as: str = param("input", "showtell: the image as the LSTM's first input (the paper) or "
                          "its initial state", choices=("input", "state"))
    gate: bool = param(True, "attend: the gating scalar β (Xu et al. §4.2.1)")
    regularizer: float = param(1.0, "attend: λ of the doubly stochastic attention regulariser; 0 off")
    word_detection: float = param(0.0, "λ of an auxiliary encoder loss: predict which words an "
                                  "image's captions contain (Fang et al. 2015); 0 off")
    dropout: float = param(0.3, "decoder dropout (embeddings and output layer)")
    batch_size: int = param(32, "images per batch (each with its five captions)")
    min_count: int = param(5, "keep training words seen at least this often")
    caption_length: int = param(22, "most words per caption, <end> included (99% of Flickr8k's "
                                "captions fit in 22)")
    beam_width: int = param(3, "beam search width of the reported captions; 1 is greedy")
    length_penalty: float = param(0.6, "α of GNMT's length normalisation in beam search")
    max_train_images: int = param(0, "train on the first N training images; 0 uses all 6,000")
    max_eval_images: int = param(0, "score the first N dev/test images; 0 uses all 1,000")
    plots: int = param(4, "test images drawn with their caption, references and attention maps")

    def __post_init__(self):
        super().__post_init__()
        for name in ("patience", "image_size", "resize", "embedding_dim", "units",
                     "attention_units", "batch_size", "min_count", "beam_width"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        for name in ("max_train_images", "max_eval_images", "plots"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} must be >= 0; got {getattr(self, name)}")
        if self.caption_length < 2:
            raise UserError(f"--caption_length must be >= 2; got {self.caption_length}")
        if self.resize < self.image_size:
            raise UserError(f"--resize ({self.resize}) must be >= --image_size ({self.image_size})")
        if not 0 <= self.dropout < 1:
            raise UserError(f"--dropout must be in [0, 1); got {self.dropout}")
        if self.regularizer < 0 or self.length_penalty < 0 or self.word_detection < 0:
            raise UserError("--regularizer, --length_penalty and --word_detection must be >= 0")
        self.check_encoder()
