"""Gradient flow through time: ‖∂L/∂h_t‖ at every step of a recurrent layer.

The lectures' picture of vanishing gradients (Bengio, Simard and Frasconi 1994; Pascanu,
Mikolov and Bengio 2013, "On the difficulty of training recurrent neural networks"): with
the loss L taken at the last step T only,

    ∂L/∂h_t = ∂L/∂h_T · ∏_{k=t+1..T} ∂h_k/∂h_{k-1},

which shrinks (or grows) geometrically with the distance T − t for a vanilla RNN, while
leaky integrators and gated units (LSTM, GRU) keep it alive over longer distances.

How it is measured. ∂L/∂h_t here is the *total* derivative: h_t feeds the next step h_{t+1}
and, in a deep model, the layers above at step t. Keras' recurrent layers run the whole
recurrence as one op, so :func:`state_probe_model` re-runs the chosen layer's own cell
(``layer.cell``, same weights) in a ``keras.layers.RNN`` that adds a perturbation ε_t to the
state the cell emits at every step, h'_t = h_t + ε_t, which then feeds both the next step and
the layers above. At ε = 0 the model computes exactly what it did before, and
∂L/∂ε_t = ∂L/∂h_t. This works for every cell that keeps its output h_t among its states (the
Elman RNN, GRU, LSTM's [h, c], the leaky-integrator and MUT cells, the newest block of the
time-delay cell's buffer); for an LSTM the derivative is the one with respect to h_t, with
the cell state c_t held as the recurrence computes it.

Gradients are taken with ``tf.GradientTape`` (TensorFlow backend) or ``jax.grad`` (JAX).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np


class UnsupportedLayerError(ValueError):
    """The model or layer cannot be probed (stateful, bidirectional, a cell that does not keep
    its output among its states ...)."""


def _recurrent_layer(model: keras.Model, layer_name: str | None = None):
    """The layer to probe: ``layer_name``, or the first layer that runs a cell."""
    stateful = [layer.name for layer in model.layers if getattr(layer, "stateful", False)]
    if stateful:
        raise UnsupportedLayerError("Expected a stateless model (e.g. a task's serving_model). "
                                    f"Received stateful layers: {stateful}")
    if layer_name is not None:
        layer = model.get_layer(layer_name)
        if not hasattr(layer, "cell"):
            raise UnsupportedLayerError(f"Expected a recurrent layer with a `.cell`. Received: "
                                        f"layer_name={layer_name!r} ({type(layer).__name__})")
        return layer
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            raise UnsupportedLayerError(f"Expected unidirectional recurrent layers. Received: "
                                        f"{layer.name} (Bidirectional)")
        if hasattr(layer, "cell"):
            if getattr(layer, "go_backwards", False):
                raise UnsupportedLayerError(f"Expected a forward recurrent layer. Received: "
                                            f"{layer.name} (go_backwards)")
            return layer
    raise UnsupportedLayerError(f"Expected a model with a recurrent layer. Received: model "
                                f"{model.name!r} without one")


def _state_sizes(cell) -> list[int]:
    size = cell.state_size
    sizes = list(size) if isinstance(size, (list, tuple)) else [size]
    if not all(isinstance(s, int) for s in sizes):
        raise UnsupportedLayerError(f"Expected a cell with flat integer state sizes. Received: "
                                    f"state_size={size!r}")
    return sizes


def _output_slot(cell, input_dim: int, sizes: list[int]) -> tuple[int, int]:
    """Where the cell keeps its output h_t among its new states: ``(state index, offset)``.

    Found by running one step on random numbers: state 0 at offset 0 for the Elman, GRU,
    LSTM ([h, c]), leaky and MUT cells; the newest block of the time-delay cell's buffer."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, input_dim)).astype("float32")
    states = [rng.normal(size=(2, size)).astype("float32") * 0.5 for size in sizes]
    output, new_states = cell(x, states, training=False)
    new_states = new_states if isinstance(new_states, (list, tuple)) else [new_states]
    output = keras.ops.convert_to_numpy(output)
    units = output.shape[-1]
    for index, state in enumerate(new_states):
        state = keras.ops.convert_to_numpy(state)
        for offset in range(0, state.shape[-1] - units + 1, units):
            if np.allclose(state[:, offset: offset + units], output, atol=1e-6):
                return index, offset
    raise UnsupportedLayerError(f"Expected a cell that keeps its output h_t among its states. Received: "
                                f"{type(cell).__name__} with state_size={cell.state_size}")


class _StateProbe(keras.layers.Layer):
    """One step of a trained ``cell`` on ``[x_t, ε_t]``: where the cell stores its output h_t
    in its new states, it stores h'_t = h_t + ε_t instead, so the next steps and the layers
    above both see h'_t. Outputs ``[h'_t, *new states]`` concatenated
    ``(batch, units + sum(state_size))``."""

    def __init__(self, cell, input_dim: int, units: int, slot: tuple[int, int], **kwargs):
        super().__init__(**kwargs)
        self.cell = cell
        self.input_dim = input_dim
        self.units = units
        self.slot = slot
        self.state_size = _state_sizes(cell)
        self.output_size = units + sum(self.state_size)
        self.built = True  # the wrapped cell is already built (and trained)

    def call(self, inputs, states):
        x = inputs[:, : self.input_dim]  # (batch, input_dim)
        eps = inputs[:, self.input_dim:]  # (batch, units)
        units = self.units
        _, new_states = self.cell(x, list(states), training=False)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
        index, offset = self.slot
        state = new_states[index]
        h = state[:, offset: offset + units] + eps  # (batch, units)
        new_states[index] = keras.ops.concatenate([state[:, :offset], h, state[:, offset + units:]],
                                                  axis=-1)
        return keras.ops.concatenate([h, *new_states], axis=-1), new_states


def state_probe_model(model: keras.Model, layer_name: str | None = None) -> keras.Model:
    """The model with one recurrent layer re-run step by step with a perturbable output.

    Args:
        model: a stateless model whose recurrent layer runs a cell (``layer.cell``): a
            character LM from :func:`kerasseq.models.build_char_language_model`, or any
            functional model built the same way.
        layer_name: the recurrent layer (default: the first one, e.g. ``"lstm_0"``).

    Returns:
        A ``keras.Model`` ``[inputs (batch, time), ε (batch, time, units)] ->
        [outputs, states (batch, time, units + sum(state sizes))]``: with ε = 0 its outputs
        equal the model's; ``states`` holds h_t and then every state of the layer after each
        step (LSTM: h, h, c). Masks are not applied.
    """
    layer = _recurrent_layer(model, layer_name)
    sizes = _state_sizes(layer.cell)
    input_dim = int(layer.input.shape[-1])
    units = int(layer.output.shape[-1])
    slot = _output_slot(layer.cell, input_dim, sizes)
    below = keras.Model(model.input, layer.input, name="below")
    # The layers above read the layer's output (and, with residual connections, its input).
    above = keras.Model([layer.input, layer.output], model.output, name="above")

    inputs = keras.Input(shape=tuple(model.input.shape[1:]), dtype=model.input.dtype, name="inputs")
    eps = keras.Input(shape=(model.input.shape[1], units), name="epsilon")
    x = below(inputs)  # (batch, time, input_dim)
    states = keras.layers.RNN(_StateProbe(layer.cell, input_dim, units, slot), return_sequences=True,
                              name="state_probe")(keras.ops.concatenate([x, eps], axis=-1))
    h = states[..., :units]  # (batch, time, units)
    outputs = above([x, h if layer.return_sequences else h[:, -1]])
    return keras.Model([inputs, eps], [outputs, states], name=f"{model.name}_probe")


def _gradient(loss_fn, eps: np.ndarray) -> np.ndarray:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def grad(e):
            with tf.GradientTape() as tape:
                tape.watch(e)
                loss = loss_fn(e)
            return tape.gradient(loss, e)

        return grad(tf.constant(eps)).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.jit(jax.grad(loss_fn))(eps))
    raise NotImplementedError(f"state_gradient_norms needs the TensorFlow or JAX backend; "
                              f"this is {backend!r}")


def state_gradient_norms(model: keras.Model, ids, targets=None, *, layer_name: str | None = None,
                         from_logits: bool = True) -> np.ndarray:
    """Mean over a batch of ‖∂L/∂h_t‖₂ for t = 1..T, L the loss of the last step's prediction.

    L is the cross-entropy of the model's prediction after the last input step; h_t is the
    state sequence of one recurrent layer, and ∂L/∂h_t the total derivative through the
    recurrence (see the module docstring for the method). TensorFlow or JAX backend.

    Args:
        model: a stateless sequence model, e.g. a character LM from
            :func:`kerasseq.models.build_char_language_model` (a task's ``serving_model``).
        ids: int inputs ``(batch, T)`` (or ``(batch, T + 1)`` when ``targets`` is None).
        targets: the id each row should predict after its last step ``(batch,)``. Default:
            the rows are read as text, ``ids[:, :-1]`` in and ``ids[:, -1]`` the target.
        layer_name: the recurrent layer (default: the first, ``"{cell}_0"``).
        from_logits: the model outputs logits (a probability output: ``False``).

    Returns:
        float array ``(T,)``: entry ``t - 1`` is the batch mean of ‖∂L_i/∂h_t‖₂ for example
        ``i`` (T − t steps back from the loss).

    Example:
    >>> model = build_char_language_model(65, cell="gru", units=32, depth=1)
    >>> state_gradient_norms(model, np.zeros((4, 21), "int32")).shape
    (20,)
    """
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"Expected ids of shape (batch, time). Received: shape={ids.shape}")
    if targets is None:
        ids, targets = ids[:, :-1], ids[:, -1]
    targets = np.asarray(targets)
    probe = state_probe_model(model, layer_name)
    units = probe.inputs[1].shape[-1]
    inputs = keras.ops.convert_to_tensor(ids)
    targets = keras.ops.convert_to_tensor(targets)

    def loss_fn(eps):
        outputs, _ = probe([inputs, eps], training=False)
        if len(outputs.shape) == 3:
            outputs = outputs[:, -1]  # (batch, vocab): the last step's prediction only
        # Summed, so row i of the gradient is ∂L_i/∂h (rows do not interact).
        return keras.ops.sum(keras.losses.sparse_categorical_crossentropy(
            targets, outputs, from_logits=from_logits))

    grads = _gradient(loss_fn, np.zeros((*ids.shape[:2], units), "float32"))  # (batch, T, units)
    return np.linalg.norm(grads, axis=-1).mean(axis=0)


def validation_windows(text: str, vocab, seq_len: int, num: int = 32) -> np.ndarray:
    """``num`` windows of ``seq_len + 1`` characters spread evenly over ``text`` (input then
    target), as int ids ``(num, seq_len + 1)``: a fixed held-out batch for
    :func:`state_gradient_norms`."""
    ids = vocab.encode(text)
    if len(ids) < seq_len + 1:
        raise ValueError(f"Expected a text of at least seq_len + 1 = {seq_len + 1} characters. "
                         f"Received: {len(ids)} characters")
    starts = np.linspace(0, len(ids) - seq_len - 1, num).astype(int)
    return np.stack([ids[s: s + seq_len + 1] for s in starts])


def plot_gradient_flow(profiles: dict, out_png, title: str = "") -> Path:
    """Draw gradient-norm profiles on a log scale against the distance from the loss.

    Args:
        profiles: ``{label: norms (T,)}`` for one panel, or ``{panel title: {label: norms}}``
            for panels side by side (same y axis; the k-th curve of every panel has the same
            colour, so list the same cells in the same order).
        out_png: PNG file to write.
        title: figure title.
    """
    from kerasseq.plotting import _pyplot, save_figure

    plt = _pyplot()
    panels = profiles if all(isinstance(v, dict) for v in profiles.values()) else {"": profiles}
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), sharey=True,
                             squeeze=False)
    for ax, (panel_title, panel) in zip(axes[0], panels.items()):
        for k, (label, norms) in enumerate(panel.items()):
            norms = np.asarray(norms, float)
            steps_back = np.arange(len(norms))[::-1]  # T - t
            ax.semilogy(steps_back, np.maximum(norms, 1e-30), color=f"C{k}",
                        lw=1.6, label=label)
        ax.set_xlabel("steps back from the loss, T − t")
        ax.set_title(panel_title)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("‖∂L/∂h_t‖")
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, out_png)


def _as_model(model_or_run_dir) -> keras.Model:
    if isinstance(model_or_run_dir, keras.Model):
        return model_or_run_dir
    from kerasseq.tasks import get_task
    from kerasseq.training import load_run

    task = get_task("charlm")
    run, model = load_run(task, model_or_run_dir)
    return task.serving_model(run, model)


def compare_gradient_flow(models: dict, ids, out_png, *, targets=None, layer_name: str | None = None,
                          title: str = "") -> dict:
    """Gradient profiles of several models on the same batch, on one log-scale figure.

    Args:
        models: ``{label: model}``; a model is a stateless ``keras.Model`` or the folder of a
            trained ``charlm`` run (its stateless copy is used).
        ids, targets, layer_name: as in :func:`state_gradient_norms`.
        out_png: PNG file to write; the numbers go next to it (same name, ``.json``).
        title: figure title.

    Returns:
        ``{label: norms (T,)}``.
    """
    profiles = {label: state_gradient_norms(_as_model(m), ids, targets, layer_name=layer_name)
                for label, m in models.items()}
    out_png = plot_gradient_flow(profiles, out_png, title=title)
    out_png.with_suffix(".json").write_text(json.dumps({
        "quantity": "batch mean of ||dL/dh_t||_2, L = cross-entropy at the last step",
        "steps_back": list(range(len(next(iter(profiles.values()))))[::-1]),
        "profiles": {label: [float(v) for v in norms] for label, norms in profiles.items()},
    }, indent=1))
    return profiles


def _check_cells_available(cells) -> None:
    from kerasseq.models.recurrent import recurrent_layer

    missing = []
    for cell in cells:
        try:
            recurrent_layer(cell, 4)
        except (AttributeError, ImportError, ValueError) as error:
            missing.append(f"{cell} ({error})")
    if missing:
        raise ValueError(f"Expected cells kerasseq can build. Received: {', '.join(missing)}")


def gradient_flow_experiment(out_dir, cells=("rnn", "leaky", "lstm", "gru"), *, steps: int = 1000,
                             units: int = 128, seq_len: int = 100, batch_size: int = 32,
                             embedding_dim: int = 32, learning_rate: float = 3e-3,
                             num_sequences: int = 32, data_dir=None, seed: int = 0,
                             tracking: bool = False, restart: bool = False) -> dict:
    """Vanishing gradients, measured: ‖∂L/∂h_t‖ across time for several cells, at
    initialisation and after the same short training on Tiny Shakespeare.

    For each cell, a one-layer character LM (``units`` wide) is trained with the ``charlm``
    task for ``steps`` batches of ``batch_size`` × ``seq_len`` characters (cosine learning
    rate, no dropout, same seed and budget for every cell; a budget beyond one pass over the
    text, 313 batches at 32 × 100, is rounded up to whole passes), in
    ``out_dir/runs/<cell>`` (an existing finished run with the same settings is reused unless
    ``restart``). Its gradient profile (:func:`state_gradient_norms`) is measured on one fixed
    batch of ``num_sequences`` validation windows of ``seq_len`` characters (the loss is the
    prediction of the next character after each window), and so is the profile of the same
    architecture freshly built with the same seed.

    Writes into ``out_dir``: ``gradient_flow.png`` (two log-scale panels, at initialisation
    and after training; x: steps back from the loss T − t) and ``gradient_flow.json``.

    Args:
        out_dir: output folder.
        cells: cell names (:data:`kerasseq.models.recurrent.CELL_NAMES`) with one state h, or
            LSTM.
        steps: training batches per cell (rounded up to whole passes beyond one pass).
        units: recurrent width.
        seq_len: characters per training chunk and per measured window (T).
        batch_size: rows per training batch.
        embedding_dim: character embedding width.
        learning_rate: Adam learning rate.
        num_sequences: validation windows the profile is averaged over.
        data_dir: folder holding ``tinyshakespeare/input.txt`` (default ``$KERASSEQ_DATA_DIR``).
        seed: initialisation seed (the same for every cell).
        tracking: log each training run to MLflow (as child runs of an active run).
        restart: retrain runs that already exist in ``out_dir/runs``.

    Returns:
        The contents of ``gradient_flow.json``: the settings, ``steps_back``,
        ``at_initialisation`` and ``after_training`` (``{cell: norms}``),
        ``val_bits_per_char`` and ``far_to_near`` (norm at T − t = T − 1 over norm at
        T − t = 0, per cell and stage).
    """
    from kerasseq.data.shakespeare import load_tinyshakespeare
    from kerasseq.models.char_lm import build_char_language_model
    from kerasseq.tasks import get_task
    from kerasseq.tasks.configs import CharLMConfig
    from kerasseq.training import load_run, train

    cells = tuple(cells)
    _check_cells_available(cells)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    task = get_task("charlm")
    train_text, val_text, vocab = load_tinyshakespeare(data_dir or None)
    ids = validation_windows(val_text, vocab, seq_len, num_sequences)
    # Batches in one pass over the text (truncated-BPTT layout); a longer budget is whole passes.
    per_epoch = (len(train_text) - 1) // (batch_size * seq_len)
    epochs = max(1, math.ceil(steps / per_epoch))
    steps = steps if epochs == 1 else epochs * per_epoch
    settings = dict(cells=list(cells), steps=steps, units=units, seq_len=seq_len, batch_size=batch_size,
                    embedding_dim=embedding_dim, learning_rate=learning_rate,
                    num_sequences=num_sequences, seed=seed)
    init, trained, bpc = {}, {}, {}
    for i, cell in enumerate(cells, 1):
        print(f"[{i}/{len(cells)}] {cell}: gradient profile at initialisation", flush=True)
        keras.utils.set_random_seed(seed)
        fresh = build_char_language_model(len(vocab), cell=cell, units=units, depth=1,
                                          embedding_dim=embedding_dim)
        init[cell] = state_gradient_norms(fresh, ids)
        print(f"[{i}/{len(cells)}] {cell}: training {steps} steps", flush=True)
        config = CharLMConfig(cell=cell, units=units, depth=1, embedding_dim=embedding_dim, dropout=0.0,
                              epochs=epochs, steps_per_epoch=steps if epochs == 1 else 0, seq_len=seq_len, batch_size=batch_size,
                              learning_rate=learning_rate, sample_chars=0, seed=seed,
                              data_dir=str(data_dir or ""))
        run_dir = out_dir / "runs" / cell
        metrics = train(task, config, run_dir, restart=restart, tracking=tracking, nested=tracking,
                        export=False, verbose=0)
        bpc[cell] = float(metrics["val_bits_per_char"])
        run, model = load_run(task, run_dir)
        trained[cell] = state_gradient_norms(task.serving_model(run, model), ids)
        print(f"[{i}/{len(cells)}] {cell}: {bpc[cell]:.3f} bits/char; ‖∂L/∂h‖ {seq_len - 1} steps "
              f"back / at the loss: {init[cell][0] / init[cell][-1]:.2e} at init, "
              f"{trained[cell][0] / trained[cell][-1]:.2e} trained", flush=True)

    result = {
        "quantity": "batch mean of ||dL/dh_t||_2, L = cross-entropy of the last step's prediction",
        "settings": settings,
        "steps_back": list(range(seq_len))[::-1],
        "at_initialisation": {c: [float(v) for v in init[c]] for c in cells},
        "after_training": {c: [float(v) for v in trained[c]] for c in cells},
        "val_bits_per_char": bpc,
        "far_to_near": {stage: {c: float(p[c][0] / p[c][-1]) for c in cells}
                        for stage, p in (("at_initialisation", init), ("after_training", trained))},
    }
    (out_dir / "gradient_flow.json").write_text(json.dumps(result, indent=1))
    plot_gradient_flow(
        {"at initialisation": init,
         f"after {steps} training steps": {f"{c} ({bpc[c]:.2f} bits/char)": trained[c] for c in cells}},
        out_dir / "gradient_flow.png",
        title=f"Gradient flow through time: one-layer char LMs, {units} units, Tiny Shakespeare")
    print(f"Wrote {out_dir / 'gradient_flow.png'} and {out_dir / 'gradient_flow.json'}")
    return result
