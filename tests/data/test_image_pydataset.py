"""The image pipeline without TensorFlow (:mod:`kerasseq.data.image_pydataset`): the same
preparation as the tf.data pipeline, crops and flips that are what they say, seeded draws, the
mixing layers, Pillow's JPEG decoding against TensorFlow's, and a short image-classification
run on JAX with TensorFlow absent (the JAX suite blocks it)."""

import numpy as np
import pytest

from kerasseq.data.image_pydataset import ImageBatches, random_crop_flip, to_model_size_numpy
from kerasseq.data.images import dataset_info

try:
    import tensorflow  # noqa: F401
    HAS_TENSORFLOW = True
except ModuleNotFoundError:  # not installed, or blocked by the JAX suite's import hook
    HAS_TENSORFLOW = False


def _images(count, size=28, channels=1, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, channels), dtype=np.uint8)


@pytest.mark.skipif(not HAS_TENSORFLOW, reason="compares with the TensorFlow pipeline")
@pytest.mark.parametrize("native,size", [(28, 32), (28, 28), (32, 64), (28, 24)])
def test_model_size_equals_the_tensorflow_preparation(native, size):
    from kerasseq.data.images import to_model_size

    images = _images(3, native)
    expected = np.asarray(to_model_size(images, native, size))
    np.testing.assert_allclose(to_model_size_numpy(images, native, size), expected, atol=1e-3)


def test_random_crop_flip_takes_windows_of_the_padded_image():
    images = _images(16, 8, 3).astype("float32")
    out = random_crop_flip(images, 2, True, np.random.default_rng(0))
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    mirrored = 0
    for i in range(16):
        windows = [padded[i, t:t + 8, l:l + 8] for t in range(5) for l in range(5)]
        if any(np.array_equal(out[i], w) for w in windows):
            continue
        assert any(np.array_equal(out[i], w[:, ::-1]) for w in windows), i
        mirrored += 1
    assert 0 < mirrored < 16  # some flipped, some not
    assert np.array_equal(random_crop_flip(images, 0, False, np.random.default_rng(1)), images)


def test_batches_train_and_evaluate_as_the_tf_data_pipeline_does():
    info = dataset_info("mnist")
    images, labels = _images(70), np.arange(70) % 10
    evaluate = ImageBatches(images, labels, info, 32, 32)
    assert len(evaluate) == 3  # every image, the last batch smaller
    x, y = evaluate[2]
    assert x.shape == (6, 32, 32, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(y.argmax(-1), labels[64:])
    np.testing.assert_array_equal(x[:, 2:30, 2:30, 0], images[64:, ..., 0])  # padded, in order

    train = ImageBatches(images, labels, info, 32, 32, train=True, seed=3)
    assert len(train) == 2  # full batches only
    first = [train[i] for i in range(2)]
    assert np.array_equal(train[0][0], first[0][0])  # seeded by (seed, epoch, batch)
    train.on_epoch_end()
    assert not np.array_equal(train[0][1], first[0][1])  # a new order every epoch
    seen = np.concatenate([y.argmax(-1) for _, y in first])
    assert len(seen) == 64 and set(seen) <= set(range(10))


def test_mixing_and_randaugment_keep_shapes_and_label_mass():
    info = dataset_info("cifar10")
    images, labels = _images(8, 32, 3), np.arange(8) % 10
    batches = ImageBatches(images, labels, info, 32, 8, train=True, randaugment=True,
                           mixup=0.8, cutmix=1.0)
    x, y = batches[0]
    assert x.shape == (8, 32, 32, 3) and 0 <= x.min() and x.max() <= 255
    np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-5)
    assert (y > 0).sum(-1).max() == 2  # two classes mixed into each image


@pytest.mark.skipif(not HAS_TENSORFLOW, reason="compares Pillow with TensorFlow's decoder")
def test_pillow_decodes_the_cifar_jpegs_as_tensorflow_does(data_dir):
    from PIL import Image  # the decoder used without TensorFlow

    import kerasseq.data.images as images_module

    with np.load(data_dir / "cifar10" / "test_jpeg.npz") as npz:
        blob, offsets = npz["jpeg"], npz["offsets"][:201]
    with_tf = images_module._decode_jpegs(blob, offsets, "test_jpeg.npz")
    import io

    with_pil = np.stack([np.asarray(Image.open(io.BytesIO(blob[a:b].tobytes())).convert("RGB"))
                         for a, b in zip(offsets[:-1], offsets[1:])])
    np.testing.assert_array_equal(with_tf, with_pil)  # the same pixels on both backends


@pytest.mark.skipif(HAS_TENSORFLOW, reason="the JAX suite runs it, with TensorFlow blocked")
def test_image_classification_trains_without_tensorflow(tmp_path):
    from kerasseq.tasks import get_task
    from kerasseq.tasks.configs import ImageClassificationConfig
    from kerasseq.training import train

    config = ImageClassificationConfig(dataset="mnist", model="vit", size="tiny", epochs=1,
                                       steps_per_epoch=20, batch_size=32, validation_size=200,
                                       warmup_epochs=0.5, learning_rate=0.003)
    metrics = train(get_task("image-classification"), config, tmp_path / "run", tracking=False,
                    verbose=0)
    assert metrics["steps"] == 20 and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["test_accuracy"] > 0.12  # 640 digits seen: above the 10% of guessing
    assert (tmp_path / "run" / "artifacts" / "attention_rollout.png").stat().st_size > 5000
