"""The small ResNet as an image classifier, and its weights as the captioning / VQA encoder:
the classifier's ``encoder`` is the same network, so a CIFAR-10 run starts those tasks."""

import keras
import numpy as np
import pytest

from kerasseq.errors import UserError
from kerasseq.models import build_resnet_classifier
from kerasseq.models.captioning import build_captioner
from kerasseq.tasks.captioning import load_encoder_weights


def test_classifier_is_the_backbone_pooled_and_a_linear_head():
    model = build_resnet_classifier((64, 64, 3), num_classes=10, filters=(8, 16), blocks_per_stage=(1, 1))
    assert model.output.shape == (None, 10)
    assert model.get_layer("encoder").output.shape == (None, 8, 8, 16)  # output stride 8
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    features = model.get_layer("encoder")(images)
    pooled = keras.ops.mean(features, axis=(1, 2))
    head = model.get_layer("head")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(images)),
                               keras.ops.convert_to_numpy(head(pooled)), rtol=1e-5, atol=1e-5)


def test_classifier_weights_start_a_captioning_encoder_of_another_input_size(tmp_path):
    """Trained on 32-pixel images, the fully convolutional encoder runs on 64-pixel crops:
    ``--encoder_weights RUN/export/model.keras`` of a classification run loads into the
    captioner, and a mismatched encoder is a clear error."""
    classifier = build_resnet_classifier((32, 32, 3), num_classes=10, filters=(8, 16),
                                         blocks_per_stage=(1, 1))
    rng = np.random.default_rng(1)
    classifier.set_weights([rng.normal(size=w.shape).astype("float32") * 0.1 + (w if w.ndim == 1 else 0)
                            for w in classifier.get_weights()])
    path = tmp_path / "model.keras"
    classifier.save(path)
    captioner = build_captioner(20, "attend", image_size=64, caption_length=6, encoder_filters=(8, 16),
                                encoder_blocks=(1, 1), embedding_dim=8, units=8, attention_units=8)
    load_encoder_weights(captioner.get_layer("encoder"), str(path))
    loaded_weights = captioner.get_layer("encoder").get_weights()
    trained_weights = classifier.get_layer("encoder").get_weights()
    assert len(loaded_weights) == len(trained_weights) > 0
    for loaded, trained in zip(loaded_weights, trained_weights):
        np.testing.assert_array_equal(loaded, trained)
    features = captioner.get_layer("encoder")(rng.uniform(0, 255, (2, 64, 64, 3)), training=False)
    assert features.shape == (2, 8, 8, 16)

    other = build_captioner(20, "attend", image_size=64, caption_length=6, encoder_filters=(8, 32),
                            encoder_blocks=(1, 1), embedding_dim=8, units=8, attention_units=8)
    with pytest.raises(UserError, match="does not fit this one"):
        load_encoder_weights(other.get_layer("encoder"), str(path))


def test_image_classification_task_builds_the_resnet_without_its_normalisation():
    from types import SimpleNamespace

    from kerasseq.data.images import dataset_info
    from kerasseq.tasks import get_task
    from kerasseq.tasks.configs import ImageClassificationConfig

    run = SimpleNamespace(config=ImageClassificationConfig(model="resnet", size="tiny", image_size=32),
                          info=dataset_info("cifar10"))
    model = get_task("image-classification").build_model(run)
    assert model.output.shape == (None, 10) and model.name == "resnet_tiny_cifar10"
    assert model.get_layer("encoder").output.shape == (None, 4, 4, 32)
    assert not any(isinstance(layer, keras.layers.Normalization) for layer in model.layers)
