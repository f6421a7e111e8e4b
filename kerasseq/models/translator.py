"""Translate with a trained encoder-decoder: compiled greedy or beam search over subword ids,
and the attention alignment of a translation, for any model of :func:`build_seq2seq` or
:func:`build_transformer`."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerasseq.decoding import EOS, beam_search, compiled, greedy_decode
from kerasseq.models.seq2seq import build_seq2seq_inference, seq2seq_decoding
from kerasseq.models.transformer import build_transformer_inference, transformer_decoding


def is_transformer(model: keras.Model) -> bool:
    return any(layer.name == "encoder_0" for layer in model.layers)


class Translator:
    """Decode source id batches with a trained translation model, compiled once per shape.

    The search (encoder, then :func:`~kerasseq.decoding.greedy_decode` or
    :func:`~kerasseq.decoding.beam_search` over the model's one-step decoder) runs as one
    ``jax.jit`` or ``tf.function`` program per (batch, source length) shape; feed it the
    length-bucketed batches of :func:`kerasseq.data.multi30k.translation_batches` to keep the
    number of shapes small.

    Args:
        model: a training model of ``build_seq2seq`` or ``build_transformer`` (built or loaded).
        beam_width: hypotheses kept per sentence; 1 is greedy search.
        length_penalty: α of GNMT's length penalty (beam search).
        extra_length: a translation has at most ``source length + extra_length`` subwords.
        attention_layer: the Transformer decoder block whose cross-attention
            :meth:`alignment` returns.

    Example:
    >>> translator = Translator(model, beam_width=4)
    >>> ids = translator.translate_ids(source_ids)  # (batch, max_length) int32, EOS-terminated
    """

    def __init__(self, model: keras.Model, *, beam_width: int = 4, length_penalty: float = 0.6,
                 extra_length: int = 10, attention_layer: int = -1):
        self.model = model
        self.transformer = is_transformer(model)
        if self.transformer:
            self.encoder, self.decoder = build_transformer_inference(model, attention_layer)
        else:
            self.encoder, self.decoder = build_seq2seq_inference(model)
        self.beam_width, self.length_penalty = beam_width, length_penalty
        self.extra_length = extra_length
        self._compiled = {}

    def _search(self, source, max_length: int):
        batch = ops.shape(source)[0]
        if self.transformer:
            step_fn, cache = transformer_decoding(self.encoder, self.decoder, source, max_length)
        else:
            step_fn, cache = seq2seq_decoding(self.encoder, self.decoder, source)
        if self.beam_width == 1:
            return greedy_decode(step_fn, cache, batch_size=batch, max_length=max_length)
        return beam_search(step_fn, cache, batch_size=batch, max_length=max_length,
                           beam_width=self.beam_width, length_penalty=self.length_penalty)

    def _compile(self, shape):
        if shape not in self._compiled:
            batch, length = shape
            max_length = length + self.extra_length

            def search(source):
                return self._search(source, max_length)

            self._compiled[shape] = compiled(search)
        return self._compiled[shape]

    def translate_ids(self, source) -> np.ndarray:
        """Best translation of each row of ``source`` ``(batch, S)`` (0-padded subword ids):
        ``(batch, S + extra_length)`` ids up to and including EOS, then 0."""
        source = np.asarray(source, "int32")
        ids, _ = self._compile(source.shape)(ops.convert_to_tensor(source))
        return np.asarray(ops.convert_to_numpy(ids))

    def alignment(self, source_ids, target_ids, head: int | None = None) -> np.ndarray:
        """Attention weights ``(len(target_ids) + 1, len(source_ids))`` of one sentence pair:
        row i is where the decoder looked when it produced word i of ``target_ids`` followed
        by EOS (teacher-forced on ``target_ids``). Bahdanau / Luong: the attention of each
        step; Transformer: the chosen block's cross-attention, head ``head`` or the mean
        over heads (``None``). Raises ``ValueError`` for a model without attention."""
        source = np.asarray(source_ids, "int32")[None]
        target = np.asarray([2, *target_ids], "int32")[None]  # BOS + words: predicts words + EOS
        if self.transformer:
            encoded = self.encoder(source, training=False)
            out = self.decoder({"target_in": ops.convert_to_tensor(target), **encoded})
            weights = ops.convert_to_numpy(out["attention"])[0]  # (heads, T, S)
            return weights.mean(0) if head is None else weights[head]
        if self.model.get_layer("decoder").__class__.__name__ != "AttentionRNN" and not any(
                layer.name == "luong_attention" for layer in self.model.layers):
            raise ValueError("the model has no attention (seq2seq without attention)")
        cache = dict(self.encoder(source, training=False))
        rows = []
        for t in range(target.shape[1]):
            token = ops.convert_to_tensor(target[:, t:t + 1])
            out = self.decoder({"token": token, **cache}, training=False)
            cache.update({k: v for k, v in out.items() if k.startswith("state_")})
            rows.append(ops.convert_to_numpy(out["attention"])[0])
        return np.stack(rows)


def strip_eos(ids) -> list[int]:
    """The ids of one decoded row before its EOS (and padding)."""
    out = []
    for i in np.asarray(ids).tolist():
        if i == EOS or i == 0:
            break
        out.append(int(i))
    return out
