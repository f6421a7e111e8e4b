"""The COCO caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr) with the standard evaluation
package, pycocoevalcap (Chen et al. 2015, "Microsoft COCO Captions: data collection and
evaluation server").

Captions are tokenised by the package's PTB tokenizer (Stanford CoreNLP) and METEOR runs
METEOR 1.5; both are Java programs, so a Java runtime must be on the PATH. Without one the
tokenisation falls back to kerasseq's (lower-cased runs of letters and digits, which is what
the PTB tokenizer plus the package's punctuation filter leave of Flickr8k captions) and
METEOR is left out, with the reason in the result's ``"meteor_missing"``.
"""

from __future__ import annotations

import shutil


def caption_scores(references: dict, hypotheses: dict, *, meteor: bool = True) -> dict:
    """Corpus-level COCO caption metrics of ``hypotheses`` against ``references``.

    Args:
        references: ``{image id: [reference captions]}`` (Flickr8k: five per image).
        hypotheses: ``{image id: generated caption}``, the same ids.
        meteor: compute METEOR (the slowest metric: about 10 s per 1,000 images).

    Returns:
        ``{"bleu_1" .. "bleu_4", "meteor", "rouge_l", "cider"}`` on the papers' 0–100 scale
        (CIDEr as the package gives it, ×100 as the captioning papers print it), and
        ``"meteor_missing"`` (the reason) when METEOR could not run.

    Example:
    >>> caption_scores({1: ["a dog runs", "a brown dog running"]}, {1: "a dog is running"})["bleu_1"]
    """
    if set(references) != set(hypotheses):
        missing = sorted(set(references) ^ set(hypotheses), key=str)[:3]
        raise ValueError(f"Expected the same image ids in references and hypotheses; these differ: "
                         f"{missing}")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    java = shutil.which("java") is not None
    gts = {k: [{"caption": c} for c in v] for k, v in references.items()}
    res = {k: [{"caption": v}] for k, v in hypotheses.items()}
    if java:
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        tokenizer = PTBTokenizer()
        gts, res = tokenizer.tokenize(gts), tokenizer.tokenize(res)
    else:
        from kerasseq.data.flickr8k import tokenize

        gts = {k: [" ".join(tokenize(c["caption"])) for c in v] for k, v in gts.items()}
        res = {k: [" ".join(tokenize(c["caption"])) for c in v] for k, v in res.items()}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    scores = {f"bleu_{n + 1}": 100 * float(b) for n, b in enumerate(bleu)}
    scores["rouge_l"] = 100 * float(Rouge().compute_score(gts, res)[0])
    scores["cider"] = 100 * float(Cider().compute_score(gts, res)[0])
    if meteor and java:
        from pycocoevalcap.meteor.meteor import Meteor

        scores["meteor"] = 100 * float(Meteor().compute_score(gts, res)[0])
    elif meteor:
        scores["meteor_missing"] = "no Java runtime on the PATH (METEOR 1.5 is a Java program)"
    return scores
