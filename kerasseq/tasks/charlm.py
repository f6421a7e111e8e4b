"""Character-level language model on Tiny Shakespeare (min-char-rnn / char-rnn).

Truncated backpropagation through time: stateful recurrent layers carry their states across
consecutive chunks of the text (row i of every batch continues row i of the previous batch;
states are reset at each epoch and before validation), gradients clipped by global norm.
Reported: validation cross-entropy in nats/char and bits/char, and samples along training.
"""

from __future__ import annotations

import json
import math

import keras
import numpy as np

from kerasseq.data.shakespeare import char_lm_dataset, load_tinyshakespeare
from kerasseq.data.text import CharVocabulary
from kerasseq.errors import UserError
from kerasseq.metrics import BitsPerToken
from kerasseq.models.char_lm import build_char_language_model, generate
from kerasseq.models.recurrent import reset_recurrent_states
from kerasseq.tasks.base import Task
from kerasseq.tasks.configs import CharLMConfig


class CharLMTask(Task):
    name = "charlm"
    description = "character-level language model on Tiny Shakespeare (truncated BPTT)"
    config_class = CharLMConfig

    # Global steps (besides every epoch end) at which samples are written: the lectures'
    # "train more" progression.
    sample_steps = (100, 300, 1000, 3000)

    # Validation characters the trained units are correlated over, and how many of them the
    # heat map of interpretable cells shows.
    diagnostics_chars = 2000
    heatmap_chars = 640

    def prepare(self, run):
        path = run.dir / "vocab.json"
        if path.exists():
            run.vocab = CharVocabulary.load(path)
        else:
            _, _, run.vocab = load_tinyshakespeare(run.config.data_dir, run.config.download)
            run.dir.mkdir(parents=True, exist_ok=True)
            run.vocab.save(path)

    def datasets(self, run):
        c = run.config
        train_text, val_text, _ = load_tinyshakespeare(c.data_dir, c.download)
        if c.max_chars:
            train_text = train_text[: c.max_chars]
        return (char_lm_dataset(train_text, run.vocab, c.batch_size, c.seq_len),
                char_lm_dataset(val_text, run.vocab, c.batch_size, c.seq_len))

    def _model_args(self, run) -> dict:
        c = run.config
        return dict(cell=c.cell, units=c.units, depth=c.depth, embedding_dim=c.embedding_dim)

    def build_model(self, run):
        return build_char_language_model(
            len(run.vocab), **self._model_args(run), dropout=run.config.dropout,
            stateful=True, batch_size=run.config.batch_size)

    def compile_args(self, run):
        return dict(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=[BitsPerToken(name="bpc")])

    def callbacks(self, run, model):
        return [ResetStatesEachEpoch(), SampleDuringTraining(self, run, self.sample_steps)]

    def evaluate(self, run, model, val_ds):
        reset_recurrent_states(model)
        nats = float(model.evaluate(val_ds, verbose=0, return_dict=True)["loss"])
        reset_recurrent_states(model)
        return {"val_loss_nats": nats, "val_bits_per_char": nats / math.log(2)}

    def plots(self, run, model, history):
        """Recurrent-net diagnostics of the trained model on validation text: the gradient
        norms ‖∂L/∂h_t‖ over one chunk (``gradient_norms.png/json``) and the units of the
        first recurrent layer that track features of the text (``interpretable_cells.png``,
        ``cell_ranking.json``)."""
        from kerasseq.diagnostics import UnsupportedLayerError, state_probe_model

        if keras.backend.backend() not in ("tensorflow", "jax"):
            print(f"No recurrent diagnostics on the {keras.backend.backend()} backend.")
            return
        serving = self.serving_model(run, model)
        try:
            state_probe_model(serving)
        except UnsupportedLayerError as error:
            print(f"No recurrent diagnostics for this model: {error}")
            return
        self._diagnostics(run, serving)

    def _diagnostics(self, run, serving):
        from kerasseq.diagnostics import (TEXT_FEATURES, cell_activations, compare_gradient_flow,
                                          plot_cell_heatmap, rank_cells, validation_windows)

        c = run.config
        _, val_text, _ = load_tinyshakespeare(c.data_dir, c.download)
        windows = validation_windows(val_text, run.vocab, c.seq_len, 16)
        compare_gradient_flow({c.cell: serving}, windows, run.artifacts / "gradient_norms.png",
                              title=f"‖∂L/∂h_t‖ of {c.cell}_0, L at the last of {c.seq_len} steps")

        passage = _passage(val_text, self.diagnostics_chars)
        state = "cell" if c.cell == "lstm" else "hidden"
        activations = cell_activations(serving, run.vocab.encode(passage), state=state)
        ranking = {}
        for name, feature in TEXT_FEATURES.items():
            values = feature(passage)
            if values.std() > 0:  # Tiny Shakespeare has no quotes or brackets
                units, r = rank_cells(activations, values)
                ranking[name] = [{"unit": int(u), "r": round(float(v), 4)}
                                 for u, v in zip(units[:5], r[:5])]
        (run.artifacts / "cell_ranking.json").write_text(json.dumps({
            "layer": f"{c.cell}_0", "state": "tanh(c_t)" if state == "cell" else "h_t",
            "passage_chars": len(passage), "features": ranking}, indent=1))
        shown = {}  # the best unit for each feature, each unit once
        for name, top in ranking.items():
            unit = next((t for t in top if t["unit"] not in shown), None)
            if unit:
                shown[unit["unit"]] = f"unit {unit['unit']}: r = {unit['r']:+.2f} with {name}"
        n = min(len(passage), self.heatmap_chars)
        if shown:
            what = "tanh(c)" if state == "cell" else "h"
            plot_cell_heatmap(passage[:n], activations[:n], list(shown),
                              run.artifacts / "interpretable_cells.png", titles=list(shown.values()),
                              title=f"{c.cell}_0 {what} along validation text")

    def serving_model(self, run, model):
        """Stateless copy of the trained model: ids ``(batch, time)`` -> logits."""
        return _copy_weights(build_char_language_model(len(run.vocab), **self._model_args(run)), model)

    def step_model(self, run, model):
        """Generation form ``[ids, *states] -> [logits, *states]`` with the trained weights."""
        step = build_char_language_model(len(run.vocab), **self._model_args(run), return_state=True)
        return _copy_weights(step, model)

    def example_input(self, run):
        return run.vocab.encode("ROMEO:\nWhat light")[None]

    def sample(self, run, model, prompt="\n", length=500, temperature=1.0, top_k=0, seed=None,
               step_model=None):
        """Continue ``prompt`` by ``length`` characters; unknown prompt characters are a
        UserError naming them."""
        if temperature <= 0:
            raise UserError(f"--temperature must be > 0; got {temperature}")
        if top_k < 0 or top_k > len(run.vocab):
            raise UserError(f"--top_k must be in [0, {len(run.vocab)}]; got {top_k}")
        if not prompt:
            raise UserError("--prompt must hold at least one character")
        ids = run.vocab.encode(prompt)
        step_model = step_model or self.step_model(run, model)
        out = generate(step_model, ids, length, temperature=temperature, top_k=top_k, seed=seed)
        return prompt + run.vocab.decode(out)

    def export_endpoints(self, run, archive, serving_model):
        from kerasseq.export import char_sampler_endpoint

        c = run.config
        step = build_char_language_model(len(run.vocab), **self._model_args(run), return_state=True)
        _copy_weights(step, serving_model)
        archive.track(step)
        char_sampler_endpoint(archive, step, run.vocab.chars)

    def pyfunc_endpoint(self, run):
        """Served: a prompt per row in, the prompt and its continuation out."""
        return {"endpoint": "sample", "input": "prompt",
                "params": {"num_chars": 200, "temperature": 1.0}}


def _passage(text: str, num_chars: int) -> str:
    """``num_chars`` characters of ``text`` from the start of a speech (after a blank line)."""
    start = text.find("\n\n")
    start = start + 2 if 0 <= start < len(text) - num_chars else 0
    return text[start: start + num_chars]


def _copy_weights(target: keras.Model, source: keras.Model) -> keras.Model:
    """Copy weights layer by layer (same names), e.g. from the stateful training model."""
    for layer in target.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
    return target


class ResetStatesEachEpoch(keras.callbacks.Callback):
    """Truncated BPTT bookkeeping: zero the carried states at each epoch and before and after
    validation, so neither pass starts from the other's states."""

    def on_epoch_begin(self, epoch, logs=None):
        reset_recurrent_states(self.model)

    def on_test_begin(self, logs=None):
        reset_recurrent_states(self.model)

    def on_test_end(self, logs=None):
        reset_recurrent_states(self.model)


class SampleDuringTraining(keras.callbacks.Callback):
    """Write a sample at a few early steps and at every epoch end (run artifacts)."""

    def __init__(self, task: CharLMTask, run, steps):
        super().__init__()
        self.task, self.run, self.steps = task, run, set(steps)
        self._step_model = None

    def _write(self, label: str):
        c = self.run.config
        if not c.sample_chars:
            return
        if self._step_model is None:
            self._step_model = self.task.step_model(self.run, self.model)
        else:
            _copy_weights(self._step_model, self.model)
        text = self.task.sample(self.run, self.model, prompt="\n", length=c.sample_chars,
                                temperature=c.temperature, seed=c.seed, step_model=self._step_model)
        folder = self.run.artifacts / "samples"
        folder.mkdir(exist_ok=True)
        (folder / f"{label}.txt").write_text(text)
        self.run.tracker.log_text(text, f"samples/{label}.txt")

    def on_train_batch_end(self, batch, logs=None):
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if step in self.steps:
            self._write(f"step_{step:06d}")

    def on_epoch_end(self, epoch, logs=None):
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self._write(f"epoch_{epoch + 1:03d}_step_{step:06d}")


TASK = CharLMTask()
