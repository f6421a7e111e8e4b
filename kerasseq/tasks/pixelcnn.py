"""Autoregressive image models: the gated PixelCNN (van den Oord et al. 2016b, "Conditional
Image Generation with PixelCNN Decoders") and PixelRNN's Row LSTM and Diagonal BiLSTM (van den
Oord et al. 2016a, "Pixel Recurrent Neural Networks"), on binarised MNIST or CIFAR-10, with a
Bernoulli, 256-way softmax or PixelCNN++ discretised logistic mixture output (Salimans et al.
2017).

Protocol, binarised MNIST: train on 50,000 training images binarised anew every epoch, watch
the negative log-likelihood of 10,000 held-out training images (binarised once, ``val_loss``
per epoch), and report the test NLL in nats per image on the 10,000 test images binarised once
with a fixed seed (:mod:`kerasseq.data.binarized_mnist`). Anchors: PixelRNN's Diagonal BiLSTM
79.20 nats (van den Oord et al. 2016a, Table 4); a gated PixelCNN should reach about 81 or
less.

Protocol, CIFAR-10: 8-bit RGB, train on the 50,000 training images (``--validation_size 0``;
otherwise that many are held out for the per-epoch validation NLL), report the test NLL in
bits per dimension, ``NLL / (32·32·3·ln 2)``, on the 10,000 test images. The shared CIFAR-10 is
a JPEG copy (quality 75) of the official images: its decoded pixels differ from the official
ones, so figures are close to, not strictly comparable with, the papers'. Anchors: Diagonal
BiLSTM 3.00, PixelCNN 3.14 (2016a, Table 5), gated PixelCNN 3.03 (2016b), PixelCNN++ 2.92.

Artifacts: samples drawn pixel by pixel (one row per digit when class-conditional), test
images with their bottom half occluded and completed three times, and the receptive field of
the centre pixel (input gradients: nothing at or after the pixel).

The exported SavedModel's ``serve`` maps images (and labels) to logits; ``sample`` (TensorFlow
backend) draws images pixel by pixel inside one ``tf.while_loop``.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from kerasseq.data.binarized_mnist import BinarizedMNISTBatches, load_mnist_splits
from kerasseq.data.images import load_images, train_validation_split
from kerasseq.tasks.base import Task
from kerasseq.tasks.pixelcnn_config import PixelCNNConfig

SAMPLES_FILE = "samples.png"
COMPLETIONS_FILE = "completions.png"
RECEPTIVE_FIELD_FILE = "receptive_field.png"
COMPLETIONS_PER_IMAGE = 3


def _softplus(x):
    return np.logaddexp(0.0, x)


IMAGE_SHAPES = {"mnist": (28, 28, 1), "cifar10": (32, 32, 3)}


def image_shape(config):
    return IMAGE_SHAPES[config.dataset]


class PixelCNNTask(Task):
    name = "pixelcnn"
    description = ("gated PixelCNN, Row LSTM and Diagonal BiLSTM on binarised MNIST (test NLL "
                   "in nats) or CIFAR-10 (test bits/dim)")
    config_class = PixelCNNConfig

    # ------------------------------------------------------------------------- data
    def split(self, run, name):
        """The uint8 images and labels of one split, ``"train"``, ``"validation"`` or
        ``"test"`` (read once per run; CIFAR-10's test split alone when only it is needed,
        as in evaluation: decoding the 50,000 training JPEGs takes seconds)."""
        c = run.config
        if getattr(run, "_splits", None) is None:
            run._splits = {}
        if name not in run._splits:
            if c.dataset == "mnist":
                run._splits.update(load_mnist_splits(c.data_dir or None, c.validation_size,
                                                     c.data_seed))
            elif name == "test":
                run._splits["test"] = load_images("cifar10", "test", c.data_dir or None)
            else:
                images, labels = load_images("cifar10", "train", c.data_dir or None)
                run._splits["train"], run._splits["validation"] = train_validation_split(
                    images, labels, c.validation_size, c.data_seed)
        return run._splits[name]

    def batches(self, run, split, train=False):
        c = run.config
        grey, labels = self.split(run, split)
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
        images binarised once (8-bit outputs: the levels); no validation with
        ``--validation_size 0``."""
        validation = self.batches(run, "validation") if run.config.validation_size else None
        return self.batches(run, "train", train=True), validation

    # ------------------------------------------------------------------------ model
    def build_model(self, run):
        from kerasseq.models.pixelcnn import build_gated_pixelcnn
        from kerasseq.models.pixelrnn import build_pixelrnn

        c = run.config
        if c.model == "gated_pixelcnn":
            return build_gated_pixelcnn(image_shape(c), c.num_layers, c.filters,
                                        num_classes=10 if c.conditional else None, output=c.output,
                                        kernel_size=c.kernel_size,
                                        first_kernel_size=c.first_kernel_size,
                                        num_mixtures=c.num_mixtures)
        return build_pixelrnn(image_shape(c), c.model, c.num_layers, c.filters, output=c.output,
                              kernel_size=c.kernel_size, first_kernel_size=c.first_kernel_size,
                              num_mixtures=c.num_mixtures)

    def compile_args(self, run):
        from kerasseq.losses.pixelcnn import DiscretizedLogisticMixtureNLL, ImageNLL

        # The loss is the NLL in nats per image, so val_loss is the validation NLL.
        c = run.config
        if c.output == "logistic_mixture":
            return dict(loss=DiscretizedLogisticMixtureNLL(c.num_mixtures))
        return dict(loss=ImageNLL(c.output))

    def jit_compile(self, run):
        """XLA off on TensorFlow's CPU: a training step of the 10-layer, 32-filter model took
        1.25 s with it against 1.0 s without (batch 64, loaded 2-core CPU)."""
        return self.jit_off_on_tensorflow_cpu(super().jit_compile(run))

    # ------------------------------------------------------------------- evaluation
    def nll(self, model, batches, output, num_mixtures=10) -> np.ndarray:
        """Each image's negative log-likelihood in nats (float64; the logistic mixture's in
        float32, by the loss's own function), from the compiled predict function."""
        from kerasseq.losses.pixelcnn import discretized_logistic_mixture_nll

        values = []
        for k in range(len(batches)):
            inputs, targets = batches[k]
            if output == "logistic_mixture":
                params = keras.ops.convert_to_tensor(model.predict_on_batch(inputs))
                values.append(np.asarray(keras.ops.convert_to_numpy(
                    discretized_logistic_mixture_nll(targets, params, num_mixtures)), np.float64))
                continue
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
        """Test NLL in nats per image and in bits per dimension (the reported figures: MNIST,
        CIFAR-10), and the validation NLL."""
        c = run.config
        test = self.nll(model, self.batches(run, "test"), c.output, c.num_mixtures)
        dims = int(np.prod(image_shape(c)))
        metrics = {"test_nll_nats": float(test.mean()),
                   "test_bits_per_dim": float(test.mean() / (dims * math.log(2))),
                   "test_images": len(test), "parameters": int(model.count_params())}
        if c.validation_size:
            val = self.nll(model, self.batches(run, "validation"), c.output, c.num_mixtures)
            metrics["val_nll_nats"] = float(val.mean())
        return metrics

    # ------------------------------------------------------------------------ plots
    def plots(self, run, model, history):
        """``samples.png`` (one row per class when conditional), ``completions.png`` and
        ``receptive_field.png`` under ``artifacts/``."""
        from kerasseq.diagnostics.pixelcnn import (input_gradient, plot_image_grid,
                                                   plot_receptive_field)
        from kerasseq.models.pixelcnn import sample_pixelcnn

        c = run.config
        shape = image_shape(c)
        vmax = 1.0 if c.output == "bernoulli" else 255.0
        draw = dict(output=c.output, num_mixtures=c.num_mixtures)
        if c.sample_images:
            if c.conditional:
                labels = np.repeat(np.arange(10), c.sample_images)
                images = sample_pixelcnn(model, labels=labels, seed=c.seed, **draw)
                rows, row_labels = images.reshape(10, c.sample_images, *shape), range(10)
            else:
                images = sample_pixelcnn(model, c.sample_images, seed=c.seed, **draw)
                rows, row_labels = images[None], None
            plot_image_grid(rows, run.artifacts / SAMPLES_FILE, row_labels,
                            "samples, one row per digit" if c.conditional else "samples",
                            vmax)
        test = self.batches(run, "test")
        if c.completion_images:
            inputs, images = test[0]
            n = min(c.completion_images, len(images))
            labels = np.repeat(test.labels[:n], COMPLETIONS_PER_IMAGE) if c.conditional else None
            half = shape[0] // 2
            completed = sample_pixelcnn(model, labels=labels, start_row=half, seed=c.seed + 1,
                                        images=np.repeat(images[:n], COMPLETIONS_PER_IMAGE, 0),
                                        **draw)
            occluded = images[:n].copy()
            occluded[:, half:] = 0.5 * vmax
            rows = np.concatenate([images[:n, None], occluded[:, None],
                                   completed.reshape(n, COMPLETIONS_PER_IMAGE, *shape)], 1)
            plot_image_grid(rows, run.artifacts / COMPLETIONS_FILE, None,
                            "test image | bottom half occluded | 3 completions", vmax)
        inputs, images = test[0]
        pixel = (shape[0] // 2, shape[1] // 2)
        labels = inputs["labels"][:4] if c.conditional else None
        grad = input_gradient(model, images[:4], pixel, labels=labels)
        if c.model == "gated_pixelcnn":
            reach = c.first_kernel_size // 2 + (c.num_layers - 1) * (c.kernel_size // 2)
            what = f"{c.num_layers} gated layers, reach {reach} pixels"
        else:
            what = f"{c.num_layers} {c.model} layers"
        plot_receptive_field(grad, pixel, run.artifacts / RECEPTIVE_FIELD_FILE,
                             f"receptive field of pixel {pixel}\n{what}")

    # ----------------------------------------------------------------------- export
    def example_input(self, run):
        images = np.zeros((1, *image_shape(run.config)), np.float32)
        return [images, np.zeros((1,), np.int32)] if run.config.conditional else images

    def export_endpoints(self, run, archive, serving_model):
        """``sample(labels, seed)`` (conditional) or ``sample(num_images, seed)``: float32
        images ``(n, h, w, colours)`` drawn pixel by pixel (colour by colour, except for the
        logistic mixture, which draws a pixel's colours together) in one ``tf.while_loop``."""
        import tensorflow as tf

        from kerasseq.losses.pixelcnn import sample_discretized_logistic_mixture

        c = run.config
        height, width, colours = image_shape(c)
        # values drawn per step: a pixel (logistic mixture) or one colour of a pixel
        per_step = colours if c.output == "logistic_mixture" else 1

        def draw(count, labels, seed):
            def body(k, images):
                pixel = k * per_step // colours
                i, j, colour = pixel // width, pixel % width, k * per_step % colours
                logits = serving_model([images, labels] if c.conditional else images,
                                       training=False)
                key = tf.stack([seed, k])
                if c.output == "bernoulli":
                    u = tf.random.stateless_uniform([count], key)
                    value = tf.cast(u < tf.sigmoid(logits[:, i, j, colour]), tf.float32)[:, None]
                elif c.output == "softmax256":
                    value = tf.cast(tf.random.stateless_categorical(
                        logits[:, i, j, colour], 1, key), tf.float32)
                else:
                    u = tf.random.stateless_uniform([count, c.num_mixtures + colours], key,
                                                    minval=1e-5, maxval=1 - 1e-5)
                    value = sample_discretized_logistic_mixture(
                        logits[:, i, j], colours, c.num_mixtures,
                        -tf.math.log(-tf.math.log(u[:, :c.num_mixtures])), u[:, c.num_mixtures:])
                rows = tf.repeat(tf.range(count), per_step)
                index = tf.stack([rows, tf.fill([count * per_step], i),
                                  tf.fill([count * per_step], j),
                                  tf.tile(colour + tf.range(per_step), [count])], 1)
                return k + 1, tf.tensor_scatter_nd_update(images, index,
                                                          tf.reshape(value, [-1]))

            images = tf.zeros([count, height, width, colours])
            steps = height * width * colours // per_step
            _, images = tf.while_loop(lambda k, _: k < steps, body, (tf.constant(0), images))
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
