"""Captioning models: shapes of both builders, compiled greedy search equal to a plain
argmax loop over the decoder's steps, beam width 1 equal to greedy, attention maps."""

import keras
import numpy as np
import pytest

from kerasseq.models import Captioner, build_captioner

VOCAB = 20
TINY = dict(image_size=32, caption_length=6, encoder_filters=(4, 8), encoder_blocks=(1, 1),
            embedding_dim=8, units=8, attention_units=4)


def _images(n=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3)).astype("uint8")


@pytest.mark.parametrize("model", ["showtell", "attend"])
def test_training_model_decodes_every_caption_of_every_image(model):
    keras.utils.set_random_seed(0)
    net = build_captioner(VOCAB, model, **TINY)
    captions = np.random.default_rng(1).integers(2, VOCAB, (3, 5, 6)).astype("int32")
    logits = net({"images": _images(), "captions_in": captions})
    assert tuple(logits.shape) == (3, 5, 6, VOCAB)
    # Caption k of image i sees image i: equal captions of one image give equal logits.
    same = np.repeat(captions[:, :1], 5, axis=1)
    out = keras.ops.convert_to_numpy(net({"images": _images(), "captions_in": same}))
    np.testing.assert_allclose(out[:, 0], out[:, 4], atol=1e-5)
    assert not np.allclose(out[0, 0], out[1, 0])


def test_greedy_search_equals_an_argmax_loop():
    keras.utils.set_random_seed(2)
    net = build_captioner(VOCAB, "attend", **TINY)
    images = _images(seed=3)
    captioner = Captioner(net, beam_width=1, max_length=6)
    ids = captioner.caption_ids(images)
    decoder = net.get_layer("decoder")
    features = captioner.features(images)
    cache = decoder.initial_cache(features)
    token = np.full(3, 2, "int32")
    expected, done = [], np.zeros(3, bool)
    for _ in range(6):
        logits, _, cache = decoder.step(keras.ops.convert_to_tensor(token), cache)
        token = np.argmax(keras.ops.convert_to_numpy(logits), -1).astype("int32")
        expected.append(np.where(done, 0, token))
        done |= token == 3
    np.testing.assert_array_equal(ids, np.stack(expected, 1))


def test_beam_search_keeps_shapes_and_width_one_is_greedy():
    keras.utils.set_random_seed(4)
    net = build_captioner(VOCAB, "showtell", **TINY)
    images = _images(seed=5)
    greedy = Captioner(net, beam_width=1, max_length=6).caption_ids(images)
    beam = Captioner(net, beam_width=3, max_length=6).caption_ids(images)
    assert greedy.shape == beam.shape == (3, 6)
    assert Captioner(net, beam_width=1, max_length=6).has_attention is False
    with pytest.raises(ValueError, match="no attention"):
        Captioner(net).attention_maps(images, greedy)


def test_attention_maps_are_distributions_over_the_grid():
    keras.utils.set_random_seed(6)
    net = build_captioner(VOCAB, "attend", **TINY)
    images = _images(seed=7)
    captioner = Captioner(net, beam_width=2, max_length=6)
    maps = captioner.attention_maps(images, captioner.caption_ids(images))
    assert maps.shape == (3, 6, 16)  # two stages: stride 8, a 4 × 4 grid on 32 pixels
    np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)


def test_builder_refuses_unknown_choices():
    with pytest.raises(ValueError, match="model"):
        build_captioner(VOCAB, "hard", **TINY)
    with pytest.raises(ValueError, match="encoder"):
        build_captioner(VOCAB, "attend", **{**TINY, "encoder": "vgg"})


@pytest.mark.parametrize("encoder,grid", [("vit", 2), ("swin", 2)])
def test_transformer_encoders_give_a_feature_map(encoder, grid):
    from kerasseq.models import build_caption_encoder

    net = build_caption_encoder(encoder, 32)
    assert tuple(net(np.zeros((1, 32, 32, 3), "float32")).shape)[:3] == (1, grid, grid)
    captioner = build_captioner(VOCAB, "attend", **{**TINY, "encoder": encoder})
    assert captioner.get_layer("annotations").output.shape[1] == grid * grid


def test_encoder_names_equal_the_settings_choices():
    from kerasseq.models import CAPTION_ENCODERS, CAPTION_MODELS
    from kerasseq.tasks.configs import CaptioningConfig
    from kerasseq.tasks.captioning_config import CAPTION_ENCODERS as SETTINGS_ENCODERS

    assert SETTINGS_ENCODERS == CAPTION_ENCODERS
    assert CaptioningConfig.__dataclass_fields__["model"].metadata["choices"] == CAPTION_MODELS


def test_word_detection_trains_the_encoder_and_leaves_decoding_alone():
    """The auxiliary word-detection loss is added in training only, reaches the encoder, and
    the captioner (which reads the annotations before it) decodes as without it."""
    keras.utils.set_random_seed(3)
    net = build_captioner(VOCAB, "attend", word_detection=0.5, **TINY)
    captions = np.random.default_rng(1).integers(2, VOCAB, (3, 5, 6)).astype("int32")
    inputs = {"images": _images(), "captions_in": captions}
    net(inputs, training=True)
    assert len(net.losses) == 2  # the attention regulariser and word detection
    encoder = net.get_layer("encoder")
    before = [keras.ops.convert_to_numpy(w).copy() for w in encoder.trainable_weights]
    net.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0))
    net.fit(inputs, captions, epochs=1, verbose=0)
    after = [keras.ops.convert_to_numpy(w) for w in encoder.trainable_weights]
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
    ids = Captioner(net, beam_width=1, max_length=6).caption_ids(_images())
    assert ids.shape == (3, 6)
