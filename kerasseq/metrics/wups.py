"""Answer accuracy and WUPS, the Wu-Palmer similarity set score of Malinowski & Fritz 2014
("A multi-world approach to question answering about real-world scenes based on uncertain
input", NIPS 2014, §5), as their ``calculate_wups.py`` computes it.

For a ground-truth answer set T and a predicted set A (an answer line split at commas)::

    WUPS(A, T) = min( Π_{a∈A} max_{t∈T} μ(a, t),  Π_{t∈T} max_{a∈A} μ(t, a) )

    μ(a, b) = 1                               if a == b
            = 0                               if a or b has no WordNet noun synset
            = w·s,  s = max_{x∈syn(a), y∈syn(b)} WUP(x, y),   w = 1 if s ≥ threshold else 0.1

over WordNet's noun synsets (the most optimistic interpretation); the reported figure is the
mean over questions. WUPS@0.9 counts near-synonyms nearly fully and other answers at a tenth;
WUPS@0.0 never down-weights. Accuracy is the exact-match rate.

WordNet 3.0 is read with NLTK from ``$KERASSEQ_WORDNET_DIR``, else Debian's ``wordnet-base``
folder ``/usr/share/wordnet``, else NLTK's own data path (``nltk.download("wordnet")``).
Debian's copy lacks the ``lexnames`` file NLTK's reader opens; its contents are WordNet 3.0's
fixed table of the 45 lexicographer files (lexnames(5WN)), supplied here; and the reader's
map of multilingual (OMW) data onto WordNet 3.0, which would look for NLTK's own copy, is
skipped (WUPS uses English only).
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import numpy as np

from kerasseq.errors import UserError

DEBIAN_WORDNET = "/usr/share/wordnet"
# WordNet 3.0's lexicographer files, in file-number order (lexnames(5WN)).
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl").split()
_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


class WordNetMissing(UserError):
    """WordNet (or NLTK) is not installed: WUPS cannot be computed."""


def wordnet_dir() -> Path | None:
    """The WordNet folder to read (see the module docstring), or ``None`` to use NLTK's data."""
    for folder in (os.environ.get("KERASSEQ_WORDNET_DIR"), DEBIAN_WORDNET):
        if folder and (Path(folder) / "data.noun").is_file():
            return Path(folder)
    return None


@functools.lru_cache(maxsize=None)
def load_wordnet():
    """NLTK's WordNet corpus reader over :func:`wordnet_dir`.

    Raises:
        WordNetMissing: NLTK is not installed, or no WordNet is found.
    """
    try:
        import nltk.data
        from nltk.corpus.reader.wordnet import WordNetCorpusReader
    except ModuleNotFoundError:
        raise WordNetMissing("WUPS needs NLTK: pip install nltk")
    folder = wordnet_dir()
    if folder is None:
        try:
            from nltk.corpus import wordnet

            wordnet.ensure_loaded()
            return wordnet
        except LookupError:
            raise WordNetMissing(f"WUPS needs WordNet 3.0: install Debian's wordnet-base "
                                 f"(apt-get install wordnet-base: {DEBIAN_WORDNET}), set "
                                 "KERASSEQ_WORDNET_DIR to a WordNet dict folder, or run "
                                 "nltk.download('wordnet')")
    # NLTK 3.9+ reads corpora only under its data path: authorise the folder.
    if str(folder) not in nltk.data.path:
        nltk.data.path.append(str(folder))

    class _Reader(WordNetCorpusReader):
        def open(self, fileid):
            if fileid == "lexnames" and not (folder / "lexnames").is_file():
                return io.StringIO("".join(f"{i:02d}\t{name}\t{_POS_NUMBER[name.split('.')[0]]}\n"
                                           for i, name in enumerate(LEXNAMES)))
            return super().open(fileid)

        def map_wn(self, version="wordnet"):
            return None  # the WordNet 3.0 map of multilingual (OMW) data, unused here

    import warnings

    with warnings.catch_warnings():  # "the multilingual functions are not available"
        warnings.simplefilter("ignore")
        return _Reader(str(folder), None)


@functools.lru_cache(maxsize=100_000)
def wup_measure(a: str, b: str, threshold: float = 0.9) -> float:
    """μ(a, b) of two answer words (see the module docstring), ``calculate_wups.py``'s
    ``wup_measure``."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    wordnet = load_wordnet()
    field_a, field_b = wordnet.synsets(a, pos="n"), wordnet.synsets(b, pos="n")
    if not field_a or not field_b:
        return 0.0
    best = max((x.wup_similarity(y) or 0.0) for x in field_a for y in field_b)
    return best * (0.1 if best < threshold else 1.0)


def answer_items(answer) -> list[str]:
    """An answer line's items: ``"table, chair"`` → ``["table", "chair"]`` (a list or tuple is
    taken as is)."""
    if isinstance(answer, str):
        return [item.strip() for item in answer.split(",")]
    return list(answer)


def wups_score(truth, prediction, threshold: float = 0.9) -> float:
    """WUPS of one question: ``truth`` and ``prediction`` are answer lines or lists of items."""
    truth, prediction = answer_items(truth), answer_items(prediction)
    if not truth and not prediction:
        return 1.0

    def membership(x, items):  # max over the set: fuzzy set membership
        return max(wup_measure(x, y, threshold) for y in items) if items else 0.0

    left = float(np.prod([membership(a, truth) for a in prediction])) if prediction else 0.0
    right = float(np.prod([membership(t, prediction) for t in truth])) if truth else 0.0
    return min(left, right)


def wups(truths, predictions, threshold: float = 0.9) -> float:
    """Mean WUPS at ``threshold`` over questions.

    Args:
        truths: the ground-truth answers (lines or lists of items), one per question.
        predictions: the predicted answers, aligned with ``truths``.
        threshold: the WUP similarity under which a match counts a tenth (0.9 and 0.0 are
            the reported settings).

    Example:
    >>> wups(["chair", "2"], ["armchair", "2"], 0.9)  # armchair ~ chair: WUP 0.95
    0.9761904761904762
    """
    if len(truths) != len(predictions):
        raise ValueError(f"Expected as many predictions as answers. Received: {len(truths)} "
                         f"answers and {len(predictions)} predictions")
    if not truths:
        return float("nan")
    return float(np.mean([wups_score(t, p, threshold) for t, p in zip(truths, predictions)]))


def accuracy(truths, predictions) -> float:
    """The exact-match rate of predicted answers (as sets of items)."""
    if len(truths) != len(predictions):
        raise ValueError(f"Expected as many predictions as answers. Received: {len(truths)} "
                         f"answers and {len(predictions)} predictions")
    if not truths:
        return float("nan")
    return float(np.mean([set(answer_items(t)) == set(answer_items(p))
                          for t, p in zip(truths, predictions)]))
