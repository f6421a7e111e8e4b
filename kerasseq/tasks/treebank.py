"""Sentiment on the Stanford Sentiment Treebank with recursive networks over parse trees.

Protocol of Socher et al. 2013 and Tai et al. 2015: train on the 8,544 training trees with a
label at every node (fine: 5 classes; binary: neutral nodes unsupervised, neutral sentences
dropped), select the epoch on the dev set's root (sentence) accuracy, report root accuracy
and, for tree models, the accuracy over all phrases on the test set. Tree models are trained
with the cross-entropy of every supervised node; the BiLSTM baseline sees only the words
and the sentence's label. Word vectors are learned from scratch (Tai et al. start from
300-d GloVe; no pretrained vectors are available offline), and the optimiser is Adam, not
their AdaGrad. The SavedModel's ``classify_tree`` reads a bracketed tree string (parsed in
the graph by :mod:`kerasseq.data.treebank_tf`).
"""

from __future__ import annotations

import keras
import numpy as np

from kerasseq.data.text import WordVocabulary
from kerasseq.data.treebank import (SETTINGS, build_vocabulary, load_sst, parse_tree, tree_arrays,
                                    treebank_dataset)
from kerasseq.metrics.sentiment import PhraseAccuracy, RootAccuracy
from kerasseq.models.tree_classifier import build_tree_classifier
from kerasseq.tasks.base import Task
from kerasseq.tasks.configs import TreebankConfig

# The serving example (and the SavedModel's signature): a small tree of the treebank's form.
EXAMPLE_TREE = "(3 (2 (2 a) (3 (3 gripping) (2 film))) (2 .))"


class TreebankTask(Task):
    name = "treebank"
    description = ("sentiment on the Stanford Sentiment Treebank: Tree-LSTM, RNTN or recursive NN "
                   "over parse trees, or a BiLSTM baseline; root and all-phrase accuracy")
    config_class = TreebankConfig

    def _trees(self, run, split):
        c = run.config
        trees = load_sst(split, c.data_dir, setting=c.setting, download=c.download)
        return trees[:c.max_train_trees] if split == "train" and c.max_train_trees else trees

    def prepare(self, run):
        path = run.dir / "vocab.json"
        if path.exists():
            run.vocab = WordVocabulary.load(path)
            return
        run.vocab = build_vocabulary(self._trees(run, "train"), run.config.min_count)
        run.dir.mkdir(parents=True, exist_ok=True)
        run.vocab.save(path)

    def _dataset(self, run, split):
        c = run.config
        train = split == "train"
        return treebank_dataset(self._trees(run, split), run.vocab, c.setting, c.batch_size,
                                shuffle=train, seed=c.seed, first_epoch=run.initial_epoch if train else 0)

    def datasets(self, run):
        return self._dataset(run, "train"), self._dataset(run, "dev")

    def build_model(self, run):
        c = run.config
        return build_tree_classifier(len(run.vocab), SETTINGS[c.setting], model=c.model,
                                     embedding_dim=c.embedding_dim or None, units=c.units or None,
                                     dropout=c.dropout)

    def compile_args(self, run):
        if run.config.model == "bilstm":  # one prediction per sentence: the root's label
            from kerasseq.losses.treebank import RootCrossEntropy

            return dict(loss=RootCrossEntropy(), metrics=[RootAccuracy()])
        return dict(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
                    metrics=[RootAccuracy(), PhraseAccuracy()])

    def callbacks(self, run, model):
        # Model selection on the dev root accuracy; the best epoch's weights are kept.
        return [keras.callbacks.EarlyStopping("val_root_accuracy", mode="max",
                                              patience=run.config.patience, restore_best_weights=True)]

    def evaluate(self, run, model, val_ds):
        """Root (and all-phrase) accuracy on the test trees, root accuracy on dev."""
        metrics = {}
        for split, ds in (("test", self._dataset(run, "test")), ("dev", val_ds)):
            values = model.evaluate(ds, verbose=0, return_dict=True)
            keep = values if split == "test" else {"root_accuracy": values["root_accuracy"]}
            metrics.update({f"{split}_{k}": float(v) for k, v in keep.items()})
        return metrics

    def plots(self, run, model, history):
        """The first ``--plots`` test sentences of 6-14 words, predicted and true at every node."""
        from kerasseq.diagnostics.tree_plots import plot_sentiment_tree

        trees = [t for t in self._trees(run, "test") if 6 <= len(t.leaves()) <= 14][:run.config.plots]
        if not trees:
            return
        x = tree_arrays(trees, run.vocab, run.config.setting)
        labels = x.pop("labels")
        logits = keras.ops.convert_to_numpy(model.predict_on_batch(x))
        for k, tree in enumerate(trees):
            if logits.ndim == 2:  # a sentence model: the root only (-1: no prediction)
                predicted = np.full(labels.shape[1], -1)
                predicted[x["root"][k]] = logits[k].argmax()
            else:
                predicted = logits[k].argmax(-1)
            plot_sentiment_tree(tree.leaves(), x["left"][k], x["right"][k], x["level"][k],
                                predicted, labels[k], run.artifacts / f"tree_{k}.png",
                                num_classes=SETTINGS[run.config.setting],
                                title=f"{run.config.model} ({run.config.setting}): predicted/true "
                                      "at every node (ringed: wrong)")

    def export_endpoints(self, run, archive, serving_model):
        """``classify_tree``: one bracketed tree string, e.g. ``(3 (2 a) (3 film))`` (the labels
        are read but not used) -> ``root_probabilities`` (classes,), ``labels`` (nodes,) the
        string's classes in the setting, and for tree models ``probabilities`` (nodes,
        classes) at every node, post-order."""
        import tensorflow as tf

        from kerasseq.data.treebank import BINARY_CLASSES
        from kerasseq.data.treebank_tf import tf_tree_arrays

        # Ids as WordVocabulary's: 0 padding (the mask token), 1 unknown, then the words.
        lookup = keras.layers.StringLookup(vocabulary=run.vocab.tokens, mask_token="",
                                           num_oov_indices=1, name="word_lookup")
        lookup.build(None)
        archive.track(lookup)
        binary = run.config.setting == "binary"

        @tf.function(input_signature=[tf.TensorSpec((), tf.string, name="tree")])
        def classify_tree(tree):
            x = tf_tree_arrays(tree, lambda words: tf.cast(lookup(words), tf.int32))
            labels = x.pop("labels")[0]
            if binary:
                labels = tf.gather(tf.constant(BINARY_CLASSES), labels)
            probabilities = tf.nn.softmax(serving_model(x, training=False), axis=-1)[0]
            if len(probabilities.shape) == 1:  # a sentence model
                return {"root_probabilities": probabilities, "labels": labels}
            return {"probabilities": probabilities, "root_probabilities": probabilities[-1],
                    "labels": labels}

        archive.add_endpoint(name="classify_tree", fn=classify_tree)

    def example_input(self, run):
        x = tree_arrays([parse_tree(EXAMPLE_TREE)], run.vocab, run.config.setting)
        x.pop("labels")
        return x


TASK = TreebankTask()
