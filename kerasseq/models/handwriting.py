"""Graves' handwriting prediction network (Graves 2013, section 4, Figure 1): stacked LSTMs
with skip connections from the input to every layer and from every layer to a mixture density
output, and a compiled step-by-step sampler for it (backend-agnostic)."""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.layers.derivative_clipping import DerivativeClippedLSTMCell, GradientClip
from kerasseq.layers.mixture_density import MixtureDensityHead


def build_handwriting_predictor(num_layers: int = 3, units: int = 400, num_components: int = 20,
                                skip_connections: bool = True, lstm_derivative_clip: float | None = None,
                                output_derivative_clip: float | None = None,
                                name: str = "handwriting_predictor"):
    """The prediction network of Graves 2013, section 4: pen points in, the mixture density
    over the next point out.

    Layer ``n`` reads the input points and (for ``n > 1``) layer ``n − 1``'s outputs (Graves'
    eq. 2, input-to-hidden skip connections); the :class:`kerasseq.layers.MixtureDensityHead`
    reads every layer's outputs, concatenated (eq. 3, hidden-to-output skip connections).
    Without ``skip_connections`` it is a plain stack: layer ``n`` reads layer ``n − 1`` and the
    head the last layer. Right-padded batches need no mask: the network is causal, and the
    loss ignores the padded steps.

    Args:
        num_layers: stacked LSTM layers (Graves: 3).
        units: LSTM width (Graves: 400).
        num_components: ``M``, Gaussians of the mixture (Graves: 20).
        skip_connections: Graves' skip connections (see above).
        lstm_derivative_clip: clip the derivatives of the training loss with respect to the
            LSTM gate inputs to ``±`` this at every step
            (:class:`kerasseq.layers.DerivativeClippedLSTMCell`); ``None``: plain
            ``keras.layers.LSTM`` layers. Graves' 10 is for one line's L(x): with his loss
            averaged over a batch of B lines (``MixtureDensityNLL(per_sequence=True)``), pass
            10 / B, as the handwriting task does.
        output_derivative_clip: the same for the raw mixture outputs
            (:class:`kerasseq.layers.GradientClip`; Graves: 100, so 100 / B).
        name: the model's name.

    Returns:
        A ``keras.Model`` from ``strokes (batch, time, 3)`` float ``(dx, dy, end_of_stroke)``
        to raw mixture outputs ``(batch, time, 6M + 1)``; its LSTM layers are named
        ``lstm_1 .. lstm_L`` and the head ``mixture_density`` (:func:`handwriting_sampler`).

    Example:
    >>> model = build_handwriting_predictor(num_layers=3, units=400)  # the paper's, 3.4 M weights
    >>> model.compile("adam", kerasseq.losses.MixtureDensityNLL())

    References:
        Graves 2013, "Generating sequences with recurrent neural networks", arXiv:1308.0850,
        sections 2 and 4.
    """
    for arg, value in (("num_layers", num_layers), ("units", units), ("num_components", num_components)):
        if int(value) != value or value < 1:
            raise ValueError(f"Expected {arg} to be a positive integer. Received: {arg}={value!r}")
    strokes = keras.Input((None, 3), name="strokes")
    outputs, previous = [], None
    for n in range(1, num_layers + 1):
        if previous is None:
            inputs = strokes
        elif skip_connections:
            inputs = keras.layers.Concatenate(name=f"skip_input_{n}")([strokes, previous])
        else:
            inputs = previous
        previous = lstm_layer(units, lstm_derivative_clip, name=f"lstm_{n}")(inputs)
        outputs.append(previous)  # (batch, time, units)
    if skip_connections and num_layers > 1:
        hidden = keras.layers.Concatenate(name="skip_output")(outputs)  # (batch, time, L · units)
    else:
        hidden = outputs[-1]
    y_hat = MixtureDensityHead(num_components, name="mixture_density")(hidden)
    if output_derivative_clip:
        y_hat = GradientClip(output_derivative_clip, name="output_derivative_clip")(y_hat)
    return keras.Model(strokes, y_hat, name=name)


def lstm_layer(units: int, derivative_clip: float | None = None, name: str | None = None):
    """A sequence-returning LSTM layer: ``keras.layers.LSTM``, or with ``derivative_clip`` a
    ``keras.layers.RNN`` over :class:`kerasseq.layers.DerivativeClippedLSTMCell` (the same
    weights and forward pass; Graves' clipped backward pass)."""
    if derivative_clip:
        return keras.layers.RNN(DerivativeClippedLSTMCell(units, derivative_clip),
                                return_sequences=True, name=name)
    return keras.layers.LSTM(units, return_sequences=True, name=name)


def _structure(model):
    """``(LSTM layers, head, input skip, output skip)`` of a :func:`build_handwriting_predictor`
    model (the skips read from its weight shapes)."""
    layers = []
    while True:
        try:
            layers.append(model.get_layer(f"lstm_{len(layers) + 1}"))
        except ValueError:
            break
    head = model.get_layer("mixture_density")
    if not layers:
        raise ValueError(f"Expected a model of build_handwriting_predictor (layers lstm_1 ...). "
                         f"Received: model.name={model.name!r}")
    input_skip = len(layers) > 1 and layers[1].cell.kernel.shape[0] == 3 + layers[0].cell.units
    output_skip = head.dense.kernel.shape[0] == sum(layer.cell.units for layer in layers) and len(layers) > 1
    return layers, head, input_skip, output_skip


def handwriting_sampler(model):
    """A function ``sample(noise, bias) -> points`` that writes with ``model`` one point at a
    time, each drawn from the mixture it predicts and read back in (Graves section 4), as one
    ``keras.ops.fori_loop`` (compile it with ``jax.jit`` or ``tf.function``).

    Args:
        model: a :func:`build_handwriting_predictor` model (trained).

    Returns:
        ``sample(noise, bias)``: ``noise`` float ``(n, steps, 4)`` drawn up front
        (:func:`kerasseq.losses.sample_mixture_density`: ``U(0,1), N(0,1), N(0,1), U(0,1)``),
        ``bias`` the sampling bias (a float scalar); returns float32 ``(n, steps, 3)`` points
        ``(dx, dy, end_of_stroke)`` in the model's (normalised) units, starting after the
        origin ``(0, 0, 0)``.

    Example:
    >>> sample = jax.jit(handwriting_sampler(model))
    >>> points = sample(draw_noise(4, 700, seed=0), 0.5)  # (4, 700, 3)
    """
    layers, head, input_skip, output_skip = _structure(model)

    def step(x, states):
        hidden, new_states = [], []
        for n, layer in enumerate(layers):
            if n == 0:
                inputs = x
            else:
                inputs = ops.concatenate([x, hidden[-1]], axis=-1) if input_skip else hidden[-1]
            h, state = layer.cell(inputs, states[n], training=False)
            hidden.append(h)
            new_states.append(list(state))
        features = ops.concatenate(hidden, axis=-1) if output_skip else hidden[-1]
        return head(features), new_states

    def sample(noise, bias):
        noise = ops.cast(noise, "float32")
        count, steps = ops.shape(noise)[0], ops.shape(noise)[1]
        states = [[ops.zeros((count, layer.cell.units)), ops.zeros((count, layer.cell.units))] for layer in layers]
        points = ops.zeros((count, steps, 3))

        def body(i, carry):
            x, states, points = carry
            y_hat, states = step(x, states)
            point = head.sample(y_hat, bias, noise=ops.take(noise, i, axis=1))  # (n, 3)
            points = ops.slice_update(points, [0, i, 0], point[:, None, :])
            return point, states, points

        _, _, points = ops.fori_loop(0, steps, body, (ops.zeros((count, 3)), states, points))
        return points

    return sample


def draw_noise(count: int, steps: int, seed: int = 0):
    """NumPy float32 ``(count, steps, 4)`` noise of :func:`handwriting_sampler`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return np.concatenate([rng.random((count, steps, 1)), rng.standard_normal((count, steps, 2)),
                           rng.random((count, steps, 1))], axis=-1).astype(np.float32)
