"""build_detr: output layout, decoding, a compiled training step with the set loss, the
cross-attention maps, and the .keras round trip; the detection backbones."""

import keras
import numpy as np
import pytest

from kerasseq.losses import DETRLoss
from kerasseq.losses.detr import pack_detr_targets
from kerasseq.models.backbones import build_backbone, build_resnet_backbone
from kerasseq.models.detr import build_detr, decode_detr, split_detr_outputs

C, Q, SIZE = 3, 5, 64


def _tiny(**kwargs):
    return build_detr(C, (SIZE, SIZE, 1), d_model=16, num_heads=2, num_encoder_layers=1,
                      num_decoder_layers=2, intermediate_dim=32, num_queries=Q, dropout=0.0,
                      **kwargs)


def _images(n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, SIZE, SIZE, 1)).astype("float32")


def test_backbone_output_stride_and_errors():
    backbone = build_resnet_backbone((SIZE, SIZE, 1))
    assert backbone.output.shape == (None, SIZE // 16, SIZE // 16, 128)
    assert build_backbone(backbone, (SIZE, SIZE, 1)) is backbone
    with pytest.raises(ValueError, match="backbone"):
        build_backbone("vgg", (SIZE, SIZE, 1))


def test_outputs_every_decoder_layer_and_decodes(tmp_path):
    model = _tiny()
    out = keras.ops.convert_to_numpy(model(_images()))
    assert out.shape == (2, 2, Q, C + 1 + 4)  # (batch, decoder layers, queries, C + 1 + 4)
    logits, boxes = split_detr_outputs(out, C)
    assert logits.shape[-1] == C + 1 and np.all((boxes > 0) & (boxes < 1))  # sigmoid boxes
    decoded = {k: keras.ops.convert_to_numpy(v) for k, v in decode_detr(out, C).items()}
    probabilities = np.exp(logits[:, -1]) / np.exp(logits[:, -1]).sum(-1, keepdims=True)
    np.testing.assert_allclose(decoded["scores"], probabilities[..., :C].max(-1), atol=1e-5)
    np.testing.assert_array_equal(decoded["labels"], probabilities[..., :C].argmax(-1))
    cx, cy, w, h = np.moveaxis(boxes[:, -1], -1, 0)
    expected = np.clip(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1), 0, 1)
    np.testing.assert_allclose(decoded["boxes"], expected, atol=1e-6)

    model.save(tmp_path / "detr.keras")
    loaded = keras.saving.load_model(tmp_path / "detr.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(_images())), out, atol=1e-5)


def test_one_compiled_training_step_with_the_set_loss():
    model = _tiny(seed=1)
    jit = keras.backend.backend() == "jax"  # TensorFlow's XLA cannot compile the host matching
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=DETRLoss(C), jit_compile=jit)
    labels = np.array([[0, 2, -1], [-1, -1, -1]])  # the second image has no object
    boxes = np.array([[[0.3, 0.3, 0.2, 0.2], [0.7, 0.6, 0.3, 0.2], [0, 0, 0, 0]],
                      np.zeros((3, 4))], "float32")
    targets = keras.ops.convert_to_numpy(pack_detr_targets(labels, boxes))
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    history = model.fit(_images(), targets, batch_size=2, epochs=3, verbose=0).history["loss"]
    assert np.isfinite(history).all() and history[-1] < history[0]
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert sum(not np.allclose(a, b) for a, b in zip(before, after)) > 0.9 * len(before)


def test_cross_attention_maps_cover_the_feature_grid():
    from kerasseq.diagnostics.detr import detr_cross_attention

    model = _tiny()
    maps = detr_cross_attention(model, _images(1))
    assert maps.shape == (1, Q, SIZE // 16, SIZE // 16)
    np.testing.assert_allclose(maps.sum(axis=(2, 3)), 1.0, atol=1e-5)
    first = detr_cross_attention(model, _images(1), layer=0)
    assert not np.allclose(first, maps)
    with pytest.raises(ValueError, match="build_detr"):
        detr_cross_attention(build_resnet_backbone((SIZE, SIZE, 1)), _images(1))


def test_builder_checks_d_model():
    with pytest.raises(ValueError, match="multiple of 4"):
        build_detr(C, (SIZE, SIZE, 1), d_model=18, num_heads=2)
