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
