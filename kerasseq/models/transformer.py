"""The Transformer translation model (Vaswani et al. 2017) on kerasseq's blocks.

:func:`build_transformer` builds the teacher-forced training model ``{"source", "target_in"}
-> logits``; :func:`build_transformer_inference` rebuilds, from the same layers of a built or
loaded model, an encoder model and a decoder model (with one layer's cross-attention weights
for alignment plots); :func:`transformer_decoding` turns those into the ``(step_fn, cache)``
pair that :mod:`kerasseq.decoding` searches with.

Decoding keeps a key/value cache (:meth:`TransformerDecoderBlock.decode_step`): each step
runs the decoder on the one new position, attending to the cached keys and values of the
earlier ones, in fixed-size buffers so the search compiles (``jax.jit``, ``tf.function``).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kerasseq.layers.positional import SinusoidalPositionalEncoding
from kerasseq.layers.transformer import TransformerDecoderBlock, TransformerEncoderBlock


@keras.saving.register_keras_serializable(package="kerasseq")
class ScaledEmbedding(keras.layers.Embedding):
    """``keras.layers.Embedding`` whose output is multiplied by √output_dim, as the
    Transformer's embeddings are before the positions are added (Vaswani et al. 2017, §3.4).
    Same arguments, config and mask as ``Embedding``."""

    def call(self, inputs):
        outputs = super().call(inputs)
        return outputs * ops.cast(math.sqrt(self.output_dim), outputs.dtype)


def build_transformer(
    source_vocab: int,
    target_vocab: int,
    *,
    num_layers: int = 3,
    d_model: int = 256,
    num_heads: int = 8,
    intermediate_dim: int = 1024,
    dropout: float = 0.1,
    norm_first: bool = False,
    name: str = "transformer",
) -> keras.Model:
    """Build the encoder-decoder Transformer for teacher-forced training.

    Encoder: x = Dropout(√d·E_s[source] + PE), then ``num_layers``
    :class:`~kerasseq.layers.TransformerEncoderBlock`; decoder: y = Dropout(√d·E_t[target_in]
    + PE), then ``num_layers`` :class:`~kerasseq.layers.TransformerDecoderBlock` (causal
    self-attention, cross-attention over the encoder output); logits = W y. PE is the fixed
    sinusoidal encoding (no length limit). With ``norm_first`` (pre-LN) a final
    ``LayerNormalization`` closes each stack. Source and target id 0 is padding: masked keys
    get no attention, and the logits carry the target's Keras mask (Keras' losses use it as
    weights).

    Args:
        source_vocab / target_vocab: vocabulary sizes (0 = padding).
        num_layers: blocks in the encoder and in the decoder (N; the paper: 6).
        d_model: model width (the paper: 512).
        num_heads: attention heads (h; the paper: 8).
        intermediate_dim: feed-forward width (d_ff; the paper: 2048).
        dropout: P_drop on embeddings and sub-layer outputs (the paper: 0.1).
        norm_first: pre-LN blocks (Xiong et al. 2020) instead of the paper's post-LN.
        name: model name.

    Returns:
        A ``keras.Model`` from ``{"source": (batch, S), "target_in": (batch, T)}`` int ids to
        logits ``(batch, T, target_vocab)``.

    Example:
    >>> model = build_transformer(8000, 8000, num_layers=3, d_model=256)
    >>> encoder, decoder = build_transformer_inference(model, attention_layer=-1)

    References:
        Vaswani et al. 2017, "Attention is all you need".
    """
    if d_model % num_heads:
        raise ValueError(f"Expected d_model divisible by num_heads. "
                         f"Received: d_model={d_model}, num_heads={num_heads}")
    source = keras.Input((None,), dtype="int32", name="source")
    target = keras.Input((None,), dtype="int32", name="target_in")
    block_args = dict(num_heads=num_heads, intermediate_dim=intermediate_dim, dropout=dropout,
                      norm_first=norm_first)

    x = ScaledEmbedding(source_vocab, d_model, mask_zero=True, name="source_embedding")(source)
    x = SinusoidalPositionalEncoding(name="source_positions")(x)
    x = keras.layers.Dropout(dropout, name="source_dropout")(x)
    for i in range(num_layers):
        x = TransformerEncoderBlock(**block_args, name=f"encoder_{i}")(x)
    if norm_first:
        x = keras.layers.LayerNormalization(epsilon=1e-5, name="encoder_norm")(x)

    y = ScaledEmbedding(target_vocab, d_model, mask_zero=True, name="target_embedding")(target)
    y = SinusoidalPositionalEncoding(name="target_positions")(y)
    y = keras.layers.Dropout(dropout, name="target_dropout")(y)
    for i in range(num_layers):
        y = TransformerDecoderBlock(**block_args, name=f"decoder_{i}")([y, x])
    if norm_first:
        y = keras.layers.LayerNormalization(epsilon=1e-5, name="decoder_norm")(y)
    logits = keras.layers.Dense(target_vocab, name="logits")(y)
    return keras.Model({"source": source, "target_in": target}, logits, name=name)


def _num_layers(model, prefix):
    return sum(1 for layer in model.layers if layer.name.startswith(prefix)
               and layer.name[len(prefix):].isdigit())


def _optional(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        return None


def build_transformer_inference(model: keras.Model, attention_layer: int = -1):
    """The encoder and decoder of a :func:`build_transformer` model, sharing its layers (and
    weights; works on a model loaded from ``.keras``), without dropout.

    Args:
        model: the training model.
        attention_layer: the decoder block (index, negative from the end) whose
            cross-attention weights the decoder returns.

    Returns:
        ``(encoder, decoder)``:

        - ``encoder``: source ids ``(batch, S)`` -> ``{"encoder_outputs": (batch, S, d_model),
          "source_mask": (batch, S) bool}``;
        - ``decoder``: ``{"target_in": (batch, T), "encoder_outputs", "source_mask"}`` ->
          ``{"logits": (batch, T, vocab), "attention": (batch, heads, T, S)}``, the
          cross-attention weights of block ``attention_layer`` (0 on source padding).
    """
    num_layers = _num_layers(model, "decoder_")
    chosen = range(num_layers)[attention_layer]

    source = keras.Input((None,), dtype="int32", name="source")
    source_mask = ops.not_equal(source, 0)  # (batch, S)
    x = model.get_layer("source_positions")(model.get_layer("source_embedding")(source))
    for i in range(_num_layers(model, "encoder_")):
        x = model.get_layer(f"encoder_{i}")(x)
    if _optional(model, "encoder_norm"):
        x = model.get_layer("encoder_norm")(x)
    encoder = keras.Model(source, {"encoder_outputs": x, "source_mask": source_mask},
                          name=f"{model.name}_encoder")

    return encoder, _Decoder(model, num_layers, chosen)


class _Decoder(keras.Model):
    """The decoder half of a :func:`build_transformer` model, on its layers. A subclassed
    model because a Keras 3.15 functional graph cannot take a second output (the attention
    weights) from a layer whose first call returned one output ("Output ... is not connected
    to inputs"). The encoder outputs' Keras mask is ignored: ``source_mask`` is explicit."""

    def __init__(self, model, num_layers, attention_layer):
        super().__init__(name=f"{model.name}_decoder")
        self.embedding = model.get_layer("target_embedding")
        self.positions = model.get_layer("target_positions")
        self.blocks = [model.get_layer(f"decoder_{i}") for i in range(num_layers)]
        self.norm = _optional(model, "decoder_norm")
        self.head = model.get_layer("logits")
        self.attention_layer = attention_layer
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs, training=False):
        target = ops.convert_to_tensor(inputs["target_in"], "int32")
        values = inputs["encoder_outputs"]
        masks = [ops.not_equal(target, 0), ops.cast(inputs["source_mask"], "bool")]
        y = self.positions(self.embedding(target))  # (batch, T, d_model)
        weights = None
        for i, block in enumerate(self.blocks):
            if i == self.attention_layer:
                y, weights = block([y, values], mask=masks, return_attention_scores=True,
                                   training=training)  # weights: (batch, heads, T, S)
            else:
                y = block([y, values], mask=masks, training=training)
        if self.norm is not None:
            y = self.norm(y)
        return {"logits": self.head(y), "attention": weights}

    def initial_cache(self, encoded: dict, max_length: int) -> dict:
        """The decoding cache: the encoder's outputs and mask, and each block's key/value
        cache for ``max_length`` positions (:meth:`TransformerDecoderBlock.initial_cache`)."""
        cache = {"source_mask": encoded["source_mask"]}
        for i, block in enumerate(self.blocks):
            for key, value in block.initial_cache(encoded["encoder_outputs"], max_length).items():
                cache[f"{key}_{i}"] = value
        return cache

    def decode_step(self, token, index, cache: dict):
        """The logits ``(batch, vocab)`` of the word after ``token`` ``(batch,)`` at position
        ``index``, and the cache extended by that position."""
        y = self.embedding(ops.convert_to_tensor(token, "int32")[:, None])  # (batch, 1, d_model)
        y = self.positions(y, start_index=index)
        new_cache = {"source_mask": cache["source_mask"]}
        names = ("cross_key", "cross_value", "key", "value")
        for i, block in enumerate(self.blocks):
            y, block_cache = block.decode_step(y, {k: cache[f"{k}_{i}"] for k in names}, index,
                                               source_mask=cache["source_mask"])
            new_cache.update({f"{k}_{i}": block_cache[k] for k in names})
        if self.norm is not None:
            y = self.norm(y)
        return self.head(y)[:, 0], new_cache


def transformer_decoding(encoder: keras.Model, decoder: keras.Model, source, max_length: int):
    """Encode ``source`` ``(batch, S)`` and return ``(step_fn, cache)`` for
    :func:`kerasseq.decoding.greedy_decode` / :func:`~kerasseq.decoding.beam_search` with the
    same ``max_length``.

    ``step_fn(tokens, index, cache)`` reads the token at ``tokens[:, index]``, runs the decoder
    on that one position against the key/value cache, and returns the log-probabilities of
    the next word ``(batch, vocab)`` and the extended cache (O(index) per step)."""
    encoded = encoder(ops.convert_to_tensor(source, "int32"), training=False)
    cache = decoder.initial_cache(encoded, max_length)

    def step_fn(tokens, index, cache):
        logits, cache = decoder.decode_step(ops.take(tokens, index, axis=1), index, cache)
        return ops.log_softmax(ops.cast(logits, "float32"), axis=-1), cache

    return step_fn, cache
