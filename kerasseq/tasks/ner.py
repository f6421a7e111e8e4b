"""Named-entity recognition on CoNLL-2003 with a BiLSTM-CRF tagger (Lample et al. 2016).

Trained on the train split with IOBES tags, selected on the validation split's entity F1
(the weights of the best epoch are kept); or (``--train_on train+valid``) trained on both splits
for a fixed number of epochs, keeping the last, as final CoNLL models often are. Reported as entity-level precision, recall and F1
on the test split (conlleval's definition). Word embeddings are learned from scratch; the
character encoder supplies casing and morphology, and (``--casing``, on by default) an
embedding of each word's casing class (Reimers & Gurevych 2017). ``--crf false`` trains the
same network with a per-token softmax, the baseline that shows what the CRF adds.
"""

from __future__ import annotations

import dataclasses
import functools
import json

import keras
import numpy as np

from kerasseq.data.conll import (CASING_CLASSES, TAGS, TaggingVocabulary, iobes_to_iob2,
                                 load_conll2003, tagging_batches)
from kerasseq.metrics.entities import entity_scores
from kerasseq.models.tagger import build_sequence_tagger
from kerasseq.tasks.base import Task
from kerasseq.tasks.tagging_config import TaggingConfig


class NERTask(Task):
    name = "ner"
    description = "named-entity recognition on CoNLL-2003: BiLSTM-CRF with character CNN"
    config_class = TaggingConfig

    def prepare(self, run):
        saved = (getattr(run, "state", None) or {}).get("config", {})
        if saved and "casing" not in saved:  # a run saved before the casing option: none
            run.config = dataclasses.replace(run.config, casing=False)
        path = run.dir / "vocab.json"
        if path.exists():
            run.vocab = TaggingVocabulary.from_dict(json.loads(path.read_text()))
            return
        run.vocab = TaggingVocabulary.from_sentences(self._sentences(run, "train"))
        run.dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(run.vocab.to_dict(), ensure_ascii=False))

    def _sentences(self, run, split):
        """The sentences of ``split``; ``"train"`` with ``--train_on train+valid`` is both."""
        c = run.config
        splits = ("train", "valid") if split == "train" and c.train_on == "train+valid" else (split,)
        return [s for name in splits for s in load_conll2003(name, c.data_dir, c.download)]

    def _batches(self, run, split, train=False):
        c = run.config
        return tagging_batches(self._sentences(run, split), run.vocab, c.batch_size, c.max_word_len, shuffle=train,
                               seed=c.seed, word_dropout=c.word_dropout if train else 0.0,
                               casing=c.casing)

    def datasets(self, run):
        return self._batches(run, "train", train=True), self._batches(run, "valid")

    def build_model(self, run):
        c = run.config
        return build_sequence_tagger(
            len(run.vocab.words), len(run.vocab.chars), len(TAGS), word_dim=c.word_dim,
            char_dim=c.char_dim, char_encoder=c.char_encoder, char_units=c.char_units,
            max_word_len=c.max_word_len, casing_dim=c.casing_dim if c.casing else 0,
            num_casing_classes=len(CASING_CLASSES), units=c.units, depth=c.depth,
            dropout=c.dropout, recurrent_dropout=c.recurrent_dropout, crf=c.crf)

    def compile_args(self, run):
        if run.config.crf:
            from kerasseq.losses import CRFNegativeLogLikelihood

            return dict(loss=CRFNegativeLogLikelihood())
        return dict(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
                    metrics=[])

    def callbacks(self, run, model):
        if run.config.train_on == "train+valid":
            return []  # the validation sentences are training data: no selection on them
        return [ValidationF1(self, run), keras.callbacks.EarlyStopping(
            "val_f1", mode="max", patience=run.config.patience, restore_best_weights=True)]

    def predict_tags(self, run, model, dataset):
        """Gold and predicted IOB2 tags of every sentence of ``dataset``; ``model`` may be a
        list of models, whose outputs are averaged (see :meth:`evaluate_ensemble`)."""
        models = model if isinstance(model, (list, tuple)) else [model]
        gold, predicted = [], []
        for x, y in dataset.as_numpy_iterator():
            outputs = [np.asarray(m.predict_on_batch(x)) for m in models]
            if len(outputs) == 1:
                outputs = outputs[0]
            elif run.config.crf:  # the mean log-potential: a product of the members' CRFs
                outputs = np.mean(outputs, axis=0)
            else:  # the mean of the per-token probabilities (argmax of its log)
                outputs = np.log(np.mean([keras.ops.convert_to_numpy(keras.ops.softmax(o))
                                          for o in outputs], axis=0))
            mask = np.asarray(y) >= 0
            ids = self.decode(run, outputs, mask)
            for row_gold, row_pred, row_mask in zip(y, ids, mask):
                if not row_mask.any():
                    continue  # an empty row that fills the last batch
                gold.append(iobes_to_iob2([TAGS[i] for i in row_gold[row_mask]]))
                predicted.append(iobes_to_iob2([TAGS[i] for i in row_pred[row_mask]]))
        return gold, predicted

    def decode(self, run, outputs, mask) -> np.ndarray:
        """Tag ids from the model outputs: Viterbi with a CRF, else the per-token argmax."""
        if run.config.crf:
            decoder = _viterbi_decoder(outputs.shape[-1])
            return np.asarray(decoder.predict_on_batch([outputs, np.asarray(mask, bool)]))
        return keras.ops.convert_to_numpy(keras.ops.argmax(outputs, axis=-1))

    def evaluate(self, run, model, val_ds):
        """Entity precision/recall/F1 on the test split (and F1 on the validation split)."""
        metrics = {}
        splits = [("test", self._batches(run, "test"))]
        if run.config.train_on == "train":  # else validation F1 would score training data
            splits.insert(0, ("valid", val_ds))
        for split, ds in splits:
            scores = entity_scores(*self.predict_tags(run, model, ds))
            metrics.update({f"{split}_{k}": v for k, v in scores.items()
                            if split == "test" or k == "f1"})
        return metrics

    def evaluate_ensemble(self, members):
        """Entity scores on the test split of several trained taggers' averaged outputs.

        With CRFs the members' pairwise log-potentials (emissions and transitions) are
        averaged and Viterbi-decoded, the most likely tagging under the product of their
        CRFs; without, their per-token probabilities are averaged. The members must share the vocabulary and the input settings (they do when
        trained on the same split with different ``--seed``).

        Raises:
            UserError: members whose vocabulary or input settings differ, naming the run.
        """
        from kerasseq.errors import UserError

        first = members[0][0]
        for run, _ in members[1:]:
            for name in ("crf", "casing", "max_word_len"):
                if getattr(run.config, name) != getattr(first.config, name):
                    raise UserError(f"{run.dir} has --{name} {getattr(run.config, name)} and "
                                    f"{first.dir} has {getattr(first.config, name)}: an ensemble's "
                                    "members must agree on it")
            if run.vocab.to_dict() != first.vocab.to_dict():
                raise UserError(f"{run.dir}/vocab.json differs from {first.dir}/vocab.json: an "
                                "ensemble's members must be trained on the same split (--train_on)")
        scores = entity_scores(*self.predict_tags(first, [m for _, m in members],
                                                  self._batches(first, "test")))
        return {f"test_{k}": v for k, v in scores.items()}

    def example_input(self, run):
        tokens = "EU rejects German call to boycott British lamb .".split()
        c = run.config
        arrays = run.vocab.encode(tokens, len(tokens), c.max_word_len, casing=c.casing)
        return {name: a[None] for name, a in zip(("words", "chars", "casing"), arrays)}

    def export_endpoints(self, run, archive, serving_model):
        from kerasseq.export import tagger_endpoint

        tagger_endpoint(archive, serving_model, run.vocab, run.config.max_word_len,
                        crf=run.config.crf, casing=run.config.casing)


class ValidationF1(keras.callbacks.Callback):
    """Entity F1 on the validation split after every epoch, logged as ``val_f1``."""

    def __init__(self, task: NERTask, run):
        super().__init__()
        self.task, self.run = task, run
        self._val = None

    def on_epoch_end(self, epoch, logs=None):
        if self._val is None:
            self._val = self.task._batches(self.run, "valid")
        scores = entity_scores(*self.task.predict_tags(self.run, self.model, self._val))
        if logs is not None:
            logs["val_f1"] = scores["f1"]
        print(f"epoch {epoch + 1}: validation entity F1 {scores['f1']:.4f}")


TASK = NERTask()


class _Viterbi(keras.layers.Layer):
    """:func:`kerasseq.layers.crf.viterbi_decode` as a layer, so that ``predict_on_batch``
    compiles it (one trace per batch shape): run eagerly, its two scans cost about 0.2 s a
    batch on a CPU, most of a short run's validation time."""

    def call(self, potentials, mask):
        from kerasseq.layers.crf import viterbi_decode

        return viterbi_decode(potentials, mask)


@functools.cache
def _viterbi_decoder(num_tags: int) -> keras.Model:
    potentials = keras.Input((None, num_tags, num_tags), name="potentials")
    mask = keras.Input((None,), dtype="bool", name="mask")
    return keras.Model([potentials, mask], _Viterbi()(potentials, mask), name="viterbi")
