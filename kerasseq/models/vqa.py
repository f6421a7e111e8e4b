"""Visual question answering models: answer classification from an image and a question, as
in Ren, Kiros & Zemel 2015 ("Exploring models and data for image question answering", NIPS
2015), with a soft-attention variant (Xu et al. 2015) and the two one-sided baselines.

Every model takes ``{"images": uint8 (batch, S, S, 3), "question": int32 (batch, T)}``
(question ids right-padded with 0) and returns answer logits ``(batch, classes)``:

- ``vis_lstm``: VIS+LSTM (Ren et al. §4.1). The CNN's feature vector, projected to the word
  embedding size, is the question LSTM's first word; its last state, through a softmax layer,
  gives the answer.
- ``2vis_blstm``: 2-VIS+BLSTM (§4.3). The image is the first *and* the last word (two linear
  maps), and the LSTM is bidirectional.
- ``attention``: the question LSTM's last state attends over the CNN's h × w grid of feature
  vectors with Show, Attend and Tell's soft attention (Xu et al. 2015, §4.2: additive
  attention, :class:`~kerasseq.layers.BahdanauAttention`); the attended vector and the
  question state, through a tanh layer, give the answer.
- ``question_only``: the question LSTM alone (Ren et al.'s "LSTM" blind baseline).
- ``image_only``: the CNN's feature vector alone (the question is ignored).

The CNN is :func:`~kerasseq.models.build_caption_encoder` (a small ResNet, ViT or Swin,
trained from scratch; the paper used fixed ImageNet VGG features), or any Keras model from
float pixels in [0, 255] to a feature map. ``keras.ops`` only: both backends.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.layers.attention import BahdanauAttention
from kerasseq.layers.vqa import ImageAsWords
from kerasseq.models.captioning import build_caption_encoder

VQA_MODELS = ("vis_lstm", "2vis_blstm", "attention", "question_only", "image_only")


def build_vqa_model(num_classes: int, vocab_size: int, model: str = "vis_lstm", *,
                    image_size: int = 64, question_length: int = 32, encoder="resnet",
                    encoder_filters=(16, 32, 64), encoder_blocks=(1, 1, 1),
                    freeze_encoder: bool = False, embedding_dim: int = 128, units: int = 128,
                    attention_units: int = 128, dropout: float = 0.3,
                    image_dropout: float = 0.0) -> keras.Model:
    """An answer classifier over an image and a question.

    Args:
        num_classes: answers to choose from (the single-word training answers).
        vocab_size: question word ids (padding and unknown included).
        model: one of :data:`VQA_MODELS` (see the module docstring).
        image_size: side of the square input images.
        question_length: T, ids per question (0-padded on the right).
        encoder: ``"resnet"``, ``"vit"`` or ``"swin"`` (:func:`build_caption_encoder`, from
            scratch) or a ``keras.Model`` from float pixels in [0, 255] to ``(batch, h, w, D)``
            (e.g. an ImageNet network with weights you supply).
        encoder_filters / encoder_blocks: the ResNet's stages.
        freeze_encoder: keep the encoder's weights fixed.
        embedding_dim: word embedding size (and the projected image's, for the VIS models).
        units: LSTM state size (per direction for ``2vis_blstm``).
        attention_units: hidden size of the attention MLP (``attention``).
        dropout: dropout on the word embeddings and before the softmax layer.
        image_dropout: dropout on the image features (the grid vectors and their mean): a
            CNN trained from scratch on DAQUAR's 700 training images otherwise learns to
            recognise each image and memorises its answers.

    Returns:
        An uncompiled ``keras.Model`` named ``vqa_<model>``; the image models have a layer
        ``encoder``, ``attention`` has ``attention`` whose second output is α ``(batch, h·w)``
        (:func:`attention_model`).

    Example:
    >>> model = build_vqa_model(66, 800, "2vis_blstm", image_size=64)
    >>> logits = model({"images": images_uint8, "question": question_ids})  # (batch, 66)

    References:
        Ren, Kiros & Zemel 2015, "Exploring models and data for image question answering".
        Xu et al. 2015, "Show, attend and tell: neural image caption generation with visual
        attention" (the soft attention).
        Malinowski & Fritz 2014, "A multi-world approach to question answering about
        real-world scenes based on uncertain input" (DAQUAR).
    """
    if model not in VQA_MODELS:
        raise ValueError(f"Expected model in {VQA_MODELS}. Received: model={model!r}")
    for name, value in dict(num_classes=num_classes, vocab_size=vocab_size, units=units,
                            embedding_dim=embedding_dim, question_length=question_length).items():
        if value < 1:
            raise ValueError(f"Expected `{name}` >= 1. Received: {name}={value}")
    images = keras.Input((image_size, image_size, 3), dtype="uint8", name="images")
    question = keras.Input((question_length,), dtype="int32", name="question")
    drop = keras.layers.Dropout(dropout, name="dropout")

    feature_map = None
    if model != "question_only":
        backbone = encoder if isinstance(encoder, keras.Model) else \
            build_caption_encoder(encoder, image_size, encoder_filters, encoder_blocks)
        backbone.trainable = not freeze_encoder
        feature_map = backbone(ops.cast(images, "float32"))  # (batch, h, w, D)
        vectors = keras.layers.Reshape((-1, feature_map.shape[-1]), name="grid_vectors")(feature_map)
        # Layer-normalised, as the captioner's annotations: a from-scratch CNN's ReLU features
        # grow during training and would saturate the LSTM's gates.
        annotations = keras.layers.LayerNormalization(name="annotations")(vectors)  # (batch, L, D)
        annotations = keras.layers.Dropout(image_dropout, name="image_dropout")(annotations)
        image_vector = keras.layers.GlobalAveragePooling1D(name="image_vector")(annotations)

    if model == "image_only":
        hidden = keras.layers.Dense(units, activation="relu", name="hidden")(image_vector)
        return _classifier(images, question, drop(hidden), num_classes, model)

    words = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(question)
    words = keras.layers.Dropout(dropout, name="embedding_dropout")(words)
    if model in ("vis_lstm", "2vis_blstm"):
        both = model == "2vis_blstm"
        sequence = ImageAsWords(embedding_dim, both_ends=both, name="image_as_words")(
            [image_vector, words, question])
        lstm = keras.layers.LSTM(units, name="lstm")
        state = (keras.layers.Bidirectional(lstm, name="blstm") if both else lstm)(sequence)
        return _classifier(images, question, drop(state), num_classes, model)

    mask = ops.not_equal(question, 0)
    state = keras.layers.LSTM(units, name="lstm")(words, mask=mask)  # (batch, units)
    if model == "question_only":
        return _classifier(images, question, drop(state), num_classes, model)
    context, _ = BahdanauAttention(attention_units, name="attention")([state, annotations])
    hidden = keras.layers.Dense(units, activation="tanh", name="hidden")(
        keras.layers.Concatenate(name="state_and_context")([state, context]))
    return _classifier(images, question, drop(hidden), num_classes, model)


def _classifier(images, question, features, num_classes, model):
    logits = keras.layers.Dense(num_classes, name="answer")(features)
    return keras.Model({"images": images, "question": question}, logits, name=f"vqa_{model}")


def attention_model(model: keras.Model) -> keras.Model:
    """The attention weights α ``(batch, h·w)`` of an ``attention`` model over its inputs.

    Raises:
        ValueError: the model has no ``attention`` layer (not the attention variant).
    """
    try:
        layer = model.get_layer("attention")
    except ValueError:
        raise ValueError(f"Expected a model built with model='attention'. Received: {model.name}")
    return keras.Model(model.input, layer.output[1], name="attention_weights")


def has_attention(model: keras.Model) -> bool:
    return any(layer.name == "attention" for layer in model.layers)
