"""Object detection on multi-digit MNIST canvases: DETR (Carion et al., ECCV 2020) against a
centre-heatmap baseline (CenterNet, Zhou et al. 2019) on the same backbone.

Canvases of 128×128 pixels hold 1–6 real MNIST digits at random scales and positions
(:mod:`kerasseq.data.detection`); training canvases are drawn fresh every epoch from the
training digits, the validation canvases from held-out training digits and the test canvases
(the reported figures) from MNIST's test digits. Both detectors are scored by pycocotools
(AP, AP50, AP75, AP small/medium, AR@100) on the fixed test canvases; DETR's AP on the
validation canvases is tracked every ``--eval_every`` epochs (DETR converges slowly).

The SavedModel adds ``detect(images, score_threshold)``: uint8 images of any size in; boxes
in pixels (x1, y1, x2, y2), scores and labels out, best first, below-threshold slots padded
(score 0, label −1), with ``num_detections``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import keras
import numpy as np

from kerasseq.tasks.base import Task
from kerasseq.tasks.configs import DetectionConfig

NUM_CLASSES = 10
CLASS_NAMES = [str(d) for d in range(NUM_CLASSES)]
CANVAS = 128
AP_CURVE_FILE = "ap_curve.json"
MATCHING_DIR = "matching"


@dataclass(frozen=True)
class Detector:
    """How one detector family is built, trained and read."""

    build: object  # (config) -> keras.Model from images to raw outputs
    loss: object  # (config) -> keras loss on (packed targets, outputs)
    decode: object  # (outputs) -> {"boxes" normalised x1y1x2y2, "scores", "labels"}


def _build_detr(c):
    from kerasseq.models.detr import build_detr

    return build_detr(NUM_CLASSES, (CANVAS, CANVAS, 1), d_model=c.d_model, num_heads=c.num_heads,
                      num_encoder_layers=c.encoder_layers, num_decoder_layers=c.decoder_layers,
                      intermediate_dim=c.intermediate_dim, num_queries=c.num_queries,
                      dropout=c.dropout, seed=c.seed, name="detr")


def _detr_loss(c):
    from kerasseq.losses import DETRLoss

    return DETRLoss(NUM_CLASSES, giou_cost=c.giou_weight, giou_weight=c.giou_weight,
                    aux_loss=c.aux_loss)


def _decode_detr(outputs):
    from kerasseq.models.detr import decode_detr

    return decode_detr(outputs, NUM_CLASSES)


def _build_centernet(c):
    from kerasseq.models.centernet import build_centernet

    return build_centernet(NUM_CLASSES, (CANVAS, CANVAS, 1), name="centernet")


def _centernet_loss(c):
    from kerasseq.losses import CenterNetLoss

    return CenterNetLoss(NUM_CLASSES)


def _decode_centernet(outputs):
    from kerasseq.models.centernet import decode_centernet

    return decode_centernet(outputs, max_detections=100)


DETECTORS = {"detr": Detector(_build_detr, _detr_loss, _decode_detr),
             "centernet": Detector(_build_centernet, _centernet_loss, _decode_centernet)}


def predict_detections(model, decode, images, batch_size: int = 64) -> list[dict]:
    """Per-image detections ``{"boxes" (k, 4) pixel x1y1x2y2, "scores", "labels"}`` of a
    detector on float images ``(n, S, S, 1)`` (pixels in [0, 255])."""
    out = []
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start:start + batch_size], "float32")
        decoded = {k: keras.ops.convert_to_numpy(v)
                   for k, v in decode(model(batch, training=False)).items()}
        for i in range(len(batch)):
            keep = decoded["labels"][i] >= 0  # decoders pad below-threshold slots with -1
            out.append({"boxes": decoded["boxes"][i][keep] * batch.shape[2],
                        "scores": decoded["scores"][i][keep],
                        "labels": decoded["labels"][i][keep]})
    return out


def _as_model_input(images):
    return np.asarray(images, "float32")[..., None]  # (n, S, S, 1)


class APCurve(keras.callbacks.Callback):
    """Every ``every`` epochs: COCO AP of the validation canvases into the epoch's logs
    (``val_AP``, ``val_AP50``) and ``ap_curve.json``; for DETR also the final layer's matching
    of queries to the objects of the first validation canvas, kept for the matching plot."""

    def __init__(self, run, task, every: int):
        super().__init__()
        self.run, self.task, self.every = run, task, every

    def on_epoch_end(self, epoch, logs=None):
        if not self.every or (epoch + 1) % self.every:
            return
        from kerasseq.metrics.coco import coco_evaluate

        validation = self.task.fixed_set(self.run, "validation")
        decode = DETECTORS[self.run.config.model].decode
        detections = predict_detections(self.model, decode, _as_model_input(validation.images))
        scores = coco_evaluate(self.task.ground_truth(validation), detections)
        if logs is not None:
            logs["val_AP"], logs["val_AP50"] = scores["AP"], scores["AP50"]
        path = self.run.dir / AP_CURVE_FILE
        curve = json.loads(path.read_text()) if path.exists() else []
        curve = [row for row in curve if row["epoch"] != epoch + 1] + [
            {"epoch": epoch + 1, **scores}]
        path.write_text(json.dumps(curve, indent=1))
        print(f"\nepoch {epoch + 1}: validation AP {scores['AP']:.3f}, AP50 {scores['AP50']:.3f}")
        if self.run.config.model == "detr":
            from kerasseq.diagnostics.detr import query_matching

            record = query_matching(self.model, self.task.loss_function(self.run), validation, 0)
            (self.run.dir / MATCHING_DIR).mkdir(exist_ok=True)
            np.savez(self.run.dir / MATCHING_DIR / f"epoch_{epoch + 1:04d}.npz", epoch=epoch + 1,
                     **record)


class DetectionTask(Task):
    name = "detection"
    description = "DETR or a centre-heatmap baseline on multi-digit MNIST canvases (COCO AP)"
    config_class = DetectionConfig

    # ------------------------------------------------------------------------- data
    def _canvas_args(self, run):
        return dict(data_dir=run.config.data_dir or None, download=run.config.download,
                    max_objects=run.config.max_objects)

    def fixed_set(self, run, split: str):
        """The fixed validation or test canvases (made once per run)."""
        from kerasseq.data.detection import make_canvases

        cache = run.__dict__.setdefault("_detection_sets", {})
        if split not in cache:
            n = {"validation": run.config.validation_canvases, "test": run.config.test_canvases}[split]
            cache[split] = make_canvases(n, seed=0, split=split, **self._canvas_args(run))
        return cache[split]

    @staticmethod
    def ground_truth(canvases) -> dict:
        from kerasseq.data.detection import coco_ground_truth

        return coco_ground_truth(list(canvases.boxes), list(canvases.labels), CANVAS)

    def datasets(self, run):
        c = run.config
        train_args = dict(seed=c.seed, num_canvases=c.train_canvases, first_pass=run.initial_epoch,
                          **self._canvas_args(run))
        validation_args = dict(num_canvases=c.validation_canvases, **self._canvas_args(run))
        try:
            import tensorflow as tf
        except ModuleNotFoundError:  # JAX alone (the GPU machine): the same canvases, packed
            from kerasseq.data.detection_pipelines import DetectionBatches

            return (DetectionBatches("train", c.batch_size, **train_args),
                    DetectionBatches("validation", c.batch_size, **validation_args))
        from kerasseq.data.detection_pipelines import detection_dataset

        def pack(images, targets):  # kerasseq.losses.detr.pack_detr_targets, in tf.data
            labels = tf.cast(targets["labels"], tf.float32)[..., None]
            return images, tf.concat([labels, targets["boxes"]], axis=-1)  # (B, T, 5)

        train = detection_dataset("train", c.batch_size, **train_args)
        validation = detection_dataset("validation", c.batch_size, **validation_args)
        return train.map(pack), validation.map(pack)

    # ------------------------------------------------------------------------ model
    def build_model(self, run):
        return DETECTORS[run.config.model].build(run.config)

    def loss_function(self, run):
        return DETECTORS[run.config.model].loss(run.config)

    def compile_args(self, run):
        return dict(loss=self.loss_function(run))

    def jit_compile(self, run):
        """DETR's Hungarian matching is a host call (SciPy): JAX compiles it into the step
        (``jax.pure_callback``), TensorFlow's XLA cannot, so DETR's TensorFlow step runs as
        a graph without XLA."""
        setting = super().jit_compile(run)
        if run.config.model == "detr" and keras.backend.backend() == "tensorflow" and setting:
            if setting is True:
                print("DETR on TensorFlow: XLA cannot compile the host-side Hungarian matching; "
                      "training without jit_compile (JAX keeps it).")
            return False
        return setting

    def callbacks(self, run, model):
        return [APCurve(run, self, run.config.eval_every)]

    # ------------------------------------------------------------------- evaluation
    def evaluate(self, run, model, val_ds):
        """COCO AP/AR (pycocotools) on the test canvases (the reported figures) and AP on the
        validation canvases, and the number of parameters."""
        from kerasseq.metrics.coco import coco_evaluate

        decode = DETECTORS[run.config.model].decode
        test = self.fixed_set(run, "test")
        run.test_detections = predict_detections(model, decode, _as_model_input(test.images))
        scores, summary = coco_evaluate(self.ground_truth(test), run.test_detections,
                                        return_summary=True)
        (run.artifacts / "coco_test.txt").write_text(summary)
        validation = self.fixed_set(run, "validation")
        val_scores = coco_evaluate(self.ground_truth(validation), predict_detections(
            model, decode, _as_model_input(validation.images)))
        return {**{f"test_{k}": v for k, v in scores.items()},
                "val_AP": val_scores["AP"], "val_AP50": val_scores["AP50"],
                "parameters": int(model.count_params())}

    def plots(self, run, model, history):
        from kerasseq.data.detection import cxcywh_to_xyxy
        from kerasseq.diagnostics.detection_plots import plot_detections
        from kerasseq.plotting import plot_ap_curve

        c = run.config
        test = self.fixed_set(run, "test")
        if getattr(run, "test_detections", None) is None:
            self.evaluate(run, model, None)
        truth = [{"boxes": cxcywh_to_xyxy(b[l >= 0], CANVAS), "labels": l[l >= 0]}
                 for b, l in zip(test.boxes[:16], test.labels[:16])]
        plot_detections(test.images[:16], run.test_detections[:16], truth, CLASS_NAMES,
                        run.artifacts / "detections.png",
                        title=f"{c.model} on test canvases (score ≥ 0.5; white dashed: truth)")
        curve_path = run.dir / AP_CURVE_FILE
        if curve_path.exists():
            plot_ap_curve(json.loads(curve_path.read_text()), run.artifacts / "ap_curve.png",
                          title=f"{c.model}: validation AP by epoch")
        if c.model == "detr":
            from kerasseq.diagnostics.detr import detr_cross_attention
            from kerasseq.plotting import plot_query_attention, plot_query_matching

            image = _as_model_input(test.images[:1])
            attention = detr_cross_attention(model, image)[0]  # (queries, h, w)
            outputs = keras.ops.convert_to_numpy(model(image, training=False))
            decoded = {k: keras.ops.convert_to_numpy(v)[0] for k, v in _decode_detr(outputs).items()}
            plot_query_attention(test.images[0], attention, decoded["boxes"] * CANVAS,
                                 decoded["scores"], decoded["labels"], CLASS_NAMES,
                                 run.artifacts / "query_attention.png")
            records = sorted((run.dir / MATCHING_DIR).glob("epoch_*.npz"))
            if len(records) >= 1:
                chosen = [records[0], records[-1]] if len(records) > 1 else records
                plot_query_matching([dict(np.load(p)) for p in chosen],
                                    run.artifacts / "query_matching.png")

    # ----------------------------------------------------------------------- export
    def example_input(self, run):
        return np.zeros((1, CANVAS, CANVAS, 1), "float32")

    def export_endpoints(self, run, archive, serving_model):
        from kerasseq.export import detector_endpoint

        detector_endpoint(archive, serving_model, DETECTORS[run.config.model].decode, CANVAS)


TASK = DetectionTask()
