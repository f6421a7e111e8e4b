"""Entity-level scores: one pass of seqeval's report gives what its separate conlleval-mode
functions give."""

import numpy as np
import pytest

from kerasseq.metrics.entities import entity_scores

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


def _random_tags(rng, sentences):
    return [[TAGS[i] for i in rng.choice(len(TAGS), size=rng.integers(1, 12), p=[0.6] + [0.05] * 8)]
            for _ in range(sentences)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_equal_seqevals_separate_functions(seed):
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    rng = np.random.default_rng(seed)
    true = _random_tags(rng, 200)
    # Predictions: the gold tags with a third of them redrawn (boundaries and types go wrong).
    predicted = [[TAGS[rng.integers(len(TAGS))] if rng.random() < 0.3 else t for t in sentence]
                 for sentence in true]
    scores = entity_scores(true, predicted)
    assert scores["precision"] == pytest.approx(precision_score(true, predicted, zero_division=0))
    assert scores["recall"] == pytest.approx(recall_score(true, predicted, zero_division=0))
    assert scores["f1"] == pytest.approx(f1_score(true, predicted, zero_division=0))
    report = classification_report(true, predicted, output_dict=True, zero_division=0)
    for kind in ("PER", "LOC", "ORG", "MISC"):
        assert scores[f"f1_{kind}"] == pytest.approx(report[kind]["f1-score"])
    assert 0 < scores["f1"] < 1


def test_nothing_predicted_scores_zero_and_lengths_are_checked():
    true = [["B-PER", "I-PER", "O"], ["B-LOC"]]
    scores = entity_scores(true, [["O", "O", "O"], ["O"]])
    assert scores["precision"] == scores["recall"] == scores["f1"] == 0.0
    assert entity_scores(true, true)["f1"] == 1.0
    with pytest.raises(ValueError, match="one predicted tag per gold tag"):
        entity_scores(true, [["O", "O"], ["O"]])
