"""CoNLL-2003 English NER: reader, tag schemes, vocabularies and bucketed tf.data batches.

Files: one token per line, ``word POS chunk NER``, a blank line between sentences and
``-DOCSTART-`` lines between documents. The task describes the tags as IOB1 (``B-`` only
where two entities of one type touch); the shared copy is in fact IOB2 (every entity starts
with ``B-``). :func:`iob_to_iob2` normalises either, so the reader accepts both.

The tagger trains on IOBES tags (Ratinov & Roth 2009; Lample et al. 2016), which mark the
single-token, begin, inside and end positions of an entity. Each token can also carry its
word casing class (:func:`casing_class`), a feature the lower-cased word ids lose.
"""

from __future__ import annotations

import gzip
import unicodedata

import numpy as np

from kerasseq.data.buckets import BucketedBatches, bucket_length
from kerasseq.data.files import dataset_file
from kerasseq.data.text import WordVocabulary
from kerasseq.errors import DataError

SPLITS = ("train", "valid", "test")
ENTITY_TYPES = ("LOC", "MISC", "ORG", "PER")
# IOBES tags, "O" first; the model predicts these ids.
TAGS = ("O", *(f"{p}-{t}" for t in ENTITY_TYPES for p in "BIES"))
# Word casing classes in the order of Reimers & Gurevych's casing vocabulary; 0 is padding.
CASING_CLASSES = ("padding", "other", "numeric", "mainly_numeric", "all_lower", "all_upper",
                  "initial_upper", "contains_digit")


def read_conll(path) -> list[tuple[list[str], list[str]]]:
    """``(tokens, ner_tags)`` per sentence of a CoNLL-2003 file (plain or ``.gz``).

    Raises:
        DataError: a line without 4 fields, naming the file and line.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    sentences, tokens, tags = [], [], []
    with opener(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields or fields[0] == "-DOCSTART-":
                if tokens:
                    sentences.append((tokens, tags))
                    tokens, tags = [], []
                continue
            if len(fields) != 4:
                raise DataError(f"{path}, line {number}: expected 4 fields 'word POS chunk NER', "
                                f"got {len(fields)}: {line.strip()!r}")
            tokens.append(fields[0])
            tags.append(fields[3])
    if tokens:
        sentences.append((tokens, tags))
    return sentences


def load_conll2003(split: str, data_dir=None, download: bool = False):
    """Sentences of one split as ``(tokens, iob2_tags)`` pairs."""
    if split not in SPLITS:
        raise ValueError(f"Expected split to be one of {SPLITS}. Received: split={split!r}")
    path = dataset_file(f"conll2003/{split}.txt.gz", data_dir, download)
    return [(tokens, iob_to_iob2(tags)) for tokens, tags in read_conll(path)]


def iob_to_iob2(tags: list[str]) -> list[str]:
    """IOB1 (or IOB2) -> IOB2: an ``I-X`` that does not continue an ``X`` entity begins one."""
    out = []
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and (i == 0 or out[-1] == "O" or out[-1][2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
    return out


def iob2_to_iobes(tags: list[str]) -> list[str]:
    """IOB2 -> IOBES (``S-`` single-token entities, ``E-`` last tokens)."""
    out = []
    for i, tag in enumerate(tags):
        continues = i + 1 < len(tags) and tags[i + 1] == "I-" + tag[2:]
        if tag.startswith("B-"):
            out.append(tag if continues else "S-" + tag[2:])
        elif tag.startswith("I-"):
            out.append(tag if continues else "E-" + tag[2:])
        else:
            out.append(tag)
    return out


def iobes_to_iob2(tags: list[str]) -> list[str]:
    """IOBES -> IOB2. Predicted sequences may be ill-formed: an ``I-X``/``E-X`` continues an
    entity only after an open ``B-X``/``I-X``; otherwise it begins a new one."""
    out, previous = [], "O"
    for tag in tags:
        if tag == "O":
            out.append("O")
        else:
            kind = tag[2:]
            continues = tag[0] in "IE" and previous[0] in "BI" and previous[2:] == kind
            out.append(("I-" if continues else "B-") + kind)
        previous = tag
    return out


def casing_class(token: str) -> int:
    """The id in :data:`CASING_CLASSES` of a token's word casing (Reimers & Gurevych 2017's
    ``getCasing``; Collobert et al. 2011 and Chiu & Nichols 2016 use similar features).

    The first that applies: ``numeric`` (digits only), ``mainly_numeric`` (more than half
    digits: "1,000", "1996-08-22"), ``all_lower``, ``all_upper`` ("U.S.", "ÉCOLE"),
    ``initial_upper`` ("McDonald", "Zürich"), ``contains_digit`` ("+1", "x86-Bit"), else
    ``other`` ("iPhone", "-", and the empty string). Characters are classed by their Unicode
    general category (digit: Nd; upper: Lu; lower: Ll; title case: Lt), which TensorFlow's
    regular expressions know too, so the SavedModel computes the same classes
    (:func:`kerasseq.export.casing_classes_tf`). In those terms ``all_lower``/``all_upper``
    are ``str.islower``/``str.isupper``: a letter of that case and none of another.
    """
    if not token:
        return CASING_CLASSES.index("other")
    categories = [unicodedata.category(c) for c in token]
    digits, upper, lower, title = (categories.count(k) for k in ("Nd", "Lu", "Ll", "Lt"))
    if digits == len(token):
        name = "numeric"
    elif 2 * digits > len(token):
        name = "mainly_numeric"
    elif lower and not upper and not title:
        name = "all_lower"
    elif upper and not lower and not title:
        name = "all_upper"
    elif categories[0] == "Lu":
        name = "initial_upper"
    elif digits:
        name = "contains_digit"
    else:
        name = "other"
    return CASING_CLASSES.index(name)


class TaggingVocabulary:
    """Word and character vocabularies of a tagger, from the training sentences.

    Words are lower-cased with digits mapped to 0 (the casing is left to the character
    encoder and to :func:`casing_class`); words seen once in training get the last ids, so
    training can replace them by the unknown id now and then (Lample et al. 2016) and the
    model learns an unknown vector.

    Args:
        words: a :class:`WordVocabulary` of normalised words, most frequent first.
        chars: a :class:`WordVocabulary` of characters.
        first_singleton: id of the first word seen only once in training.
    """

    def __init__(self, words: WordVocabulary, chars: WordVocabulary, first_singleton: int):
        self.words, self.chars, self.first_singleton = words, chars, first_singleton

    @staticmethod
    def normalize(word: str) -> str:
        return "".join("0" if c.isdigit() else c for c in word.lower())

    @classmethod
    def from_sentences(cls, sentences) -> "TaggingVocabulary":
        words = WordVocabulary.from_sentences([[cls.normalize(w) for w in t] for t, _ in sentences])
        from collections import Counter

        counts = Counter(cls.normalize(w) for t, _ in sentences for w in t)
        singles = [i for i, w in enumerate(words.tokens) if counts[w] == 1]
        first = (singles[0] + 2) if singles else len(words)
        chars = WordVocabulary.from_sentences([list(w) for t, _ in sentences for w in t])
        return cls(words, chars, first)

    def to_dict(self) -> dict:
        return {"words": self.words.tokens, "chars": self.chars.tokens,
                "first_singleton": self.first_singleton}

    @classmethod
    def from_dict(cls, d: dict) -> "TaggingVocabulary":
        return cls(WordVocabulary(d["words"]), WordVocabulary(d["chars"]), d["first_singleton"])

    def encode(self, tokens: list[str], length: int, max_word_len: int, casing: bool = False):
        """``(word_ids (length,), char_ids (length, max_word_len))`` zero-padded; with
        ``casing`` a third array, ``casing_ids (length,)`` of :func:`casing_class` (0 pads)."""
        words = np.zeros(length, np.int32)
        chars = np.zeros((length, max_word_len), np.int32)
        words[: len(tokens)] = self.words.lookup([self.normalize(w) for w in tokens])
        for i, word in enumerate(tokens):
            ids = self.chars.lookup(list(word[:max_word_len]))
            chars[i, : len(ids)] = ids
        if not casing:
            return words, chars
        classes = np.zeros(length, np.int32)
        classes[: len(tokens)] = [casing_class(w) for w in tokens]
        return words, chars, classes


def tagging_batches(sentences, vocab: TaggingVocabulary, batch_size: int, max_word_len: int,
                    shuffle: bool, seed: int = 0, word_dropout: float = 0.0, casing: bool = False):
    """A tf.data pipeline of ``({"words", "chars"}, tags)`` batches (and ``"casing"``, the
    ``(batch, time)`` classes of :func:`casing_class`, with ``casing``).

    Sentences are grouped by padded length (:func:`bucket_length`) and batched within a
    group, so every batch has one of a few shapes (one XLA compilation each). With
    ``shuffle`` (training) the groups' contents and the batch order change every epoch and
    each group's last incomplete batch waits for the next epoch (a different remainder each
    time); without it every sentence is used once and incomplete batches are filled with
    empty rows (all padding, tags ``-1``). Tags are IOBES ids of :data:`TAGS`, ``-1`` on
    padding. ``word_dropout``: probability of replacing a training singleton by the unknown
    id (its casing class stays).
    """
    import tensorflow as tf

    names = ("words", "chars", "casing") if casing else ("words", "chars")
    tag_index = {t: i for i, t in enumerate(TAGS)}
    plan = BucketedBatches([len(tokens) for tokens, _ in sentences], batch_size, shuffle, seed)
    encoded = []  # (words, chars[, casing], tags) per sentence
    for tokens, tags in sentences:
        length = bucket_length(len(tokens))
        x = vocab.encode(tokens, length, max_word_len, casing=casing)
        y = np.full(length, -1, np.int32)
        y[: len(tags)] = [tag_index[t] for t in iob2_to_iobes(tags)]
        encoded.append((*x, y))

    def generate():
        rng, batches = plan.epoch()
        for _, index in batches:
            rows = [encoded[i] for i in index]
            if len(rows) < batch_size:  # evaluation: fill with empty rows, one shape per group
                *inputs, tags = rows[0]
                empty = (*(np.zeros_like(a) for a in inputs), np.full_like(tags, -1))
                rows += [empty] * (batch_size - len(rows))
            x = {name: np.stack([r[i] for r in rows]) for i, name in enumerate(names)}
            if word_dropout:
                words = x["words"]
                single = (words >= vocab.first_singleton) & (rng.random(words.shape) < word_dropout)
                x["words"] = np.where(single, 1, words).astype(np.int32)
            yield x, np.stack([r[-1] for r in rows])

    signature = ({"words": tf.TensorSpec((None, None), tf.int32),
                  "chars": tf.TensorSpec((None, None, max_word_len), tf.int32)},
                 tf.TensorSpec((None, None), tf.int32))
    if casing:
        signature[0]["casing"] = tf.TensorSpec((None, None), tf.int32)
    ds = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return ds.apply(tf.data.experimental.assert_cardinality(plan.num_batches)).prefetch(2)
