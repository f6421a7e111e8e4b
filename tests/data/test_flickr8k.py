"""Flickr8k: the caption file and standard split on the real data, the vocabulary and caption
encoding, checksummed images, crops, and the image-with-five-captions batches."""

import shutil

import numpy as np
import pytest

from kerasseq.data import flickr8k
from kerasseq.data.epochs import numpy_batches
from kerasseq.errors import DataError


@pytest.fixture(scope="module")
def train(data_dir):
    return flickr8k.load_split("train", data_dir)


def test_standard_split_with_five_captions_per_image(data_dir, train):
    captions = flickr8k.load_captions(data_dir)
    assert len(captions) == 8091 and all(len(c) == 5 for c in captions.values())
    sizes = {s: len(flickr8k.split_images(s, data_dir)) for s in flickr8k.SPLITS}
    assert sizes == {"train": 6000, "dev": 1000, "test": 1000}
    names, five = train
    assert names[0] == "2513260012_03d33305cf.jpg" and len(five[0]) == 5
    assert not set(names) & set(flickr8k.split_images("test", data_dir))
    with pytest.raises(DataError, match="unknown Flickr8k split 'val'"):
        flickr8k.split_images("val", data_dir)


def test_tokenize_vocabulary_and_encoding(train):
    assert flickr8k.tokenize("A dog's ball, in 2 parks.") == ["a", "dog", "s", "ball", "in", "2", "parks"]
    vocab = flickr8k.build_vocabulary(train[1], min_count=5)
    assert vocab.tokens[:3] == ["<start>", "<end>", "a"]  # ids 2, 3, then the commonest word
    assert 2000 < len(vocab) < 3000
    inputs, targets = flickr8k.encode_captions([["A dog runs .", "zzzq " * 30] + ["a"] * 3], vocab, 6)
    assert inputs.shape == targets.shape == (1, 5, 6)
    assert flickr8k.decode_caption(targets[0, 0], vocab) == "a dog runs"
    np.testing.assert_array_equal(inputs[0, 0, 1:4], targets[0, 0, :3])  # shifted by one
    assert inputs[0, 0, 0] == 2 and targets[0, 0, 3] == 3 and targets[0, 0, 4] == 0
    assert list(targets[0, 1]) == [1] * 5 + [3]  # unknown words, cut to 5 and <end>


def test_images_are_verified_decoded_and_cropped(data_dir, tmp_path):
    names = flickr8k.split_images("dev", data_dir)[:3]
    images = flickr8k.load_images(names, 144, data_dir)
    assert images.shape == (3, 144, 144, 3) and images.dtype == np.uint8 and images.std() > 20
    centre = flickr8k.crop_images(images, 128)
    np.testing.assert_array_equal(centre, images[:, 8:136, 8:136])
    rng = np.random.default_rng(0)
    crops = flickr8k.crop_images(images, 128, rng, flip=True)
    assert crops.shape == (3, 128, 128, 3)
    # Every random crop is a window of its image (possibly mirrored).
    for crop, image in zip(crops, images):
        found = any(np.array_equal(c, image[i:i + 128, j:j + 128])
                    for c in (crop, crop[:, ::-1]) for i in range(17) for j in range(17))
        assert found
    # A corrupt copy is refused, naming the file.
    copy = tmp_path / "flickr8k" / "images"
    copy.mkdir(parents=True)
    for name in names:
        shutil.copy(data_dir / "flickr8k" / "images" / name, copy / name)
    (copy / names[1]).write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=rf"{names[1]} is corrupt"):
        flickr8k.load_images(names, 144, tmp_path)
    with pytest.raises(DataError, match="not in the Flickr8k release"):
        flickr8k.image_paths(["nope.jpg"], data_dir)


def test_batches_hold_images_with_all_their_captions(data_dir, train):
    names, five = train[0][:10], train[1][:10]
    vocab = flickr8k.build_vocabulary(five, min_count=1)
    inputs, targets = flickr8k.encode_captions(five, vocab, 12)
    images = flickr8k.load_images(names, 72, data_dir)
    batches = list(numpy_batches(flickr8k.caption_batches(images, inputs, targets, crop=64,
                                                          batch_size=4, train=True, seed=1)))
    assert len(batches) == 2  # the partial batch of 2 is dropped in training
    x, y = batches[0]
    assert x["images"].shape == (4, 64, 64, 3) and x["captions_in"].shape == (4, 5, 12)
    seen = [int(np.flatnonzero((inputs == row).all(axis=(1, 2)))[0]) for row in x["captions_in"]]
    np.testing.assert_array_equal(y, targets[seen])
    evaluation = list(numpy_batches(flickr8k.caption_batches(images, inputs, targets, crop=64,
                                                             batch_size=4, train=False)))
    assert [len(b[1]) for b in evaluation] == [4, 4, 2]
    np.testing.assert_array_equal(evaluation[0][0]["images"], images[:4, 4:68, 4:68])
