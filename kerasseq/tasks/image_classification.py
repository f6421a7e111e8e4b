"""Image classification with Vision Transformers trained from scratch: ViT (Dosovitskiy et
al. 2021), Swin (Liu et al. 2021) and Swin V2 (Liu et al. 2022) on CIFAR-10, MNIST and
Fashion-MNIST; and the small ResNet of captioning and VQA (He et al. 2016), whose CIFAR-10
weights start those tasks' encoders where no ImageNet weights are at hand.

The recipe of the small-dataset ViT literature (Lee et al. 2021): random crops of the
zero-padded image and flips (CIFAR), optional RandAugment / MixUp / CutMix, AdamW with
linear warm-up and cosine decay, label smoothing and stochastic depth. ``validation_size``
training images are held out for model selection; the reported figure is top-1 accuracy on
the test split. CIFAR-10 here is a JPEG copy of the official images (see the data README).

Models take float pixels in [0, 255] and normalise them with the training set's per-channel
mean and std (a ``Normalization`` layer inside the model; the ResNet rescales them to
[-0.5, 0.5] itself, as it does as an encoder). The SavedModel adds
``classify(images)``: a uint8 batch of any size in, class probabilities out.
"""

from __future__ import annotations

import keras
import numpy as np

from kerasseq.data.images import dataset_info, image_batches, load_images, train_validation_split
from kerasseq.tasks.base import Task
from kerasseq.tasks.configs import ImageClassificationConfig

# Model presets for 32×32 inputs (timm's argument names). "small" ViT and Swin have about the
# same number of parameters, so their accuracies compare the architectures. ViTs pool by
# averaging the patch tokens (timm's global_pool="avg"): from scratch on small data it learns
# far faster than the class token (MNIST, 400 steps: 78% against 32% validation accuracy).
PRESETS = {
    ("vit", "tiny"): dict(patch_size=4, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0,
                          global_pool="avg"),
    ("vit", "small"): dict(patch_size=4, embed_dim=96, depth=6, num_heads=3, mlp_ratio=4.0,
                           global_pool="avg"),
    ("vit", "base"): dict(patch_size=4, embed_dim=192, depth=6, num_heads=3, mlp_ratio=4.0,
                          global_pool="avg"),
    ("swin", "tiny"): dict(patch_size=2, embed_dim=16, depths=(1, 1), num_heads=(1, 2),
                           window_size=4, mlp_ratio=2.0),
    ("swin", "small"): dict(patch_size=4, embed_dim=48, depths=(2, 6), num_heads=(3, 6),
                            window_size=4, mlp_ratio=4.0),
    ("swin", "base"): dict(patch_size=2, embed_dim=48, depths=(2, 2, 6), num_heads=(3, 6, 12),
                           window_size=4, mlp_ratio=4.0),
}
for (_model, _size), _preset in list(PRESETS.items()):
    if _model == "swin":
        PRESETS[("swinv2", _size)] = _preset
# The ResNet of captioning and VQA (kerasseq.models.backbones): "small" is their default encoder,
# so a CIFAR-10 run gives it weights (--encoder_weights RUN/export/model.keras).
PRESETS.update({
    ("resnet", "tiny"): dict(filters=(16, 32), blocks_per_stage=(1, 1)),
    ("resnet", "small"): dict(filters=(32, 64, 128), blocks_per_stage=(2, 2, 2)),
    ("resnet", "base"): dict(filters=(64, 128, 256), blocks_per_stage=(2, 2, 2)),
})


def build_backbone(model: str, size: str, image_size: int, channels: int, num_classes: int,
                   drop_path_rate: float = 0.0, drop_rate: float = 0.0) -> keras.Model:
    """The ViT / Swin / Swin V2 of a preset, from normalised images to logits."""
    kwargs = dict(PRESETS[(model, size)], img_size=image_size, in_chans=channels,
                  num_classes=num_classes, drop_path_rate=drop_path_rate, drop_rate=drop_rate)
    if model == "vit":
        from kerasseq.models.vit import build_vit

        return build_vit(**kwargs)
    from kerasseq.models.swin import build_swin, build_swinv2

    return (build_swin if model == "swin" else build_swinv2)(**kwargs)


class ImageClassificationTask(Task):
    name = "image-classification"
    description = "ViT / Swin / Swin V2 from scratch on CIFAR-10, MNIST or Fashion-MNIST"
    config_class = ImageClassificationConfig

    def prepare(self, run):
        run.info = dataset_info(run.config.dataset)

    def _splits(self, run):
        c = run.config
        if getattr(run, "_splits_cache", None) is None:
            images, labels = load_images(c.dataset, "train", c.data_dir, c.download)
            run._splits_cache = train_validation_split(images, labels, c.validation_size, c.seed)
        return run._splits_cache

    def _batches(self, run, images, labels, train=False):
        c = run.config
        return image_batches(images, labels, run.info, c.image_size, c.batch_size, train=train,
                             seed=c.seed, crop_padding=c.crop_padding, randaugment=c.randaugment,
                             mixup=c.mixup, cutmix=c.cutmix)

    def datasets(self, run):
        (x_train, y_train), (x_val, y_val) = self._splits(run)
        if not len(x_val):  # --validation_size 0: no model selection, watch the training loss
            x_val, y_val = x_train[:1000], y_train[:1000]
        return self._batches(run, x_train, y_train, train=True), self._batches(run, x_val, y_val)

    def test_batches(self, run):
        c = run.config
        if getattr(run, "_test_cache", None) is None:  # evaluate and plots both read it
            run._test_cache = load_images(c.dataset, "test", c.data_dir, c.download)
        images, labels = run._test_cache
        return self._batches(run, images, labels), images, labels

    def build_model(self, run):
        c, info = run.config, run.info
        if c.model == "resnet":  # it rescales pixels itself, as it does as an encoder
            from kerasseq.models.backbones import build_resnet_classifier

            return build_resnet_classifier((c.image_size, c.image_size, info.channels),
                                           len(info.class_names), dropout=c.dropout,
                                           name=f"resnet_{c.size}_{c.dataset}",
                                           **PRESETS[("resnet", c.size)])
        images = keras.Input((c.image_size, c.image_size, info.channels), name="images")
        x = keras.layers.Normalization(mean=list(info.mean), variance=[s * s for s in info.std],
                                       name="normalize")(images)
        backbone = build_backbone(c.model, c.size, c.image_size, info.channels,
                                  len(info.class_names), c.drop_path_rate, c.dropout)
        return keras.Model(images, backbone(x), name=f"{c.model}_{c.size}_{c.dataset}")

    def compile_args(self, run):
        return dict(loss=keras.losses.CategoricalCrossentropy(
                        from_logits=True, label_smoothing=run.config.label_smoothing),
                    metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])

    def predict(self, model, dataset) -> np.ndarray:
        """Class probabilities of every image of ``dataset``."""
        logits = model.predict(dataset, verbose=0)
        return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))

    def evaluate(self, run, model, val_ds):
        """Top-1 accuracy on the test split (the reported figure) and on the held-out
        validation images, and the number of parameters."""
        test_ds, _, labels = self.test_batches(run)
        probabilities = self.predict(model, test_ds)
        run.test_probabilities, run.test_labels = probabilities, labels
        from kerasseq.data.epochs import numpy_batches

        val_labels = np.concatenate([np.argmax(y, -1) for _, y in numpy_batches(val_ds)])
        val_accuracy = float(np.mean(np.argmax(self.predict(model, val_ds), -1) == val_labels))
        return {"test_accuracy": float(np.mean(np.argmax(probabilities, -1) == labels)),
                "val_accuracy": val_accuracy, "parameters": int(model.count_params())}

    def plots(self, run, model, history):
        from kerasseq.plotting import plot_confusion_matrix, plot_misclassified

        if getattr(run, "test_probabilities", None) is None:
            self.evaluate(run, model, self.datasets(run)[1])
        _, images, labels = self.test_batches(run)
        names = run.info.class_names
        plot_confusion_matrix(labels, run.test_probabilities.argmax(-1), names,
                              run.artifacts / "confusion_matrix.png",
                              title=f"{run.config.model} on {run.config.dataset} (test)")
        plot_misclassified(images, labels, run.test_probabilities, names,
                           run.artifacts / "misclassified.png")
        c = run.config
        if c.model == "vit":  # where the model looks: attention rollout on 8 test images
            from kerasseq.data.image_pydataset import to_model_size_numpy
            from kerasseq.diagnostics.vision import attention_rollout, find_vit, vit_attention_maps
            from kerasseq.plotting import plot_attention_rollout

            sample = to_model_size_numpy(images[:8], run.info.native_size, c.image_size)
            vit = find_vit(model)[0]
            prefix = int(vit.get_layer("pos_embed").class_token)
            pool = vit.get_layer("pool").pool  # the rollout reads out what the head reads
            relevance = attention_rollout(vit_attention_maps(model, sample), prefix, readout=pool)
            predicted = run.test_probabilities[:8].argmax(-1)
            plot_attention_rollout(sample, relevance, run.artifacts / "attention_rollout.png",
                                   titles=[f"{names[p]}\n(true: {names[t]})"
                                           for p, t in zip(predicted, labels[:8])])
        elif c.model in ("swin", "swinv2"):  # the first stage's windows and shifted-window mask
            from kerasseq.plotting import plot_swin_windows

            preset = PRESETS[(c.model, c.size)]
            resolution = c.image_size // preset["patch_size"]
            window = preset["window_size"]
            plot_swin_windows(resolution, resolution, window, window // 2,
                              run.artifacts / "swin_windows.png")

    def example_input(self, run):
        c = run.config
        return np.zeros((1, c.image_size, c.image_size, run.info.channels), "float32")

    def export_endpoints(self, run, archive, serving_model):
        from kerasseq.export import image_classifier_endpoint

        image_classifier_endpoint(archive, serving_model, run.info, run.config.image_size)


TASK = ImageClassificationTask()
