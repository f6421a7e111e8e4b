"""CenterNet builder and decoder: shapes on DETR's backbone, the heatmap prior, decoding of a
perfect prediction (exact peaks, and Gaussian heatmaps that only the 3×3 peak test reduces to
one detection per object), empty images, a symbolic batch, a jit-compiled fit step with
CenterNetLoss and the .keras round trip."""

import keras
import numpy as np

from kerasseq.boxes import box_cxcywh_to_xyxy
from kerasseq.losses import CenterNetLoss, render_centernet_targets
from kerasseq.models.centernet import HEATMAP_BIAS, build_centernet, decode_centernet

C = 10  # digits
# (label, cx, cy, w, h): three objects, two of one class side by side
OBJECTS = np.array([[2, 0.30, 0.40, 0.25, 0.30], [2, 0.70, 0.42, 0.20, 0.25], [0, 0.53, 0.81, 0.30, 0.20]],
                   "float32")


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _small_model():
    """The default model on 64×64 images (16×16 outputs): its weights have the default model's
    shapes, which JAX compiles the initialisers for once."""
    return build_centernet(C, (64, 64, 1))


def _data(batch=4, seed=0):
    """Random images and packed targets: image 0 holds OBJECTS, image 1 none, others random."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, size=(batch, 64, 64, 1)).astype("float32")
    y_true = np.full((batch, 3, 5), -1.0, "float32")
    y_true[0] = OBJECTS
    for b in range(2, batch):
        y_true[b, :2, 0] = rng.integers(0, C, 2)
        y_true[b, :2, 1:3] = rng.uniform(0.2, 0.8, (2, 2))  # centres
        y_true[b, :2, 3:] = rng.uniform(0.1, 0.3, (2, 2))  # sizes
    return images, y_true


def _perfect_outputs(objects, grid, num_classes=C):
    """Outputs that predict ``objects`` exactly: one confident peak each, size and offset there."""
    outputs = np.zeros((1, grid, grid, num_classes + 4), "float32")
    outputs[..., :num_classes] = -20.0
    for label, cx, cy, w, h in objects:
        ix, iy = int(cx * grid), int(cy * grid)
        outputs[0, iy, ix, int(label)] = 20.0
        outputs[0, iy, ix, num_classes:] = [w, h, cx * grid - ix, cy * grid - iy]
    return outputs


def _assert_recovers(detections, objects, grid):
    """The top len(objects) detections are the objects (to within one output cell)."""
    n = len(objects)
    boxes, labels = _numpy(detections["boxes"])[0, :n], _numpy(detections["labels"])[0, :n]
    expected = np.clip(_numpy(box_cxcywh_to_xyxy(objects[:, 1:])), 0.0, 1.0)
    order = np.lexsort((boxes[:, 0], labels))
    expected_order = np.lexsort((expected[:, 0], objects[:, 0]))
    np.testing.assert_array_equal(labels[order], objects[expected_order, 0])
    np.testing.assert_allclose(boxes[order], expected[expected_order], atol=1.0 / grid)


def test_default_model_uses_detrs_backbone_at_stride_four():
    model = build_centernet(10)
    assert model.output.shape == (None, 32, 32, 14)  # 128 px → 32×32: 10 heatmaps, size, offset
    assert model.get_layer("resnet_backbone").output.shape == (None, 8, 8, 128)
    np.testing.assert_allclose(_numpy(model.get_layer("heatmap").bias), np.full(10, HEATMAP_BIAS))
    assert abs(1.0 / (1.0 + np.exp(-HEATMAP_BIAS)) - 0.1) < 1e-3


def test_small_model_shapes():
    model = _small_model()
    images, _ = _data(2)
    outputs = model(images)
    assert tuple(outputs.shape) == (2, 16, 16, C + 4)
    assert keras.backend.standardize_dtype(outputs.dtype) == "float32"
    assert np.isfinite(_numpy(outputs)).all()


def test_decode_recovers_a_perfect_prediction():
    detections = decode_centernet(_perfect_outputs(OBJECTS, 16), max_detections=10)
    assert _numpy(detections["boxes"]).shape == (1, 10, 4)
    assert keras.backend.standardize_dtype(detections["labels"].dtype) == "int32"
    _assert_recovers(detections, OBJECTS, 16)
    scores = _numpy(detections["scores"])[0]
    assert (scores[:3] > 0.99).all() and (scores[3:] < 1e-6).all()
    assert (np.diff(scores) <= 0).all()  # highest first


def test_decode_keeps_one_peak_per_rendered_gaussian():
    """Target heatmaps as predictions: without the 3×3 peak test the neighbours of each centre
    (Gaussian values ≥ 0.13) would take the slots after the objects; with it, only the flat
    background (1e-6) is left."""
    targets = render_centernet_targets(OBJECTS[None], 16, 16, C)
    heat = np.clip(_numpy(targets["heatmap"]), 1e-6, 1 - 1e-6)
    outputs = _perfect_outputs(OBJECTS, 16)
    outputs[..., :C] = np.log(heat / (1 - heat))
    detections = decode_centernet(outputs, max_detections=20)
    _assert_recovers(detections, OBJECTS, 16)
    scores = _numpy(detections["scores"])[0]
    assert (scores[:3] > 0.99).all() and scores[3] < 1e-3


def test_decode_empty_images_and_threshold():
    outputs = np.zeros((2, 8, 8, C + 4), "float32")
    outputs[..., :C] = -8.0
    outputs[1, 3, 5, 1] = 3.0  # one detection in the second image only
    detections = decode_centernet(outputs, max_detections=5, score_threshold=0.3)
    labels, scores = _numpy(detections["labels"]), _numpy(detections["scores"])
    np.testing.assert_array_equal(labels, [[-1] * 5, [1, -1, -1, -1, -1]])
    assert (scores[0] == 0).all() and scores[1, 0] > 0.9
    boxes = _numpy(detections["boxes"])
    assert boxes.min() >= 0.0 and boxes.max() <= 1.0
    # more detections asked for than cells × classes: all of them
    assert _numpy(decode_centernet(outputs[:, :2, :2], max_detections=100)["scores"]).shape == (2, 2 * 2 * C)


def test_decode_with_a_symbolic_batch():
    model = _small_model()
    detector = keras.Model(model.input, decode_centernet(model.output, max_detections=7))
    assert detector.output["boxes"].shape == (None, 7, 4)
    images, _ = _data(3)
    for batch in (1, 3):
        detections = detector.predict(images[:batch], verbose=0)
        assert detections["boxes"].shape == (batch, 7, 4) and detections["labels"].shape == (batch, 7)
        expected = decode_centernet(model.predict(images[:batch], verbose=0), max_detections=7)
        np.testing.assert_allclose(detections["scores"], _numpy(expected["scores"]), atol=1e-5)


def test_jit_compiled_fit_step_and_keras_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    model = _small_model()
    # XLA on the JAX suite's run; on TensorFlow's CPU the runner keeps XLA off (it compiles
    # this step for a minute), so the TF suite checks the graph step.
    model.compile(keras.optimizers.Adam(1e-3), loss=CenterNetLoss(C),
                  jit_compile=keras.backend.backend() != "tensorflow")
    images, y_true = _data(4)
    history = model.fit(images, y_true, batch_size=4, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()

    model.save(tmp_path / "centernet.keras")
    loaded = keras.saving.load_model(tmp_path / "centernet.keras")
    assert isinstance(loaded.loss, CenterNetLoss) and loaded.loss.num_classes == C
    np.testing.assert_allclose(_numpy(loaded(images)), _numpy(model(images)), atol=1e-5)
    assert int(loaded.optimizer.iterations) == 2
