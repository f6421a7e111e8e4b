"""The task registry: every application by name, for the runner, CLI and MLflow entry points.

A task is registered by one entry here: its module (imported on first use, so the CLI starts
quickly), its settings class in :mod:`kerasseq.tasks.configs`, and a one-line description.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from kerasseq.errors import UserError


@dataclass(frozen=True)
class TaskEntry:
    task: str  # "module:attribute" of the Task instance
    config: str  # name of the settings class in kerasseq.tasks.configs
    description: str


REGISTRY = {
    "charlm": TaskEntry("kerasseq.tasks.charlm:TASK", "CharLMConfig",
                        "character-level language model on Tiny Shakespeare (truncated BPTT)"),
    "mr": TaskEntry("kerasseq.tasks.mr:TASK", "SentenceClassificationConfig",
                    "sentence polarity on MR: Kim's CNN or a BiLSTM, 10-fold cross-validation"),
    "ner": TaskEntry("kerasseq.tasks.ner:TASK", "TaggingConfig",
                     "named-entity recognition on CoNLL-2003: BiLSTM-CRF with character CNN"),
    "translation": TaskEntry("kerasseq.tasks.translation:TASK", "TranslationConfig",
                             "Multi30k English→German: RNN encoder-decoder with attention, or the "
                             "Transformer; BLEU with beam search"),
    "image-classification": TaskEntry(
        "kerasseq.tasks.image_classification:TASK", "ImageClassificationConfig",
        "ViT / Swin / Swin V2 trained from scratch on CIFAR-10, MNIST or Fashion-MNIST"),
    "detection": TaskEntry(
        "kerasseq.tasks.detection:TASK", "DetectionConfig",
        "DETR (Hungarian set loss) or a centre-heatmap baseline on multi-digit MNIST canvases; "
        "COCO AP"),
    "trajectories": TaskEntry(
        "kerasseq.tasks.trajectories:TASK", "TrajectoryConfig",
        "pedestrian trajectories on ETH/UCY: Social LSTM, O-LSTM or a vanilla LSTM against "
        "linear and constant-velocity baselines; ADE/FDE, leave one scene out"),
    "forecast": TaskEntry(
        "kerasseq.tasks.forecasting:TASK", "ForecastConfig",
        "long-horizon forecasting on ETT, weather, exchange rate, ILI or your CSV: PatchTST, "
        "DLinear, Transformer, LSTM/GRU, NARX, TDNN against last-value and seasonal-naive; MSE/MAE"),
    "nowcast": TaskEntry(
        "kerasseq.tasks.nowcast:TASK", "NowcastConfig",
        "ConvLSTM encoder-forecaster (Shi et al.) on Moving MNIST or weather radar, against "
        "persistence and optical flow"),
    "treebank": TaskEntry(
        "kerasseq.tasks.treebank:TASK", "TreebankConfig",
        "sentiment on the Stanford Sentiment Treebank: Tree-LSTM, RNTN or recursive NN over "
        "parse trees, or a BiLSTM baseline; root and all-phrase accuracy"),
    "captioning": TaskEntry(
        "kerasseq.tasks.captioning:TASK", "CaptioningConfig",
        "image captioning on Flickr8k: Show and Tell or Show, Attend and Tell (soft attention); "
        "BLEU, METEOR, ROUGE-L, CIDEr with beam search, attention maps"),
    "vqa": TaskEntry(
        "kerasseq.tasks.vqa:TASK", "VQAConfig",
        "visual question answering on DAQUAR: VIS+LSTM, 2-VIS+BLSTM or soft attention against "
        "question-only and image-only baselines; accuracy, WUPS@0.9 and WUPS@0.0"),
    "video": TaskEntry(
        "kerasseq.tasks.video:TASK", "VideoConfig",
        "action classification on Weizmann silhouettes: CNN + LSTM (LRCN), CNN + ConvLSTM or "
        "frame averaging; leave one actor out"),
    "handwriting": TaskEntry(
        "kerasseq.tasks.handwriting:TASK", "HandwritingConfig",
        "handwriting prediction and synthesis on IAM-OnDB (Graves 2013): stacked LSTM with skip "
        "connections and a mixture density output, --model synthesis adds the soft window over "
        "the text; test nats per line, biased samples, density heat map, window weights"),
    "pixelcnn": TaskEntry(
        "kerasseq.tasks.pixelcnn:TASK", "PixelCNNConfig",
        "gated PixelCNN on binarised MNIST (van den Oord et al. 2016): test NLL in nats per "
        "image, class-conditional samples, completions, the receptive field"),
}


def task_names() -> list[str]:
    return sorted(REGISTRY)


def _entry(name: str) -> TaskEntry:
    if name not in REGISTRY:
        raise UserError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
    return REGISTRY[name]


def get_config_class(name: str):
    """The settings class of task ``name`` (imports no Keras)."""
    from kerasseq.tasks import configs

    return getattr(configs, _entry(name).config)


def get_task(name: str):
    """The registered task called ``name``; unknown names are a UserError listing the known."""
    module, attribute = _entry(name).task.split(":")
    return getattr(importlib.import_module(module), attribute)
