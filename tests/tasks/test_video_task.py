"""Weizmann action classification end to end at tiny scale on the real data, on TensorFlow
(through the CLI, tracked in a SQLite store) and on JAX without TensorFlow (in this process;
the JAX suite runs this file too): one held-out actor, video and clip accuracy, the confusion
matrix, the fold summary, and on TensorFlow the SavedModel's clip and whole-video endpoints."""

import json

import keras
import numpy as np
import pytest

from conftest import train_tiny
from kerasseq.errors import UserError
from kerasseq.tasks import get_task
from kerasseq.tasks.configs import VideoConfig
from kerasseq.training import load_run

TINY = dict(fold=3, epochs=2, clips_per_video=1, clip_length=6, frame_step=4, eval_stride=24,
            batch_size=8, filters="4,8,8", features=16, units=8, learning_rate=0.003)
TENSORFLOW = keras.backend.backend() == "tensorflow"


@pytest.fixture(scope="module")
def video_run(tmp_path_factory, data_dir):
    """A tiny CNN + LSTM run holding out actor 3 (ido)."""
    return train_tiny("video", TINY, tmp_path_factory.mktemp("video"), "test_video_accuracy")


def test_tiny_run_reports_video_and_clip_accuracy(video_run):
    run, metrics = video_run
    assert metrics["test_videos"] == 10 and metrics["epochs"] == 2
    assert 0 <= metrics["test_video_accuracy"] <= 1 and 0 <= metrics["test_clip_accuracy"] <= 1
    assert metrics["test_clips"] > 10  # several sliding clips per video
    saved = json.loads((run / "video_predictions.json").read_text())
    assert saved["actor"] == "ido" and sorted(saved["labels"]) == list(range(10))
    assert np.mean(np.asarray(saved["labels"]) == saved["predicted"]) == metrics["test_video_accuracy"]
    np.testing.assert_allclose(np.sum(saved["probabilities"], 1), 1.0, atol=1e-3)
    assert (run / "artifacts" / "confusion_matrix.png").stat().st_size > 5000


def test_fold_summary_sums_the_confusion_matrix(video_run, tmp_path):
    run, metrics = video_run
    for name in ("ido", "ido_again"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "video_predictions.json").write_text((run / "video_predictions.json").read_text())
    task = get_task("video")
    table, figure = task.summarize_folds(VideoConfig(), tmp_path, ["ido", "ido_again"], [metrics, metrics])
    text = table.read_text()
    assert "| ido | 10 |" in text and "All 20 videos" in text and "| wave2 | 2 |" in text
    assert figure.stat().st_size > 5000
    assert [name for name, _ in task.folds(VideoConfig())][:2] == ["daria", "denis"]
    assert len(task.folds(VideoConfig())) == 9 and task.folds(VideoConfig(fold=0)) is None


def test_reloaded_run_predicts_like_the_export(video_run):
    run_dir, metrics = video_run
    task = get_task("video")
    run, model = load_run(task, run_dir)
    _, test = task.videos(run)
    _, _, probs = task.predict_videos(run, model, test)
    assert np.mean(probs.argmax(-1) == test.labels) == metrics["test_video_accuracy"]
    exported = keras.saving.load_model(run_dir / "export" / "model.keras")
    clip = (test.video(0)[None, :24:4, :, :, None]).astype("uint8")
    direct = keras.ops.convert_to_numpy(keras.ops.softmax(model(clip / 255.0, training=False)))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(exported(clip)), direct, atol=1e-5)


@pytest.mark.skipif(not TENSORFLOW, reason="the SavedModel runs on TensorFlow")
def test_saved_model_classifies_clips_and_whole_videos(video_run):
    import tensorflow as tf

    run_dir, _ = video_run
    task = get_task("video")
    run, model = load_run(task, run_dir)
    _, test = task.videos(run)
    loaded = tf.saved_model.load(str(run_dir / "export" / "saved_model"))
    _, _, expected = task.predict_videos(run, model, test)
    for i in (0, 5):  # whole uint8 videos of different lengths, one at a time
        probs = loaded.classify_video(tf.constant(test.video(i)[None])).numpy()
        np.testing.assert_allclose(probs[0], expected[i], atol=1e-4)
    clips = np.zeros((2, 6, 64, 64, 1), np.uint8)
    assert loaded.serve(tf.constant(clips)).numpy().shape == (2, 10)


def test_settings_are_checked():
    with pytest.raises(UserError, match="--fold must be -1"):
        VideoConfig(fold=9)
    with pytest.raises(UserError, match="--filters"):
        VideoConfig(filters="16,x")
    with pytest.raises(UserError, match="--model must be one of"):
        VideoConfig(model="c3d")
