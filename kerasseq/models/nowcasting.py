"""The ConvLSTM encoding-forecasting network of Shi et al. (NIPS 2015) for precipitation
nowcasting and video prediction."""

from __future__ import annotations

from typing import Sequence

import keras

from kerasseq.layers.conv_lstm import ConvLSTM
from kerasseq.layers.frames import DepthToSpace, EmptyFrames, SpaceToDepth

RECURRENT_LAYERS = ("keras", "kerasseq")


def _per_layer(value, depth: int, name: str) -> list[int]:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * depth
    if len(values) != depth or any(int(v) != v or v < 1 for v in values):
        raise ValueError(f"Expected {name} to be a positive integer or {depth} of them (one per "
                         f"layer). Received: {name}={value!r}")
    return [int(v) for v in values]


def build_convlstm_forecaster(input_frames: int = 10, output_frames: int = 10,
                              frame_shape: Sequence[int] = (64, 64, 1),
                              filters: Sequence[int] = (64, 32, 32), kernel_size=5,
                              patch_size: int = 4, output_activation: str | None = "sigmoid",
                              recurrent_layer: str = "kerasseq",
                              name: str = "convlstm_forecaster") -> keras.Model:
    """Shi et al.'s encoding-forecasting network: J frames in, K frames out.

    The encoder is a stack of ConvLSTM layers (``keras.layers.ConvLSTM2D``) over the J observed
    frames. The forecaster is a stack of the same shape that receives no input: layer ``i``
    starts from the last hidden and cell states of encoder layer ``i`` and runs for K steps. The
    hidden states of all forecaster layers are concatenated and mapped by a 1×1 convolution to
    each predicted frame. With ``patch_size`` b > 1 the frames are first folded into
    ``b × b``-patch channels (64×64×1 → 16×16×16 for b = 4, the paper's setting) and the
    prediction unfolded back.

    The paper's best Moving MNIST network is three layers of 128, 64 and 64 filters with 5×5
    kernels and 4×4 patches (Table 1, cross-entropy 3670.85); the default here has half the
    filters to fit CPU training.

    Args:
        input_frames: J, the observed frames.
        output_frames: K, the predicted frames.
        frame_shape: ``(height, width, channels)``; height and width multiples of
            ``patch_size``, or ``None`` for any size.
        filters: filters of each ConvLSTM layer (encoder and forecaster alike); its length
            is the depth.
        kernel_size: one kernel size for every layer, or one per layer.
        patch_size: the patch-to-depth block (1: none).
        output_activation: ``"sigmoid"`` for pixel probabilities (the cross-entropy loss),
            ``None`` for a real-valued output (MSE/MAE on rain rates).
        recurrent_layer: ``"kerasseq"`` (default): :class:`kerasseq.layers.ConvLSTM`;
            ``"keras"``: ``keras.layers.ConvLSTM2D``; the same math and weights (the two builds share
            layer names and weight shapes, so ``set_weights`` carries weights across) with the
            input convolution of all frames before the time loop, the loop unrolled (up to 32
            frames), and no input convolution in the forecaster's first layer (zero frames).
        name: the model's name.

    Returns:
        A ``keras.Model`` from ``(batch, J, height, width, channels)`` to
        ``(batch, K, height, width, channels)``.

    Example:
    >>> model = build_convlstm_forecaster(10, 10, (64, 64, 1), filters=(64, 32, 32))
    >>> model(np.zeros((2, 10, 64, 64, 1), "float32")).shape
    TensorShape([2, 10, 64, 64, 1])

    References:
        Shi, Chen, Wang, Yeung, Wong and Woo 2015, "Convolutional LSTM network: a machine
        learning approach for precipitation nowcasting", NIPS.
    """
    if int(input_frames) != input_frames or input_frames < 1 or \
            int(output_frames) != output_frames or output_frames < 1:
        raise ValueError("Expected positive integers input_frames and output_frames. Received: "
                         f"input_frames={input_frames!r}, output_frames={output_frames!r}")
    if recurrent_layer not in RECURRENT_LAYERS:
        raise ValueError(f"Expected recurrent_layer to be one of {RECURRENT_LAYERS}. Received: "
                         f"recurrent_layer={recurrent_layer!r}")
    if len(frame_shape) != 3:
        raise ValueError(f"Expected frame_shape=(height, width, channels). Received: "
                         f"frame_shape={frame_shape!r}")
    filters = _per_layer(filters, len(filters) if isinstance(filters, (list, tuple)) else 1,
                         "filters")
    kernels = _per_layer(kernel_size, len(filters), "kernel_size")
    height, width, channels = frame_shape
    for side in (height, width):
        if side is not None and side % patch_size:
            raise ValueError(f"Expected height and width divisible by patch_size={patch_size}. "
                             f"Received: frame_shape={tuple(frame_shape)}")

    inputs = keras.Input((input_frames, height, width, channels), name="frames")
    x = SpaceToDepth(patch_size, name="patches")(inputs) if patch_size > 1 else inputs

    def conv_lstm(f, k, name, return_state=False, zero_inputs=False):
        if recurrent_layer == "kerasseq":
            return ConvLSTM(f, k, return_sequences=True, return_state=return_state,
                            zero_inputs=zero_inputs, name=name)
        return keras.layers.ConvLSTM2D(f, k, padding="same", return_sequences=True,
                                       return_state=return_state, name=name)

    states = []
    for i, (f, k) in enumerate(zip(filters, kernels)):
        x, h, c = conv_lstm(f, k, f"encoder_{i}", return_state=True)(x)
        states.append([h, c])
    x = EmptyFrames(output_frames, name="no_input")(x)
    forecasts = []
    for i, (f, k) in enumerate(zip(filters, kernels)):
        # The first forecaster layer's frames are EmptyFrames' zeros: ConvLSTM skips them.
        x = conv_lstm(f, k, f"forecaster_{i}", zero_inputs=i == 0)(x, initial_state=states[i])
        forecasts.append(x)
    x = forecasts[0] if len(forecasts) == 1 else keras.layers.Concatenate(name="all_states")(forecasts)
    x = keras.layers.Dense(channels * patch_size ** 2, name="output_1x1")(x)  # a 1×1 convolution
    if patch_size > 1:
        x = DepthToSpace(patch_size, name="unpatch")(x)
    if output_activation:
        x = keras.layers.Activation(output_activation, dtype="float32", name="prediction")(x)
    return keras.Model(inputs, x, name=name)
