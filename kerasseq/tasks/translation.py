"""Multi30k English→German translation: the fixed-context RNN encoder-decoder (Sutskever et
al. 2014), the Bahdanau-attention GRU (Bahdanau et al. 2015), Luong's general attention, and
the Transformer (Vaswani et al. 2017), on one pipeline.

Subwords: one SentencePiece BPE model per language, learnt on the training split only and
kept in the run folder. Training is teacher-forced over length-bucketed batches (label
smoothing and the warm-up schedule as options). Reported, as the literature reports them:
validation perplexity (per target subword, no smoothing), and detokenised, cased sacreBLEU
(13a tokenisation) on test_2016_flickr with beam search and with greedy search; the test
translations are written to the run's artifacts. The greedy BLEU of the validation split is
logged after every epoch (``val_bleu``).
"""

from __future__ import annotations

import math

import keras
import numpy as np

from kerasseq.data.buckets import bucket_length
from kerasseq.data.multi30k import BUCKETS, load_multi30k, load_or_learn_tokenizers, translation_batches
from kerasseq.errors import UserError
from kerasseq.models.translator import Translator, strip_eos
from kerasseq.tasks.base import Task
from kerasseq.tasks.configs import TranslationConfig

# Test sentences whose alignments are plotted (short enough to read: 6-12 words each).
ALIGNMENT_SENTENCES = 3


class TranslationTask(Task):
    name = "translation"
    description = "Multi30k English→German: RNN encoder-decoder with attention, or the Transformer"
    config_class = TranslationConfig

    def prepare(self, run):
        c = run.config
        run.source_tokenizer, run.target_tokenizer = load_or_learn_tokenizers(
            run.dir, c.data_dir, c.vocabulary_size, download=c.download)

    def _batches(self, run, split, train=False):
        c = run.config
        return translation_batches(load_multi30k(split, c.data_dir, c.download), run.source_tokenizer,
                                   run.target_tokenizer, c.batch_size, shuffle=train, seed=c.seed,
                                   max_length=c.max_length, name=split)

    def datasets(self, run):
        return self._batches(run, "train", train=True), self._batches(run, "val")

    def build_model(self, run):
        c = run.config
        source_vocab, target_vocab = len(run.source_tokenizer), len(run.target_tokenizer)
        if c.model == "transformer":
            from kerasseq.models.transformer import build_transformer

            return build_transformer(source_vocab, target_vocab, num_layers=c.num_layers,
                                     d_model=c.d_model, num_heads=c.num_heads,
                                     intermediate_dim=c.intermediate_dim, dropout=c.dropout,
                                     norm_first=c.norm_first)
        from kerasseq.models.seq2seq import build_seq2seq

        return build_seq2seq(source_vocab, target_vocab, embedding_dim=c.embedding_dim, units=c.units,
                             cell=c.cell, attention=None if c.model == "seq2seq" else c.model,
                             dropout=c.dropout)

    def compile_args(self, run):
        if run.config.label_smoothing:
            from kerasseq.losses import SmoothedSparseCrossEntropy

            loss = SmoothedSparseCrossEntropy(run.config.label_smoothing, ignore_class=0)
        else:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
        return dict(loss=loss, metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])

    def callbacks(self, run, model):
        return [ValidationBLEU(self, run)]

    # -- decoding -------------------------------------------------------------------------

    def translator(self, run, model, beam_width=None) -> Translator:
        c = run.config
        return Translator(model, beam_width=c.beam_width if beam_width is None else beam_width,
                          length_penalty=c.length_penalty)

    def translate(self, run, translator: Translator, sentences: list[str], progress: str = "") -> list[str]:
        """Translate English ``sentences`` in length-sorted, bucket-padded batches."""
        ids = run.source_tokenizer.encode_batch(sentences)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = [""] * len(ids)
        size = run.config.eval_batch_size
        batches = [order[i:i + size] for i in range(0, len(order), size)]
        bar = keras.utils.Progbar(len(batches), verbose=1 if progress else 0, unit_name="batch")
        for k, batch in enumerate(batches):
            length = bucket_length(max(1, max(len(ids[i]) for i in batch)), BUCKETS)
            source = np.zeros((len(batch), length), np.int32)
            for row, i in enumerate(batch):
                source[row, :len(ids[i])] = ids[i][:length]
            for row, decoded in zip(batch, translator.translate_ids(source)):
                out[row] = run.target_tokenizer.decode(strip_eos(decoded))
            bar.update(k + 1)
        return out

    def bleu(self, run, translator: Translator, split: str, write_to=None) -> dict:
        """Detokenised, cased sacreBLEU (and chrF) of ``split``'s translations."""
        import sacrebleu

        pairs = load_multi30k(split, run.config.data_dir, run.config.download)
        label = "greedy" if translator.beam_width == 1 else f"beam {translator.beam_width}"
        limit = run.config.max_eval_sentences
        if 0 < limit < len(pairs):
            print(f"Translating the first {limit} of {split}'s {len(pairs)} sentences ({label}; "
                  "--max_eval_sentences: not the protocol's BLEU) ...")
            pairs = pairs[:limit]
        else:
            print(f"Translating {split} ({len(pairs)} sentences, {label}) ...")
        hypotheses = self.translate(run, translator, [p[0] for p in pairs], progress=split)
        references = [p[1] for p in pairs]
        bleu = sacrebleu.corpus_bleu(hypotheses, [references])
        chrf = sacrebleu.corpus_chrf(hypotheses, [references])
        if write_to is not None:
            write_to.write_text("".join(f"{h}\n" for h in hypotheses), encoding="utf-8")
        return {"bleu": bleu.score, "chrf": chrf.score, "signature": str(bleu.format(signature=True)),
                "hypotheses": hypotheses, "sentences": len(pairs)}

    # -- evaluation and pictures ----------------------------------------------------------

    def evaluate(self, run, model, val_ds):
        """Validation perplexity, and test BLEU with beam search and with greedy search."""
        metrics = {"val_perplexity": perplexity(model, val_ds)}
        beam = self.bleu(run, self.translator(run, model), "test",
                         write_to=run.artifacts / "test_translations.txt")
        print(f"test BLEU {beam['bleu']:.2f} ({beam['signature']})")
        metrics.update(test_bleu=beam["bleu"], test_chrf=beam["chrf"], test_sentences=beam["sentences"])
        if run.config.beam_width > 1:
            greedy = self.bleu(run, self.translator(run, model, beam_width=1), "test")
            metrics["test_bleu_greedy"] = greedy["bleu"]
        return metrics

    def plots(self, run, model, history):
        if run.config.model == "seq2seq":
            return  # no attention to show
        from kerasseq.plotting import plot_alignment

        pairs = load_multi30k("test", run.config.data_dir, run.config.download)
        chosen = [p[0] for p in pairs if 6 <= len(p[0].split()) <= 12][:ALIGNMENT_SENTENCES]
        translator = self.translator(run, model, beam_width=1)
        sources = [run.source_tokenizer.encode(sentence) for sentence in chosen]
        batch = np.zeros((len(sources), max(map(len, sources), default=1)), np.int32)  # one compile
        for row, source in zip(batch, sources):
            row[:len(source)] = source
        targets = [strip_eos(ids) for ids in translator.translate_ids(batch)]
        for k, (sentence, source, target) in enumerate(zip(chosen, sources, targets)):
            weights = translator.alignment(source, target)
            plot_alignment(weights, [run.source_tokenizer.id_to_token(i) for i in source],
                           [run.target_tokenizer.id_to_token(i) for i in target] + ["</s>"],
                           run.artifacts / f"alignment_{k}.png",
                           title=f"{run.config.model}: {sentence}")

    # -- serving ----------------------------------------------------------------------------

    def example_input(self, run):
        source = np.asarray([run.source_tokenizer.encode("A dog runs on the beach.")], np.int32)
        return {"source": source, "target_in": np.asarray([[2, 5, 6]], np.int32)}

    def export_endpoints(self, run, archive, serving_model):
        from kerasseq.export import translation_endpoint

        translation_endpoint(archive, self.translator(run, serving_model),
                             run.source_tokenizer, run.target_tokenizer)

    def pyfunc_endpoint(self, run):
        """Served: an English sentence per row in, its German translation out."""
        return {"endpoint": "translate", "input": "sentence"}

    def sample(self, run, model, prompt="", **options):
        """Translate ``prompt`` (English; one sentence per line) with the run's beam search."""
        sentences = [line for line in prompt.split("\n") if line.strip()]
        if not sentences:
            raise UserError("--prompt must hold an English sentence to translate")
        return "\n".join(self.translate(run, self.translator(run, model), sentences))


def perplexity(model, dataset) -> float:
    """exp(mean negative log-likelihood per target subword) of ``dataset``'s ``(inputs,
    target_out)`` batches, padding (id 0) left out; no label smoothing."""
    total, count = 0.0, 0
    for inputs, target in dataset.as_numpy_iterator():
        inputs = {k: v for k, v in inputs.items() if k in ("source", "target_in")}
        logits = np.asarray(model.predict_on_batch(inputs), np.float64)
        log_z = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
        picked = np.take_along_axis(logits, target[..., None], axis=-1)[..., 0]
        valid = target != 0
        total += float(((log_z - picked) * valid).sum())
        count += int(valid.sum())
    return math.exp(total / max(count, 1))


class ValidationBLEU(keras.callbacks.Callback):
    """Greedy sacreBLEU of the validation split after every epoch, logged as ``val_bleu``,
    with two sample translations."""

    def __init__(self, task: TranslationTask, run):
        super().__init__()
        self.task, self.run = task, run

    def on_epoch_end(self, epoch, logs=None):
        # A new translator each epoch: a jax.jit program holds the weights it was traced with.
        result = self.task.bleu(self.run, self.task.translator(self.run, self.model, beam_width=1), "val")
        if logs is not None:
            logs["val_bleu"] = result["bleu"]
        pairs = load_multi30k("val", self.run.config.data_dir)[:2]
        print(f"epoch {epoch + 1}: validation BLEU (greedy) {result['bleu']:.2f}")
        for (source, reference), hypothesis in zip(pairs, result["hypotheses"]):
            print(f"  {source}\n  -> {hypothesis}\n  (reference: {reference})")


TASK = TranslationTask()
