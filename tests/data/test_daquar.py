"""DAQUAR reader on the shared copy: counts of both question sets, the typo line, the
comma-separated answers, the tokeniser, the image-held-out validation split, the images and
the batches (tf.data on TensorFlow, a PyDataset without it)."""

import numpy as np
import pytest

from kerasseq.data import daquar
from kerasseq.errors import DataError


def test_reduced_set_counts(data_dir):
    train, test = daquar.load_qa("reduced", "train", data_dir), daquar.load_qa("reduced", "test", data_dir)
    assert (len(train), len(test)) == (3876, 297)
    # Single-word answers: 3,876 − 51 and 297 − 7 (the data README's comma-separated lists).
    assert (int(train.single_word().sum()), int(test.single_word().sum())) == (3825, 290)
    assert ("table", "chair") in train.answers
    test_images = set(daquar.split_images("test", data_dir))
    assert set(test.images) <= test_images and len(set(test.images)) == 25
    assert not set(train.images) & test_images


def test_full_set_has_the_typo_repaired(data_dir):
    train = daquar.load_qa("full", "train", data_dir)
    assert len(train) == 6795 and train.typos_fixed == 1
    k = train.questions.index("how many drawers are visible in the image999 ?")
    assert train.images[k] == 999


def test_parse_qa_handles_the_typo_repeated_names_and_lists():
    qa = daquar.parse_qa(["how many drawers are visible in th eimage999 ?", "3",
                          "what is close to the wall in the image12 in the image12 ?", "table, chair",
                          ""])
    assert qa.images == [999, 12] and qa.typos_fixed == 1
    assert qa.answers == [("3",), ("table", "chair")]
    assert qa.single_word().tolist() == [True, False]
    with pytest.raises(DataError, match="line 1: expected the name of one image"):
        daquar.parse_qa(["what is in the picture ?", "chair"], "q.txt")
    with pytest.raises(DataError, match="3 lines"):
        daquar.parse_qa(["a image1", "b", "c image2"])


def test_tokenize_hides_the_image_name():
    assert daquar.tokenize("What is left of the tape_dispenser in th eimage42 ?") == \
        ["what", "is", "left", "of", "the", "tape_dispenser", "in", "the", "image"]


def test_question_types():
    assert daquar.question_type("what is the colour of the sofa in the image3 ?") == "colour"
    assert daquar.question_type("What color is the wall in the image9 ?") == "colour"
    assert daquar.question_type("what colors are the curtains in the image9 ?") == "colour"
    assert daquar.question_type("how many chairs are in the image12 ?") == "count"
    assert daquar.question_type("how many colours are on the rug in the image12 ?") == "count"
    assert daquar.question_type("what is on the table in the image12 ?") == "other"
    assert daquar.question_type("what is behind the colourful box in the image2 ?") == "other"


def test_answers_and_classes():
    answers = [("chair",), ("table",), ("chair",), ("table", "chair"), ("lamp",)]
    classes = daquar.build_answer_classes(answers)
    assert classes == ["chair", "lamp", "table"]
    assert daquar.encode_answers(answers + [("sofa",)], classes).tolist() == [0, 2, 0, -1, 1, -1]


def test_validation_holds_out_whole_images():
    held = daquar.validation_images([3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 0.2, seed=0)
    assert len(held) == 2 and held <= set(range(3, 13))
    assert held == daquar.validation_images([3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 0.2, seed=0)


def test_bad_or_missing_files_are_named(tmp_path):
    (tmp_path / "daquar").mkdir()
    with pytest.raises(DataError, match="daquar/qa.37.raw.train.txt is missing"):
        daquar.load_qa("reduced", "train", tmp_path)
    (tmp_path / "daquar" / "qa.37.raw.train.txt").write_text("what is in the image1 ?\nchair\n")
    with pytest.raises(DataError, match="qa.37.raw.train.txt is corrupt"):
        daquar.load_qa("reduced", "train", tmp_path)
    with pytest.raises(DataError, match="unknown DAQUAR question set"):
        daquar.load_qa("tiny", "train", tmp_path)


def test_images_and_batches(data_dir):
    images = daquar.load_images([1, 3], 32, data_dir)
    assert set(images) == {1, 3} and images[1].shape == (32, 32, 3) and images[1].dtype == np.uint8
    assert images[1].std() > 10  # a photograph, not a blank
    table = np.stack([images[1], images[3]])
    questions = np.arange(10, dtype=np.int32).reshape(5, 2)
    ds = daquar.vqa_batches(table, np.array([0, 1, 1, 0, 1]), questions, np.arange(5, dtype=np.int32),
                            batch_size=2, train=True, seed=0)
    from kerasseq.data.epochs import numpy_batches

    batches = list(numpy_batches(ds))
    assert len(batches) == 2  # whole batches only
    inputs, targets = batches[0]
    assert inputs["images"].shape == (2, 32, 32, 3) and inputs["question"].shape == (2, 2)
    for k, target in enumerate(targets):  # each question keeps its image and its answer
        np.testing.assert_array_equal(inputs["question"][k], questions[target])
        np.testing.assert_array_equal(inputs["images"][k], table[[0, 1, 1, 0, 1][target]])


def test_training_shifts_are_translations_drawn_per_epoch():
    image = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(1, 8, 8, 3)
    ds = daquar.vqa_batches(image, np.zeros(4, int), np.ones((4, 2), np.int32), np.zeros(4, np.int32),
                            batch_size=4, train=True, seed=0, shift=2)
    from kerasseq.data.epochs import numpy_batches

    first = next(iter(numpy_batches(ds)))[0]["images"]
    if not hasattr(ds, "as_numpy_iterator"):  # a PyDataset: Keras moves it to the next epoch
        ds.on_epoch_end()
    second = next(iter(numpy_batches(ds)))[0]["images"]  # the next epoch
    padded = np.pad(image[0], [(2, 2), (2, 2), (0, 0)], mode="edge")
    for crop in first:  # each one an 8 × 8 window of the edge-padded image
        assert any(np.array_equal(crop, padded[r:r + 8, c:c + 8]) for r in range(5) for c in range(5))
    assert not np.array_equal(first, second)
    plain = daquar.vqa_batches(image, np.zeros(4, int), np.ones((4, 2), np.int32), np.zeros(4, np.int32),
                               batch_size=4, train=False, shift=2)
    assert all(np.array_equal(x, image[0]) for x in next(iter(numpy_batches(plain)))[0]["images"])
