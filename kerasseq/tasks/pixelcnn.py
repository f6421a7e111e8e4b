"""Gated PixelCNN on binarised MNIST (van den Oord et al. 2016, "Conditional Image Generation
with PixelCNN Decoders"; the benchmark of "Pixel Recurrent Neural Networks").

Protocol: train on 50,000 training images binarised anew every epoch, watch the negative
log-likelihood of 10,000 held-out training images (binarised once, ``val_loss`` per epoch),
and report the test NLL in nats per image on the 10,000 test images binarised once with a
fixed seed (:mod:`kerasseq.data.binarized_mnist`). Anchors: PixelRNN's Diagonal BiLSTM 79.20
nats (van den Oord et al. 2016a, Table 4); a gated PixelCNN should reach about 81 or less.

Artifacts: samples drawn pixel by pixel (one row per digit when class-conditional), test
images with their bottom half occluded and completed three times, and the receptive field of
the centre pixel (input gradients: nothing at or after the pixel, no blind spot above-right).

The exported SavedModel's ``serve`` maps images (and labels) to logits; ``sample`` (TensorFlow
backend) draws images pixel by pixel inside one ``tf.while_loop``.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from kerasseq.data.binarized_mnist import IMAGE_SHAPE, BinarizedMNISTBatches, load_mnist_splits
from kerasseq.tasks.base import Task
from kerasseq.tasks.pixelcnn_config import PixelCNNConfig

SAMPLES_FILE = "samples.png"
COMPLETIONS_FILE = "completions.png"
RECEPTIVE_FIELD_FILE = "receptive_field.png"
COMPLETIONS_PER_IMAGE = 3


def _softplus(x):
    return np.logaddexp(0.0, x)


class PixelCNNTask(Task):
    name = "pixelcnn"
    description = "gated PixelCNN on binarised MNIST: test NLL in nats per image"
    config_class = PixelCNNConfig

    # ------------------------------------------------------------------------- data
    def splits(self, run):
        """The grey train / validation / test images and labels (read once per run)."""
        if getattr(run, "_splits", None) is None:
            run._splits = load_mnist_splits(run.config.data_dir or None,
                                            run.config.validation_size, run.config.data_seed)
        return run._splits

    def batches(self, run, split, train=False):
        c = run.config
        grey, labels = self.splits(run)[split]
        if split == "test" and c.test_images:
            grey, labels = grey[:c.test_images], labels[:c.test_images]
        return BinarizedMNISTBatches(
            grey, labels, c.batch_size, train=train, binarization=c.binarization,
            conditional=c.conditional, output=c.output,
            seed=c.seed if train else c.data_seed + (1 if split == "test" else 0),
            first_epoch=run.initial_epoch if train else 0,
            steps_per_epoch=c.steps_per_epoch if train else 0)

    def datasets(self, run):
        """``(train, validation)``: training images binarised anew each epoch, validation
        images binarised once."""
        return self.batches(run, "train", train=True), self.batches(run, "validation")

    # ------------------------------------------------------------------------ model
    def build_model(self, run):
        from kerasseq.models.pixelcnn import build_gated_pixelcnn

        c = run.config
        return build_gated_pixelcnn(IMAGE_SHAPE, c.num_layers, c.filters,
                                    num_classes=10 if c.conditional else None, output=c.output,
                                    kernel_size=c.kernel_size,
                                    first_kernel_size=c.first_kernel_size)

    def compile_args(self, run):
        from kerasseq.losses.pixelcnn import ImageNLL

        # The loss is the NLL in nats per image, so val_loss is the validation NLL.
        return dict(loss=ImageNLL(run.config.output))

    def jit_compile(self, run):
        """XLA off on TensorFlow's CPU: a training step of the 10-layer, 32-filter model took
        1.25 s with it against 1.0 s without (batch 64, loaded 2-core CPU)."""
        return self.jit_off_on_tensorflow_cpu(super().jit_compile(run))

    # ------------------------------------------------------------------- evaluation
    def nll(self, model, batches, output) -> np.ndarray:
        """Each image's negative log-likelihood in nats (float64), from the compiled predict
        function."""
        values = []
        for k in range(len(batches)):
            inputs, targets = batches[k]
            logits = np.asarray(keras.ops.convert_to_numpy(
                model.predict_on_batch(inputs)), np.float64)
            if output == "bernoulli":  # -log σ(z) for 1, -log(1 - σ(z)) for 0
                per_value = _softplus(logits) - targets * logits
            else:
                logz = np.logaddexp.reduce(logits, axis=-1)
                picked = np.take_along_axis(logits, targets.astype(int)[..., None], -1)[..., 0]
                per_value = logz - picked
            values.append(per_value.reshape(len(per_value), -1).sum(-1))
        return np.concatenate(values)

    def evaluate(self, run, model, val_ds):
        """Test NLL in nats per image (the reported figure) and in bits per dimension, and the
        validation NLL."""
        output = run.config.output
        test = self.nll(model, self.batches(run, "test"), output)
        val = self.nll(model, self.batches(run, "validation"), output)
        dims = int(np.prod(IMAGE_SHAPE))
        return {"test_nll_nats": float(test.mean()),
                "test_bits_per_dim": float(test.mean() / (dims * math.log(2))),
                "val_nll_nats": float(val.mean()), "test_images": len(test),
                "parameters": int(model.count_params())}

    # ------------------------------------------------------------------------ plots
    def plots(self, run, model, history):
        """``samples.png`` (one row per class when conditional), ``completions.png`` and
        ``receptive_field.png`` under ``artifacts/``."""
        from kerasseq.diagnostics.pixelcnn import (input_gradient, plot_image_grid,
                                                   plot_receptive_field)
        from kerasseq.models.pixelcnn import sample_pixelcnn

        c = run.config
        vmax = 1.0 if c.output == "bernoulli" else 255.0
        if c.sample_images:
            if c.conditional:
                labels = np.repeat(np.arange(10), c.sample_images)
                images = sample_pixelcnn(model, labels=labels, seed=c.seed, output=c.output)
                rows, row_labels = images.reshape(10, c.sample_images, *IMAGE_SHAPE), range(10)
            else:
                images = sample_pixelcnn(model, c.sample_images, seed=c.seed, output=c.output)
                rows, row_labels = images[None], None
            plot_image_grid(rows, run.artifacts / SAMPLES_FILE, row_labels,
                            "samples, one row per digit" if c.conditional else "samples",
                            vmax)
        test = self.batches(run, "test")
        if c.completion_images:
            inputs, images = test[0]
            n = min(c.completion_images, len(images))
            labels = np.repeat(test.labels[:n], COMPLETIONS_PER_IMAGE) if c.conditional else None
            half = IMAGE_SHAPE[0] // 2
            completed = sample_pixelcnn(model, labels=labels, start_row=half, seed=c.seed + 1,
                                        images=np.repeat(images[:n], COMPLETIONS_PER_IMAGE, 0),
                                        output=c.output)
            occluded = images[:n].copy()
            occluded[:, half:] = 0.5 * vmax
            rows = np.concatenate([images[:n, None], occluded[:, None],
                                   completed.reshape(n, COMPLETIONS_PER_IMAGE, *IMAGE_SHAPE)], 1)
            plot_image_grid(rows, run.artifacts / COMPLETIONS_FILE, None,
                            "test image | bottom half occluded | 3 completions", vmax)
        inputs, images = test[0]
        pixel = (IMAGE_SHAPE[0] // 2, IMAGE_SHAPE[1] // 2)
        labels = inputs["labels"][:4] if c.conditional else None
        grad = input_gradient(model, images[:4], pixel, labels=labels)
        reach = c.first_kernel_size // 2 + (c.num_layers - 1) * (c.kernel_size // 2)
        plot_receptive_field(grad, pixel, run.artifacts / RECEPTIVE_FIELD_FILE,
                             f"receptive field of pixel {pixel}\n{c.num_layers} gated layers, "
                             f"reach {reach} pixels")

    # ----------------------------------------------------------------------- export
    def example_input(self, run):
        images = np.zeros((1, *IMAGE_SHAPE), np.float32)
        return [images, np.zeros((1,), np.int32)] if run.config.conditional else images

    def export_endpoints(self, run, archive, serving_model):
        """``sample(labels, seed)`` (conditional) or ``sample(num_images, seed)``: float32
        images ``(n, 28, 28, 1)`` drawn pixel by pixel in one ``tf.while_loop``."""
        import tensorflow as tf

        c = run.config
        height, width, colours = IMAGE_SHAPE

        def draw(count, labels, seed):
            def body(k, images):
                i, j = k // width, k % width
                logits = serving_model([images, labels] if c.conditional else images,
                                       training=False)
                key = tf.stack([seed, k])
                if c.output == "bernoulli":
                    u = tf.random.stateless_uniform([count], key)
                    value = tf.cast(u < tf.sigmoid(logits[:, i, j, 0]), tf.float32)
                else:
                    value = tf.cast(tf.random.stateless_categorical(
                        logits[:, i, j, 0], 1, key)[:, 0], tf.float32)
                index = tf.stack([tf.range(count), tf.fill([count], i), tf.fill([count], j),
                                  tf.zeros([count], tf.int32)], 1)
                return k + 1, tf.tensor_scatter_nd_update(images, index, value)

            images = tf.zeros([count, height, width, colours])
            _, images = tf.while_loop(lambda k, _: k < height * width, body,
                                      (tf.constant(0), images))
            return images

        if c.conditional:
            archive.add_endpoint(
                name="sample", fn=lambda labels, seed: draw(tf.shape(labels)[0], labels, seed),
                input_signature=[tf.TensorSpec([None], tf.int32, name="labels"),
                                 tf.TensorSpec([], tf.int32, name="seed")])
        else:
            archive.add_endpoint(
                name="sample", fn=lambda num_images, seed: draw(num_images, None, seed),
                input_signature=[tf.TensorSpec([], tf.int32, name="num_images"),
                                 tf.TensorSpec([], tf.int32, name="seed")])


TASK = PixelCNNTask()
