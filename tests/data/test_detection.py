"""Detection canvases: splits draw disjoint MNIST digits, boxes are tight around the ink, the
pipeline's shapes and padding, seeded fixed sets, epochs that differ, and clear errors."""

import numpy as np
import pytest

from kerasseq.data.detection import (INK_THRESHOLD, coco_ground_truth, cxcywh_to_xyxy,
                                     load_digits, make_canvas, make_canvases, write_detection_set)
from kerasseq.data.detection_pipelines import detection_dataset
from kerasseq.data.images import load_images
from kerasseq.errors import UserError


def test_splits_draw_disjoint_digits_with_their_mnist_labels(data_dir):
    sources = {split: load_digits(split, data_dir) for split in ("train", "validation", "test")}
    assert len(sources["train"].digits) == 55_000 and len(sources["validation"].digits) == 5_000
    assert not set(sources["train"].indices) & set(sources["validation"].indices)
    assert sources["test"].mnist_file == "t10k" and len(sources["test"].digits) == 10_000
    mnist = {"train": load_images("mnist", "train", data_dir),
             "t10k": load_images("mnist", "test", data_dir)}
    for split, source in sources.items():
        canvases = make_canvases(30, seed=0, split=split, data_dir=data_dir)
        used = canvases.digit_indices[canvases.digit_indices >= 0]
        assert np.isin(used, source.indices).all(), split
        # Each object's label is the label of the MNIST digit it was drawn from.
        _, labels = mnist[canvases.mnist_file]
        real = canvases.labels >= 0
        np.testing.assert_array_equal(canvases.labels[real], labels[canvases.digit_indices[real]])
    train = make_canvases(30, seed=0, split="train", data_dir=data_dir).digit_indices
    validation = make_canvases(30, seed=0, split="validation", data_dir=data_dir).digit_indices
    assert train.max() < 55_000 <= validation[validation >= 0].min()


def test_a_single_digit_box_is_tight_around_its_ink(data_dir):
    source = load_digits("test", data_dir)
    for seed in range(20):
        image, boxes, labels = make_canvas(np.random.default_rng(seed), source.digits,
                                           source.labels, min_objects=1, max_objects=1)
        ys, xs = np.nonzero(image >= INK_THRESHOLD)
        expected = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        np.testing.assert_allclose(cxcywh_to_xyxy(boxes, 128)[0], expected, atol=1e-4)
        width, height = expected[2] - expected[0], expected[3] - expected[1]
        assert 16 - 2 <= max(width, height) <= 48  # bilinear edges may fade by a pixel


def test_every_box_touches_ink_on_all_sides_and_covers_all_ink(data_dir):
    canvases = make_canvases(20, seed=1, split="validation", data_dir=data_dir)
    for image, boxes, labels in zip(canvases.images, canvases.boxes, canvases.labels):
        ink = image >= INK_THRESHOLD
        covered = np.zeros_like(ink)
        for x0, y0, x1, y1 in cxcywh_to_xyxy(boxes[labels >= 0], 128).round().astype(int):
            assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128
            inside = ink[y0:y1, x0:x1]
            assert inside[0].any() and inside[-1].any()  # top and bottom rows hold ink
            assert inside[:, 0].any() and inside[:, -1].any()
            covered[y0:y1, x0:x1] = True
        assert not (ink & ~covered).any()


def test_pipeline_shapes_padding_and_fixed_sets(data_dir):
    fixed = make_canvases(6, seed=0, split="validation", data_dir=data_dir, max_objects=4)
    batches = list(detection_dataset("validation", 4, data_dir, num_canvases=6, max_objects=4))
    assert [len(x) for x, _ in batches] == [4, 2]
    images = np.concatenate([x.numpy() for x, _ in batches])
    labels = np.concatenate([y["labels"].numpy() for _, y in batches])
    boxes = np.concatenate([y["boxes"].numpy() for _, y in batches])
    assert images.dtype == np.float32 and images.shape == (6, 128, 128, 1)
    np.testing.assert_array_equal(images[..., 0], fixed.images)
    np.testing.assert_array_equal(labels, fixed.labels)
    assert labels.dtype == np.int32 and boxes.shape == (6, 4, 4)
    counts = (labels >= 0).sum(1)
    assert counts.min() >= 1 and counts.max() <= 4 and (counts < 4).any()
    for row, count in zip(range(6), counts):  # objects first, then padding
        assert (labels[row, :count] >= 0).all() and (labels[row, count:] == -1).all()
        assert (boxes[row, count:] == 0).all() and (boxes[row, :count, 2:] > 0).all()
    assert boxes.min() >= 0 and boxes.max() <= 1


def test_fixed_sets_are_seeded_and_prefix_stable(data_dir):
    a = make_canvases(5, seed=3, split="test", data_dir=data_dir)
    b = make_canvases(3, seed=3, split="test", data_dir=data_dir)
    c = make_canvases(5, seed=4, split="test", data_dir=data_dir)
    np.testing.assert_array_equal(a.images[:3], b.images)
    np.testing.assert_array_equal(a.boxes[:3], b.boxes)
    assert not np.array_equal(a.images, c.images)


def test_training_epochs_differ_and_repeat_under_a_seed(data_dir):
    def epochs(seed):
        ds = detection_dataset("train", 4, data_dir, seed=seed, num_canvases=10)
        return [[(x.numpy(), y["labels"].numpy()) for x, y in ds] for _ in range(2)]

    first, again = epochs(7), epochs(7)
    assert len(first[0]) == 2 and first[0][0][0].shape == (4, 128, 128, 1)  # 10 // 4, static
    for epoch, repeat in zip(first, again):
        for (x, y), (x2, y2) in zip(epoch, repeat):
            np.testing.assert_array_equal(x, x2)
            np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(first[0][0][0], first[1][0][0])
    assert not np.array_equal(first[0][0][0], epochs(8)[0][0][0])
    # A run resumed at epoch 1 continues the stream: its first pass is the original second.
    resumed = detection_dataset("train", 4, data_dir, seed=7, num_canvases=10, first_pass=1)
    np.testing.assert_array_equal(next(iter(resumed))[0].numpy(), first[1][0][0])


def test_coco_ground_truth_is_in_pixels_with_category_ids_from_one(tmp_path, data_dir):
    gt = coco_ground_truth([[[0.5, 0.25, 0.25, 0.125], [0, 0, 0, 0]]], [[3, -1]], 128)
    assert gt["images"] == [{"id": 1, "file_name": "000001.png", "width": 128, "height": 128}]
    assert gt["annotations"] == [{"id": 1, "image_id": 1, "category_id": 4,
                                  "bbox": [48.0, 24.0, 32.0, 16.0], "area": 512.0,
                                  "iscrowd": 0}]
    assert [(c["id"], c["name"]) for c in gt["categories"]][::9] == [(1, "0"), (10, "9")]
    path = write_detection_set(tmp_path / "test", num_canvases=3, data_dir=data_dir, images=True)
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "000001.png", "000002.png", "000003.png", "annotations.json"]


@pytest.mark.parametrize("kwargs, message", [
    ({"min_objects": 3, "max_objects": 2}, "min_objects must be <= max_objects.*min_objects=3"),
    ({"scale_range": (16, 200)}, r"scale_range.*canvas_size=128.*\(16, 200\)"),
    ({"scale_range": (40, 20)}, "scale_range must satisfy 1 <= low <= high"),
    ({"max_iou": 1.5}, "max_iou must be in"),
    ({"split": "valid"}, "unknown detection split 'valid'"),
    ({"validation_digits": 60_000}, "validation_digits must be in"),
])
def test_bad_arguments_are_clear_errors(kwargs, message, data_dir):
    args = {"split": "validation", "data_dir": data_dir, **kwargs}
    with pytest.raises(UserError, match=message):
        make_canvases(2, **args)
    with pytest.raises(UserError, match=message):
        detection_dataset(batch_size=2, num_canvases=2, **args)


def test_training_batches_need_enough_canvases(data_dir):
    with pytest.raises(UserError, match="num_canvases.*>= batch_size.*num_canvases=3"):
        detection_dataset("train", 4, data_dir, num_canvases=3)
    with pytest.raises(UserError, match="has no ink"):
        make_canvas(np.random.default_rng(0), np.zeros((2, 28, 28), np.uint8), [1, 2])


def test_detection_batches_give_the_pipeline_canvases_packed(data_dir):
    """The PyDataset (for JAX without TensorFlow): packed (label, cx, cy, w, h) targets, the
    fixed sets of make_canvases, and the training canvases of detection_dataset, pass by pass."""
    import keras

    from kerasseq.data.detection_pipelines import DetectionBatches

    fixed = make_canvases(6, seed=0, split="validation", data_dir=data_dir, max_objects=4)
    validation = DetectionBatches("validation", 4, data_dir, num_canvases=6, max_objects=4)
    assert isinstance(validation, keras.utils.PyDataset) and len(validation) == 2
    batches = [validation[i] for i in range(len(validation))]
    assert [len(x) for x, _ in batches] == [4, 2]
    images = np.concatenate([x for x, _ in batches])
    targets = np.concatenate([y for _, y in batches])
    assert images.dtype == targets.dtype == np.float32
    assert images.shape == (6, 128, 128, 1) and targets.shape == (6, 4, 5)
    np.testing.assert_array_equal(images[..., 0], fixed.images)
    np.testing.assert_array_equal(targets[..., 0], fixed.labels)  # -1 on padding
    np.testing.assert_array_equal(targets[..., 1:], fixed.boxes)  # 0 on padding
    assert (targets[..., 0] == -1).any()
    with pytest.raises(IndexError):
        validation[2]

    train = DetectionBatches("train", 4, data_dir, seed=7, num_canvases=10)
    pipeline = detection_dataset("train", 4, data_dir, seed=7, num_canvases=10)
    assert len(train) == 2  # 10 // 4: the partial batch is dropped
    passes = []
    for _ in range(2):
        expected = [(x.numpy(), y["labels"].numpy(), y["boxes"].numpy()) for x, y in pipeline]
        got = [train[i] for i in range(len(train))]
        for (x, labels, boxes), (x2, targets) in zip(expected, got, strict=True):
            np.testing.assert_array_equal(x2, x)
            np.testing.assert_array_equal(targets[..., 0], labels)
            np.testing.assert_array_equal(targets[..., 1:], boxes)
        passes.append(got[0][0])
        train.on_epoch_end()
    assert not np.array_equal(passes[0], passes[1])  # each epoch draws fresh canvases
    resumed = DetectionBatches("train", 4, data_dir, seed=7, num_canvases=10, first_pass=1)
    np.testing.assert_array_equal(resumed[0][0], passes[1])
