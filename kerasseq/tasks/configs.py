"""The settings of every task: one frozen dataclass each, with commented defaults.

Kept apart from the task modules so the CLI can check parameters (and answer ``--help``)
without importing Keras or TensorFlow. The registry in ``kerasseq.tasks`` names each task's
settings class.
"""

from __future__ import annotations

from dataclasses import dataclass

from kerasseq.config import RunConfig, param
from kerasseq.errors import UserError
from kerasseq.search_space import choice, float_range, int_range

# kerasseq.models.recurrent.CELL_NAMES, without importing Keras (a test keeps the two equal).
RECURRENT_CELLS = ("delay", "gru", "leaky", "lstm", "mut1", "mut2", "mut3", "rnn")


@dataclass(frozen=True)
class CharLMConfig(RunConfig):
    """Settings of the character language model (defaults: the README's reported run)."""

    epochs: int = param(14, "passes over the training text")
    learning_rate: float = param(3e-3, "Adam learning rate (cosine-decayed to 10% over the run)")
    cell: str = param("lstm", "recurrent unit", choices=RECURRENT_CELLS)
    units: int = param(384, "width of every recurrent layer")
    depth: int = param(2, "number of stacked recurrent layers")
    embedding_dim: int = param(64, "character embedding width")
    dropout: float = param(0.15, "dropout after the embedding and between layers")
    batch_size: int = param(32, "parallel streams of text (rows per batch)")
    seq_len: int = param(100, "characters per truncated-BPTT chunk")
    max_chars: int = param(0, "use only the first N training characters; 0 uses all")
    sample_chars: int = param(400, "length of the samples written during training")
    temperature: float = param(0.8, "sampling temperature of the training-time samples")

    # `kerasseq tune charlm` (kerasseq.search_space): validation bits per character, the only
    # held-out text, so the tuned figure is optimistic.
    SEARCH_SPACE = {
        "cell": choice("lstm", "gru"),
        "learning_rate": float_range(1e-3, 1e-2, log=True),
        "units": choice(128, 256, 384, 512),
        "depth": int_range(1, 3),
        "embedding_dim": choice(32, 64, 128),
        "dropout": choice(0.0, 0.1, 0.15, 0.25),
    }
    SEARCH_OBJECTIVE = ("val_bits_per_char", "min")

    def __post_init__(self):
        super().__post_init__()
        for name in ("units", "depth", "embedding_dim", "batch_size", "seq_len"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise UserError(f"--dropout must be in [0, 1); got {self.dropout}")
        if self.max_chars < 0 or self.sample_chars < 0 or self.temperature <= 0:
            raise UserError("--max_chars and --sample_chars must be >= 0 and --temperature > 0")


@dataclass(frozen=True)
class SentenceClassificationConfig(RunConfig):
    """Settings of MR sentence classification (defaults: Kim's CNN-rand, 10-fold CV)."""

    epochs: int = param(10, "at most this many passes over the training folds")
    patience: int = param(2, "stop after this many epochs without a better dev accuracy")
    learning_rate: float = param(1e-3, "Adam learning rate (cosine-decayed to 10% over the run)")
    model: str = param("cnn", "cnn: Kim 2014's CNN; rnn: recurrent many-to-one classifier",
                       choices=("cnn", "rnn"))
    folds: int = param(10, "cross-validation folds")
    fold: int = param(-1, "train only this fold (0-based); -1 runs every fold and reports mean ± std")
    batch_size: int = param(50, "sentences per batch")
    max_len: int = param(64, "tokens per sentence (longer ones are cut; MR's longest has 59)")
    min_count: int = param(1, "keep words seen at least this often in the training folds")
    embedding_dim: int = param(300, "word embedding width (learned from scratch: CNN-rand)")
    dropout: float = param(0.5, "dropout on the sentence features (and, for rnn, the embeddings)")
    filter_sizes: str = param("3,4,5", "cnn: comma-separated window sizes")
    filters: int = param(100, "cnn: feature maps per window size")
    max_norm: float = param(3.0, "cnn: l2 max-norm of the output weight vectors; 0 disables it")
    cell: str = param("lstm", "rnn: recurrent unit", choices=RECURRENT_CELLS)
    units: int = param(100, "rnn: recurrent width per direction")
    depth: int = param(1, "rnn: stacked recurrent layers")
    bidirectional: bool = param(True, "rnn: read sentences in both directions")
    pooling: str = param("mean", "rnn: sentence vector from the last state or the mean over words",
                         choices=("last", "mean"))
    recurrent_dropout: float = param(0.0, "rnn: dropout on the recurrent connections")

    # `kerasseq tune mr` (kerasseq.search_space): trials train on one fold and are judged on
    # its dev set (10% of the training folds, the early-stopping set), never its test fold;
    # the chosen settings then get the 10-fold cross-validation.
    SEARCH_SPACE = {
        "model": choice("cnn", "rnn"),
        "learning_rate": float_range(3e-4, 3e-3, log=True),
        "dropout": choice(0.3, 0.4, 0.5, 0.6),
        "embedding_dim": choice(64, 128, 300),
        "filters": choice(50, 100, 200, when={"model": "cnn"}),
        "units": choice(50, 100, 200, when={"model": "rnn"}),
    }
    SEARCH_OBJECTIVE = ("dev_accuracy", "max")
    SEARCH_SETTINGS = {"fold": 0}

    def __post_init__(self):
        super().__post_init__()
        for name in ("folds", "batch_size", "max_len", "min_count", "embedding_dim", "filters",
                     "units", "depth", "patience"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        if self.folds < 2:
            raise UserError(f"--folds must be >= 2; got {self.folds}")
        if not -1 <= self.fold < self.folds:
            raise UserError(f"--fold must be -1 (all) or in [0, {self.folds - 1}]; got {self.fold}")
        try:
            sizes = [int(h) for h in self.filter_sizes.split(",")]
        except ValueError:
            sizes = []
        if not sizes or min(sizes) < 1:
            raise UserError(f"--filter_sizes must be comma-separated integers >= 1; got {self.filter_sizes!r}")
        for name in ("dropout", "recurrent_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise UserError(f"--{name} must be in [0, 1); got {getattr(self, name)}")
        if self.max_norm < 0:
            raise UserError(f"--max_norm must be >= 0; got {self.max_norm}")


TRANSLATION_MODELS = ("seq2seq", "bahdanau", "luong", "transformer")


@dataclass(frozen=True)
class TranslationConfig(RunConfig):
    """Settings of Multi30k English→German translation (defaults: the Bahdanau GRU run)."""

    epochs: int = param(12, "passes over the training pairs")
    learning_rate: float = param(
        1e-3, "Adam learning rate; with --lr_schedule inverse_sqrt, the peak reached after warm-up")
    lr_schedule: str = param(
        "cosine", "constant; cosine decay to 10% over all epochs; or inverse_sqrt: the "
        "Transformer's linear warm-up then decay ∝ 1/√step", choices=("constant", "cosine", "inverse_sqrt"))
    warmup_steps: int = param(800, "inverse_sqrt: steps of linear warm-up")
    model: str = param("bahdanau", "seq2seq: no attention (Sutskever et al.); bahdanau: BiGRU "
                       "encoder + additive attention; luong: general attention; transformer",
                       choices=TRANSLATION_MODELS)
    vocabulary_size: int = param(8000, "SentencePiece BPE pieces per language (learnt on train)")
    batch_size: int = param(64, "sentence pairs per batch")
    max_length: int = param(64, "longest training pair in subwords (longer ones are dropped)")
    embedding_dim: int = param(256, "rnn models: word embedding width")
    units: int = param(256, "rnn models: decoder width and encoder width per direction")
    cell: str = param("gru", "rnn models: recurrent unit", choices=("gru", "lstm", "rnn"))
    num_layers: int = param(3, "transformer: encoder and decoder blocks")
    d_model: int = param(256, "transformer: model width")
    num_heads: int = param(8, "transformer: attention heads")
    intermediate_dim: int = param(1024, "transformer: feed-forward width")
    norm_first: bool = param(False, "transformer: pre-LN blocks instead of the paper's post-LN")
    dropout: float = param(0.2, "dropout (transformer: on embeddings and sub-layer outputs)")
    label_smoothing: float = param(0.0, "ε of label-smoothed cross-entropy (the Transformer's 0.1)")
    beam_width: int = param(4, "beam search width for BLEU (1 = greedy)")
    length_penalty: float = param(0.6, "α of GNMT's length penalty in beam search")
    eval_batch_size: int = param(64, "sentences decoded at once in evaluation")
    max_eval_sentences: int = param(
        0, "translate only the first N validation and test sentences for BLEU (a quick look, not "
        "the protocol); 0 translates all 1,014 / 1,000")

    def __post_init__(self):
        super().__post_init__()
        for name in ("warmup_steps", "batch_size", "embedding_dim", "units", "num_layers",
                     "d_model", "num_heads", "intermediate_dim", "beam_width", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        if self.max_eval_sentences < 0:
            raise UserError(f"--max_eval_sentences must be >= 0 (0: all); got {self.max_eval_sentences}")
        if self.vocabulary_size < 300:
            raise UserError(f"--vocabulary_size must be >= 300 (4 special and 256 byte pieces "
                            f"plus subwords); got {self.vocabulary_size}")
        if self.max_length < 2:
            raise UserError(f"--max_length must be >= 2; got {self.max_length}")
        if self.d_model % self.num_heads:
            raise UserError(f"--d_model ({self.d_model}) must be divisible by --num_heads ({self.num_heads})")
        for name in ("dropout", "label_smoothing"):
            if not 0 <= getattr(self, name) < 1:
                raise UserError(f"--{name} must be in [0, 1); got {getattr(self, name)}")
        if self.length_penalty < 0:
            raise UserError(f"--length_penalty must be >= 0; got {self.length_penalty}")


IMAGE_MODELS = ("vit", "swin", "swinv2", "resnet")
IMAGE_DATASETS = ("cifar10", "mnist", "fashion-mnist")  # kerasseq.data.images.DATASETS
IMAGE_SIZES = ("tiny", "small", "base")  # kerasseq.tasks.image_classification.PRESETS


@dataclass(frozen=True)
class ImageClassificationConfig(RunConfig):
    """Settings of image classification with ViT / Swin / Swin V2 trained from scratch
    (defaults: the small models and the recipe of the README's runs)."""

    epochs: int = param(30, "passes over the training images")
    learning_rate: float = param(1e-3, "AdamW peak learning rate (after the warm-up)")
    lr_schedule: str = param(
        "warmup_cosine", "constant; cosine decay to 10%; or warmup_cosine: linear warm-up over "
        "--warmup_epochs then cosine decay to 0", choices=("constant", "cosine", "warmup_cosine"))
    warmup_epochs: float = param(3.0, "warmup_cosine: epochs of linear warm-up")
    weight_decay: float = param(0.05, "AdamW decoupled weight decay (not on biases and norms)")
    clipnorm: float = param(1.0, "clip gradients to this global norm; 0 disables clipping")
    model: str = param("vit", "vit: Vision Transformer; swin: Swin Transformer; swinv2: Swin V2; "
                       "resnet: the small ResNet of captioning and VQA (pretrains their encoder)",
                       choices=IMAGE_MODELS)
    dataset: str = param("cifar10", "cifar10 (a JPEG copy of the official images), mnist, "
                         "fashion-mnist", choices=IMAGE_DATASETS)
    size: str = param("small", "model size preset (see the README's table of presets)",
                      choices=IMAGE_SIZES)
    image_size: int = param(32, "model input size (MNIST's 28×28 images are zero-padded)")
    batch_size: int = param(128, "images per batch")
    validation_size: int = param(5000, "training images held out for model selection (the "
                                 "test split is only used for the reported accuracy)")
    label_smoothing: float = param(0.1, "ε of label-smoothed cross-entropy")
    drop_path_rate: float = param(0.1, "stochastic depth rate of the last block (linear in "
                                   "depth; ViT and Swin: the ResNet has none)")
    dropout: float = param(0.0, "dropout before the classifier head")
    crop_padding: int = param(4, "random crop of the zero-padded image (0: no crop)")
    randaugment: bool = param(False, "RandAugment (keras.layers.RandAugment) on training batches")
    mixup: float = param(0.0, "MixUp alpha (0: off)")
    cutmix: float = param(0.0, "CutMix alpha (0: off)")

    def __post_init__(self):
        super().__post_init__()
        for name in ("image_size", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        for name in ("validation_size", "crop_padding", "warmup_epochs", "weight_decay", "mixup",
                     "cutmix"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} must be >= 0; got {getattr(self, name)}")
        for name in ("label_smoothing", "drop_path_rate", "dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise UserError(f"--{name} must be in [0, 1); got {getattr(self, name)}")
        if self.lr_schedule == "warmup_cosine" and self.warmup_epochs >= self.epochs:
            raise UserError(f"--warmup_epochs ({self.warmup_epochs}) must be less than --epochs "
                            f"({self.epochs})")


DETECTION_MODELS = ("detr", "centernet")  # kerasseq.tasks.detection.DETECTORS


@dataclass(frozen=True)
class DetectionConfig(RunConfig):
    """Settings of object detection on multi-digit MNIST canvases: DETR, or the centre-heatmap
    baseline on the same backbone (defaults: the README's DETR run)."""

    epochs: int = param(30, "passes of --train_canvases fresh canvases each")
    learning_rate: float = param(1e-3, "AdamW peak learning rate (after the warm-up)")
    lr_schedule: str = param(
        "warmup_cosine", "constant; cosine decay to 10%; or warmup_cosine: linear warm-up over "
        "--warmup_epochs then cosine decay to 0", choices=("constant", "cosine", "warmup_cosine"))
    warmup_epochs: float = param(1.0, "warmup_cosine: epochs of linear warm-up")
    weight_decay: float = param(1e-4, "AdamW decoupled weight decay (DETR: 1e-4)")
    clipnorm: float = param(0.1, "clip gradients to this global norm (DETR: 0.1); 0 disables")
    model: str = param("detr", "detr: DETR with the Hungarian set loss; centernet: the "
                       "centre-heatmap baseline on the same backbone", choices=DETECTION_MODELS)
    batch_size: int = param(32, "canvases per batch")
    train_canvases: int = param(8000, "fresh training canvases per epoch (drawn on the fly)")
    validation_canvases: int = param(500, "fixed validation canvases (held-out training digits)")
    test_canvases: int = param(2000, "fixed test canvases (MNIST test digits) for the reported AP")
    max_objects: int = param(6, "at most this many digits per canvas (at least one)")
    d_model: int = param(64, "DETR: width of the Transformer")
    num_heads: int = param(4, "DETR: attention heads")
    encoder_layers: int = param(2, "DETR: Transformer encoder layers")
    decoder_layers: int = param(2, "DETR: Transformer decoder layers")
    intermediate_dim: int = param(128, "DETR: width of the feed-forward networks")
    num_queries: int = param(10, "DETR: object queries (predictions per canvas)")
    dropout: float = param(0.0, "DETR: dropout in the Transformer (the paper: 0.1, which kept "
                          "every query alike through our CPU budgets)")
    aux_loss: bool = param(True, "DETR: the set loss on every decoder layer (False: last only)")
    giou_weight: float = param(2.0, "DETR: weight of the GIoU term in the matching cost and the "
                               "loss (0: the paper's ablation without it)")
    eval_every: int = param(1, "COCO AP on the validation canvases every N epochs (0: never)")

    def __post_init__(self):
        super().__post_init__()
        for name in ("batch_size", "train_canvases", "validation_canvases", "test_canvases",
                     "max_objects", "d_model", "num_heads", "encoder_layers", "decoder_layers",
                     "intermediate_dim", "num_queries"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        for name in ("warmup_epochs", "weight_decay", "giou_weight", "eval_every"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} must be >= 0; got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise UserError(f"--dropout must be in [0, 1); got {self.dropout}")
        if self.num_queries < self.max_objects:
            raise UserError(f"--num_queries ({self.num_queries}) must be at least --max_objects "
                            f"({self.max_objects}): each object needs its own query")
        if self.d_model % self.num_heads or self.d_model % 4:
            raise UserError(f"--d_model ({self.d_model}) must be a multiple of 4 and of "
                            f"--num_heads ({self.num_heads})")
        if self.train_canvases < self.batch_size:
            raise UserError(f"--train_canvases ({self.train_canvases}) must be at least "
                            f"--batch_size ({self.batch_size})")
        if self.lr_schedule == "warmup_cosine" and self.warmup_epochs >= self.epochs:
            raise UserError(f"--warmup_epochs ({self.warmup_epochs}) must be less than --epochs "
                            f"({self.epochs})")


NOWCAST_DATASETS = ("movingmnist", "radar")
# kerasseq.models.nowcasting.RECURRENT_LAYERS, without importing Keras (a test keeps them equal).
NOWCAST_RECURRENT_LAYERS = ("keras", "kerasseq")
# kerasseq.data.radar.DEFAULT_TEST_EVENTS / RADAR_EVENTS, without importing NumPy.
RADAR_TEST_EVENTS = "mch/20150515,fmi/20160928"
RADAR_EVENT_NAMES = ("mch/20150515", "mch/20160711", "mch/20170131", "fmi/20160928", "fmi/20170509")


@dataclass(frozen=True)
class NowcastConfig(RunConfig):
    """Settings of ConvLSTM nowcasting (Shi et al. 2015) on Moving MNIST or weather radar
    (defaults: the README's Moving MNIST run)."""

    dataset: str = param("movingmnist", "movingmnist: two digits bouncing in 64×64 frames; "
                         "radar: MeteoSwiss and FMI rain rates", choices=NOWCAST_DATASETS)
    epochs: int = param(20, "epochs of --steps_per_epoch batches (the training data is endless)")
    steps_per_epoch: int = param(100, "batches per epoch")
    learning_rate: float = param(1e-3, "Adam learning rate (cosine-decayed to 10% over the run)")
    clipnorm: float = param(1.0, "clip gradients to this global norm; 0 disables clipping")
    input_frames: int = param(0, "J observed frames; 0: the dataset's protocol (Moving MNIST 10, "
                              "radar 6 = 30 min)")
    output_frames: int = param(0, "K predicted frames; 0: the dataset's protocol (Moving MNIST "
                               "10, radar 12 = 60 min)")
    filters: str = param("32,16,16", "filters of each ConvLSTM layer, comma-separated (the "
                         "paper's best: 128,64,64)")
    kernel_size: int = param(5, "ConvLSTM kernel size (the paper's best: 5)")
    patch_size: int = param(4, "patch-to-depth block (4: 64×64×1 -> 16×16×16, as the paper)")
    recurrent_layer: str = param("kerasseq", "kerasseq: kerasseq.layers.ConvLSTM (the input "
                                 "convolutions taken before the time loop; 3.9-5.3x faster on a "
                                 "GPU); keras: keras.layers.ConvLSTM2D, the same math and weights",
                                 choices=NOWCAST_RECURRENT_LAYERS)
    loss: str = param("auto", "auto (movingmnist: bce, radar: balanced), bce: per-pixel "
                      "cross-entropy, mse or mae (radar: on log-scaled rain rate), balanced: "
                      "radar: MSE + MAE weighted by rain intensity (Shi et al. 2017)",
                      choices=("auto", "bce", "mse", "mae", "balanced"))
    batch_size: int = param(16, "sequences per batch")
    validation_sequences: int = param(256, "fixed validation sequences (movingmnist: training "
                                      "digits; radar: at most this many crops of the training "
                                      "events)")
    test_sequences: int = param(10000, "movingmnist: fixed test sequences (MNIST test digits); "
                                "radar: at most this many of the test crops (default: all)")
    crop: int = param(96, "radar: crop side in pixels (a multiple of --patch_size)")
    downsample: int = param(2, "radar: block-average the 1 km grid by this factor (2: 2 km)")
    test_events: str = param(RADAR_TEST_EVENTS, "radar: held-out events, comma-separated")
    samples: int = param(4, "test sequences drawn as frame strips and GIFs")
    baselines: str = param("optical_flow,persistence", "baselines scored and drawn beside the "
                           "ConvLSTM, comma-separated: optical_flow (pysteps), persistence; "
                           "'none' for neither")

    def __post_init__(self):
        super().__post_init__()
        unknown = set(self.baseline_list) - {"optical_flow", "persistence"}
        if unknown or not self.baselines.strip():
            raise UserError(f"--baselines must be optical_flow, persistence, both "
                            f"comma-separated, or none; got {self.baselines!r}")
        for name in ("steps_per_epoch", "kernel_size", "patch_size", "batch_size",
                     "validation_sequences", "test_sequences", "crop", "downsample"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        if self.input_frames < 0 or self.output_frames < 0 or self.samples < 0:
            raise UserError("--input_frames, --output_frames and --samples must be >= 0")
        try:
            filters = [int(f) for f in self.filters.split(",")]
        except ValueError:
            filters = []
        if not filters or min(filters) < 1:
            raise UserError(f"--filters must be positive integers separated by commas, e.g. "
                            f"32,16,16; got {self.filters!r}")
        if self.loss == "balanced" and self.dataset != "radar":
            raise UserError("--loss balanced weights errors by rain rate: it needs --dataset radar")
        if self.crop % self.patch_size:
            raise UserError(f"--crop ({self.crop}) must be a multiple of --patch_size "
                            f"({self.patch_size})")
        events = [e for e in self.test_events.split(",") if e]
        unknown = [e for e in events if e not in RADAR_EVENT_NAMES]
        if unknown or not events or len(events) == len(RADAR_EVENT_NAMES):
            raise UserError(f"--test_events must name some, not all, of {', '.join(RADAR_EVENT_NAMES)}; "
                            f"got {self.test_events!r}")

    @property
    def frames(self) -> tuple[int, int]:
        """(J, K) with the dataset's protocol filled in."""
        default = (10, 10) if self.dataset == "movingmnist" else (6, 12)
        return self.input_frames or default[0], self.output_frames or default[1]

    @property
    def filter_list(self) -> tuple[int, ...]:
        return tuple(int(f) for f in self.filters.split(","))

    @property
    def baseline_list(self) -> tuple[str, ...]:
        names = [b.strip() for b in self.baselines.split(",") if b.strip()]
        return () if names == ["none"] else tuple(names)

    @property
    def loss_name(self) -> str:
        if self.loss != "auto":
            return self.loss
        return "bce" if self.dataset == "movingmnist" else "balanced"


# kerasseq.data.trajectories.SCENES, without importing NumPy.
TRAJECTORY_SCENES = ("eth", "hotel", "univ", "zara1", "zara2")


@dataclass(frozen=True)
class TrajectoryConfig(RunConfig):
    """Settings of pedestrian trajectory prediction on ETH/UCY (defaults: the README's run)."""

    model: str = param("social", "social: S-LSTM (hidden states pooled on a grid), occupancy: "
                       "O-LSTM (neighbour counts), vanilla: an LSTM per pedestrian, no pooling",
                       choices=("social", "occupancy", "vanilla"))
    test_scene: str = param("eth", "held-out scene (train and validate on the other four); all: "
                            "the five folds and the table", choices=(*TRAJECTORY_SCENES, "all"))
    epochs: int = param(10, "passes over the training windows")
    learning_rate: float = param(1e-3, "Adam learning rate (cosine-decayed to 10% over the run)")
    clipnorm: float = param(1.0, "clip gradients to this global norm; 0 disables clipping")
    batch_size: int = param(32, "windows (scenes of 20 frames) per batch")
    units: int = param(128, "LSTM width (the paper's 128)")
    embedding_dim: int = param(64, "width of the displacement and pooled-tensor embeddings")
    grid_size: int = param(4, "cells on a side of the pooling grid (N₀)")
    neighborhood: float = param(4.0, "side of the pooling square in metres")
    augment: bool = param(True, "rotate each training window by a random angle")
    teacher_forcing: bool = param(True, "true: the loss is every next step's NLL given the true "
                                  "past; false: the 12 predicted frames are rolled out from the "
                                  "model's own means during training, as at test (closed loop)")
    samples: int = param(20, "sampled futures per pedestrian for the best-of-N errors")
    max_train_windows: int = param(0, "use at most this many training windows; 0 uses all")
    max_val_windows: int = param(0, "validate on at most this many windows; 0 uses all")
    max_test_windows: int = param(0, "score at most this many test windows; 0 scores all")
    plots: int = param(4, "test windows drawn with their forecasts and next-step densities")

    def __post_init__(self):
        super().__post_init__()
        for name in ("batch_size", "units", "embedding_dim", "grid_size", "samples"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        for name in ("max_train_windows", "max_val_windows", "max_test_windows", "plots"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} must be >= 0; got {getattr(self, name)}")
        if not self.neighborhood > 0:
            raise UserError(f"--neighborhood must be > 0 metres; got {self.neighborhood}")


# Long-horizon forecasting's and the treebank's settings live in their own modules.
from kerasseq.tasks import forecast_config as _forecast  # noqa: E402
from kerasseq.tasks import treebank_config as _treebank  # noqa: E402

ForecastConfig = _forecast.ForecastConfig
FORECAST_DATASETS, FORECAST_MODELS = _forecast.FORECAST_DATASETS, _forecast.FORECAST_MODELS
TreebankConfig, TREE_MODELS = _treebank.TreebankConfig, _treebank.TREE_MODELS
from kerasseq.tasks import captioning_config as _captioning  # noqa: E402

CaptioningConfig, CAPTION_MODELS = _captioning.CaptioningConfig, _captioning.CAPTION_MODELS
from kerasseq.tasks import vqa_config as _vqa  # noqa: E402

VQAConfig, VQA_MODELS = _vqa.VQAConfig, _vqa.VQA_MODELS

from kerasseq.tasks import video_config as _video  # noqa: E402

VideoConfig, VIDEO_MODELS = _video.VideoConfig, _video.VIDEO_MODELS

from kerasseq.tasks import handwriting_config as _handwriting  # noqa: E402

HandwritingConfig = _handwriting.HandwritingConfig
from kerasseq.tasks import pixelcnn_config as _pixelcnn  # noqa: E402

PixelCNNConfig = _pixelcnn.PixelCNNConfig
from kerasseq.tasks import tagging_config as _tagging  # noqa: E402

TaggingConfig = _tagging.TaggingConfig
