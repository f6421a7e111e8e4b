"""One test helper for every public kerasseq layer (after keras-hub's ``run_layer_test``)."""

from __future__ import annotations

import copy

import keras
import numpy as np


def gradients(fn, *args):
    """d fn(*args) / d args by the backend's autodiff, compiled on JAX (``fn`` returns a
    scalar)."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(jax.grad(fn, argnums=tuple(range(len(args)))))(*args)
    import tensorflow as tf

    args = [tf.convert_to_tensor(a) for a in args]
    with tf.GradientTape() as tape:
        tape.watch(args)
        value = fn(*args)
    return tape.gradient(value, args)


def _numpy(tree):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, tree)


def _shapes(tree):
    """Shapes of the tensors of ``tree``: one tuple, or a list of tuples for several."""
    shapes = [tuple(t.shape) for t in keras.tree.flatten(tree)]
    return shapes[0] if len(shapes) == 1 else shapes


def run_layer_test(layer_cls, init_kwargs: dict, input_data, *, expected_output_shape=None,
                   expected_num_trainable_weights=None, expected_num_non_trainable_weights=0,
                   run_fit=True, run_mixed_precision=True, tmp_path=None, atol=1e-6):
    """Check a layer the same way for every layer.

    Checks: ``from_config(get_config())`` rebuilds it with the same config; eager and symbolic
    calls give the same output shapes; weight counts; one compiled ``fit`` step on a model
    around the layer changes its trainable weights; a call under ``mixed_float16``; and a
    ``.keras`` save/load round trip (when ``tmp_path`` is given) with equal outputs.

    Args:
        layer_cls: the layer class, or a function building the layer from ``init_kwargs``
            (e.g. ``keras.layers.RNN`` around a cell; it must pass ``dtype`` on).
        init_kwargs: constructor arguments.
        input_data: a NumPy array (or list of arrays) the layer is called on.
        expected_output_shape: shape of the eager output (a list of shapes for several).
        expected_num_trainable_weights / expected_num_non_trainable_weights: weight counts.
        run_fit: train one step through the layer (skip for layers without weights).
        run_mixed_precision: call the layer under the ``mixed_float16`` policy.
        tmp_path: folder for the ``.keras`` round trip.
        atol: tolerance of the save/load comparison.

    Returns:
        The built layer's eager output (NumPy), for further checks by the caller.
    """
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    rebuilt = type(layer).from_config(copy.deepcopy(config))  # some from_configs pop keys
    assert rebuilt.get_config() == config, "from_config(get_config()) changed the config"

    output = layer(input_data)
    if expected_output_shape is not None:
        assert _shapes(output) == expected_output_shape, (_shapes(output), expected_output_shape)
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights

    # Symbolic call: the same shapes with a free batch dimension.
    symbolic_inputs = keras.tree.map_structure(
        lambda x: keras.Input(shape=x.shape[1:], dtype=str(x.dtype)), input_data)
    symbolic = layer_cls(**init_kwargs)(symbolic_inputs)
    sym_shapes = [tuple(t.shape)[1:] for t in keras.tree.flatten(symbolic)]
    eager_shapes = [tuple(t.shape)[1:] for t in keras.tree.flatten(output)]
    assert sym_shapes == eager_shapes, (sym_shapes, eager_shapes)

    inputs = keras.tree.map_structure(
        lambda x: keras.Input(shape=x.shape[1:], dtype=str(x.dtype)), input_data)
    model = keras.Model(inputs, layer_cls(**init_kwargs)(inputs))
    if run_fit:
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        target = keras.tree.map_structure(
            lambda y: np.random.default_rng(0).normal(size=y.shape).astype("float32"), _numpy(output))
        before = _numpy(model.trainable_weights)
        model.fit(input_data, target, batch_size=len(keras.tree.flatten(input_data)[0]), epochs=1,
                  verbose=0)
        after = _numpy(model.trainable_weights)
        assert any(not np.allclose(a, b) for a, b in zip(before, after)), "fit changed no weight"

    if run_mixed_precision:
        mixed = layer_cls(**{**init_kwargs, "dtype": "mixed_float16"})
        out = mixed(input_data)
        for t in keras.tree.flatten(out):
            if "float" in str(t.dtype):
                assert "float16" in str(t.dtype), f"mixed_float16 call returned {t.dtype}"

    if tmp_path is not None:
        path = f"{tmp_path}/layer_test.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        keras.tree.map_structure(
            lambda a, b: np.testing.assert_allclose(a, b, atol=atol),
            _numpy(model(input_data)), _numpy(loaded(input_data)))
    return _numpy(output)


@keras.saving.register_keras_serializable(package="kerasseq_tests")
class NumpyNormal(keras.initializers.Initializer):
    """N(0, 0.3²) weights drawn by NumPy, for tests of layers with many weight shapes: on JAX,
    Keras' random initialisers compile one XLA program per shape (seconds on a loaded CPU)."""

    rng = np.random.default_rng(0)

    @classmethod
    def reseed(cls, seed: int = 0) -> None:
        """Restart the shared draws: a test that needs particular weights (not dead ReLUs on a
        receptive-field check) gets the same ones whatever ran before it in the process."""
        cls.rng = np.random.default_rng(seed)

    def __call__(self, shape, dtype=None):
        return self.rng.normal(0.0, 0.3, size=shape).astype(dtype or "float32")
