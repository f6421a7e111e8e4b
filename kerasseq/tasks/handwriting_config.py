"""Settings of the handwriting prediction and synthesis task (kept apart from Keras: the CLI
reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from kerasseq.config import RunConfig, param
from kerasseq.errors import UserError

# kerasseq.data.handwriting.SPLITS and LENGTH_POLICIES, without importing NumPy (a test keeps
# them equal).
HANDWRITING_SPLITS = ("train", "val1", "val2", "test")
LENGTH_POLICIES = ("truncate", "skip")
MODELS = ("prediction", "synthesis")


@dataclass(frozen=True)
class HandwritingConfig(RunConfig):
    """Settings of handwriting prediction (Graves 2013, section 4) and synthesis (section 5)
    on IAM-OnDB. Defaults: a 3 × 128 network sized for a 2-core CPU; Graves' is ``--units 400``
    (3.4 M weights for prediction)."""

    model: str = param("prediction", "prediction: the next pen point from the previous ones "
                       "(Graves section 4); synthesis: also conditioned on the line's text "
                       "through a soft window (section 5)", choices=MODELS)

    epochs: int = param(20, "passes over the training lines")
    learning_rate: float = param(1e-3, "learning rate of --optimizer (cosine-decayed to 10% over "
                                 "the run; Graves used RMSProp at 1e-4)")
    optimizer: str = param("adam", "adam, or rmsprop: Graves' RMSProp (centred, decay 0.95, "
                           "momentum 0.9, epsilon 1e-4 inside the square root)",
                           choices=("adam", "rmsprop"))
    clipnorm: float = param(10.0, "clip gradients to this global norm; 0 disables clipping "
                            "(Graves clipped derivatives elementwise instead: "
                            "--lstm_derivative_clip, --output_derivative_clip)")
    loss: str = param("per_point", "training loss: per_point, the mean NLL per pen point; "
                      "per_line, Graves' L(x): nats per line, averaged over the batch's lines "
                      "(the scale his derivative clip limits and RMSProp's epsilon are set for)",
                      choices=("per_point", "per_line"))
    lstm_derivative_clip: float = param(0.0, "clip each line's L(x) derivatives with respect to "
                                        "the LSTM gate inputs to +- this, elementwise at every "
                                        "step (Graves: 10; needs --loss per_line); 0: off")
    output_derivative_clip: float = param(0.0, "clip each line's L(x) derivatives with respect "
                                          "to the network outputs to +- this, elementwise "
                                          "(Graves: 100; needs --loss per_line); 0: off")
    train_splits: str = param("train,val2", "splits trained on, separated by commas (train, "
                              "val1, val2, test); validation is val1, the reported figure test")
    batch_size: int = param(32, "lines per batch")
    max_points: int = param(1000, "training and validation lines longer than this many points "
                            "are truncated or skipped (--length_policy; counted in the metrics); "
                            "the test lines are always scored whole; 0: no limit")
    length_policy: str = param("truncate", "what --max_points does to longer lines (synthesis: "
                               "skip, a cut line would not write its whole text)",
                               choices=LENGTH_POLICIES)
    bucket_width: int = param(200, "batches hold lines of similar length, padded to the next "
                              "multiple of this many points")
    val_lines: int = param(256, "validation (val1) lines scored after each epoch; 0: all 1,438")
    test_lines: int = param(0, "test lines scored at the end; 0: all 3,859 (the paper's figure)")
    num_layers: int = param(3, "stacked LSTM layers (Graves: 3)")
    units: int = param(128, "LSTM width (Graves: 400)")
    num_components: int = param(20, "Gaussians of the output mixture (Graves: 20)")
    skip_connections: bool = param(True, "Graves' skip connections: the input to every layer, "
                                   "every layer to the output")
    sample_steps: int = param(700, "points of each unconditional sample drawn after training")
    samples_per_bias: int = param(3, "unconditional samples drawn at each --sample_biases")
    sample_biases: str = param("0,0.5,1.0", "sampling biases of the drawn samples (Graves "
                               "section 5.4), separated by commas")
    heatmap_line: int = param(0, "test line (index in the test split) drawn with the predicted "
                              "density of every next pen position (Graves' Figure 10)")
    window_components: int = param(10, "synthesis: Gaussians of the soft window over the text "
                                   "(Graves: 10)")
    text: str = param("a quick brown fox jumps", "synthesis: the text the samples write "
                      "(characters of the training transcriptions only)")
    prime_line: int = param(0, "synthesis: test line (index in the test split) whose strokes "
                            "and text prime the primed sample (Graves section 5.5, style)")

    def __post_init__(self):
        super().__post_init__()
        for name in ("batch_size", "bucket_width", "num_layers", "units", "num_components",
                     "sample_steps", "window_components"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1; got {getattr(self, name)}")
        for name in ("max_points", "val_lines", "test_lines", "samples_per_bias", "heatmap_line",
                     "prime_line", "lstm_derivative_clip", "output_derivative_clip"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} must be >= 0; got {getattr(self, name)}")
        if 0 < self.max_points < 2:
            raise UserError(f"--max_points must be 0 (no limit) or >= 2; got {self.max_points}")
        self.split_list, self.bias_list  # checks --train_splits and --sample_biases
        if (self.lstm_derivative_clip or self.output_derivative_clip) and self.loss != "per_line":
            raise UserError("--lstm_derivative_clip and --output_derivative_clip are Graves' limits "
                            "on the derivatives of one line's L(x): they need --loss per_line")
        if self.model == "synthesis" and not self.text.strip():
            raise UserError("--text must not be empty for --model synthesis")
        if self.model == "synthesis" and self.max_points and self.length_policy == "truncate":
            raise UserError("--model synthesis needs --length_policy skip (or --max_points 0): a "
                            "line cut at --max_points no longer writes its whole text")

    @property
    def split_list(self) -> tuple[str, ...]:
        """``--train_splits`` parsed."""
        splits = tuple(s.strip() for s in self.train_splits.split(",") if s.strip())
        if not splits or any(s not in HANDWRITING_SPLITS for s in splits) or "test" in splits:
            raise UserError(f"--train_splits must name splits among train, val1, val2 (not test), "
                            f"separated by commas; got {self.train_splits!r}")
        return splits

    @property
    def bias_list(self) -> tuple[float, ...]:
        """``--sample_biases`` parsed."""
        try:
            biases = tuple(float(b) for b in self.sample_biases.split(",") if b.strip())
        except ValueError:
            biases = ()
        if not biases or min(biases) < 0:
            raise UserError(f"--sample_biases must be numbers >= 0 separated by commas, e.g. "
                            f"0,0.5,1.0; got {self.sample_biases!r}")
        return biases
