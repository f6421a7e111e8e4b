"""Moving MNIST (Srivastava, Mansimov and Salakhutdinov 2015): real MNIST digits bouncing inside
64×64 frames, made on the fly.

Each sequence places ``digits`` 28×28 MNIST digits at random positions with random directions
and a fixed speed; a digit that reaches the border bounces back, and overlapping digits combine
by their pixel maximum. Training sequences are drawn without end from the MNIST training
digits; the test sequences, from the MNIST test digits, are a fixed function of a seed, made in
chunks so 10,000 of them never have to sit in memory at once.
"""

from __future__ import annotations

import numpy as np

from kerasseq.errors import DataError

FRAME = 64
DIGIT = 28
SPLITS = ("train", "test")


def _check(frames: int, digits: int, speed: float) -> None:
    if frames < 2 or digits < 1 or not speed > 0:
        raise DataError(f"Moving MNIST needs frames >= 2, digits >= 1 and speed > 0; got "
                        f"frames={frames}, digits={digits}, speed={speed}")


def _bounce(start: np.ndarray, velocity: np.ndarray, steps: np.ndarray, limit: int) -> np.ndarray:
    """Positions in ``[0, limit]`` of points moving at ``velocity`` and reflected at both ends."""
    travelled = np.mod(start[..., None] + velocity[..., None] * steps, 2 * limit)  # (..., T)
    return np.rint(np.where(travelled > limit, 2 * limit - travelled, travelled)).astype(int)


def render_sequences(rng: np.random.Generator, digits_pool: np.ndarray, count: int,
                     frames: int = 20, digits: int = 2, speed: float = 3.6) -> np.ndarray:
    """``count`` Moving MNIST sequences, float32 ``(count, frames, 64, 64)`` in [0, 1].

    Args:
        rng: the random generator (positions, directions, which digits).
        digits_pool: uint8 MNIST digits ``(N, 28, 28)`` to draw from.
        count: sequences to make.
        frames: frames per sequence (observed + predicted).
        digits: digits per sequence.
        speed: pixels per frame (Srivastava et al.'s step of 0.1 of the 36-pixel range).
    """
    _check(frames, digits, speed)
    limit = FRAME - DIGIT
    start = rng.uniform(0, limit, size=(count, digits, 2))
    angle = rng.uniform(0, 2 * np.pi, size=(count, digits))
    velocity = speed * np.stack([np.sin(angle), np.cos(angle)], axis=-1)  # (count, digits, 2)
    rows_cols = _bounce(start, velocity, np.arange(frames), limit)  # (count, digits, 2, frames)
    chosen = digits_pool[rng.integers(0, len(digits_pool), size=(count, digits))]
    out = np.zeros((count, frames, FRAME, FRAME), np.uint8)
    for i in range(count):
        for d in range(digits):
            digit = chosen[i, d]
            for t in range(frames):
                r, c = rows_cols[i, d, 0, t], rows_cols[i, d, 1, t]
                window = out[i, t, r:r + DIGIT, c:c + DIGIT]
                np.maximum(window, digit, out=window)
    return out.astype(np.float32) / 255.0


def load_digit_pool(split: str, data_dir=None, download: bool = False) -> np.ndarray:
    """The uint8 MNIST digits ``(N, 28, 28)`` of ``split`` (train: 60,000; test: 10,000)."""
    from kerasseq.data.images import load_images

    if split not in SPLITS:
        raise DataError(f"unknown Moving MNIST split {split!r}; expected one of {SPLITS}")
    images, _ = load_images("mnist", split, data_dir, download)
    return images[..., 0]


def split_frames(sequences: np.ndarray, input_frames: int):
    """``(inputs, targets)`` with a channel axis: ``(n, J, 64, 64, 1)``, ``(n, K, 64, 64, 1)``."""
    return sequences[:, :input_frames, ..., None], sequences[:, input_frames:, ..., None]


def moving_mnist_batches(batch_size: int, input_frames: int = 10, output_frames: int = 10,
                         seed: int = 0, digits: int = 2, data_dir=None, download: bool = False):
    """Endless training batches ``(inputs, targets)`` from the MNIST training digits."""
    pool = load_digit_pool("train", data_dir, download)
    rng = np.random.default_rng(seed)
    while True:
        sequences = render_sequences(rng, pool, batch_size, input_frames + output_frames, digits)
        yield split_frames(sequences, input_frames)


def moving_mnist_dataset(batch_size: int, input_frames: int = 10, output_frames: int = 10,
                         seed: int = 0, digits: int = 2, data_dir=None, download: bool = False):
    """A ``tf.data.Dataset`` of endless training batches (use it with ``steps_per_epoch``)."""
    import tensorflow as tf

    load_digit_pool("train", data_dir, download)  # fail here, with a clear error, not in a worker
    spec = (tf.TensorSpec((batch_size, input_frames, FRAME, FRAME, 1), tf.float32),
            tf.TensorSpec((batch_size, output_frames, FRAME, FRAME, 1), tf.float32))
    dataset = tf.data.Dataset.from_generator(
        lambda: moving_mnist_batches(batch_size, input_frames, output_frames, seed, digits,
                                     data_dir, download), output_signature=spec)
    return dataset.prefetch(2)


def moving_mnist_test_chunks(count: int = 10_000, input_frames: int = 10, output_frames: int = 10,
                             seed: int = 0, chunk: int = 500, digits: int = 2, split: str = "test",
                             data_dir=None, download: bool = False):
    """The fixed test sequences as ``(inputs, targets)`` chunks of at most ``chunk`` sequences.

    The same ``count``, ``seed`` and ``chunk`` give the same sequences (each chunk has its own
    seed): keep ``chunk`` at its default when comparing runs.
    """
    if count < 1:
        raise DataError(f"the Moving MNIST test set needs at least one sequence; got count={count}")
    pool = load_digit_pool(split, data_dir, download)
    for index, start in enumerate(range(0, count, chunk)):
        rng = np.random.default_rng([seed, index])
        n = min(chunk, count - start)
        yield split_frames(render_sequences(rng, pool, n, input_frames + output_frames, digits),
                           input_frames)
