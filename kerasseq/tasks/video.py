"""Action classification on the Weizmann silhouette videos (Gorelick et al. 2007), leave one
actor out.

Protocol: nine folds, each holding out one actor's videos (ten, one per action, in the
standard 90-video set) and training on the other eight actors'; the figure is the video
accuracy on the held-out actor, averaged over the nine folds (with ten videos per fold, the
same as the accuracy over all 90). A video is classified by the mean of the softmax scores of
its sliding clips (:func:`kerasseq.data.weizmann.evaluation_clips`). Nothing is selected on
the held-out actor: training runs a fixed number of epochs, and the ``val_*`` curves (clip loss
and accuracy on the held-out actor) are for watching only.

Models (``--model``): ``rnn``, a per-frame CNN + LSTM/GRU (LRCN, Donahue et al. 2015);
``convlstm``, the CNN's feature maps through a ConvLSTM (Shi et al. 2015); ``frames``, the same
CNN with its frame scores averaged, the baseline without a temporal model.

The exported SavedModel's ``serve`` maps uint8 clips ``(batch, clip_length, 64, 64, 1)`` (the
data file's silhouettes, 0 to 255; every ``frame_step``-th frame) to action probabilities; ``classify_video`` maps whole
uint8 videos ``(batch, frames, 64, 64)`` to probabilities by the evaluation protocol.
"""

from __future__ import annotations

import json

import keras
import numpy as np

from kerasseq.data.weizmann import (ACTIONS, ACTORS, FRAME_SIZE, actor_split, clip_batch,
                                    clip_dataset, clip_span, evaluation_clips, load_weizmann,
                                    video_scores)
from kerasseq.errors import UserError
from kerasseq.tasks.base import Task
from kerasseq.tasks.video_config import VideoConfig

PREDICTIONS_FILE = "video_predictions.json"
RESULTS_FILE = "video_results.md"
CONFUSION_FILE = "confusion_matrix.png"


class VideoTask(Task):
    name = "video"
    description = "action classification on Weizmann silhouettes, leave one actor out"
    config_class = VideoConfig

    def folds(self, config):
        """Leave one actor out: one fold per actor, named after it (``runs/video/daria`` ...)."""
        if config.fold == -1:
            return [(actor, {"fold": k}) for k, actor in enumerate(ACTORS)]
        return None

    # ------------------------------------------------------------------------- data
    def videos(self, run):
        """``(train, test)`` videos of the run's fold (read once per run)."""
        if run.config.fold < 0:
            raise UserError("training one model needs --fold K (the held-out actor, 0-8); "
                            "--fold -1 runs the nine folds (kerasseq train video)")
        if getattr(run, "_videos", None) is None:
            videos = load_weizmann(run.config.data_dir or None, run.config.second_repetitions)
            run._videos = actor_split(videos, run.config.fold)
        return run._videos

    def datasets(self, run):
        """``(train, held-out)``: random clips of the eight training actors' videos (mirrored and
        translated), new every epoch; the held-out actor's sliding clips (monitoring only)."""
        c = run.config
        train, test = self.videos(run)
        return (clip_dataset(train, c.clip_length, c.frame_step, c.batch_size, train=True,
                             clips_per_video=c.clips_per_video, flip=c.flip, shift=c.shift,
                             seed=c.seed,
                             first_epoch=run.initial_epoch),
                clip_dataset(test, c.clip_length, c.frame_step, c.batch_size, train=False,
                             stride=c.eval_stride))

    # ------------------------------------------------------------------------ model
    def build_model(self, run):
        from kerasseq.models.video import VIDEO_MODELS

        c = run.config
        common = dict(frame_shape=(FRAME_SIZE, FRAME_SIZE, 1), clip_length=c.clip_length,
                      filters=c.filter_list, dropout=c.dropout, name=f"video_{c.model}")
        if c.model == "rnn":
            extra = dict(features=c.features, cell=c.cell, units=c.units, depth=c.depth,
                         bidirectional=c.bidirectional)
        elif c.model == "convlstm":
            extra = dict(convlstm_filters=c.convlstm_filters, kernel_size=c.kernel_size,
                         recurrent_layer=c.recurrent_layer)
        else:
            extra = dict(features=c.features)
        return VIDEO_MODELS[c.model](len(ACTIONS), **common, **extra)

    def compile_args(self, run):
        return dict(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])

    def jit_compile(self, run):
        """XLA off on TensorFlow's CPU (as for the nowcaster's ConvLSTM)."""
        return self.jit_off_on_tensorflow_cpu(super().jit_compile(run))

    # ------------------------------------------------------------------- evaluation
    def predict_videos(self, run, model, videos):
        """``(clip probabilities (clips, 10), clip videos (clips,), video probabilities
        (videos, 10))`` of ``videos`` by the evaluation protocol."""
        c = run.config
        rows = evaluation_clips(videos, c.clip_length, c.frame_step, c.eval_stride)
        scores = []
        for i in range(0, len(rows), 32):
            clips, _ = clip_batch(videos, rows[i:i + 32], c.clip_length, c.frame_step)
            logits = model(clips, training=False)
            scores.append(keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1)))
        scores = np.concatenate(scores).astype(np.float64)
        return scores, rows[:, 0], video_scores(scores, rows[:, 0], len(videos))

    def evaluate(self, run, model, val_ds):
        """Video accuracy on the held-out actor (the reported figure), clip accuracy, and the
        predictions of every video (``video_predictions.json``, for the fold summary)."""
        _, test = self.videos(run)
        clip_probs, clip_videos, probs = self.predict_videos(run, model, test)
        predicted = probs.argmax(-1)
        run.video_predictions = {
            "actor": ACTORS[run.config.fold], "names": [str(n) for n in test.names],
            "labels": test.labels.tolist(), "predicted": predicted.tolist(),
            "probabilities": np.round(probs, 5).tolist()}
        (run.dir / PREDICTIONS_FILE).write_text(json.dumps(run.video_predictions, indent=1))
        clip_correct = clip_probs.argmax(-1) == test.labels[clip_videos]
        return {"test_video_accuracy": float(np.mean(predicted == test.labels)),
                "test_clip_accuracy": float(np.mean(clip_correct)),
                "test_videos": len(test), "test_clips": len(clip_videos),
                "parameters": int(model.count_params())}

    def plots(self, run, model, history):
        """The held-out actor's confusion matrix (``artifacts/confusion_matrix.png``)."""
        from kerasseq.plotting import plot_confusion_matrix

        predictions = getattr(run, "video_predictions", None)
        if predictions is None:
            path = run.dir / PREDICTIONS_FILE
            if not path.exists():
                return
            predictions = json.loads(path.read_text())
        plot_confusion_matrix(predictions["labels"], predictions["predicted"], ACTIONS,
                              run.artifacts / CONFUSION_FILE,
                              title=f"{run.config.model}: held-out actor {predictions['actor']}")

    def summarize_folds(self, config, run_dir, names, metrics):
        """``video_results.md`` (video and clip accuracy per held-out actor, their mean, and
        the accuracy per action over all folds) and ``confusion_matrix.png`` (summed over the
        folds)."""
        from kerasseq.crossval import fold_dir
        from kerasseq.plotting import plot_confusion_matrix

        labels, predicted = [], []
        lines = [f"# Weizmann, leave one actor out: {config.model}", "",
                 "| held-out actor | videos | video accuracy | clip accuracy |", "|---|---|---|---|"]
        for name, fold in zip(names, metrics):
            saved = json.loads((fold_dir(run_dir, name) / PREDICTIONS_FILE).read_text())
            labels += saved["labels"]
            predicted += saved["predicted"]
            lines.append(f"| {name} | {fold['test_videos']} | {100 * fold['test_video_accuracy']:.1f}% "
                         f"| {100 * fold['test_clip_accuracy']:.1f}% |")
        video = np.asarray([m["test_video_accuracy"] for m in metrics])
        clip = np.asarray([m["test_clip_accuracy"] for m in metrics])
        labels, predicted = np.asarray(labels), np.asarray(predicted)
        lines.append(f"| **mean ± std over folds** | {len(labels)} | **{100 * video.mean():.1f} ± "
                     f"{100 * video.std():.1f}%** | {100 * clip.mean():.1f} ± {100 * clip.std():.1f}% |")
        lines += ["", f"All {len(labels)} videos: {int((labels == predicted).sum())} correct "
                  f"({100 * np.mean(labels == predicted):.1f}%).", "",
                  "| action | videos | accuracy |", "|---|---|---|"]
        for k, action in enumerate(ACTIONS):
            mine = labels == k
            lines.append(f"| {action} | {int(mine.sum())} | "
                         f"{100 * np.mean(predicted[mine] == k) if mine.any() else float('nan'):.0f}% |")
        table = run_dir / RESULTS_FILE
        table.write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        figure = plot_confusion_matrix(labels, predicted, ACTIONS, run_dir / CONFUSION_FILE,
                                       title=f"Weizmann silhouettes, {config.model}, "
                                             f"{len(names)} held-out actors")
        return [table, figure]

    # ----------------------------------------------------------------------- export
    def serving_model(self, run, model):
        """uint8 clips ``(batch, clip_length, 64, 64, 1)`` (0-255, as in the data file) ->
        action probabilities ``(batch, 10)``; the model sees them scaled to [0, 1]."""
        clips = keras.Input((run.config.clip_length, FRAME_SIZE, FRAME_SIZE, 1), dtype="uint8",
                            name="clips")
        x = keras.layers.Rescaling(1.0 / 255.0, name="to_unit_range")(clips)
        probabilities = keras.layers.Softmax(name="probabilities")(model(x))
        return keras.Model(clips, probabilities, name=f"{model.name}_probabilities")

    def example_input(self, run):
        c = run.config
        return np.zeros((1, c.clip_length, FRAME_SIZE, FRAME_SIZE, 1), "uint8")

    def export_endpoints(self, run, archive, serving_model):
        """``classify_video(videos)``: uint8 ``(batch, frames, 64, 64)``, videos of equal
        length, -> ``(batch, 10)``, the mean of the sliding clips' probabilities, with the
        clips of :func:`kerasseq.data.weizmann.evaluation_starts`."""
        import tensorflow as tf

        c = run.config
        span, steps = clip_span(c.clip_length, c.frame_step), tf.range(c.clip_length)

        def classify_video(videos):
            length = tf.shape(videos)[1]
            last = tf.maximum(length - span, 0)
            starts = tf.unique(tf.concat([tf.range(0, last + 1, c.eval_stride), [last]], 0)).y
            index = tf.minimum(starts[:, None] + c.frame_step * steps[None], length - 1)
            clips = tf.gather(videos, index, axis=1)  # (batch, clips, clip_length, 64, 64)
            count = tf.shape(index)[0]
            flat = tf.reshape(clips, [-1, c.clip_length, FRAME_SIZE, FRAME_SIZE, 1])
            probs = serving_model(flat, training=False)  # (batch · clips, 10)
            return tf.reduce_mean(tf.reshape(probs, [-1, count, len(ACTIONS)]), axis=1)

        archive.add_endpoint(name="classify_video", fn=classify_video, input_signature=[
            tf.TensorSpec([None, None, FRAME_SIZE, FRAME_SIZE], tf.uint8, name="videos")])


TASK = VideoTask()
