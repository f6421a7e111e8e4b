"""Video action classifiers over clips of frames: a per-frame CNN followed by an LSTM/GRU
(LRCN, Donahue et al. 2015), by a ConvLSTM over its feature maps (Shi et al. 2015), or by
nothing but the mean of its per-frame scores (the baseline without a temporal model).

Every builder maps clips ``(batch, time, height, width, channels)`` of float frames in [0, 1]
to class logits ``(batch, classes)``; the per-frame CNN runs on all ``batch · time`` frames at
once (:class:`kerasseq.layers.PerFrame`). :data:`VIDEO_MODELS` names them for the task and the
tests.
"""

from __future__ import annotations

from typing import Sequence

import keras

from kerasseq.layers.conv_lstm import ConvLSTM
from kerasseq.layers.video import PerFrame
from kerasseq.models.recurrent import recurrent_layer


def _check(frame_shape, filters, clip_length):
    if len(frame_shape) != 3 or None in frame_shape:
        raise ValueError("Expected frame_shape=(height, width, channels), all static. Received: "
                         f"frame_shape={frame_shape!r}")
    if not filters or any(int(f) != f or f < 1 for f in filters):
        raise ValueError(f"Expected filters to be positive integers. Received: filters={filters!r}")
    if clip_length is not None and (int(clip_length) != clip_length or clip_length < 1):
        raise ValueError(f"Expected clip_length to be a positive integer or None. Received: "
                         f"clip_length={clip_length!r}")


def build_frame_encoder(frame_shape: Sequence[int] = (64, 64, 1),
                        filters: Sequence[int] = (16, 32, 64, 64), features: int | None = 128,
                        dropout: float = 0.0, name: str = "frame_encoder") -> keras.Model:
    """The per-frame CNN: one stage per entry of ``filters``, each a stride-2 3×3 convolution,
    batch normalisation (momentum 0.9) and ReLU (64×64 frames -> 4×4 maps after four stages).

    Args:
        frame_shape: ``(height, width, channels)`` of a frame.
        filters: channels of each stage.
        features: width of the frame's feature vector (flatten, dropout, dense + ReLU); ``None``
            returns the last stage's feature map ``(h, w, filters[-1])``.
        dropout: dropout before the dense layer.
        name: the model's name.

    Returns:
        A ``keras.Model`` from frames ``(batch, *frame_shape)`` to ``(batch, features)`` or the
        feature map.

    Example:
    >>> build_frame_encoder((64, 64, 1), (16, 32), features=None).output_shape
    (None, 16, 16, 32)
    """
    _check(frame_shape, filters, None)
    frames = keras.Input(tuple(frame_shape), name="frame")
    x = frames
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(int(f), 3, strides=2, padding="same", use_bias=False,
                                name=f"conv_{i}")(x)
        # Momentum 0.9, not Keras' 0.99: a run here is a few hundred steps, too few for 0.99's
        # moving statistics to forget their initial values (inference then misclassifies).
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"norm_{i}")(x)
        x = keras.layers.ReLU(name=f"relu_{i}")(x)
    if features is not None:
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        x = keras.layers.Dense(int(features), activation="relu", name="features")(x)
    return keras.Model(frames, x, name=name)


def build_lrcn(num_classes: int, frame_shape: Sequence[int] = (64, 64, 1),
               clip_length: int | None = 16, filters: Sequence[int] = (16, 32, 64, 64),
               features: int = 128, cell: str = "lstm", units: int = 64, depth: int = 1,
               bidirectional: bool = False, dropout: float = 0.3,
               name: str = "lrcn") -> keras.Model:
    """CNN + LSTM (LRCN, Donahue et al. 2015): per-frame CNN features read by ``depth``
    stacked recurrent layers; as in LRCN's activity recognition, every time step's output
    (both directions' with ``bidirectional``) is classified and the clip's logits are the mean
    over the steps, so step ``t`` predicts from frames ``1..t`` (all frames when
    bidirectional).

    Args:
        num_classes: actions.
        frame_shape: ``(height, width, channels)``.
        clip_length: frames per clip (``None``: any number).
        filters, features: the per-frame CNN (:func:`build_frame_encoder`).
        cell: ``"lstm"`` or ``"gru"`` (any name of :data:`kerasseq.models.CELL_NAMES`).
        units: recurrent width per direction.
        depth: stacked recurrent layers.
        bidirectional: read the clip in both directions.
        dropout: on the frame features, between recurrent layers and before the classifier.
        name: the model's name.

    Returns:
        A ``keras.Model`` from ``(batch, clip_length, *frame_shape)`` to logits
        ``(batch, num_classes)``.

    Example:
    >>> model = build_lrcn(10, clip_length=16)
    >>> model(np.zeros((2, 16, 64, 64, 1), "float32")).shape
    (2, 10)

    References:
        Donahue, Hendricks, Guadarrama, Rohrbach, Venugopalan, Saenko and Darrell 2015,
        "Long-term recurrent convolutional networks for visual recognition and description",
        CVPR.
    """
    _check(frame_shape, filters, clip_length)
    if depth < 1:
        raise ValueError(f"Expected depth >= 1. Received: depth={depth}")
    clips = keras.Input((clip_length, *frame_shape), name="clips")
    encoder = build_frame_encoder(frame_shape, filters, features, dropout)
    x = PerFrame(encoder, name="per_frame_cnn")(clips)  # (batch, time, features)
    x = keras.layers.Dropout(dropout, name="feature_dropout")(x)
    for i in range(depth):
        layer = recurrent_layer(cell, units, return_sequences=True, name=f"{cell}_{i}")
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bi_{cell}_{i}")
        x = layer(x)  # (batch, time, units · directions)
        x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    step_logits = keras.layers.Dense(num_classes, dtype="float32", name="step_logits")(x)
    logits = keras.layers.GlobalAveragePooling1D(name="mean_over_steps")(step_logits)
    return keras.Model(clips, logits, name=name)


def build_convlstm_classifier(num_classes: int, frame_shape: Sequence[int] = (64, 64, 1),
                              clip_length: int | None = 16,
                              filters: Sequence[int] = (16, 32, 64, 64),
                              convlstm_filters: int = 32, kernel_size: int = 3,
                              recurrent_layer: str = "kerasseq", dropout: float = 0.3,
                              name: str = "convlstm_classifier") -> keras.Model:
    """CNN + ConvLSTM: the per-frame CNN's feature maps (no dense layer, so the spatial layout
    stays) read by a ConvLSTM (Shi et al. 2015); its last hidden state ``H_T`` is flattened
    and classified.

    Args:
        num_classes: actions.
        frame_shape: ``(height, width, channels)``.
        clip_length: frames per clip (``None``: any number; the kerasseq layer then scans).
        filters: the per-frame CNN's stages (:func:`build_frame_encoder`).
        convlstm_filters: channels of the ConvLSTM's states.
        kernel_size: the ConvLSTM's kernel.
        recurrent_layer: ``"kerasseq"``: :class:`kerasseq.layers.ConvLSTM`; ``"keras"``:
            ``keras.layers.ConvLSTM2D`` (the same math and weights).
        dropout: before the classifier.
        name: the model's name.

    Returns:
        A ``keras.Model`` from ``(batch, clip_length, *frame_shape)`` to logits
        ``(batch, num_classes)``.

    Example:
    >>> model = build_convlstm_classifier(10, clip_length=16)
    >>> model(np.zeros((2, 16, 64, 64, 1), "float32")).shape
    (2, 10)

    References:
        Shi, Chen, Wang, Yeung, Wong and Woo 2015, "Convolutional LSTM network: a machine
        learning approach for precipitation nowcasting", NIPS.
    """
    _check(frame_shape, filters, clip_length)
    if recurrent_layer not in ("kerasseq", "keras"):
        raise ValueError("Expected recurrent_layer to be 'kerasseq' or 'keras'. Received: "
                         f"recurrent_layer={recurrent_layer!r}")
    clips = keras.Input((clip_length, *frame_shape), name="clips")
    encoder = build_frame_encoder(frame_shape, filters, features=None)
    x = PerFrame(encoder, name="per_frame_cnn")(clips)  # (batch, time, h, w, filters[-1])
    if recurrent_layer == "kerasseq":
        x = ConvLSTM(convlstm_filters, kernel_size, name="convlstm")(x)
    else:
        x = keras.layers.ConvLSTM2D(convlstm_filters, kernel_size, padding="same",
                                    name="convlstm")(x)
    x = keras.layers.Flatten(name="flatten")(x)  # H_T: (batch, h · w · convlstm_filters)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(clips, logits, name=name)


def build_frame_average_classifier(num_classes: int, frame_shape: Sequence[int] = (64, 64, 1),
                                   clip_length: int | None = 16,
                                   filters: Sequence[int] = (16, 32, 64, 64), features: int = 128,
                                   dropout: float = 0.3,
                                   name: str = "frame_average") -> keras.Model:
    """The baseline without a temporal model: the per-frame CNN classifies every frame alone
    and the clip's logits are the mean of the frames' (late fusion). The classifier is linear,
    so this equals classifying the mean of the frame features; frame order plays no part.

    Args:
        num_classes: actions.
        frame_shape: ``(height, width, channels)``.
        clip_length: frames per clip (``None``: any number).
        filters, features: the per-frame CNN (:func:`build_frame_encoder`).
        dropout: on the frame features.
        name: the model's name.

    Returns:
        A ``keras.Model`` from ``(batch, clip_length, *frame_shape)`` to logits
        ``(batch, num_classes)``.

    Example:
    >>> model = build_frame_average_classifier(10, clip_length=16)
    >>> model(np.zeros((2, 16, 64, 64, 1), "float32")).shape
    (2, 10)
    """
    _check(frame_shape, filters, clip_length)
    clips = keras.Input((clip_length, *frame_shape), name="clips")
    encoder = build_frame_encoder(frame_shape, filters, features, dropout)
    x = PerFrame(encoder, name="per_frame_cnn")(clips)  # (batch, time, features)
    x = keras.layers.Dropout(dropout, name="feature_dropout")(x)
    frame_logits = keras.layers.Dense(num_classes, dtype="float32", name="frame_logits")(x)
    logits = keras.layers.GlobalAveragePooling1D(name="mean_over_frames")(frame_logits)
    return keras.Model(clips, logits, name=name)


# The task's --model names (kerasseq.tasks.video_config.VIDEO_MODELS lists them without Keras).
VIDEO_MODELS = {
    "rnn": build_lrcn,
    "convlstm": build_convlstm_classifier,
    "frames": build_frame_average_classifier,
}
