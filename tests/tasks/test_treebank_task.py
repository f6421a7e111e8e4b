"""SST sentiment end to end at tiny scale on the real treebank, on TensorFlow (through the CLI,
tracked in a SQLite store) and on JAX without TensorFlow (in this process; the JAX suite runs
this file too): train, select on dev, score the test trees, draw a tree, export and reload."""


import keras
import numpy as np
import pytest

from conftest import train_tiny
from kerasseq.errors import UserError
from kerasseq.tasks import get_task
from kerasseq.tasks.configs import TreebankConfig
from kerasseq.training import load_run, train

TINY = dict(max_train_trees=64, epochs=1, units=8, embedding_dim=8, batch_size=16, plots=1)
TENSORFLOW = keras.backend.backend() == "tensorflow"


@pytest.fixture(scope="module")
def treebank_run(tmp_path_factory, data_dir):
    """A tiny Tree-LSTM run, fine-grained (TensorFlow: through the CLI, tracked; JAX: in
    process)."""
    return train_tiny("treebank", TINY, tmp_path_factory.mktemp("treebank"), "test_root_accuracy")


def test_tiny_run_reports_root_and_phrase_accuracy(treebank_run):
    run, metrics = treebank_run
    for name in ("test_root_accuracy", "test_all_phrase_accuracy", "dev_root_accuracy"):
        assert 0 < metrics[name] < 1, name
    # Most SST phrases are neutral, so the all-phrase accuracy is not below the root's.
    assert metrics["test_all_phrase_accuracy"] > metrics["test_root_accuracy"]
    assert np.isfinite(metrics["test_loss"]) and metrics["epochs"] == 1
    assert (run / "artifacts" / "tree_0.png").stat().st_size > 5000
    assert (run / "export" / "saved_model").is_dir() == TENSORFLOW


def test_export_reloads_with_the_same_logits(treebank_run):
    run, _ = treebank_run
    task = get_task("treebank")
    state, model = load_run(task, run)
    x = task.example_input(state)
    exported = keras.saving.load_model(run / "export" / "model.keras")
    logits = keras.ops.convert_to_numpy(exported.predict_on_batch(x))
    assert logits.shape == (1, 7, 5)
    np.testing.assert_allclose(logits, keras.ops.convert_to_numpy(model.predict_on_batch(x)),
                               rtol=1e-5, atol=1e-6)
    if TENSORFLOW:
        import tensorflow as tf

        loaded = tf.saved_model.load(str(run / "export" / "saved_model"))  # kept: owns the variables
        served = loaded.serve(x)
        np.testing.assert_allclose(served.numpy(), logits, rtol=1e-5, atol=1e-5)


def test_bilstm_baseline_binary(tmp_path, data_dir):
    config = TreebankConfig(model="bilstm", setting="binary", **{**TINY, "max_train_trees": 48})
    metrics = train(get_task("treebank"), config, tmp_path / "run", tracking=False, verbose=0)
    assert 0.3 < metrics["test_root_accuracy"] < 0.7  # two classes, one step of training
    assert "test_all_phrase_accuracy" not in metrics
    assert (tmp_path / "run" / "artifacts" / "tree_0.png").stat().st_size > 5000
    if TENSORFLOW:  # the sentence model's classify_tree: the root's two probabilities
        import tensorflow as tf

        loaded = tf.saved_model.load(str(tmp_path / "run" / "export" / "saved_model"))
        out = loaded.classify_tree(tf.constant("(3 (2 (2 a) (3 gripping)) (2 film))"))
        assert out["root_probabilities"].shape == (2,) and "probabilities" not in out
        np.testing.assert_array_equal(out["labels"].numpy(), [-1, 1, -1, -1, 1])


def test_config_checks():
    with pytest.raises(UserError, match="must equal --units"):
        TreebankConfig(model="rntn", units=10, embedding_dim=20)
    assert TreebankConfig(model="rntn", units=10).embedding_dim == 0


def test_config_models_match_the_builder():
    from kerasseq.models.tree_classifier import TREE_MODELS
    from kerasseq.tasks.configs import TREE_MODELS as CONFIG_MODELS

    assert CONFIG_MODELS == TREE_MODELS


@pytest.mark.skipif(not TENSORFLOW, reason="a SavedModel needs TensorFlow")
def test_saved_model_classifies_a_bracketed_tree(treebank_run):
    """``classify_tree`` parses the string inside the graph: equal to the Keras model on the
    node arrays the Python reader makes of it."""
    import tensorflow as tf

    from kerasseq.data.treebank import parse_tree, tree_arrays

    run, _ = treebank_run
    task = get_task("treebank")
    state, model = load_run(task, run)
    line = "(1 (2 (2 The) (2 film)) (1 (1 (2 is) (1 (1 dull) (2 zzunknown))) (2 .)))"
    x = tree_arrays([parse_tree(line)], state.vocab, "fine")
    labels = x.pop("labels")
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict_on_batch(x)))[0]
    loaded = tf.saved_model.load(str(run / "export" / "saved_model"))
    out = {k: v.numpy() for k, v in loaded.classify_tree(tf.constant(line)).items()}
    np.testing.assert_allclose(out["probabilities"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["root_probabilities"], expected[-1], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["labels"], labels[0])
