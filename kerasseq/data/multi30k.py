"""Multi30k English→German (WMT16 multimodal task 1): reader, subword tokenizers, tf.data.

Files: ``{train,val,test_2016_flickr}.{en,de}.gz``, raw cased UTF-8, one sentence per line,
line ``i`` of the English file translated by line ``i`` of the German one (29,000 / 1,014 /
1,000 pairs). A few German lines carry a no-break space (``120\\xa0cm``) or a trailing space;
the reader keeps every line as it is, so references for BLEU are the original text.

Tokenization: one SentencePiece model per language (Kudo & Richardson 2018), BPE with 8,000
pieces each, learnt on the training split only. Separate vocabularies, because the two sides
never share an embedding in an encoder-decoder and German needs its own compounds and
inflections. The models use no Unicode normalisation and fall back to UTF-8 bytes for
characters never seen in training, so ``decode(encode(text))`` gives back the text itself
(whitespace runs collapsed): readable, cased output for sacreBLEU. Ids 0-3 are ``[PAD]``,
``[UNK]``, ``[BOS]``, ``[EOS]`` in both. The model file is what a run folder keeps and what
``keras_hub.tokenizers.SentencePieceTokenizer(proto=...)`` loads inside an exported model.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np

from kerasseq.data.buckets import BucketedBatches
from kerasseq.data.files import dataset_file
from kerasseq.errors import CheckpointError, DataError

# Split name -> file stem in the source repository.
SPLITS = {"train": "train", "val": "val", "test": "test_2016_flickr"}
SOURCE, TARGET = "en", "de"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)
# Padded lengths of a pair, max(source, target + 1) tokens; 99.9% of training pairs fit 48.
BUCKETS = (16, 24, 32, 48, 64)


def read_lines(path) -> list[str]:
    """The lines of a UTF-8 text file (plain or ``.gz``), without their ``"\\n"``.

    Only ``"\\n"`` ends a line: ``str.splitlines`` would also split on characters such as
    U+2028 that may occur inside a sentence.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="\n") as f:
        text = f.read()
    return text.removesuffix("\n").split("\n") if text else []


def load_multi30k(split: str, data_dir=None, download: bool = False) -> list[tuple[str, str]]:
    """The ``(english, german)`` sentence pairs of one split, in file order.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"`` (the 2016 Flickr test set).
        data_dir: the data directory; defaults to ``$KERASSEQ_DATA_DIR``.
        download: fetch missing files from the source.

    Raises:
        DataError: a file is missing or corrupt, or the two sides differ in length.
    """
    if split not in SPLITS:
        raise ValueError(f"Expected split to be one of {tuple(SPLITS)}. Received: split={split!r}")
    paths = [dataset_file(f"multi30k/{SPLITS[split]}.{lang}.gz", data_dir, download)
             for lang in (SOURCE, TARGET)]
    source, target = (read_lines(p) for p in paths)
    if len(source) != len(target):
        raise DataError(f"{paths[0]} has {len(source)} lines but {paths[1]} has {len(target)}; "
                        "the two sides of a split must be aligned line by line")
    return list(zip(source, target))


class SubwordTokenizer:
    """A SentencePiece subword tokenizer with ids 0-3 for ``[PAD] [UNK] [BOS] [EOS]``.

    Learn it with :meth:`learn`; :meth:`encode` gives subword ids without special tokens,
    :meth:`decode` turns ids back into text, stopping at the first ``[EOS]`` and skipping
    ``[PAD]`` and ``[BOS]``.

    Args:
        proto: a serialized SentencePiece model (the bytes of a ``.model`` file).

    Example:
    >>> tok = SubwordTokenizer.learn(["Ein Hund läuft.", "Zwei Hunde laufen."] * 50, 300)
    >>> tok.decode(tok.encode("Ein Hund läuft."))
    'Ein Hund läuft.'
    """

    def __init__(self, proto: bytes):
        import sentencepiece as spm

        self.proto = bytes(proto)
        self._sp = spm.SentencePieceProcessor(model_proto=self.proto)
        found = tuple(self._sp.id_to_piece(i) for i in range(len(SPECIAL_TOKENS)))
        if found != SPECIAL_TOKENS:
            raise ValueError(f"Expected a model whose first pieces are {SPECIAL_TOKENS}. "
                             f"Received: first pieces {found}")

    @classmethod
    def learn(cls, sentences, vocabulary_size: int = 8000, model_type: str = "bpe") -> "SubwordTokenizer":
        """Learn a model of ``vocabulary_size`` pieces (specials and 256 byte pieces included).

        No normalisation (``identity``), every character of ``sentences`` kept
        (``character_coverage=1``), unseen ones spelt as UTF-8 bytes (``byte_fallback``).
        """
        import sentencepiece as spm

        if model_type not in ("bpe", "unigram"):
            raise ValueError(f"Expected model_type 'bpe' or 'unigram'. Received: model_type={model_type!r}")
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(list(sentences)), model_writer=model,
                vocab_size=vocabulary_size, model_type=model_type,
                normalization_rule_name="identity", character_coverage=1.0, byte_fallback=True,
                pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
                pad_piece="[PAD]", unk_piece="[UNK]", bos_piece="[BOS]", eos_piece="[EOS]",
                num_threads=1, minloglevel=2)  # one thread: the same model on every machine
        except RuntimeError as exc:  # e.g. a vocabulary larger than the text allows
            raise ValueError(f"Expected a vocabulary_size the sentences support. Received: "
                             f"vocabulary_size={vocabulary_size} ({exc})") from None
        return cls(model.getvalue())

    @property
    def vocabulary_size(self) -> int:
        return self._sp.get_piece_size()

    def __len__(self) -> int:
        return self.vocabulary_size

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text)

    def encode_batch(self, texts) -> list[list[int]]:
        return self._sp.encode(list(texts))

    def id_to_token(self, id: int) -> str:
        return self._sp.id_to_piece(int(id))

    def pieces(self, text: str) -> list[str]:
        """The subword strings of ``text`` (``▁`` marks the start of a word)."""
        return self._sp.encode(text, out_type=str)

    def decode(self, ids) -> str:
        """Text of ``ids`` up to the first ``[EOS]``, without ``[PAD]`` and ``[BOS]``."""
        ids = [int(i) for i in np.asarray(ids).reshape(-1)]
        if EOS_ID in ids:
            ids = ids[: ids.index(EOS_ID)]
        return self._sp.decode([i for i in ids if i not in (PAD_ID, BOS_ID)])

    def decode_batch(self, rows) -> list[str]:
        return [self.decode(row) for row in rows]

    def piece_bytes(self) -> list[bytes]:
        """What each id contributes to the decoded text, as UTF-8 bytes: its piece with
        ``▁`` as a space, the raw byte of a byte-fallback piece, nothing for ``[PAD] [BOS]
        [EOS]`` and SentencePiece's `` ⁇ `` for ``[UNK]``. Joining them and dropping the
        leading space is :meth:`decode`, as plain string ops (an exported model detokenises
        with a lookup table, see :func:`kerasseq.export.translation_endpoint`)."""
        table = []
        for i in range(self.vocabulary_size):
            piece = self._sp.id_to_piece(i)
            if self._sp.is_byte(i):
                table.append(bytes([int(piece[3:5], 16)]))  # "<0xE2>"
            elif i == UNK_ID:
                table.append(" \u2047 ".encode())
            elif self._sp.is_control(i):
                table.append(b"")
            else:
                table.append(piece.replace("\u2581", " ").encode())
        return table

    def save(self, path) -> None:
        Path(path).write_bytes(self.proto)

    @classmethod
    def load(cls, path) -> "SubwordTokenizer":
        return cls(Path(path).read_bytes())

    def to_keras_hub(self):
        """The same model as a ``keras_hub.tokenizers.SentencePieceTokenizer`` (TensorFlow)."""
        import keras_hub

        return keras_hub.tokenizers.SentencePieceTokenizer(proto=self.proto)


def tokenizer_path(directory, lang: str) -> Path:
    return Path(directory) / f"spm.{lang}.model"


def load_or_learn_tokenizers(directory, data_dir=None, vocabulary_size: int = 8000,
                             model_type: str = "bpe", download: bool = False):
    """``(source, target)`` tokenizers of a run folder: loaded from ``spm.en.model`` and
    ``spm.de.model`` when the run has them (resuming), else learnt on the training split
    and saved there.

    Raises:
        CheckpointError: the folder holds one model only, or models of another size.
    """
    paths = [tokenizer_path(directory, lang) for lang in (SOURCE, TARGET)]
    present = [p.is_file() for p in paths]
    if all(present):
        tokenizers = tuple(SubwordTokenizer.load(p) for p in paths)
        sizes = [len(t) for t in tokenizers]
        if sizes != [vocabulary_size] * 2:
            raise CheckpointError(f"{directory} holds tokenizers of {sizes[0]} and {sizes[1]} "
                                  f"pieces, not vocabulary_size={vocabulary_size}; use another run "
                                  "folder or the run's own setting")
        return tokenizers
    if any(present):
        missing = paths[present.index(False)]
        raise CheckpointError(f"{missing} is missing but {paths[present.index(True)].name} is there; "
                              "the run folder is incomplete, delete both or restore the missing one")
    train = load_multi30k("train", data_dir, download)
    tokenizers = tuple(SubwordTokenizer.learn([pair[side] for pair in train], vocabulary_size, model_type)
                       for side in (0, 1))
    Path(directory).mkdir(parents=True, exist_ok=True)
    for tokenizer, path in zip(tokenizers, paths):
        tokenizer.save(path)
    return tokenizers


def translation_batches(pairs, source_tokenizer: SubwordTokenizer, target_tokenizer: SubwordTokenizer,
                        batch_size: int, shuffle: bool, seed: int = 0, max_length: int | None = None,
                        buckets=BUCKETS, with_index: bool = False, name: str = "pairs"):
    """A tf.data pipeline of ``({"source", "target_in"}, target_out)`` batches.

    For a pair ``(x, y)`` of subword ids: ``source`` is ``x``, ``target_in`` is
    ``[BOS] + y`` and ``target_out`` is ``y + [EOS]`` (teacher forcing), all int32 and
    zero-padded. A pair's length is ``max(len(x), len(y) + 1)``; pairs are grouped by that
    length padded up to the next of ``buckets`` (:func:`bucket_length`), and source and
    target are both padded to it, so every batch is ``(batch, L)`` with ``L`` one of a few
    values (few compilations) and rows of similar length.

    With ``shuffle`` (training) the groups' contents and the batch order change every epoch
    (seeded by ``seed`` and the epoch number) and each group's last incomplete batch waits
    for a later epoch; pairs longer than ``max_length`` are dropped. Without it (evaluation)
    the order is fixed (groups by length, file order within a group), every pair is used
    once, a group's last batch may be smaller, and pairs longer than ``max_length`` are
    truncated to it instead of dropped. Either way the number of pairs affected is printed.

    Args:
        pairs: ``(source_text, target_text)`` pairs.
        max_length: the longest pair kept whole, in tokens; ``None`` for no limit.
        with_index: add ``"index"`` (batch,) to the inputs, each row's position in ``pairs``,
            to match outputs to references in evaluation.
        name: what the printed counts call the pairs (e.g. ``"train"``).
    """
    import tensorflow as tf

    if batch_size < 1:
        raise ValueError(f"Expected batch_size >= 1. Received: batch_size={batch_size}")
    if max_length is not None and max_length < 2:
        raise ValueError(f"Expected max_length >= 2 or None. Received: max_length={max_length}")
    sources = source_tokenizer.encode_batch(p[0] for p in pairs)
    targets = target_tokenizer.encode_batch(p[1] for p in pairs)
    rows, long = [], 0
    for i, (x, y) in enumerate(zip(sources, targets)):
        if max_length is not None and max(len(x), len(y) + 1) > max_length:
            long += 1
            if shuffle:
                continue
            x, y = x[:max_length], y[: max_length - 1]
        rows.append((i, x, y))
    if long:
        action = "dropped" if shuffle else "truncated"
        print(f"{name}: {action} {long} of {len(pairs)} pairs longer than max_length={max_length} tokens")
    if not rows:
        raise DataError(f"{name}: no pairs left to batch ({len(pairs)} given, max_length={max_length})")

    plan = BucketedBatches([max(len(x), len(y) + 1) for _, x, y in rows], batch_size, shuffle, seed, buckets)
    if plan.num_batches == 0:
        raise DataError(f"{name}: every length group has fewer than batch_size={batch_size} pairs; "
                        "lower batch_size")

    def generate():
        for length, index in plan.epoch()[1]:
            source = np.zeros((len(index), length), np.int32)  # (batch, L)
            target_in = np.zeros((len(index), length), np.int32)
            target_out = np.zeros((len(index), length), np.int32)
            for j, r in enumerate(index):
                _, x, y = rows[r]
                source[j, : len(x)] = x
                target_in[j, : len(y) + 1] = [BOS_ID, *y]
                target_out[j, : len(y) + 1] = [*y, EOS_ID]
            inputs = {"source": source, "target_in": target_in}
            if with_index:
                inputs["index"] = np.array([rows[r][0] for r in index], np.int32)
            yield inputs, target_out

    spec = tf.TensorSpec((None, None), tf.int32)
    inputs_spec = {"source": spec, "target_in": spec}
    if with_index:
        inputs_spec["index"] = tf.TensorSpec((None,), tf.int32)
    ds = tf.data.Dataset.from_generator(generate, output_signature=(inputs_spec, spec))
    return ds.apply(tf.data.experimental.assert_cardinality(plan.num_batches)).prefetch(2)


def translation_datasets(source_tokenizer: SubwordTokenizer, target_tokenizer: SubwordTokenizer,
                         batch_size: int, max_length: int | None = None, seed: int = 0,
                         data_dir=None, download: bool = False, splits=("train", "val", "test")):
    """``{split: dataset}`` of :func:`translation_batches`: ``train`` shuffled (long pairs
    dropped), ``val`` and ``test`` in a fixed order with every pair (long pairs truncated)."""
    return {split: translation_batches(load_multi30k(split, data_dir, download), source_tokenizer,
                                       target_tokenizer, batch_size, shuffle=split == "train",
                                       seed=seed, max_length=max_length, name=split)
            for split in splits}
