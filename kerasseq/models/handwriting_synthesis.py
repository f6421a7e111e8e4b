"""Graves' handwriting synthesis network (Graves 2013, section 5, Figure 12): the prediction
network of :mod:`kerasseq.models.handwriting` conditioned on a text through a soft window,
and a compiled sampler that writes a given text (with a sampling bias, optional priming with a
real line, and Graves' stopping rule), backend-agnostic."""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.layers.derivative_clipping import GradientClip
from kerasseq.layers.mixture_density import MixtureDensityHead
from kerasseq.layers.soft_window import SoftWindowLSTM, one_hot_characters
from kerasseq.models.handwriting import lstm_layer


def build_handwriting_synthesizer(vocabulary_size: int, num_layers: int = 3, units: int = 400,
                                  num_components: int = 20, window_components: int = 10,
                                  kappa_bias_init: float = -3.0, return_window: bool = False,
                                  lstm_derivative_clip: float | None = None,
                                  output_derivative_clip: float | None = None,
                                  name: str = "handwriting_synthesizer"):
    """The synthesis network of Graves 2013, section 5: pen points and a text in, the mixture
    density over the next point out.

    Layer 1 (:class:`kerasseq.layers.SoftWindowLSTM`) reads each point with the previous window
    vector ``w_{t−1}`` and computes the window ``w_t`` over the text from its hidden state (eq.
    52); layer ``n > 1`` reads the point, layer ``n − 1``'s output and ``w_t`` (eq. 53); the
    :class:`kerasseq.layers.MixtureDensityHead` reads every layer's output (eq. 54).

    Args:
        vocabulary_size: ``V``: character ids ``1 .. V − 1`` (0 is padding).
        num_layers: stacked LSTM layers (Graves: 3).
        units: LSTM width (Graves: 400).
        num_components: ``M``, Gaussians of the output mixture (Graves: 20).
        window_components: ``K``, Gaussians of the window (Graves: 10).
        kappa_bias_init: :class:`kerasseq.layers.SoftWindow`'s.
        return_window: also output the window weights ``φ (batch, T, U)`` (Graves' Figure 13).
        lstm_derivative_clip: clip the loss derivatives with respect to every LSTM's gate
            inputs to ``±`` this (Graves: 10), as :func:`build_handwriting_predictor`.
        output_derivative_clip: clip those with respect to the raw mixture outputs (Graves: 100).
        name: the model's name.

    Returns:
        A ``keras.Model`` from ``[strokes (batch, T, 3) float, characters (batch, U) int]`` to
        raw mixture outputs ``(batch, T, 6M + 1)`` (and ``φ`` with ``return_window``); its
        layers are named ``window_lstm``, ``lstm_2 .. lstm_L`` and ``mixture_density``
        (:func:`handwriting_synthesis_sampler`).

    Example:
    >>> model = build_handwriting_synthesizer(80, num_layers=3, units=400)
    >>> model.compile("adam", kerasseq.losses.MixtureDensityNLL())

    References:
        Graves 2013, "Generating sequences with recurrent neural networks", arXiv:1308.0850,
        section 5.
    """
    for arg, value in (("num_layers", num_layers), ("units", units), ("num_components", num_components),
                       ("window_components", window_components)):
        if int(value) != value or value < 1:
            raise ValueError(f"Expected {arg} to be a positive integer. Received: {arg}={value!r}")
    strokes = keras.Input((None, 3), name="strokes")
    characters = keras.Input((None,), dtype="int32", name="characters")
    first, window, phi = SoftWindowLSTM(units, vocabulary_size, window_components, kappa_bias_init,
                                        lstm_derivative_clip, name="window_lstm")([strokes, characters])
    outputs = [first]
    for n in range(2, num_layers + 1):
        inputs = keras.layers.Concatenate(name=f"skip_input_{n}")([strokes, outputs[-1], window])
        outputs.append(lstm_layer(units, lstm_derivative_clip, name=f"lstm_{n}")(inputs))
    hidden = keras.layers.Concatenate(name="skip_output")(outputs) if num_layers > 1 else first
    y_hat = MixtureDensityHead(num_components, name="mixture_density")(hidden)
    if output_derivative_clip:
        y_hat = GradientClip(output_derivative_clip, name="output_derivative_clip")(y_hat)
    return keras.Model([strokes, characters], [y_hat, phi] if return_window else y_hat, name=name)


def window_model(model):
    """The same network (shared weights) with the window weights as a second output:
    ``[strokes, characters] -> [ŷ (batch, T, 6M + 1), φ (batch, T, U)]``."""
    phi = model.get_layer("window_lstm").output[2]
    return keras.Model(model.inputs, [model.outputs[0], phi], name=f"{model.name}_window")


def handwriting_synthesis_sampler(model):
    """A function that writes a text with ``model``, one point at a time, each drawn from the
    mixture it predicts and read back in (Graves section 5), optionally after priming with a
    real line (section 5.5), as one ``keras.ops.fori_loop`` (compile it with ``jax.jit`` or
    ``tf.function``).

    Priming feeds the ``P`` priming points instead of samples for the first ``P`` steps (the
    text must then start with the priming line's own text, Graves' practice). A line stops
    when its window has passed the last character: ``φ(t, U + 1) > φ(t, u)`` for every
    ``u ≤ U`` (Graves section 5.3), else after the given number of steps.

    Args:
        model: a :func:`build_handwriting_synthesizer` model (trained).

    Returns:
        ``sample(characters, noise, bias, prime) -> (points, lengths)``: ``characters`` int
        ``(n, U)`` (0-padded), ``noise`` float ``(n, steps, 4)``
        (:func:`kerasseq.models.draw_noise`), ``bias`` a float scalar, ``prime`` float
        ``(n, P, 3)`` normalised priming points after the origin (``P = 0``: no priming);
        ``points`` float32 ``(n, steps, 3)`` normalised ``(dx, dy, end_of_stroke)`` written
        after the priming, ``lengths`` int32 ``(n,)`` the points before each line stopped.

    Example:
    >>> sample = jax.jit(handwriting_synthesis_sampler(model))
    >>> points, lengths = sample(ids, draw_noise(1, 700, seed=0), 0.5, np.zeros((1, 0, 3)))
    """
    first = model.get_layer("window_lstm")
    head = model.get_layer("mixture_density")
    layers = []
    while True:
        try:
            layers.append(model.get_layer(f"lstm_{len(layers) + 2}"))
        except ValueError:
            break

    def step(x, states, characters):
        h, window, phi, first_states = first.step(x, states[0], characters)
        hidden, new_states = [h], [first_states]
        for n, layer in enumerate(layers):
            inputs = ops.concatenate([x, hidden[-1], window], axis=-1)
            h, state = layer.cell(inputs, states[n + 1], training=False)
            hidden.append(h)
            new_states.append(list(state))
        return head(ops.concatenate(hidden, axis=-1)), phi, new_states

    def sample(characters, noise, bias, prime):
        characters = ops.cast(characters, "int32")
        noise, prime = ops.cast(noise, "float32"), ops.cast(prime, "float32")
        count, steps, primed = ops.shape(noise)[0], ops.shape(noise)[1], ops.shape(prime)[1]
        # One padding column more: φ of its position is Graves' φ(t, U + 1) for the longest text.
        one_hot = one_hot_characters(ops.pad(characters, [[0, 0], [0, 1]]), first.vocabulary_size)
        text_length = ops.sum(ops.cast(characters > 0, "int32"), axis=1)  # (n,)
        positions = ops.arange(ops.shape(one_hot)[1])[None, :]  # (1, U + 1): u − 1
        past_end = ops.cast(ops.equal(positions, text_length[:, None]), "float32")  # (n, U + 1)
        inside = ops.cast(ops.less(positions, text_length[:, None]), "float32")
        prime = ops.concatenate([prime, ops.zeros((count, 1, 3))], axis=1)  # P = 0 still indexes
        states = [first.initial_state(count)] + [
            [ops.zeros((count, layer.cell.units)), ops.zeros((count, layer.cell.units))] for layer in layers]

        def body(i, carry):
            x, states, points, lengths = carry
            y_hat, phi, states = step(x, states, one_hot)
            j = ops.maximum(i - primed, 0)  # the step of the written part
            drawn = head.sample(y_hat, bias, noise=ops.take(noise, j, axis=1))  # (n, 3)
            point = ops.where(i < primed, ops.take(prime, ops.minimum(i, primed), axis=1), drawn)
            points = ops.where(i < primed, points, ops.slice_update(points, [0, j, 0], drawn[:, None, :]))
            last = ops.sum(phi * past_end, axis=1)  # φ(t, U + 1) (n,)
            inner = ops.max(phi * inside - (1.0 - inside), axis=1)  # max_{u ≤ U} φ(t, u)
            stop = ops.logical_and(ops.logical_and(i >= primed, last > inner), lengths == steps)
            lengths = ops.where(stop, ops.cast(j + 1, "int32"), lengths)
            return point, states, points, lengths

        carry = (ops.zeros((count, 3)), states, ops.zeros((count, steps, 3)),
                 ops.full((count,), steps, dtype="int32"))
        _, _, points, lengths = ops.fori_loop(0, primed + steps, body, carry)
        return points, lengths

    return sample
