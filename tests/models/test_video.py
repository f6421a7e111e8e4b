"""Video classifiers: every --model of the registry (output shapes, a training step, a .keras
round trip), and the frame-average baseline's independence of frame order."""

import keras
import numpy as np
import pytest

from kerasseq.models.video import VIDEO_MODELS, build_frame_encoder, build_lrcn
from kerasseq.tasks.video_config import VIDEO_MODELS as CONFIG_MODELS

TINY = dict(frame_shape=(16, 16, 1), clip_length=4, filters=(4, 8))


def test_config_lists_every_model():
    assert tuple(VIDEO_MODELS) == CONFIG_MODELS


@pytest.mark.parametrize("name", sorted(VIDEO_MODELS))
def test_every_model_trains_and_round_trips(name, tmp_path):
    extra = {"convlstm_filters": 4} if name == "convlstm" else {"features": 8}
    if name == "rnn":
        extra.update(units=6, depth=2, bidirectional=True, cell="gru")
    model = VIDEO_MODELS[name](5, **TINY, **extra)
    x = np.random.default_rng(0).random((3, 4, 16, 16, 1)).astype("float32")
    assert tuple(model(x).shape) == (3, 5)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, np.array([0, 1, 4]), epochs=1, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)),
                               keras.ops.convert_to_numpy(model(x)), atol=1e-5)


def test_convlstm_layers_agree_and_frame_average_ignores_order():
    x = np.random.default_rng(1).random((2, 4, 16, 16, 1)).astype("float32")
    ours = VIDEO_MODELS["convlstm"](5, **TINY, convlstm_filters=4, recurrent_layer="kerasseq")
    theirs = VIDEO_MODELS["convlstm"](5, **TINY, convlstm_filters=4, recurrent_layer="keras")
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x)),
                               keras.ops.convert_to_numpy(theirs(x)), atol=1e-5)
    frames = VIDEO_MODELS["frames"](5, **TINY, features=8)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(frames(x)),
                               keras.ops.convert_to_numpy(frames(x[:, ::-1])), atol=1e-5)
    lrcn = build_lrcn(5, **TINY, features=8, units=6)  # the temporal model reads the order
    assert not np.allclose(keras.ops.convert_to_numpy(lrcn(x)), keras.ops.convert_to_numpy(lrcn(x[:, ::-1])))


def test_encoder_shapes_and_argument_checks():
    assert build_frame_encoder((64, 64, 1), (16, 32, 64, 64), features=None).output_shape == (None, 4, 4, 64)
    assert build_frame_encoder((64, 64, 1), (16, 32), features=12).output_shape == (None, 12)
    with pytest.raises(ValueError, match="frame_shape"):
        build_lrcn(10, frame_shape=(64, 64))
    with pytest.raises(ValueError, match="clip_length"):
        build_lrcn(10, clip_length=0)
    with pytest.raises(ValueError, match="recurrent_layer"):
        VIDEO_MODELS["convlstm"](10, recurrent_layer="torch")
