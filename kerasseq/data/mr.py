"""MR (movie-review sentence polarity, Pang & Lee 2005): reader, tokenizer, folds, tf.data.

The files hold 5,331 positive and 5,331 negative snippets, one per line, already lower-cased
and tokenized, in Latin-1. The protocol (Kim 2014) is 10-fold cross-validation.

Tokenization is Kim's ``clean_str`` (CNN_sentence/process_data.py): keep letters, digits and
``(),!?'` ``, split clitics and punctuation, lower-case. The same rules run in Python on the
training data and, as :func:`tf_standardize`, inside the exported model on raw strings.
"""

from __future__ import annotations

import re

import numpy as np

from kerasseq.data.files import dataset_file

PATHS = {"pos": "mr/rt-polarity.pos", "neg": "mr/rt-polarity.neg"}
CLASS_NAMES = ("negative", "positive")

# (pattern, replacement) pairs valid in both Python `re` and RE2 (tf.strings.regex_replace).
CLEAN_RULES = (
    (r"[^A-Za-z0-9(),!?'`]", " "),
    (r"'s", " 's"),
    (r"'ve", " 've"),
    (r"n't", " n't"),
    (r"'re", " 're"),
    (r"'d", " 'd"),
    (r"'ll", " 'll"),
    (r",", " , "),
    (r"!", " ! "),
    (r"\(", " ( "),
    (r"\)", " ) "),
    (r"\?", " ? "),
    (r"\s{2,}", " "),
)


def clean_str(text: str) -> str:
    """Kim's tokenizer: the tokens of ``text`` joined by single spaces, lower-cased."""
    for pattern, replacement in CLEAN_RULES:
        text = re.sub(pattern, replacement, text)
    return text.strip().lower()


def tf_standardize(text):
    """:func:`clean_str` for a string tensor (used by the exported model)."""
    import tensorflow as tf

    for pattern, replacement in CLEAN_RULES:
        text = tf.strings.regex_replace(text, pattern, replacement)
    return tf.strings.lower(tf.strings.strip(text))


def load_mr(data_dir=None, download: bool = False) -> tuple[list[str], np.ndarray]:
    """Read MR: ``(sentences, labels)``, negatives (label 0) then positives (label 1).

    Sentences are tokenized with :func:`clean_str`; every line is one example.
    """
    sentences, labels = [], []
    for label, key in enumerate(("neg", "pos")):
        text = dataset_file(PATHS[key], data_dir, download).read_text(encoding="latin-1")
        # Lines end in "\n" only; splitlines() would also split on the Latin-1 byte 0x85.
        lines = [clean_str(line) for line in text.removesuffix("\n").split("\n")]
        sentences += lines
        labels += [label] * len(lines)
    return sentences, np.asarray(labels, np.int32)


def stratified_folds(labels: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Assign every example to one of ``folds`` folds, each class spread evenly.

    Returns:
        int array of fold numbers, one per example; fold ``k`` is the test set of split ``k``.
    """
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), np.int32)
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        assignment[rng.permutation(index)] = np.arange(len(index)) % folds
    return assignment


def classification_dataset(ids: np.ndarray, labels: np.ndarray, batch_size: int,
                           shuffle: bool, seed: int = 0):
    """A tf.data pipeline of ``(token ids, label)`` batches (reshuffled every epoch)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((ids, labels))
    if shuffle:
        ds = ds.shuffle(len(ids), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
