"""Image captioning on Flickr8k: Show and Tell (Vinyals et al. 2015) and Show, Attend and Tell
with soft attention (Xu et al. 2015), on one pipeline.

Protocol of the papers: train on the 6,000 training images with all five captions each,
select on the 1,000 dev images, report the COCO caption metrics (BLEU-1..4, METEOR, ROUGE-L,
CIDEr; :func:`kerasseq.metrics.caption_scores`) of beam-search captions of the 1,000 test
images against all five references. The encoder is a small ResNet trained from scratch with
the decoder (no ImageNet weights offline; the papers' encoders were ImageNet-trained
GoogLeNet / VGG), or starts from weights a user supplies (``--encoder_weights``), fixed or
fine-tuned. Every epoch logs the greedy captions' dev BLEU-4 and CIDEr; the epoch with the
best dev CIDEr is kept.

Artifacts: the test captions next to their references, and for ``--plots`` test images the
caption and references, with one attention map per generated word overlaid on the image
(the papers' figure); for the attention model also a histogram of Σ_t α_ti, the total
attention each location received over a caption (what the doubly stochastic regulariser
pushes towards 1). The SavedModel's ``caption`` takes uint8 images and returns caption
strings; ``caption_attention`` adds the attention maps.
"""

from __future__ import annotations

import keras
import numpy as np

from kerasseq.data import flickr8k
from kerasseq.data.text import WordVocabulary
from kerasseq.errors import UserError
from kerasseq.models.captioning import Captioner, build_captioner
from kerasseq.tasks.base import Task
from kerasseq.tasks.configs import CaptioningConfig

EVAL_BATCH = 50  # images per decoding batch (one compiled program per shape)


class CaptioningTask(Task):
    name = "captioning"
    description = "image captioning on Flickr8k: Show and Tell or Show, Attend and Tell"
    config_class = CaptioningConfig

    # -- data -------------------------------------------------------------------------------

    def prepare(self, run):
        path = run.dir / "vocab.json"
        if path.exists():
            run.vocab = WordVocabulary.load(path)
        else:
            _, captions = self.split(run, "train")
            run.vocab = flickr8k.build_vocabulary(captions, run.config.min_count)
            run.dir.mkdir(parents=True, exist_ok=True)
            run.vocab.save(path)
        run.images = {}

    def split(self, run, split):
        """``(names, captions)`` of ``split``, cut to ``--max_train_images`` /
        ``--max_eval_images``."""
        c = run.config
        limit = c.max_train_images if split == "train" else c.max_eval_images
        return flickr8k.load_split(split, c.data_dir, c.download, limit=limit)

    def images(self, run, split):
        """The split's images resized to ``--resize`` (uint8, decoded once per process)."""
        if split not in run.images:
            names, _ = self.split(run, split)
            print(f"Reading {len(names)} Flickr8k {split} images ...")
            run.images[split] = flickr8k.load_images(names, run.config.resize, run.config.data_dir)
        return run.images[split]

    def _batches(self, run, split, train=False):
        c = run.config
        _, captions = self.split(run, split)
        inputs, targets = flickr8k.encode_captions(captions, run.vocab, c.caption_length)
        return flickr8k.caption_batches(self.images(run, split), inputs, targets, crop=c.image_size,
                                        batch_size=c.batch_size if train else EVAL_BATCH,
                                        train=train, seed=c.seed,
                                        first_epoch=run.initial_epoch if train else 0)

    def datasets(self, run):
        return self._batches(run, "train", train=True), self._batches(run, "dev")

    # -- model ------------------------------------------------------------------------------

    def build_model(self, run):
        c = run.config
        filters, blocks = c.stages()
        model = build_captioner(
            len(run.vocab), c.model, image_size=c.image_size, caption_length=c.caption_length,
            encoder=c.encoder, encoder_filters=filters, encoder_blocks=blocks, freeze_encoder=c.freeze_encoder,
            embedding_dim=c.embedding_dim, units=c.units, attention_units=c.attention_units,
            image_as=c.image_as, gate=c.gate, regularizer=c.regularizer, dropout=c.dropout,
            word_detection=c.word_detection)
        if c.encoder_weights:
            load_encoder_weights(model.get_layer("encoder"), c.encoder_weights)
        return model

    def jit_compile(self, run):
        # TensorFlow's XLA cannot compile the gradient of the decoder's scan (its while loop's
        # accumulators); ``auto`` means off there. JAX compiles it.
        from kerasseq.training import resolve_jit_compile

        setting = resolve_jit_compile(run.config.jit_compile)
        if keras.backend.backend() == "tensorflow" and setting == "auto":
            return False
        return setting

    def compile_args(self, run):
        return dict(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0))

    def callbacks(self, run, model):
        return [ValidationCaptionScores(self, run),
                keras.callbacks.EarlyStopping("val_cider", mode="max", patience=run.config.patience,
                                              restore_best_weights=True)]

    # -- decoding and scores ----------------------------------------------------------------

    def captioner(self, run, model, beam_width=None) -> Captioner:
        c = run.config
        width = c.beam_width if beam_width is None else beam_width
        cache = run.__dict__.setdefault("captioners", {})  # compiled once per model and width
        if (id(model), width) not in cache:
            cache[(id(model), width)] = Captioner(model, beam_width=width, max_length=c.caption_length,
                                                  length_penalty=c.length_penalty)
        return cache[(id(model), width)]

    def caption(self, run, captioner: Captioner, images, progress: str = "") -> list[str]:
        """Captions of uint8 images ``(n, resize, resize, 3)`` (centre-cropped here)."""
        crops = flickr8k.crop_images(images, run.config.image_size)
        out, starts = [], range(0, len(crops), EVAL_BATCH)
        bar = keras.utils.Progbar(len(starts), verbose=1 if progress else 0, unit_name="batch")
        for k, start in enumerate(starts):
            ids = captioner.caption_ids(crops[start:start + EVAL_BATCH])
            out += [flickr8k.decode_caption(row, run.vocab) for row in ids]
            bar.update(k + 1)
        return out

    def scores(self, run, model, split, beam_width=None, meteor=True, write_to=None) -> dict:
        """The COCO caption metrics of ``split``'s generated captions against all references."""
        from kerasseq.metrics.captions import caption_scores

        names, references = self.split(run, split)
        captioner = self.captioner(run, model, beam_width)
        label = "greedy" if captioner.beam_width == 1 else f"beam {captioner.beam_width}"
        print(f"Captioning {split} ({len(names)} images, {label}) ...")
        hypotheses = self.caption(run, captioner, self.images(run, split), progress=split)
        if write_to is not None:
            write_to.write_text("image\tcaption\treferences\n" + "".join(
                f"{n}\t{h}\t{' | '.join(r)}\n" for n, h, r in zip(names, hypotheses, references)),
                encoding="utf-8")
        return caption_scores(dict(enumerate(references)), dict(enumerate(hypotheses)), meteor=meteor)

    def evaluate(self, run, model, val_ds):
        """Dev loss; test COCO metrics with beam search and, for comparison, greedy search and
        the language prior alone (:meth:`blind_scores`)."""
        metrics = {"val_loss": float(model.evaluate(val_ds, verbose=0, return_dict=True)["loss"])}
        beam = self.scores(run, model, "test", write_to=run.artifacts / "test_captions.tsv")
        metrics.update({f"test_{k}": v for k, v in beam.items() if not isinstance(v, str)})
        if "meteor_missing" in beam:
            print(f"METEOR left out: {beam['meteor_missing']}")
        print("test (" + ("greedy" if run.config.beam_width == 1 else f"beam {run.config.beam_width}")
              + "): " + ", ".join(f"{k} {v:.1f}" for k, v in beam.items() if not isinstance(v, str)))
        if run.config.beam_width > 1:
            greedy = self.scores(run, model, "test", beam_width=1, meteor=False)
            metrics.update({f"test_greedy_{k}": greedy[k] for k in ("bleu_4", "cider")})
        blind = self.blind_scores(run, model)
        metrics.update({f"test_blind_{k}": blind[k] for k in ("bleu_4", "cider")})
        print(f"test, one caption for every image (a grey image's: {blind['caption']!r}): "
              f"BLEU-4 {blind['bleu_4']:.1f}, CIDEr {blind['cider']:.1f}")
        return metrics

    def blind_scores(self, run, model) -> dict:
        """The language prior alone: the caption of a uniform grey image, scored as the
        caption of every test image. What a model scores above this comes from the image."""
        from kerasseq.metrics.captions import caption_scores

        size = run.config.image_size
        grey = np.full((1, size, size, 3), 128, np.uint8)
        ids = self.captioner(run, model).caption_ids(grey)
        caption = flickr8k.decode_caption(ids[0], run.vocab)
        _, references = self.split(run, "test")
        scores = caption_scores(dict(enumerate(references)),
                                {k: caption for k in range(len(references))}, meteor=False)
        return {**scores, "caption": caption}

    # -- pictures ---------------------------------------------------------------------------

    def plots(self, run, model, history):
        from kerasseq.diagnostics.caption_plots import plot_attention_totals, plot_caption

        c = run.config
        count = min(c.plots, len(self.split(run, "test")[0]))
        if not count:
            return
        names, references = self.split(run, "test")
        crops = flickr8k.crop_images(self.images(run, "test")[:count], c.image_size)
        captioner = self.captioner(run, model)
        ids = captioner.caption_ids(crops)
        maps = captioner.attention_maps(crops, ids) if captioner.has_attention else None
        for k in range(count):
            words = flickr8k.decode_caption(ids[k], run.vocab).split()
            plot_caption(crops[k], words, references[k], run.artifacts / f"caption_{k}.png",
                         attention=None if maps is None else maps[k, :len(words) + 1],
                         title=f"{c.model}: {names[k]}")
        if captioner.has_attention:
            sample = flickr8k.crop_images(self.images(run, "test")[:EVAL_BATCH], c.image_size)
            sample_ids = captioner.caption_ids(sample)
            alphas = captioner.attention_maps(sample, sample_ids)
            lengths = np.argmax(np.asarray(sample_ids) == 3, axis=1) + 1  # words + <end>
            lengths = np.where((np.asarray(sample_ids) == 3).any(axis=1), lengths, sample_ids.shape[1])
            totals = np.stack([alphas[i, :n].sum(0) for i, n in enumerate(lengths)])
            plot_attention_totals(totals, run.artifacts / "attention_totals.png",
                                  title=f"λ = {c.regularizer}: Σ_t α_ti per location, "
                                        f"{len(sample)} test captions")

    # -- serving ----------------------------------------------------------------------------

    def example_input(self, run):
        c = run.config
        return {"images": np.zeros((1, c.image_size, c.image_size, 3), np.uint8),
                "captions_in": np.full((1, flickr8k.CAPTIONS_PER_IMAGE, c.caption_length), 2, np.int32)}

    def export_endpoints(self, run, archive, serving_model):
        from kerasseq.export import caption_endpoints

        c = run.config
        caption_endpoints(archive, self.captioner(run, serving_model), run.vocab.tokens,
                          resize=c.resize, crop=c.image_size)

    def sample(self, run, model, prompt="", **options):
        """Caption image files: ``--prompt`` holds their paths, one per line (JPEG or PNG)."""
        paths = [line.strip() for line in prompt.split("\n") if line.strip()]
        if not paths:
            raise UserError("--prompt must hold the path of an image to caption (one per line)")
        images = np.stack([read_image(p, run.config.resize) for p in paths])
        captions = self.caption(run, self.captioner(run, model), images)
        return "\n".join(f"{p}: {text}" for p, text in zip(paths, captions))


def read_image(path, size: int) -> np.ndarray:
    """An image file as uint8 ``(size, size, 3)`` (resized as the training images are)."""
    from pathlib import Path

    from PIL import Image, UnidentifiedImageError

    if not Path(path).is_file():
        raise UserError(f"image {path} does not exist")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))
    except UnidentifiedImageError:
        raise UserError(f"{path} is not an image file Pillow can read (JPEG, PNG, ...)")


def load_encoder_weights(encoder: keras.Model, path: str) -> None:
    """Load ``path`` into ``encoder``: a ``.keras`` captioning model (its ``encoder`` layer)
    or a ``.weights.h5`` file of the encoder alone."""
    from pathlib import Path

    if not Path(path).is_file():
        raise UserError(f"--encoder_weights {path} does not exist")
    if path.endswith(".keras"):
        source = keras.saving.load_model(path, compile=False)
        try:
            weights = source.get_layer("encoder").get_weights()
        except ValueError:
            raise UserError(f"--encoder_weights {path}: the model has no layer named 'encoder' "
                            "(expected a captioning run's model.keras)")
        try:
            encoder.set_weights(weights)
        except ValueError as exc:
            raise UserError(f"--encoder_weights {path}: its encoder does not fit this one "
                            f"(--encoder_filters / --encoder_blocks differ?): {exc}")
    elif path.endswith(".weights.h5"):
        encoder.load_weights(path)
    else:
        raise UserError(f"--encoder_weights {path}: expected a .keras model or a .weights.h5 file")


class ValidationCaptionScores(keras.callbacks.Callback):
    """Adds the dev set's greedy-caption BLEU-4 and CIDEr (``val_bleu_4``, ``val_cider``) to
    every epoch's logs: model selection on what the task reports, not on the loss."""

    def __init__(self, task: CaptioningTask, run):
        super().__init__()
        self.task, self.run = task, run

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        scores = self.task.scores(self.run, self.model, "dev", beam_width=1, meteor=False)
        logs["val_bleu_4"], logs["val_cider"] = scores["bleu_4"], scores["cider"]
        print(f"dev (greedy): BLEU-4 {scores['bleu_4']:.2f}, CIDEr {scores['cider']:.2f}")


TASK = CaptioningTask()
