"""Side-by-side: one training step of the README's character LM, Keras vs PyTorch.

Same shapes on both sides (embedding 65x64 -> 2-layer LSTM 384 -> dense 65; batch 32 x 100
characters; Adam, gradient clipping by norm 5; fp32). Keras runs on whichever backend
``KERAS_BACKEND`` selects, with the runner's compile settings; PyTorch runs ``nn.LSTM``.

    python benchmarks/charlm_train_step.py keras           # TensorFlow backend (default)
    KERAS_BACKEND=jax python benchmarks/charlm_train_step.py keras
    python benchmarks/charlm_train_step.py torch            # pip install torch==2.13.0

PyTorch runs on the GPU when there is one (``benchmarks/run_gpu.sh``), else on the CPU.

Prints one ``RESULT framework case ms/step chars/s`` line. Run the sides in one session on
the same machine and compare the ratio (see RESULTS.md).
"""

import sys
import time

import numpy as np

VOCAB, EMBED, UNITS, DEPTH, BATCH, SEQ = 65, 64, 384, 2, 32, 100
WARMUP, STEPS = 3, 20


def keras_step_time(jit_compile):
    import keras

    from kerasseq.models import build_char_language_model

    model = build_char_language_model(VOCAB, units=UNITS, depth=DEPTH, embedding_dim=EMBED,
                                      dropout=0.15, stateful=True, batch_size=BATCH)
    model.compile(keras.optimizers.Adam(3e-3, clipnorm=5.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, VOCAB, (BATCH, SEQ)).astype("int32") for _ in range(4)]
    for i in range(WARMUP):
        model.train_on_batch(batches[i % 4], batches[i % 4])
    start = time.perf_counter()
    for i in range(STEPS):
        loss = model.train_on_batch(batches[i % 4], batches[i % 4])
    float(loss)  # the last step has finished
    return (time.perf_counter() - start) / STEPS, f"keras-{keras.backend.backend()}-jit_{jit_compile}"


def torch_step_time():
    import torch

    class CharLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(VOCAB, EMBED)
            self.lstm = torch.nn.LSTM(EMBED, UNITS, DEPTH, batch_first=True, dropout=0.15)
            self.drop = torch.nn.Dropout(0.15)
            self.head = torch.nn.Linear(UNITS, VOCAB)

        def forward(self, x, state):
            y, state = self.lstm(self.drop(self.embedding(x)), state)
            return self.head(self.drop(y)), state

    device = "cuda" if torch.cuda.is_available() else "cpu"  # cuDNN LSTM on a GPU machine
    model = CharLM().to(device)
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    rng = np.random.default_rng(0)
    batches = [torch.from_numpy(rng.integers(0, VOCAB, (BATCH, SEQ))).to(device) for _ in range(4)]
    state = None

    def step(x):
        nonlocal state
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)  # truncated BPTT, as the Keras side
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), x.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        return loss

    for i in range(WARMUP):
        step(batches[i % 4])
    start = time.perf_counter()
    for i in range(STEPS):
        loss = step(batches[i % 4])
    loss.item()  # waits for the last step
    where = "cuda" if device == "cuda" else f"threads_{torch.get_num_threads()}"
    return (time.perf_counter() - start) / STEPS, f"torch-{torch.__version__}-{where}"


if __name__ == "__main__":
    side = sys.argv[1] if len(sys.argv) > 1 else "keras"
    if side == "torch":
        results = [torch_step_time()]
    else:
        results = [keras_step_time("auto")]
    for seconds, name in results:
        print(f"RESULT {name} charlm_lstm2x384_B32T100_train {seconds * 1000:.1f} ms/step "
              f"{BATCH * SEQ / seconds:.0f} chars/s")
