"""Sentence polarity on MR (Pang & Lee 2005) with Kim's CNN or a recurrent classifier.

Protocol of Kim 2014: 10-fold cross-validation (the same seeded, class-stratified folds for
every model), accuracy on each held-out fold, mean ± std over folds; 10% of the training
folds are a dev set for early stopping (the weights of the best dev epoch are kept). The vocabulary comes
from the training folds only; embeddings are learned from scratch (CNN-rand), since no
pretrained word vectors are available offline. The exported SavedModel reads raw sentences:
Kim's tokenizer and the vocabulary lookup run inside it.
"""

from __future__ import annotations

import keras
import numpy as np

from kerasseq.data.mr import CLASS_NAMES, classification_dataset, load_mr, stratified_folds
from kerasseq.data.text import WordVocabulary
from kerasseq.errors import UserError
from kerasseq.models.text_classifier import build_recurrent_classifier, build_text_cnn
from kerasseq.tasks.base import Task
from kerasseq.tasks.configs import SentenceClassificationConfig

# Folds are drawn once with this seed, so every model and setting sees the same splits.
FOLD_SEED = 0


@keras.saving.register_keras_serializable(package="kerasseq")
def mr_standardize(text):
    """Kim's tokenizer on a string tensor (inside the exported model)."""
    from kerasseq.data.mr import tf_standardize

    return tf_standardize(text)


class SentenceClassificationTask(Task):
    name = "mr"
    description = "sentence polarity on MR: Kim's CNN or a BiLSTM, 10-fold cross-validation"
    config_class = SentenceClassificationConfig

    def _split(self, run):
        if run.config.fold < 0:
            raise UserError("training one model needs --fold K; --fold -1 runs the cross-validation "
                            "(kerasseq train mr)")
        sentences, labels = load_mr(run.config.data_dir, run.config.download)
        folds = stratified_folds(labels, run.config.folds, FOLD_SEED)
        test = folds == run.config.fold
        # Kim 2014 picks 10% of the training folds as a dev set (for early stopping).
        dev = np.zeros_like(test)
        train_index = np.flatnonzero(~test)
        dev[train_index[stratified_folds(labels[train_index], 10, FOLD_SEED + 1) == 0]] = True
        tokens = [s.split() for s in sentences]
        pick = lambda mask: ([t for t, m in zip(tokens, mask) if m], labels[mask])
        return pick(~test & ~dev), pick(dev), pick(test)

    def prepare(self, run):
        path = run.dir / "vocab.json"
        if path.exists():
            run.vocab = WordVocabulary.load(path)
            return
        (train_tokens, _), _, _ = self._split(run)
        run.vocab = WordVocabulary.from_sentences(train_tokens, run.config.min_count)
        run.dir.mkdir(parents=True, exist_ok=True)
        run.vocab.save(path)

    def datasets(self, run):
        """``(train, dev)``: the training folds less 10% held out as the dev set."""
        return self._datasets(run)[:2]

    def _datasets(self, run):
        c = run.config
        (train_x, train_y), (dev_x, dev_y), (test_x, test_y) = self._split(run)
        encode = lambda sentences: run.vocab.encode_batch(sentences, c.max_len)
        return (classification_dataset(encode(train_x), train_y, c.batch_size, True, c.seed),
                classification_dataset(encode(dev_x), dev_y, c.batch_size, False),
                classification_dataset(encode(test_x), test_y, c.batch_size, False))

    def build_model(self, run):
        c = run.config
        if c.model == "cnn":
            return build_text_cnn(
                len(run.vocab), len(CLASS_NAMES), seq_len=c.max_len, embedding_dim=c.embedding_dim,
                filter_sizes=[int(h) for h in c.filter_sizes.split(",")], filters=c.filters,
                dropout=c.dropout, max_norm=c.max_norm)
        return build_recurrent_classifier(
            len(run.vocab), len(CLASS_NAMES), cell=c.cell, units=c.units, depth=c.depth,
            embedding_dim=c.embedding_dim, pooling=c.pooling, bidirectional=c.bidirectional,
            dropout=c.dropout, recurrent_dropout=c.recurrent_dropout, seq_len=c.max_len)

    def compile_args(self, run):
        return dict(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])

    def callbacks(self, run, model):
        # Early stopping on the dev set; the weights of the best dev epoch are kept.
        return [keras.callbacks.EarlyStopping("val_accuracy", patience=run.config.patience,
                                              restore_best_weights=True)]

    def evaluate(self, run, model, val_ds):
        """Accuracy on the held-out fold (the reported figure) and on the dev set."""
        test_ds = self._datasets(run)[2]
        test = model.evaluate(test_ds, verbose=0, return_dict=True)
        dev = model.evaluate(val_ds, verbose=0, return_dict=True)
        return {"test_accuracy": float(test["accuracy"]), "test_loss": float(test["loss"]),
                "dev_accuracy": float(dev["accuracy"])}

    def serving_model(self, run, model):
        """Raw sentences ``(batch,)`` strings -> class probabilities ``(batch, 2)`` on
        TensorFlow; token ids -> probabilities on other backends (no string tensors)."""
        probabilities = keras.layers.Softmax(name="probabilities")
        if keras.backend.backend() != "tensorflow":
            ids = keras.Input((run.config.max_len,), dtype="int32", name="tokens")
            return keras.Model(ids, probabilities(model(ids)), name="mr_classifier")
        text = keras.Input((), dtype="string", name="sentences")
        ids = keras.layers.TextVectorization(
            standardize=mr_standardize, split="whitespace", vocabulary=run.vocab.tokens,
            output_sequence_length=run.config.max_len, name="tokenizer")(text)
        return keras.Model(text, probabilities(model(ids)), name="mr_classifier")

    def example_input(self, run):
        sentences = ["a gripping , beautifully acted film .", "dull and far too long ."]
        if keras.backend.backend() != "tensorflow":
            return run.vocab.encode_batch([s.split() for s in sentences], run.config.max_len)
        return np.asarray(sentences, dtype=object)


TASK = SentenceClassificationTask()
