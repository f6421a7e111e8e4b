"""Character vocabularies and the truncated-BPTT batching of a long text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kerasseq.errors import UserError


class CharVocabulary:
    """A character vocabulary: the sorted set of characters of a text, with id 0 for the first.

    Args:
        chars: the characters, in id order.

    Example:
    >>> vocab = CharVocabulary.from_text("hello")
    >>> vocab.decode(vocab.encode("hell"))
    'hell'
    """

    def __init__(self, chars):
        chars = list(chars)
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError(f"Expected distinct single characters. Received: chars={chars!r}")
        self.chars = chars
        self._index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharVocabulary":
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Map text to int32 ids; raises :class:`UserError` naming any unknown characters."""
        try:
            return np.fromiter((self._index[c] for c in text), dtype=np.int32, count=len(text))
        except KeyError:
            unknown = sorted({c for c in text if c not in self._index})
            raise UserError(
                f"the text has characters outside the model's vocabulary: "
                f"{''.join(unknown)!r}; the vocabulary is {''.join(self.chars)!r}"
            ) from None

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1))

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"chars": self.chars}, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> "CharVocabulary":
        return cls(json.loads(Path(path).read_text())["chars"])


def tbptt_batches(ids: np.ndarray, batch_size: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Lay a long id sequence out for truncated backpropagation through time.

    The text is cut into ``batch_size`` contiguous streams; batch ``k`` holds characters
    ``[k*seq_len, (k+1)*seq_len)`` of every stream, so row ``i`` of batch ``k+1`` continues
    exactly where row ``i`` of batch ``k`` stopped and a stateful RNN can carry its state
    across batches. Targets are the inputs shifted by one character. The last
    ``(len(ids) - 1) % (batch_size * seq_len)`` characters do not fit a full batch and are
    not used.

    Returns:
        ``(inputs, targets)``, each ``(num_batches, batch_size, seq_len)`` int32.
    """
    per_batch = batch_size * seq_len
    num_batches = (len(ids) - 1) // per_batch
    if num_batches < 1:
        raise UserError(
            f"the text has {len(ids)} characters, fewer than one batch of "
            f"batch_size*seq_len+1 = {per_batch + 1}; lower batch_size or seq_len"
        )
    used = num_batches * per_batch
    x = np.asarray(ids[:used], np.int32).reshape(batch_size, num_batches, seq_len)
    y = np.asarray(ids[1 : used + 1], np.int32).reshape(batch_size, num_batches, seq_len)
    # (batch_size, num_batches, seq_len) -> (num_batches, batch_size, seq_len)
    return x.transpose(1, 0, 2).copy(), y.transpose(1, 0, 2).copy()


class WordVocabulary:
    """A token vocabulary with id 0 for padding and id 1 for unknown tokens.

    The layout of ``keras.layers.TextVectorization`` and ``StringLookup`` (``""`` then
    ``"[UNK]"``), so an exported model can look tokens up with them.

    Args:
        tokens: the known tokens, in id order from id 2.

    Example:
    >>> vocab = WordVocabulary.from_sentences([["a", "b", "a"]], min_count=1)
    >>> vocab.encode(["a", "zzz"], max_len=4).tolist()
    [2, 1, 0, 0]
    """

    PAD, UNK = "", "[UNK]"

    def __init__(self, tokens):
        tokens = list(tokens)
        if len(set(tokens)) != len(tokens) or self.PAD in tokens or self.UNK in tokens:
            raise ValueError("Expected distinct tokens without '' and '[UNK]'. "
                             f"Received: {len(tokens)} tokens")
        self.tokens = tokens
        self._index = {t: i + 2 for i, t in enumerate(tokens)}

    @classmethod
    def from_sentences(cls, sentences, min_count: int = 1) -> "WordVocabulary":
        """Tokens seen at least ``min_count`` times, most frequent first (ties: alphabetical)."""
        from collections import Counter

        counts = Counter(t for sentence in sentences for t in sentence)
        kept = sorted((t for t, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t))
        return cls(kept)

    def __len__(self) -> int:
        """Number of ids, padding and unknown included."""
        return len(self.tokens) + 2

    def lookup(self, tokens) -> list[int]:
        return [self._index.get(t, 1) for t in tokens]

    def encode(self, tokens, max_len: int) -> np.ndarray:
        """Ids of ``tokens``, truncated or zero-padded to ``max_len``."""
        ids = np.zeros(max_len, np.int32)
        found = self.lookup(tokens[:max_len])
        ids[: len(found)] = found
        return ids

    def encode_batch(self, sentences, max_len: int) -> np.ndarray:
        return np.stack([self.encode(s, max_len) for s in sentences]) if sentences else \
            np.zeros((0, max_len), np.int32)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"tokens": self.tokens}, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> "WordVocabulary":
        return cls(json.loads(Path(path).read_text())["tokens"])
