"""The COCO caption metrics through pycocoevalcap: known values, the PTB tokenizer, and the
fallback without Java (METEOR left out, with the reason)."""

import pytest

from kerasseq.metrics import caption_scores

REFERENCES = {1: ["A dog runs on the grass .", "a brown dog is running"], 2: ["Two men play football"]}


def test_identical_captions_score_full_marks():
    hypotheses = {1: "a dog runs on the grass", 2: "two men play football"}
    scores = caption_scores(REFERENCES, hypotheses, meteor=False)
    for n in (1, 2, 3, 4):
        assert scores[f"bleu_{n}"] == pytest.approx(100, abs=1e-3)
    assert scores["rouge_l"] == pytest.approx(100)
    assert "meteor" not in scores


def test_values_of_a_partial_match():
    scores = caption_scores(REFERENCES, {1: "a dog is running on grass", 2: "two men playing soccer"})
    # Hand count: 8 of 10 unigrams, 4 of 8 bigrams match the references (clipped); equal lengths.
    assert scores["bleu_1"] == pytest.approx(80.0, abs=1e-3)
    assert scores["bleu_2"] == pytest.approx(100 * (0.8 * 0.5) ** 0.5, abs=1e-3)
    assert 0 < scores["meteor"] < 100 and 0 < scores["cider"]


def test_without_java_meteor_is_reported_missing(monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    scores = caption_scores(REFERENCES, {1: "a dog runs on the grass", 2: "two men play football"})
    assert scores["bleu_4"] == pytest.approx(100, abs=1e-3)
    assert "Java" in scores["meteor_missing"] and "meteor" not in scores


def test_ids_must_match():
    with pytest.raises(ValueError, match="same image ids"):
        caption_scores(REFERENCES, {1: "a dog"})
