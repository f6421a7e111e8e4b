"""WUPS (Malinowski & Fritz 2014) on hand-checked examples over WordNet 3.0, and accuracy.

Wu-Palmer similarity, as NLTK computes it: 2·depth(lcs) / (depth(a) + depth(b)), depths
counted from the root entity.n.01 = 1. chair.n.01 has depth 10 and its hyponym armchair.n.01
depth 11, so WUP = 2·10 / 21 = 20 / 21; chair.n.01 (depth 10) and table.n.02 (the furniture,
depth 9) meet at furniture.n.01 (depth 8): 2·8 / 19 = 16 / 19, the best over their noun
senses.
"""

import pytest

from kerasseq.metrics import wups as W


def _wordnet_or_skip():
    try:
        return W.load_wordnet()
    except W.WordNetMissing as exc:
        pytest.skip(f"WordNet not installed ({exc}); `make install` installs wordnet-base as root")


def test_depths_behind_the_hand_checked_values():
    wn = _wordnet_or_skip()
    chair, armchair = wn.synset("chair.n.01"), wn.synset("armchair.n.01")
    table = wn.synset("table.n.02")
    assert chair.max_depth() + 1 == 10 and armchair.max_depth() + 1 == 11
    lcs = chair.lowest_common_hypernyms(table)[0]
    assert lcs.name() == "furniture.n.01" and lcs.max_depth() + 1 == 8
    assert table.max_depth() + 1 == 9


def test_wup_measure_down_weights_below_the_threshold():
    _wordnet_or_skip()
    assert W.wup_measure("chair", "armchair", 0.9) == pytest.approx(20 / 21)  # above: kept
    assert W.wup_measure("chair", "table", 0.9) == pytest.approx(0.1 * 16 / 19)  # below: a tenth
    assert W.wup_measure("chair", "table", 0.0) == pytest.approx(16 / 19)  # WUPS@0: never
    assert W.wup_measure("sofa", "couch", 0.9) == 1.0  # one synset
    assert W.wup_measure("2", "two", 0.9) == 1.0  # WordNet knows digits
    assert W.wup_measure("chair", "qwxz", 0.0) == 0.0  # no synset: nothing
    assert W.wup_measure("qwxz", "qwxz", 0.9) == 1.0  # equal strings: 1 without WordNet


def test_wups_of_answer_sets_is_the_min_of_two_products():
    _wordnet_or_skip()
    # Truth {table, chair}, prediction {table}: Π_pred = μ(table, T) = 1, Π_truth =
    # μ(table, A) · μ(chair, A) = 1 · μ(chair, table) → min = 0.1 · 16/19 at 0.9.
    assert W.wups_score("table, chair", "table", 0.9) == pytest.approx(0.1 * 16 / 19)
    assert W.wups_score("table, chair", "chair,table", 0.9) == 1.0  # sets, spaces stripped
    assert W.wups_score(["chair"], ["armchair"], 0.9) == pytest.approx(20 / 21)
    assert W.wups(["chair", "2", "sofa"], ["armchair", "2", "qwxz"], 0.9) == pytest.approx((20 / 21 + 1 + 0) / 3)


def test_accuracy_and_errors():
    assert W.accuracy(["chair", "2", "table, chair"], ["chair", "3", "chair, table"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="as many predictions"):
        W.accuracy(["a"], [])
    assert W.answer_items("table, chair") == ["table", "chair"]


def test_wordnet_folder_is_found_by_its_data_noun_file(monkeypatch, tmp_path):
    monkeypatch.setenv("KERASSEQ_WORDNET_DIR", str(tmp_path))
    monkeypatch.setattr(W, "DEBIAN_WORDNET", str(tmp_path / "absent"))
    assert W.wordnet_dir() is None  # then NLTK's own data path, else WordNetMissing
    (tmp_path / "data.noun").write_text("")
    assert W.wordnet_dir() == tmp_path
