"""DAQUAR question answering end to end at tiny scale on the real data, on TensorFlow (through
the CLI, tracked in a SQLite store) and on JAX without TensorFlow (in this process; the JAX
suite runs this file too): train, score (accuracy, WUPS), draw, export, reload, answer."""

import zipfile

import keras
import numpy as np
import pytest

from conftest import train_tiny
from kerasseq.data import daquar
from kerasseq.errors import UserError
from kerasseq.tasks import get_task
from kerasseq.tasks.configs import VQAConfig
from kerasseq.training import load_run

TINY = dict(model="attention", epochs=1, steps_per_epoch=10, batch_size=16, image_size=32,
            encoder_filters="8,16", encoder_blocks="1,1", embedding_dim=8, units=16,
            attention_units=8, plots=2)
TENSORFLOW = keras.backend.backend() == "tensorflow"


def _wordnet():
    from kerasseq.metrics.wups import WordNetMissing, load_wordnet

    try:
        load_wordnet()
        return True
    except WordNetMissing:
        return False


@pytest.fixture(scope="module")
def vqa_run(tmp_path_factory, data_dir):
    """A tiny attention run (TensorFlow: through the CLI, tracked; JAX: in process)."""
    return train_tiny("vqa", TINY, tmp_path_factory.mktemp("vqa"), "test_accuracy")


def test_tiny_run_reports_accuracy_wups_and_counts(vqa_run):
    run, metrics = vqa_run
    # Reduced DAQUAR's test file: 297 questions, 7 with a multi-word answer.
    assert metrics["test_questions"] == 290 and metrics["test_multiword_excluded"] == 7
    # The training file's 51 multi-word answers, on either side of the validation split.
    assert metrics["train_multiword_excluded"] + metrics["validation_multiword_excluded"] == 51
    assert metrics["train_questions"] + metrics["train_multiword_excluded"] \
        + metrics["validation_multiword_excluded"] + metrics["validation_not_a_class"] < 3876
    assert 0 <= metrics["test_accuracy"] <= 1 and 0 <= metrics["val_accuracy"] <= 1
    assert 0 <= metrics["test_shuffled_images_accuracy"] <= 1
    # By answer type: the reduced test's 290 questions are 32 colour, 64 count and 194 other
    # ones, and the accuracies by type add up to the whole.
    counts = {k: metrics[f"test_questions_{k}"] for k in ("colour", "count", "other")}
    assert counts == {"colour": 32, "count": 64, "other": 194}
    assert sum(n * metrics[f"test_accuracy_{k}"] for k, n in counts.items()) / 290 \
        == pytest.approx(metrics["test_accuracy"])
    if _wordnet():
        assert metrics["test_accuracy"] <= metrics["test_wups_0.9"] <= metrics["test_wups_0.0"] <= 1
    rows = (run / "artifacts" / "test_answers.tsv").read_text().splitlines()
    assert len(rows) == 291 and rows[1].startswith("image")
    assert (run / "artifacts" / "answers.png").stat().st_size > 5000


def test_reloaded_run_answers_like_the_exported_model(vqa_run):
    run_dir, metrics = vqa_run
    task = get_task("vqa")
    run, model = load_run(task, run_dir)
    _, predicted, truths, _ = task.test_answers(run, model)
    exported = keras.saving.load_model(run_dir / "export" / "model.keras")
    assert task.test_answers(run, exported)[1] == predicted
    assert np.mean([p == t for p, t in zip(predicted, truths)]) == pytest.approx(metrics["test_accuracy"])


@pytest.mark.skipif(not TENSORFLOW, reason="the SavedModel and the CLI run on TensorFlow")
def test_saved_model_answers_question_strings_about_images_of_any_size(vqa_run, data_dir):
    import tensorflow as tf

    run_dir, _ = vqa_run
    task = get_task("vqa")
    run, model = load_run(task, run_dir)
    qa = run.qa["test"]
    numbers, questions = qa.images[:5], qa.questions[:5]
    with zipfile.ZipFile(data_dir / "daquar" / "images.zip") as archive:
        native = np.stack([tf.io.decode_jpeg(archive.read(f"image{n}.jpg"), channels=3,
                                             dct_method="INTEGER_ACCURATE").numpy() for n in numbers])
    assert native.shape[1:] == (128, 169, 3)
    loaded = tf.saved_model.load(str(run_dir / "export" / "saved_model"))
    answers = [a.decode() for a in loaded.answer(tf.constant(native), tf.constant(questions)).numpy()]
    small = daquar.load_images(numbers, 32, data_dir)
    ids = daquar.encode_questions(questions, run.vocab, run.config.question_length)
    expected = [run.classes[k] for k in task.predict(run, model, np.stack([small[n] for n in numbers]), ids)]
    assert answers == expected
    out = loaded.answer_attention(tf.constant(native[:2]), tf.constant(questions[:2]))
    assert out["attention"].shape == (2, 4, 4)  # the 2-stage encoder's 4 × 4 grid at 32 pixels
    np.testing.assert_allclose(out["attention"].numpy().sum((1, 2)), 1.0, atol=1e-5)


def test_sample_answers_questions_about_image_files(vqa_run, data_dir, tmp_path):
    run, model = load_run(get_task("vqa"), vqa_run[0])
    with zipfile.ZipFile(data_dir / "daquar" / "images.zip") as archive:
        (tmp_path / "image1.jpg").write_bytes(archive.read("image1.jpg"))
    out = get_task("vqa").sample(run, model, prompt=f"{tmp_path / 'image1.jpg'} | what is on the table ?")
    answer = out.split(" -> ")[1]
    assert answer in run.classes
    with pytest.raises(UserError, match="IMAGE_PATH \\| question"):
        get_task("vqa").sample(run, model, prompt="what is on the table ?")


def test_settings_are_checked():
    with pytest.raises(UserError, match="multiple of the encoder's output stride 16"):
        VQAConfig(image_size=72)
    with pytest.raises(UserError, match="--freeze_encoder needs --encoder_weights"):
        VQAConfig(freeze_encoder=True)
    with pytest.raises(UserError, match="--validation_fraction"):
        VQAConfig(validation_fraction=0.0)
    with pytest.raises(UserError, match="question_set"):
        VQAConfig(question_set="tiny")
