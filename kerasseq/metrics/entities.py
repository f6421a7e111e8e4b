"""Entity-level precision, recall and F1 (the CoNLL shared tasks' conlleval definition)."""

from __future__ import annotations


def entity_scores(true_tags: list[list[str]], predicted_tags: list[list[str]]) -> dict:
    """Micro-averaged entity precision, recall and F1, and F1 per entity type.

    An entity counts as found only if its type and both boundaries are right (conlleval).
    Computed with ``seqeval`` in its default, conlleval-compatible mode.

    Args:
        true_tags: gold IOB2 tags, one list per sentence.
        predicted_tags: predicted IOB2 tags, same lengths.

    Returns:
        ``{"precision", "recall", "f1", "f1_<TYPE>" ...}`` as fractions in [0, 1].

    Example:
    >>> entity_scores([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])["f1"]
    0.0
    """
    from seqeval.metrics import classification_report

    if len(true_tags) != len(predicted_tags) or any(
            len(t) != len(p) for t, p in zip(true_tags, predicted_tags)):
        raise ValueError("Expected one predicted tag per gold tag in every sentence.")
    # One pass over the entities: the report's micro average is seqeval's precision_score,
    # recall_score and f1_score (each of which would extract every entity again).
    report = classification_report(true_tags, predicted_tags, output_dict=True, zero_division=0)
    micro = report["micro avg"]
    scores = {"precision": float(micro["precision"]), "recall": float(micro["recall"]),
              "f1": float(micro["f1-score"])}
    for kind, values in report.items():
        if "avg" not in kind:
            scores[f"f1_{kind}"] = float(values["f1-score"])
    return scores
