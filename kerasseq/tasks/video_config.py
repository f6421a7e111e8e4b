"""Settings of the video action-classification task (kept apart from Keras: the CLI reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from kerasseq.config import RunConfig, param
from kerasseq.errors import UserError

# kerasseq.models.video.VIDEO_MODELS, without importing Keras (a test keeps them equal).
VIDEO_MODELS = ("rnn", "convlstm", "frames")
# kerasseq.data.weizmann.ACTORS, without importing NumPy (a test checks them against the file).
WEIZMANN_ACTORS = ("daria", "denis", "eli", "ido", "ira", "lena", "lyova", "moshe", "shahar")


@dataclass(frozen=True)
class VideoConfig(RunConfig):
    """Settings of Weizmann action classification on silhouettes, leave one actor out
    (defaults: the README's CNN + LSTM run, sized for a 2-core CPU)."""

    epochs: int = param(30, "passes over the training videos (--clips_per_video random clips each)")
    learning_rate: float = param(2e-3, "Adam learning rate (cosine-decayed to 10% over the run)")
    model: str = param("rnn", "rnn: per-frame CNN -> LSTM/GRU (LRCN, Donahue et al. 2015); "
                       "convlstm: CNN feature maps -> ConvLSTM (Shi et al. 2015); frames: the "
                       "per-frame CNN with its scores averaged over the clip (no temporal model)",
                       choices=VIDEO_MODELS)
    fold: int = param(-1, "held-out actor (0-8: daria, denis, eli, ido, ira, lena, lyova, "
                      "moshe, shahar); -1 runs all nine folds and reports the mean")
    second_repetitions: bool = param(False, "keep lena's second run, skip and walk (93 videos; "
                                     "the standard protocol has 90)")
    clip_length: int = param(16, "frames per clip the model sees")
    frame_step: int = param(2, "take every N-th frame (2: a clip of 16 spans 31 frames, 1.2 s)")
    clips_per_video: int = param(4, "random training clips drawn from each video per epoch")
    eval_stride: int = param(8, "evaluation: frames between the starts of consecutive clips "
                             "(the last clip ends at the video's end); a video's scores are the "
                             "mean of its clips'")
    flip: bool = param(True, "mirror training clips left-right with probability 1/2")
    shift: int = param(4, "translate training clips by up to this many pixels each way")
    batch_size: int = param(16, "clips per batch")
    filters: str = param("16,32,64,64", "channels of the per-frame CNN's stride-2 3×3 stages "
                         "(4 stages: 64×64 -> 4×4)")
    features: int = param(128, "rnn/frames: per-frame feature width (a dense layer over the "
                          "flattened last stage)")
    dropout: float = param(0.3, "dropout on the per-frame features and before the classifier")
    cell: str = param("lstm", "rnn: recurrent unit", choices=("lstm", "gru"))
    units: int = param(64, "rnn: recurrent width per direction")
    depth: int = param(1, "rnn: stacked recurrent layers")
    bidirectional: bool = param(False, "rnn: read clips in both directions")
    convlstm_filters: int = param(32, "convlstm: channels of the ConvLSTM state")
    kernel_size: int = param(3, "convlstm: ConvLSTM kernel size")
    recurrent_layer: str = param("kerasseq", "convlstm: kerasseq: kerasseq.layers.ConvLSTM "
                                 "(input convolutions before the time loop); keras: "
                                 "keras.layers.ConvLSTM2D (the same math)",
                                 choices=("kerasseq", "keras"))

    def __post_init__(self):
        super().__post_init__()
        for name in ("clip_length", "frame_step", "clips_per_video", "eval_stride", "batch_size",
                     "features", "units", "depth", "convlstm_filters", "kernel_size"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        if not -1 <= self.fold < len(WEIZMANN_ACTORS):
            raise UserError(f"--fold must be -1 (all) or in [0, {len(WEIZMANN_ACTORS) - 1}] (the "
                            f"held-out actor); got {self.fold}")
        if self.shift < 0 or self.shift >= 32:
            raise UserError(f"--shift must be in [0, 31] pixels; got {self.shift}")
        if not 0 <= self.dropout < 1:
            raise UserError(f"--dropout must be in [0, 1); got {self.dropout}")
        self.filter_list  # checks --filters

    @property
    def filter_list(self) -> tuple[int, ...]:
        """``--filters`` parsed."""
        try:
            filters = tuple(int(f) for f in self.filters.split(","))
        except ValueError:
            filters = ()
        if not filters or min(filters) < 1 or len(filters) > 6:
            raise UserError(f"--filters must be 1 to 6 positive integers separated by commas, "
                            f"e.g. 16,32,64,64; got {self.filters!r}")
        return filters
