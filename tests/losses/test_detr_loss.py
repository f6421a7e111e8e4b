"""DETR's Hungarian matching and set loss: the transformers reference (eager and compiled),
optimality of the matching, gradients, a compiled training step, and the config round trip."""

import itertools
import os
from pathlib import Path

import keras
import numpy as np
import pytest

from kerasseq.losses import DETRLoss, DETRSetLoss
from kerasseq.losses.detr import pack_detr_targets, unpack_detr_predictions
from kerasseq.losses.matching import linear_sum_assignment
from testing import gradients

TERMS = [f"{name}{suffix}" for suffix in ("", "_0", "_1")
         for name in ("loss_ce", "loss_bbox", "loss_giou", "cardinality_error")]
INPUTS = ("pred_logits", "pred_boxes", "target_labels", "target_boxes")


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _fixture():
    """Inputs and outputs of transformers' HungarianMatcher/ImageLoss: ../shared/fixtures/README.md."""
    path = Path(os.environ["KERASSEQ_FIXTURES_DIR"]) / "detr" / "set-loss.npz"
    if not path.exists():
        pytest.fail(f"KERASSEQ_FIXTURES_DIR={path.parents[1]} does not hold detr/set-loss.npz")
    return dict(np.load(path))


def _compiled(fn, signature):
    """``fn`` compiled: ``jax.jit`` on JAX; on TensorFlow a ``tf.function`` graph (no XLA: the
    matching calls back into SciPy) traced for ``signature``, where None axes are unknown."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    if keras.backend.backend() != "tensorflow":
        pytest.skip("compiled only on JAX and TensorFlow")
    import tensorflow as tf

    return tf.function(fn, jit_compile=False, input_signature=[tf.TensorSpec(shape, dtype) for shape, dtype in signature])


def _assert_matches_reference(total, terms, assignment, ref):
    np.testing.assert_array_equal(_numpy(assignment), ref["final_layer_match"])
    assert sorted(terms) == sorted(TERMS)
    for name in TERMS:
        np.testing.assert_allclose(_numpy(terms[name]), ref[name], rtol=0, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(_numpy(total), ref["total_loss"], rtol=0, atol=1e-5)


def test_matches_the_transformers_reference_eagerly():
    ref = _fixture()
    set_loss = DETRSetLoss(num_classes=10)
    total, terms = set_loss(*(ref[k] for k in INPUTS))
    assignment = set_loss.match(ref["pred_logits"][-1], ref["pred_boxes"][-1], ref["target_labels"], ref["target_boxes"])
    _assert_matches_reference(total, terms, assignment, ref)
    assert (ref["target_counts"] == 0).any()  # the image without objects is in the reference


def test_matches_the_transformers_reference_compiled_with_unknown_batch_and_targets():
    ref = _fixture()
    set_loss = DETRSetLoss(num_classes=10)
    signature = [((3, None, 12, 11), "float32"), ((3, None, 12, 4), "float32"), ((None, None), "int64"),
                 ((None, None, 4), "float32")]

    def run(logits, boxes, labels, target_boxes):
        assignment = set_loss.match(logits[-1], boxes[-1], labels, target_boxes)
        assert tuple(assignment.shape)[1:] == (12,)  # static queries axis, also in a TF graph
        return (*set_loss(logits, boxes, labels, target_boxes), assignment)

    total, terms, assignment = _compiled(run, signature)(*(ref[k] for k in INPUTS))
    _assert_matches_reference(total, terms, assignment, ref)


def test_linear_sum_assignment_is_optimal_for_empty_and_crowded_images():
    rng = np.random.default_rng(0)
    cost = rng.normal(size=(4, 4, 6)).astype("float32")  # (batch, queries, padded targets)
    cost[0, :, 3:] = -100.0  # padding columns are ignored, however cheap
    counts = [3, 0, 1, 6]  # image 3: more targets than queries
    assignment = _numpy(linear_sum_assignment(cost, np.array(counts)))
    assert assignment.dtype == np.int32 and assignment.shape == (4, 4)
    assert (assignment[1] == -1).all()
    for image, count in enumerate(counts):
        matched = assignment[image] >= 0
        assert matched.sum() == min(count, 4) and (assignment[image] < count).all()
        assert len(set(assignment[image][matched])) == matched.sum()  # one-to-one
        best = min(sum(cost[image, q, t] for q, t in zip(queries, targets))
                   for queries in itertools.permutations(range(4), min(count, 4))
                   for targets in itertools.combinations(range(count), min(count, 4)))
        found = cost[image, np.flatnonzero(matched), assignment[image][matched]].sum()
        np.testing.assert_allclose(found, best, rtol=1e-6, atol=1e-6)


def test_gradients_reach_logits_and_matched_boxes_only_despite_nan_padding():
    ref = _fixture()
    labels = ref["target_labels"]
    target_boxes = np.where((labels >= 0)[..., None], ref["target_boxes"], np.nan).astype("float32")
    set_loss = DETRSetLoss(num_classes=10)

    def box_loss(logits, boxes):
        terms = set_loss(logits, boxes, labels, target_boxes)[1]
        return terms["loss_ce"] + terms["loss_bbox"] + terms["loss_giou"]

    d_logits, d_boxes = (_numpy(g) for g in gradients(box_loss, ref["pred_logits"][-1:], ref["pred_boxes"][-1:]))
    assert np.isfinite(d_logits).all() and np.isfinite(d_boxes).all()
    assert (np.abs(d_logits).sum(-1) > 0).all()  # every query is classified (object or no-object)
    matched = ref["final_layer_match"] >= 0  # (batch, queries)
    assert (np.abs(d_boxes[0][matched]).sum(-1) > 0).all() and (d_boxes[0][~matched] == 0).all()


def test_keras_loss_packs_unpacks_and_returns_the_total():
    ref = _fixture()
    y_true = pack_detr_targets(ref["target_labels"], ref["target_boxes"])  # (batch, targets, 5)
    y_pred = np.concatenate([ref["pred_logits"], ref["pred_boxes"]], -1).transpose(1, 0, 2, 3)  # (batch, layers, Q, 15)
    logits, boxes = unpack_detr_predictions(y_pred, num_classes=10)
    np.testing.assert_array_equal(_numpy(logits), ref["pred_logits"])
    np.testing.assert_array_equal(_numpy(boxes), ref["pred_boxes"])
    np.testing.assert_allclose(_numpy(DETRLoss(num_classes=10)(y_true, y_pred)), ref["total_loss"], atol=1e-5)
    # Without auxiliary losses: the final decoder layer's terms only (the paper's ablation).
    final = ref["loss_ce"] + 5 * ref["loss_bbox"] + 2 * ref["loss_giou"]
    np.testing.assert_allclose(_numpy(DETRLoss(num_classes=10, aux_loss=False)(y_true, y_pred)), final,
                               atol=1e-5)


def _detector(layers=2, queries=5, classes=3):
    """A toy 'detector': logits and sigmoid boxes for every decoder layer from a feature vector."""
    features = keras.Input((8,))
    logits = keras.layers.Reshape((layers, queries, classes + 1))(
        keras.layers.Dense(layers * queries * (classes + 1), name="class_head")(features))
    boxes = keras.layers.Reshape((layers, queries, 4))(
        keras.layers.Dense(layers * queries * 4, activation="sigmoid", name="box_head")(features))
    return keras.Model(features, keras.layers.Concatenate()([logits, boxes]))  # (batch, layers, queries, classes + 5)


def test_compiled_training_step_updates_both_heads():
    rng = np.random.default_rng(0)
    labels = np.array([[0, 2, -1], [-1, -1, -1], [1, -1, -1], [2, 2, 0]])  # image 1 has no objects
    boxes = np.where((labels >= 0)[..., None], rng.uniform(0.2, 0.8, (4, 3, 4)) * [1, 1, 0.3, 0.3], np.nan)
    x, y = rng.normal(size=(4, 8)).astype("float32"), _numpy(pack_detr_targets(labels, boxes))
    keras.utils.set_random_seed(0)
    model = _detector()
    # XLA cannot compile the SciPy matching on TensorFlow; JAX's jit calls back to the host.
    model.compile(keras.optimizers.SGD(0.1), loss=DETRLoss(num_classes=3),
                  jit_compile=keras.backend.backend() == "jax")
    before = {w.path: _numpy(w) for w in model.trainable_weights}
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for weight in model.trainable_weights:
        after = _numpy(weight)
        assert np.isfinite(after).all(), weight.path
        if weight.path.endswith("kernel"):
            assert not np.allclose(after, before[weight.path]), weight.path  # a nonzero gradient


def test_config_round_trip_and_argument_checks():
    loss = DETRLoss(num_classes=7, bbox_cost=4.0, giou_weight=1.5, no_object_weight=0.2, aux_loss=False,
                    name="detr", reduction="sum")
    config = loss.get_config()
    assert config == {"num_classes": 7, "class_cost": 1.0, "bbox_cost": 4.0, "giou_cost": 2.0, "ce_weight": 1.0,
                      "bbox_weight": 5.0, "giou_weight": 1.5, "no_object_weight": 0.2, "aux_loss": False,
                      "name": "detr", "reduction": "sum", "dtype": "float32"}
    assert DETRLoss.from_config(config).get_config() == config
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, DETRLoss) and restored.get_config() == config
    set_loss = DETRSetLoss(num_classes=7, ce_weight=2.0)
    assert DETRSetLoss.from_config(set_loss.get_config()).get_config() == set_loss.get_config()
    with pytest.raises(ValueError, match="num_classes"):
        DETRSetLoss(num_classes=0)
