"""Caption decoders: Show and Tell (Vinyals et al. 2015) and the soft attention of Show,
Attend and Tell (Xu et al. 2015), as Keras layers over a CNN's feature map.

Both take ``[features, tokens]``: the annotation vectors ``(batch, L, D)`` (a feature map
flattened over its L = h·w locations) and teacher-forced word ids ``(batch, T)`` (``<start>``
first, 0-padded), and return the logits of the next word at every step. For decoding they
offer the same two methods, used by :class:`kerasseq.models.captioning.Captioner` with
:mod:`kerasseq.decoding`'s greedy and beam search::

    cache = decoder.initial_cache(features)             # dict of (batch, ...) tensors
    logits, alphas, cache = decoder.step(token, cache)  # token (batch,) int32

``keras.ops`` only: both backends.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.layers.attention import BahdanauAttention


def _check_positive(**values):
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Expected `{name}` to be a positive integer. Received: {name}={value!r}")


@keras.saving.register_keras_serializable(package="kerasseq")
class ShowAndTellDecoder(keras.layers.Layer):
    """The LSTM decoder of Show and Tell (Vinyals et al., CVPR 2015, §3.1).

    The image, mean-pooled over its L locations and projected to the word-embedding size, is
    the LSTM's input at step −1 (``image_as="input"``, the paper's choice: "we only input the
    image once, at t = −1"), or sets its initial state through two tanh layers
    (``image_as="state"``)::

        x_{-1} = W_e CNN(I),    x_t = E S_t,    h_t = LSTM(x_t, h_{t-1}),    p_{t+1} = softmax(W_o h_t)

    Args:
        vocab_size: words of the vocabulary (padding and specials included).
        embedding_dim: word (and image) embedding size (the paper: 512).
        units: LSTM state size (the paper: 512).
        image_as: ``"input"`` or ``"state"`` (see above).
        dropout: dropout on the embeddings and the LSTM outputs (the paper used dropout).
        **kwargs: base layer arguments.

    Call: ``[features (batch, L, D), tokens (batch, T)]`` → logits ``(batch, T, vocab_size)``.

    Example:
    >>> decoder = ShowAndTellDecoder(vocab_size=2541, embedding_dim=256, units=256)
    >>> logits = decoder([feature_map_as_vectors, captions_in])
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 256, units: int = 256,
                 image_as: str = "input", dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        _check_positive(vocab_size=vocab_size, embedding_dim=embedding_dim, units=units)
        if image_as not in ("input", "state"):
            raise ValueError(f"Expected image_as 'input' or 'state'. Received: image_as={image_as!r}")
        self.vocab_size, self.embedding_dim, self.units = vocab_size, embedding_dim, units
        self.image_as, self.dropout = image_as, dropout
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
        if image_as == "input":
            self.image_embedding = keras.layers.Dense(embedding_dim, name="image_embedding")
        else:
            self.init_h = keras.layers.Dense(units, activation="tanh", name="init_h")
            self.init_c = keras.layers.Dense(units, activation="tanh", name="init_c")
        self.lstm = keras.layers.LSTM(units, return_sequences=True, return_state=True, name="lstm")
        self.drop = keras.layers.Dropout(dropout)
        self.logits = keras.layers.Dense(vocab_size, name="logits")

    def build(self, input_shape):
        features_shape, tokens_shape = input_shape
        dim = features_shape[-1]
        self.embedding.build(tokens_shape)
        if self.image_as == "input":
            self.image_embedding.build((None, dim))
        else:
            self.init_h.build((None, dim))
            self.init_c.build((None, dim))
        self.lstm.build((None, None, self.embedding_dim))
        self.logits.build((None, None, self.units))

    def _image(self, features):
        return ops.mean(features, axis=1)  # (batch, D): the pooled image vector

    def call(self, inputs, training=None):
        features, tokens = inputs
        x = self.drop(self.embedding(tokens), training=training)  # (batch, T, E)
        image = self._image(features)
        if self.image_as == "input":
            image = self.drop(self.image_embedding(image), training=training)[:, None, :]
            outputs, *_ = self.lstm(ops.concatenate([ops.cast(image, x.dtype), x], axis=1))
            outputs = outputs[:, 1:]  # the output after x_{-1} predicts no word
        else:
            state = [self.init_h(image), self.init_c(image)]
            outputs, *_ = self.lstm(x, initial_state=state)
        return self.logits(self.drop(outputs, training=training))

    def initial_cache(self, features):
        image = self._image(features)
        if self.image_as == "state":
            return {"h": self.init_h(image), "c": self.init_c(image)}
        batch = ops.shape(features)[0]
        zeros = ops.zeros((batch, self.units), image.dtype)
        _, (h, c) = self.lstm.cell(self.image_embedding(image), [zeros, zeros])
        return {"h": h, "c": c}

    def step(self, token, cache):
        """One word: ``token`` ``(batch,)`` → ``(logits (batch, vocab), None, new cache)``."""
        x = self.embedding(token)
        h, (h, c) = self.lstm.cell(x, [cache["h"], cache["c"]])
        return self.logits(h), None, {**cache, "h": h, "c": c}

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim, "units": self.units,
                "image_as": self.image_as, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="kerasseq")
class SoftAttentionDecoder(keras.layers.Layer):
    """The decoder of Show, Attend and Tell with deterministic soft attention (Xu et al., ICML
    2015, §3.1.2 and §4.2).

    With annotation vectors a_1..a_L and the previous word y_{t-1}::

        h_0, c_0 = tanh(f_init,h(mean_i a_i)), tanh(f_init,c(mean_i a_i))
        e_ti     = f_att(a_i, h_{t-1}) = v_aᵀ tanh(W_a h_{t-1} + U_a a_i)      (additive attention)
        α_t      = softmax(e_t)
        β_t      = σ(f_β(h_{t-1}))                                           (the gating scalar, §4.2.1)
        ẑ_t      = β_t Σ_i α_ti a_i
        h_t, c_t = LSTM([E y_{t-1}; ẑ_t], (h_{t-1}, c_{t-1}))
        p(y_t)   ∝ exp(L_o tanh(E y_{t-1} + L_h h_t + L_z ẑ_t))              (the deep output, eq. 7)

    (The paper's eq. 7 has no tanh; its reference code, arctic-captions, applies one, and so do
    we.) In training the layer adds the doubly stochastic regulariser (eq. 9)
    λ Σ_i (1 − Σ_t α_ti)², summed over the unpadded steps of each caption and divided by the
    number of predicted words, as the paper's sum-over-words likelihood is here a mean.

    Args:
        vocab_size: words of the vocabulary (padding and specials included).
        embedding_dim: word embedding size m (the paper: 512 on Flickr8k).
        units: LSTM state size n (the paper: 1800 on Flickr8k).
        attention_units: hidden size of f_att.
        gate: use β_t (``False`` gives ẑ_t = Σ α a).
        regularizer: λ of the doubly stochastic regulariser; 0 disables it.
        dropout: dropout on the embeddings and on the deep output's hidden layer.
        **kwargs: base layer arguments.

    Call: ``[features (batch, L, D), tokens (batch, T)]`` → ``[logits (batch, T, vocab),
    alphas (batch, T, L)]``.

    Example:
    >>> decoder = SoftAttentionDecoder(vocab_size=2541, embedding_dim=128, units=256)
    >>> logits, alphas = decoder([annotations, captions_in])
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 128, units: int = 256,
                 attention_units: int = 256, gate: bool = True, regularizer: float = 1.0,
                 dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        _check_positive(vocab_size=vocab_size, embedding_dim=embedding_dim, units=units,
                        attention_units=attention_units)
        if regularizer < 0:
            raise ValueError(f"Expected regularizer >= 0. Received: regularizer={regularizer}")
        self.vocab_size, self.embedding_dim, self.units = vocab_size, embedding_dim, units
        self.attention_units, self.gate = attention_units, gate
        self.regularizer, self.dropout = regularizer, dropout
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
        self.init_h = keras.layers.Dense(units, activation="tanh", name="init_h")
        self.init_c = keras.layers.Dense(units, activation="tanh", name="init_c")
        self.attention = BahdanauAttention(attention_units, name="attention")
        self.beta = keras.layers.Dense(1, activation="sigmoid", name="beta") if gate else None
        self.cell = keras.layers.LSTMCell(units, name="lstm")
        self.out_h = keras.layers.Dense(embedding_dim, name="deep_output_h")
        self.out_z = keras.layers.Dense(embedding_dim, use_bias=False, name="deep_output_z")
        self.drop = keras.layers.Dropout(dropout)
        self.logits = keras.layers.Dense(vocab_size, name="logits")

    def build(self, input_shape):
        features_shape, tokens_shape = input_shape
        dim = features_shape[-1]
        self.embedding.build(tokens_shape)
        self.init_h.build((None, dim))
        self.init_c.build((None, dim))
        self.attention.build([(None, self.units), (None, None, dim)])
        if self.beta is not None:
            self.beta.build((None, self.units))
        self.cell.build((None, self.embedding_dim + dim))
        self.out_h.build((None, None, self.units))
        self.out_z.build((None, None, dim))
        self.logits.build((None, None, self.embedding_dim))

    def initial_cache(self, features):
        mean = ops.mean(features, axis=1)
        return {"features": features, "keys": self.attention.compute_keys(features),
                "h": self.init_h(mean), "c": self.init_c(mean)}

    def _attend(self, h, features, keys):
        context, alpha = self.attention([h, features, keys])  # (batch, D), (batch, L)
        if self.beta is not None:
            context = self.beta(h) * context
        return context, alpha

    def _readout(self, embedded, h, z, training=None):
        hidden = ops.tanh(embedded + self.out_h(h) + self.out_z(z))
        return self.logits(self.drop(hidden, training=training))

    def call(self, inputs, training=None):
        features, tokens = inputs
        embedded = self.drop(self.embedding(tokens), training=training)  # (batch, T, E)
        cache = self.initial_cache(features)
        keys = cache["keys"]
        batch, locations = ops.shape(features)[0], ops.shape(features)[1]
        init = (cache["h"], cache["c"], ops.zeros((batch, ops.shape(features)[2]), features.dtype),
                ops.zeros((batch, locations), features.dtype))

        def step(carry, x_t):
            h, c = carry[0], carry[1]
            z, alpha = self._attend(h, features, keys)
            z = ops.cast(z, features.dtype)
            out, (h, c) = self.cell(ops.concatenate([x_t, ops.cast(z, x_t.dtype)], axis=-1), [h, c],
                                    training=training)
            carry = (h, c, z, ops.cast(alpha, features.dtype))
            return carry, carry

        # Keras' TensorFlow scan wants per-step outputs shaped as the carry: emit the carry.
        _, (hs, _, zs, alphas) = ops.scan(step, init, ops.transpose(embedded, (1, 0, 2)))
        hs, zs, alphas = (ops.transpose(v, (1, 0, 2)) for v in (hs, zs, alphas))  # batch first
        if training and self.regularizer:
            self.add_loss(self.attention_penalty(alphas, tokens))
        return [self._readout(embedded, hs, zs, training=training), alphas]

    def attention_penalty(self, alphas, tokens):
        """λ Σ_captions Σ_i (1 − Σ_t α_ti)² / (number of predicted words), over unpadded steps."""
        valid = ops.cast(ops.not_equal(tokens, 0), "float32")  # (batch, T)
        total = ops.sum(ops.cast(alphas, "float32") * valid[..., None], axis=1)  # (batch, L)
        penalty = ops.sum(ops.square(1.0 - total))
        return self.regularizer * penalty / ops.maximum(ops.sum(valid), 1.0)

    def step(self, token, cache):
        """One word: ``token`` ``(batch,)`` → ``(logits (batch, vocab), alpha (batch, L), new
        cache)``; ``alpha`` is where the decoder looked to produce this word."""
        embedded = self.embedding(token)
        z, alpha = self._attend(cache["h"], cache["features"], cache["keys"])
        out, (h, c) = self.cell(ops.concatenate([embedded, ops.cast(z, embedded.dtype)], axis=-1),
                                [cache["h"], cache["c"]])
        return self._readout(embedded, h, z), alpha, {**cache, "h": h, "c": c}

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim, "units": self.units,
                "attention_units": self.attention_units, "gate": self.gate,
                "regularizer": self.regularizer, "dropout": self.dropout}
