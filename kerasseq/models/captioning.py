"""Image captioning models: Show and Tell and Show, Attend and Tell over a convolutional
encoder, and :class:`Captioner`, their compiled greedy and beam-search decoding.

The training model takes an image batch with all its captions: ``{"images": uint8 (batch,
S, S, 3), "captions_in": (batch, C, T)}`` → logits ``(batch, C, T, vocab)``; the encoder runs
once per image and its annotation vectors are repeated for the C captions.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerasseq.decoding import beam_search, compiled, greedy_decode
from kerasseq.layers.captioning import ShowAndTellDecoder, SoftAttentionDecoder
from kerasseq.layers.word_detector import WordDetectionLoss
from kerasseq.models.backbones import build_resnet_backbone

CAPTION_MODELS = ("showtell", "attend")
CAPTION_ENCODERS = ("resnet", "vit", "swin")


def build_caption_encoder(name: str, image_size: int, filters=(32, 64, 128), blocks=(2, 2, 2)):
    """An encoder from float pixels in [0, 255] to a feature map ``(batch, h, w, D)``.

    Args:
        name: ``"resnet"`` (:func:`~kerasseq.models.backbones.build_resnet_backbone` with
            ``filters`` / ``blocks``, output stride 4·2^(stages−1)), ``"vit"`` (a ViT of 4
            blocks, width 192, 3 heads, 16-pixel patches: its patch tokens on the patch grid) or
            ``"swin"`` (a Swin of 2+2+2 blocks, widths 48/96/192, windows of 4, 4-pixel
            patches: its last stage, stride 16), built with :func:`~kerasseq.models.build_vit`
            / :func:`~kerasseq.models.build_swin` and their ``features`` layer.
        image_size: side of the square input images.
        filters / blocks: the ResNet's stages.

    Returns:
        A ``keras.Model`` named ``encoder``.
    """
    if name == "resnet":
        return build_resnet_backbone((image_size, image_size, 3), tuple(filters), tuple(blocks),
                                     name="encoder")
    if name not in CAPTION_ENCODERS:
        raise ValueError(f"Expected encoder in {CAPTION_ENCODERS} or a keras.Model. Received: "
                         f"encoder={name!r}")
    images = keras.Input((image_size, image_size, 3), name="images")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(images)
    if name == "vit":
        from kerasseq.models.vit import build_vit

        vit = build_vit(image_size, patch_size=16, num_classes=0, global_pool="avg", class_token=False,
                        embed_dim=192, depth=4, num_heads=3, name="vit")
        tokens = keras.Model(vit.input, vit.get_layer("features").output)(x)  # (batch, N, D)
        grid = image_size // 16
        feature_map = keras.layers.Reshape((grid, grid, tokens.shape[-1]), name="grid")(tokens)
    else:
        from kerasseq.models.swin import build_swin

        swin = build_swin(image_size, patch_size=4, num_classes=0, embed_dim=48, depths=(2, 2, 2),
                          num_heads=(3, 6, 12), window_size=4, name="swin")
        feature_map = keras.Model(swin.input, swin.get_layer("features").output)(x)
    return keras.Model(images, feature_map, name="encoder")


def build_captioner(vocab_size: int, model: str = "attend", *, image_size: int = 128,
                    caption_length: int = 22, captions_per_image: int = 5, encoder="resnet",
                    encoder_filters=(32, 64, 128), encoder_blocks=(2, 2, 2),
                    freeze_encoder: bool = False, embedding_dim: int = 128, units: int = 256,
                    attention_units: int = 256, image_as: str = "input", gate: bool = True,
                    regularizer: float = 1.0, dropout: float = 0.0,
                    word_detection: float = 0.0) -> keras.Model:
    """A captioning model: encoder → annotation vectors → caption decoder.

    Args:
        vocab_size: ids of the caption vocabulary (padding, unknown, start, end and words).
        model: ``"showtell"`` (:class:`~kerasseq.layers.ShowAndTellDecoder`, Vinyals et al.
            2015) or ``"attend"`` (:class:`~kerasseq.layers.SoftAttentionDecoder`, Xu et al.
            2015, soft attention).
        image_size: side of the (square) input images.
        caption_length: T, steps per caption (``<start>`` + words, padded).
        captions_per_image: C, captions decoded per image in training.
        encoder: ``"resnet"``, ``"vit"`` or ``"swin"`` (:func:`build_caption_encoder`,
            trained from scratch) or any ``keras.Model`` from float pixels in [0, 255] to a
            feature map ``(batch, h, w, D)``: for instance a ``keras.applications`` network
            behind its own preprocessing, with weights you supply.
        encoder_filters / encoder_blocks: the ResNet's stages (output stride 4·2^(stages−1):
            three stages on 128-pixel images give 8 × 8 = 64 annotation vectors).
        freeze_encoder: keep the encoder's weights fixed (a fixed-feature run).
        embedding_dim / units / attention_units: decoder sizes.
        image_as: Show and Tell: the image as the first LSTM input or its initial state.
        gate / regularizer: Show, Attend and Tell's β gate and doubly stochastic λ.
        dropout: decoder dropout.
        word_detection: λ of an auxiliary loss on the encoder: predict from the mean annotation
            vector which words the image's captions contain
            (:class:`~kerasseq.layers.WordDetectionLoss`, after Fang et al. 2015); 0 off.

    Returns:
        An uncompiled ``keras.Model`` with layers ``encoder``, ``annotations`` (the
        ``(batch, L, D)`` vectors, layer-normalised) and ``decoder``.

    Example:
    >>> model = build_captioner(2541, "attend", image_size=128)
    >>> logits = model({"images": images_uint8, "captions_in": captions})  # (b, 5, 22, 2541)
    """
    if model not in CAPTION_MODELS:
        raise ValueError(f"Expected model in {CAPTION_MODELS}. Received: model={model!r}")
    images = keras.Input((image_size, image_size, 3), dtype="uint8", name="images")
    captions = keras.Input((captions_per_image, caption_length), dtype="int32", name="captions_in")
    if isinstance(encoder, keras.Model):
        backbone = encoder
    else:
        backbone = build_caption_encoder(encoder, image_size, encoder_filters, encoder_blocks)
    backbone.trainable = not freeze_encoder
    feature_map = backbone(ops.cast(images, "float32"))
    dim = feature_map.shape[-1]
    vectors = keras.layers.Reshape((-1, dim), name="annotation_vectors")(feature_map)
    # Layer-normalised: a from-scratch CNN's ReLU features grow during training until the image
    # embedding saturates the LSTM's gates and every image gets the same caption (seen on
    # Flickr8k with Show and Tell: one caption for all 1,000 test images).
    annotations = keras.layers.LayerNormalization(name="annotations")(vectors)
    if word_detection:
        annotations = WordDetectionLoss(vocab_size, word_detection, name="word_detection")(
            [annotations, captions])
    features = ops.repeat(annotations, captions_per_image, axis=0)  # (batch·C, L, D)
    tokens = ops.reshape(captions, (-1, caption_length))  # (batch·C, T)
    if model == "showtell":
        decoder = ShowAndTellDecoder(vocab_size, embedding_dim, units, image_as=image_as,
                                     dropout=dropout, name="decoder")
        logits = decoder([features, tokens])
    else:
        decoder = SoftAttentionDecoder(vocab_size, embedding_dim, units, attention_units, gate=gate,
                                       regularizer=regularizer, dropout=dropout, name="decoder")
        logits, _ = decoder([features, tokens])
    logits = ops.reshape(logits, (-1, captions_per_image, caption_length, vocab_size))
    return keras.Model({"images": images, "captions_in": captions}, logits,
                       name=f"captioner_{model}")


class Captioner:
    """Caption images with a trained :func:`build_captioner` model: the encoder, then
    :func:`~kerasseq.decoding.greedy_decode` (``beam_width=1``) or
    :func:`~kerasseq.decoding.beam_search` over the decoder's step, compiled into one program
    per batch shape; and the per-word attention maps of a caption.

    Args:
        model: a training model of :func:`build_captioner` (built or loaded).
        beam_width: hypotheses kept per image; 1 is greedy search.
        length_penalty: α of GNMT's length normalisation (beam search).
        max_length: most words per caption, ``<end>`` included.

    Example:
    >>> captioner = Captioner(model, beam_width=3)
    >>> ids = captioner.caption_ids(images)  # (n, max_length) int32, <end>-terminated
    """

    def __init__(self, model: keras.Model, *, beam_width: int = 3, length_penalty: float = 0.6,
                 max_length: int = 22):
        images = next(t for t in model.inputs if t.name.split(":")[0] == "images")
        self.features = keras.Model(images, model.get_layer("annotations").output)
        self.decoder = model.get_layer("decoder")
        self.has_attention = isinstance(self.decoder, SoftAttentionDecoder)
        self.image_size = images.shape[1]
        self.beam_width, self.length_penalty, self.max_length = beam_width, length_penalty, max_length
        self._search_compiled = compiled(self.search)

    def search(self, images):
        """Best caption ids ``(n, max_length)`` of uint8 images ``(n, S, S, 3)`` (traceable)."""
        features = self.features(images, training=False)
        cache = self.decoder.initial_cache(features)

        def step_fn(tokens, index, cache):
            logits, _, cache = self.decoder.step(ops.take(tokens, index, axis=1), cache)
            return ops.log_softmax(ops.cast(logits, "float32"), axis=-1), cache

        batch = ops.shape(images)[0]
        if self.beam_width == 1:
            ids, _ = greedy_decode(step_fn, cache, batch_size=batch, max_length=self.max_length)
        else:
            ids, _ = beam_search(step_fn, cache, batch_size=batch, max_length=self.max_length,
                                 beam_width=self.beam_width, length_penalty=self.length_penalty)
        return ids

    def caption_ids(self, images) -> np.ndarray:
        return np.asarray(ops.convert_to_numpy(
            self._search_compiled(ops.convert_to_tensor(np.asarray(images, "uint8")))))

    def attention_maps(self, images, ids) -> np.ndarray:
        """α ``(n, max_length, L)`` of the decoder teacher-forced on caption ``ids`` (row t:
        where it looked to produce word t; rows after ``<end>`` are meaningless). Raises
        ``ValueError`` for Show and Tell, which has no attention."""
        if not self.has_attention:
            raise ValueError("Show and Tell has no attention maps; train --model attend")
        ids = np.asarray(ids, "int32")
        tokens = np.concatenate([np.full((len(ids), 1), 2, "int32"), ids[:, :-1]], axis=1)
        tokens = np.where(np.cumsum(ids == 3, axis=1) - (ids == 3) > 0, 0, tokens)  # after <end>
        features = self.features(np.asarray(images, "uint8"), training=False)
        _, alphas = self.decoder([features, ops.convert_to_tensor(tokens)], training=False)
        return np.asarray(ops.convert_to_numpy(alphas))
