"""Image datasets: IDX and JPEG readers over the shared files, the pipeline and its errors."""

import gzip

import numpy as np
import pytest

from kerasseq.data.images import (DATASETS, image_batches, load_images, read_idx,
                                  to_model_size, train_validation_split)
from kerasseq.errors import DataError


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_splits_have_the_official_sizes_and_the_recorded_statistics(name, data_dir):
    info = DATASETS[name]
    images, labels = load_images(name, "train", data_dir)
    test_images, test_labels = load_images(name, "test", data_dir)
    size, channels = info.native_size, info.channels
    assert images.shape == (50000 if name == "cifar10" else 60000, size, size, channels)
    assert test_images.shape == (10000, size, size, channels) and images.dtype == np.uint8
    assert np.bincount(test_labels).tolist() == ([1000] * 10 if name != "mnist" else
                                                 [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    pixels = images.reshape(-1, channels).astype("float64")
    np.testing.assert_allclose(pixels.mean(0), info.mean, atol=2e-3)
    np.testing.assert_allclose(pixels.std(0), info.std, atol=2e-3)


def test_bad_idx_files_and_names_are_clear_errors(tmp_path):
    path = tmp_path / "bad-idx.gz"
    path.write_bytes(gzip.compress((1234).to_bytes(4, "big") + bytes(8)))
    with pytest.raises(DataError, match="magic number 1234"):
        read_idx(path)
    path.write_bytes(gzip.compress((2049).to_bytes(4, "big") + (5).to_bytes(4, "big") + bytes(3)))
    with pytest.raises(DataError, match=r"holds 3 values.*\(5,\)"):
        read_idx(path)
    with pytest.raises(DataError, match="unknown image dataset 'svhn'"):
        load_images("svhn", "train")
    with pytest.raises(DataError, match="unknown split 'valid'"):
        load_images("mnist", "valid")


def test_a_missing_cifar_file_says_it_cannot_be_downloaded(tmp_path):
    with pytest.raises(DataError, match="cifar10/train_jpeg.npz is missing.*no download source"):
        load_images("cifar10", "train", tmp_path, download=True)


def test_validation_split_is_disjoint_and_seeded():
    images, labels = np.arange(100)[:, None], np.arange(100)
    (x, y), (xv, yv) = train_validation_split(images, labels, 10, seed=3)
    assert len(xv) == 10 and len(x) == 90 and not set(y) & set(yv)
    assert (train_validation_split(images, labels, 10, seed=3)[1][1] == yv).all()
    with pytest.raises(DataError, match="validation_size"):
        train_validation_split(images, labels, 100, seed=0)


def test_mnist_is_zero_padded_to_32_and_other_sizes_resized():
    digits = np.full((2, 28, 28, 1), 200, np.uint8)
    padded = np.asarray(to_model_size(digits, 28, 32))
    assert padded.shape == (2, 32, 32, 1) and padded.dtype == np.float32
    assert (padded[:, 2:30, 2:30] == 200).all() and padded[:, :2].sum() == 0
    larger = np.asarray(to_model_size(np.full((1, 56, 56, 1), 100, np.uint8), 28, 32))
    assert larger.shape == (1, 32, 32, 1) and (larger[:, 2:30, 2:30] == 100).all()


def test_training_batches_are_augmented_one_hot_and_mixed():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 32, 32, 3)).astype(np.uint8)
    labels = rng.integers(0, 10, 64).astype(np.int32)
    info = DATASETS["cifar10"]
    x, y = next(iter(image_batches(images, labels, info, 32, 16)))
    np.testing.assert_array_equal(x.numpy(), images[:16].astype("float32"))  # eval: unchanged
    np.testing.assert_array_equal(y.numpy().argmax(-1), labels[:16])
    train = list(image_batches(images, labels, info, 32, 16, train=True, seed=1, mixup=0.4))
    assert len(train) == 4 and train[0][0].shape == (16, 32, 32, 3)
    soft = np.concatenate([y.numpy() for _, y in train])
    np.testing.assert_allclose(soft.sum(-1), 1.0, rtol=1e-5)
    assert (soft.max(-1) < 0.999).any()  # MixUp mixed some labels
    assert not np.array_equal(np.sort(train[0][0].numpy().ravel()), np.sort(images[:16].ravel()))


def test_randaugment_and_cutmix_run_in_the_pipeline():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (32, 32, 32, 3)).astype(np.uint8)
    labels = rng.integers(0, 10, 32).astype(np.int32)
    batches = list(image_batches(images, labels, DATASETS["cifar10"], 32, 16, train=True, seed=2,
                                 crop_padding=0, randaugment=True, mixup=0.2, cutmix=1.0))
    x, y = batches[0]
    assert x.shape == (16, 32, 32, 3) and y.shape == (16, 10)
    assert float(np.min(x)) >= 0.0 and float(np.max(x)) <= 255.0
    np.testing.assert_allclose(y.numpy().sum(-1), 1.0, rtol=1e-5)
