"""PixelRNN (van den Oord, Kalchbrenner and Kavukcuoglu 2016): Row LSTM and Diagonal BiLSTM.

:func:`build_pixelrnn` follows §3.3 and Table 2 of the paper: a 7×7 mask-A convolution to
``2h`` features, then ``num_layers`` recurrent layers (:class:`~kerasseq.layers.pixelrnn.RowLSTM`
or :class:`~kerasseq.layers.pixelrnn.DiagonalBiLSTM`, ``h`` units, mask B), each followed by a
1×1 mask-B convolution back to ``2h`` features that is added to the layer's input (the
residual connection), then the same two 1×1 mask-B convolutions to the outputs as the gated
PixelCNN (:func:`~kerasseq.models.pixelcnn.output_head`). It has the same inputs and outputs
as :func:`~kerasseq.models.pixelcnn.build_gated_pixelcnn`, so the likelihood, the task and
:func:`~kerasseq.models.pixelcnn.sample_pixelcnn` serve both.

Receptive field (tested by input gradients): the Row LSTM model sees a triangle above the
pixel, widening by ``kernel_size // 2`` columns a row on each side, and on its own row the
first convolution's reach plus ``kernel_size // 2`` per layer to the left. The Diagonal
BiLSTM model sees every earlier pixel but one: the last pixel of the previous row, when it
lies beyond the first convolution's reach (``j + first_kernel_size // 2 < width - 1``). The
paper's construction causes it: mask-A features never hold the last pixel of their own row,
and the right-to-left LSTM, shifted down a row, reads only the rows above.
"""

from __future__ import annotations

import keras

from kerasseq.layers.pixelcnn import MaskedConv2D
from kerasseq.layers.pixelrnn import DiagonalBiLSTM, RowLSTM
from kerasseq.models.pixelcnn import check_image_model_args, image_input, mask_colours, output_head

PIXELRNN_KINDS = ("row_lstm", "diagonal_bilstm")


def build_pixelrnn(image_shape, kind: str = "diagonal_bilstm", num_layers: int = 7,
                   units: int = 32, output: str = "bernoulli", kernel_size: int = 3,
                   first_kernel_size: int = 7, head_filters=None, num_mixtures: int = 10,
                   kernel_initializer="glorot_uniform", name=None) -> keras.Model:
    """A PixelRNN: images -> per-pixel logits (or logistic mixture parameters).

    Args:
        image_shape: ``(height, width, colours)``.
        kind: ``"row_lstm"`` or ``"diagonal_bilstm"``.
        num_layers: recurrent layers (the paper: 7 on MNIST, 12 on CIFAR-10).
        units: ``h``, hidden units of each recurrent layer (a multiple of the colours); the
            residual stream has ``2h`` features.
        output: ``"bernoulli"``, ``"softmax256"`` or ``"logistic_mixture"`` (as
            :func:`~kerasseq.models.pixelcnn.build_gated_pixelcnn`).
        kernel_size: the Row LSTM's row convolutions (odd; the Diagonal BiLSTM's are fixed).
        first_kernel_size: the first, mask-A, convolution (odd).
        head_filters: features of the 1×1 output convolution (default ``2h``).
        num_mixtures: logistics of the ``"logistic_mixture"`` output.
        kernel_initializer: initialiser of the convolutions' kernels.
        name: the model's name (default ``kind``).

    Returns:
        A ``keras.Model`` with input ``images``, output the logits.

    Example:
    >>> model = build_pixelrnn((8, 8, 1), "row_lstm", num_layers=2, units=4)
    >>> tuple(model(np.zeros((2, 8, 8, 1))).shape)
    (2, 8, 8, 1)

    References:
        van den Oord, Kalchbrenner and Kavukcuoglu 2016, "Pixel Recurrent Neural Networks",
        ICML, §3.1-3.4.
    """
    check_image_model_args(image_shape, num_layers, output)
    if kind not in PIXELRNN_KINDS:
        raise ValueError(f"Expected kind in {PIXELRNN_KINDS}. Received: kind={kind!r}")
    groups = mask_colours(image_shape, output)
    features = 2 * units
    images = keras.Input(image_shape, name="images")
    x = MaskedConv2D(features, first_kernel_size, "A", groups, name="conv_a",
                     kernel_initializer=kernel_initializer)(image_input(images, output))
    for k in range(num_layers):
        if kind == "row_lstm":
            h = RowLSTM(units, kernel_size, "B", groups, kernel_initializer=kernel_initializer,
                        name=f"row_lstm_{k}")(x)
        else:
            h = DiagonalBiLSTM(units, "B", groups, kernel_initializer=kernel_initializer,
                               name=f"diagonal_bilstm_{k}")(x)
        h = MaskedConv2D(features, 1, "B", groups, name=f"residual_{k}",
                         kernel_initializer=kernel_initializer)(h)
        x = keras.layers.Add(name=f"add_{k}")([x, h])
    logits = output_head(x, image_shape, output, head_filters or features, kernel_initializer,
                         num_mixtures)
    return keras.Model(images, logits, name=name or kind)
