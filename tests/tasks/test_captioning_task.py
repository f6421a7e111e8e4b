"""Flickr8k captioning end to end at tiny scale on the real data, on TensorFlow (through the
CLI, tracked in a SQLite store) and on JAX without TensorFlow (in this process; the JAX suite
runs this file too): train, score with the COCO metrics, draw, export, reload, caption files."""

import keras
import numpy as np
import pytest

from conftest import train_tiny
from kerasseq.errors import UserError
from kerasseq.tasks import get_task
from kerasseq.tasks.configs import CaptioningConfig
from kerasseq.training import load_run

TINY = dict(max_train_images=32, max_eval_images=10, epochs=1, batch_size=8, embedding_dim=8,
            units=8, attention_units=8, encoder_filters="8,16", encoder_blocks="1,1",
            image_size=32, resize=40, caption_length=10, min_count=20, plots=1)
TENSORFLOW = keras.backend.backend() == "tensorflow"


@pytest.fixture(scope="module")
def caption_run(tmp_path_factory, data_dir):
    """A tiny Show, Attend and Tell run (TensorFlow: through the CLI, tracked; JAX: in
    process)."""
    return train_tiny("captioning", TINY, tmp_path_factory.mktemp("captioning"), "test_cider")


def test_tiny_run_reports_the_coco_caption_metrics(caption_run):
    run, metrics = caption_run
    for name in ("test_bleu_1", "test_bleu_4", "test_rouge_l", "test_cider", "test_meteor",
                 "test_greedy_bleu_4", "test_blind_bleu_4", "test_blind_cider"):
        assert 0 <= metrics[name] <= 100, name
    assert metrics["test_bleu_1"] > 0 and metrics["epochs"] == 1
    rows = (run / "artifacts" / "test_captions.tsv").read_text().splitlines()
    assert len(rows) == 11 and rows[1].count("|") == 4  # header, 10 images with 5 references
    assert (run / "artifacts" / "caption_0.png").stat().st_size > 5000
    assert (run / "artifacts" / "attention_totals.png").exists()


def test_reloaded_run_captions_like_the_trained_one(caption_run):
    run_dir, _ = caption_run
    task = get_task("captioning")
    run, model = load_run(task, run_dir)
    images = task.images(run, "test")[:4]
    first = task.caption(run, task.captioner(run, model), images)
    again = task.caption(run, task.captioner(run, keras.saving.load_model(run_dir / "export" / "model.keras")), images)
    assert first == again and all(isinstance(c, str) for c in first)


@pytest.mark.skipif(not TENSORFLOW, reason="the SavedModel and the CLI run on TensorFlow")
def test_saved_model_captions_uint8_images_of_any_size(caption_run, data_dir):
    import tensorflow as tf

    from kerasseq.data import flickr8k

    run_dir, _ = caption_run
    task = get_task("captioning")
    run, model = load_run(task, run_dir)
    names = flickr8k.split_images("test", data_dir)[:3]
    native = flickr8k.load_images(names, 160, data_dir)  # the files' own size
    loaded = tf.saved_model.load(str(run_dir / "export" / "saved_model"))
    captions = [c.decode() for c in loaded.caption(tf.constant(native)).numpy()]
    expected = task.caption(run, task.captioner(run, model), flickr8k.load_images(names, 40, data_dir))
    assert captions == expected
    out = loaded.caption_attention(tf.constant(native[:1]))
    assert out["attention"].shape == (1, 10, 4, 4)  # steps × the encoder's 4 × 4 grid
    words = len(out["captions"].numpy()[0].decode().split())
    np.testing.assert_allclose(out["attention"].numpy()[0, :words + 1].sum((1, 2)), 1.0, atol=1e-4)


def test_sample_captions_image_files_and_names_bad_ones(caption_run, data_dir, tmp_path):
    run, model = load_run(get_task("captioning"), caption_run[0])
    image = data_dir / "flickr8k" / "images" / "1000268201_693b08cb0e.jpg"
    out = get_task("captioning").sample(run, model, prompt=f"{image}\n{image}")
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{image}: ") and lines[0] == lines[1]
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    with pytest.raises(UserError, match="notes.txt is not an image file"):
        get_task("captioning").sample(run, model, prompt=str(bad))
    with pytest.raises(UserError, match="does not exist"):
        get_task("captioning").sample(run, model, prompt=str(tmp_path / "missing.jpg"))


def test_settings_are_checked():
    with pytest.raises(UserError, match="multiple of the encoder's output stride 16"):
        CaptioningConfig(image_size=100)
    with pytest.raises(UserError, match="--freeze_encoder needs --encoder_weights"):
        CaptioningConfig(freeze_encoder=True)
    with pytest.raises(UserError, match="one entry per stage"):
        CaptioningConfig(encoder_filters="8,16", encoder_blocks="1")
    with pytest.raises(UserError, match="--resize"):
        CaptioningConfig(resize=100)
