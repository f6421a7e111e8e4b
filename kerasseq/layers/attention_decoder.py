"""The attention decoder of Bahdanau et al. 2015: a recurrent cell that attends with the
previous state s_{i-1} before computing s_i, and the layer that runs it over time.

Keras 3's ``keras.layers.RNN`` has no ``constants=`` argument any more (Keras 2 passed the
encoder outputs to the cell that way; the Keras 3.15 docstring still mentions it, but
``RNN.call`` does not take it). So :class:`AttentionDecoderCell` takes the encoder outputs as
call arguments, and :class:`AttentionRNN` runs it with ``keras.ops.scan``, passing them to
every step. Both backends; ``keras.ops`` only.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.layers.attention import BahdanauAttention


def _state_sizes(cell):
    sizes = cell.state_size
    return list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]


@keras.saving.register_keras_serializable(package="kerasseq")
class AttentionDecoderCell(keras.layers.Layer):
    """One decoder step with attention before the recurrence (Bahdanau et al. 2015, §3.1)::

        c_i, α_i = Attention(s_{i-1}, h)          (α_ij ∝ exp(v_aᵀ tanh(W_a s_{i-1} + U_a h_j)))
        s_i      = cell([y_i; c_i], s_{i-1})      (y_i: embedding of the previous target word)
        output   = [s_i; c_i]

    ``s`` is the first state of ``cell`` (h for an LSTM). The encoder outputs h ``(batch, Tv,
    dim)``, their keys U_a h (:meth:`BahdanauAttention.compute_keys`, once per sentence) and
    the source padding mask ``(batch, Tv)`` are call arguments (the *constants* of Keras 2).

    Args:
        cell: a Keras RNN cell (``keras.layers.GRUCell``, ``LSTMCell``, ``SimpleRNNCell``), or
            its serialized config.
        attention: a :class:`BahdanauAttention` (or any kerasseq recurrent attention with
            ``compute_keys``), or its serialized config.
        **kwargs: base layer arguments.

    Call: ``cell(inputs, states, values, keys, values_mask)`` with inputs ``(batch, in_dim)``
    and ``states`` a list as the wrapped cell's; returns ``(output, weights, new_states)``:
    ``(batch, units + dim)``, ``(batch, Tv)`` and the new state list.

    References:
        Bahdanau, Cho & Bengio 2015, "Neural machine translation by jointly learning to align
        and translate", §3.1 and appendix A.2.2.
    """

    def __init__(self, cell, attention, **kwargs):
        super().__init__(**kwargs)
        self.cell = keras.saving.deserialize_keras_object(cell) if isinstance(cell, dict) else cell
        self.attention = (keras.saving.deserialize_keras_object(attention)
                          if isinstance(attention, dict) else attention)
        self.state_size = self.cell.state_size

    def build(self, input_shape, values_shape):
        batch = input_shape[0]
        sizes = _state_sizes(self.cell)
        # Deserialized sub-layers come already built (from their own build configs).
        if not self.attention.built:
            self.attention.build([(batch, sizes[0]), values_shape])
        if not self.cell.built:
            self.cell.build((batch, input_shape[-1] + values_shape[-1]))

    def compute_keys(self, values):
        return self.attention.compute_keys(values)

    def call(self, inputs, states, values, keys, values_mask=None, training=None):
        context, weights = self.attention([states[0], values, keys],
                                          mask=[None, values_mask, None])  # (batch, dim), (batch, Tv)
        output, new_states = self.cell(ops.concatenate([inputs, context], axis=-1), list(states),
                                       training=training)
        if not isinstance(new_states, (list, tuple)):
            new_states = [new_states]
        return ops.concatenate([output, context], axis=-1), weights, list(new_states)

    def get_config(self):
        return {**super().get_config(),
                "cell": keras.saving.serialize_keras_object(self.cell),
                "attention": keras.saving.serialize_keras_object(self.attention)}


@keras.saving.register_keras_serializable(package="kerasseq")
class AttentionRNN(keras.layers.Layer):
    """Runs an :class:`AttentionDecoderCell` over a (teacher-forced) target sequence.

    Inputs ``[targets, values, *initial_states]``: ``(batch, Tq, in_dim)`` decoder inputs,
    ``(batch, Tv, dim)`` encoder outputs and one ``(batch, size)`` tensor per state of the
    wrapped cell. Mask ``[target_mask, values_mask, ...]``: only the source mask is used (it
    keeps attention off source padding); target padding needs no mask, as a step never reads
    a later one and the loss ignores padded targets. Outputs ``[outputs, weights,
    *final_states]``: ``(batch, Tq, units + dim)`` (``[s_i; c_i]`` per step), the attention
    weights ``(batch, Tq, Tv)`` and the states after the last step. Calling it on one step
    (``Tq = 1``) with the previous states is one step of a step-by-step decoder.

    Args:
        cell: an :class:`AttentionDecoderCell` (or its serialized config).
        **kwargs: base layer arguments.

    Example:
    >>> cell = AttentionDecoderCell(keras.layers.GRUCell(32), BahdanauAttention(32))
    >>> outputs, alignments, state = AttentionRNN(cell)([target_embeddings, encoded, s0])
    """

    def __init__(self, cell, **kwargs):
        super().__init__(**kwargs)
        self.cell = keras.saving.deserialize_keras_object(cell) if isinstance(cell, dict) else cell
        self.supports_masking = True

    def build(self, input_shape):
        target_shape, values_shape = input_shape[0], input_shape[1]
        if not self.cell.built:
            self.cell.build((target_shape[0], target_shape[-1]), values_shape)

    def call(self, inputs, mask=None, training=None):
        targets, values, *states = inputs
        values_mask = None if mask is None else mask[1]
        if values_mask is None:
            values_mask = ops.ones(ops.shape(values)[:2], "bool")  # (batch, Tv)
        keys = self.cell.compute_keys(values)  # (batch, Tv, units): once per sentence

        # Keras' TensorFlow scan needs the per-step outputs shaped as the carry: so the carry
        # holds the last output and weights too, and the step emits the whole carry.
        units = _state_sizes(self.cell.cell)[0]
        batch, source_length = ops.shape(values)[0], ops.shape(values)[1]
        init = (ops.zeros((batch, units + ops.shape(values)[2]), values.dtype),
                ops.zeros((batch, source_length), values.dtype), *states)

        def step(carry, x_t):
            output, weights, new_states = self.cell(x_t, list(carry[2:]), values, keys,
                                                    values_mask, training=training)
            carry = (output, ops.cast(weights, values.dtype), *new_states)
            return carry, carry

        final, (outputs, weights, *_) = ops.scan(step, init, ops.transpose(targets, (1, 0, 2)))
        # scan stacks over time first: (Tq, batch, ...) -> (batch, Tq, ...)
        return [ops.transpose(outputs, (1, 0, 2)), ops.transpose(weights, (1, 0, 2)), *final[2:]]

    def compute_output_shape(self, input_shape):
        target_shape, values_shape, *state_shapes = input_shape
        batch, time = target_shape[0], target_shape[1]
        units = _state_sizes(self.cell.cell)[0]
        return [(batch, time, units + values_shape[-1]), (batch, time, values_shape[1]),
                *[tuple(s) for s in state_shapes]]

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "cell": keras.saving.serialize_keras_object(self.cell)}
