"""Visual question answering on DAQUAR (Malinowski & Fritz 2014): VIS+LSTM and 2-VIS+BLSTM
(Ren, Kiros & Zemel 2015), a soft-attention variant (Xu et al. 2015) and the question-only
and image-only baselines, on one pipeline (:mod:`kerasseq.data.daquar`,
:mod:`kerasseq.models.vqa`).

Protocol of Ren et al.: answers are classes (the single-word answers of the training
questions); train on the training questions with a single-word answer, select the epoch on a
validation set held out from the training images (all questions of a seeded 10% of them),
report on the official test file's single-word questions: accuracy, WUPS@0.9 and WUPS@0.0
(:mod:`kerasseq.metrics.wups`). A test answer that is no class counts as wrong. Excluded
questions are counted, never silently dropped: the multi-word training and test questions,
and the validation questions whose answer is no class (they cannot enter a loss).

The CNN is trained from scratch with the rest (no ImageNet weights offline; Ren et al. used
fixed ImageNet VGG features), or starts from weights a user supplies (``--encoder_weights``).

Artifacts: ``test_answers.tsv`` (question, predicted and true answer of every test
question), ``answers.png`` (test images with question and answers; for ``attention`` the
attention over the image). The SavedModel's ``answer`` takes uint8 images of any size and
question strings and returns answer strings; ``answer_attention`` (attention model) adds the
attention grids.
"""

from __future__ import annotations

import json

import keras
import numpy as np

from kerasseq.data import daquar
from kerasseq.data.text import WordVocabulary
from kerasseq.errors import UserError
from kerasseq.models.vqa import attention_model, build_vqa_model, has_attention
from kerasseq.tasks.base import Task
from kerasseq.tasks.configs import VQAConfig

EVAL_BATCH = 64


class VQATask(Task):
    name = "vqa"
    description = "visual question answering on DAQUAR: VIS+LSTM, 2-VIS+BLSTM, soft attention"
    config_class = VQAConfig

    # -- data -------------------------------------------------------------------------------

    def prepare(self, run):
        c = run.config
        train = daquar.load_qa(c.question_set, "train", c.data_dir)
        held_out = daquar.validation_images(train.images, c.validation_fraction, c.seed)
        in_validation = np.array([i in held_out for i in train.images], bool)
        run.qa = {"train": train.subset(~in_validation), "validation": train.subset(in_validation),
                  "test": daquar.load_qa(c.question_set, "test", c.data_dir)}
        vocab_path, classes_path = run.dir / "vocab.json", run.dir / "answers.json"
        if vocab_path.exists() and classes_path.exists():
            run.vocab = WordVocabulary.load(vocab_path)
            run.classes = json.loads(classes_path.read_text())["answers"]
        else:
            run.vocab = daquar.build_question_vocabulary(run.qa["train"].questions, c.min_count)
            run.classes = daquar.build_answer_classes(run.qa["train"].answers)
            run.dir.mkdir(parents=True, exist_ok=True)
            run.vocab.save(vocab_path)
            classes_path.write_text(json.dumps({"answers": run.classes}, ensure_ascii=False))
        run.encoded = {name: self._encode(run, qa) for name, qa in run.qa.items()}
        single = {name: int(np.sum(e["single"])) for name, e in run.encoded.items()}
        run.left_out = {f"{name}_multiword_excluded": len(run.qa[name]) - single[name] for name in run.qa}
        run.left_out["validation_not_a_class"] = single["validation"] - int(
            np.sum(run.encoded["validation"]["usable"]))
        print(f"DAQUAR {c.question_set}: {len(train)} training questions "
              f"({len(run.qa['validation'])} on {len(held_out)} held-out images for validation; "
              f"{train.typos_fixed} 'th eimage' typo repaired), {len(run.qa['test'])} test; "
              f"{len(run.classes)} answer classes, {len(run.vocab)} question ids. Left out: "
              + ", ".join(f"{k} {v}" for k, v in run.left_out.items()))
        run.images = None

    def _encode(self, run, qa):
        targets = daquar.encode_answers(qa.answers, run.classes)
        return {"questions": daquar.encode_questions(qa.questions, run.vocab, run.config.question_length),
                "targets": targets, "single": qa.single_word(), "usable": targets >= 0}

    def image_table(self, run):
        """``(images uint8 (m, S, S, 3), {image number: row})`` of every image of the questions."""
        if run.images is None:
            numbers = sorted({n for qa in run.qa.values() for n in qa.images})
            print(f"Reading {len(numbers)} DAQUAR images ...")
            decoded = daquar.load_images(numbers, run.config.image_size, run.config.data_dir)
            run.images = (np.stack([decoded[n] for n in numbers]), {n: k for k, n in enumerate(numbers)})
        return run.images

    def inputs(self, run, split, keep=None):
        """``(images, image rows, question ids, targets)`` of ``split``'s questions in ``keep``
        (default: those with a class answer)."""
        images, rows = self.image_table(run)
        encoded = run.encoded[split]
        keep = encoded["usable"] if keep is None else keep
        index = np.array([rows[n] for n in run.qa[split].images], np.int64)[keep]
        return images, index, encoded["questions"][keep], encoded["targets"][keep]

    def datasets(self, run):
        c = run.config
        train = daquar.vqa_batches(*self.inputs(run, "train"), batch_size=c.batch_size, train=True,
                                   seed=c.seed, first_epoch=run.initial_epoch, shift=c.shift)
        validation = daquar.vqa_batches(*self.inputs(run, "validation"), batch_size=EVAL_BATCH,
                                        train=False)
        return train, validation

    # -- model ------------------------------------------------------------------------------

    def build_model(self, run):
        c = run.config
        filters, blocks = c.stages()
        model = build_vqa_model(
            len(run.classes), len(run.vocab), c.model, image_size=c.image_size,
            question_length=c.question_length, encoder=c.encoder, encoder_filters=filters,
            encoder_blocks=blocks, freeze_encoder=c.freeze_encoder, embedding_dim=c.embedding_dim,
            units=c.units, attention_units=c.attention_units, dropout=c.dropout,
            image_dropout=c.image_dropout)
        if c.encoder_weights:
            if c.model == "question_only":
                raise UserError("--encoder_weights: the question_only model has no encoder")
            from kerasseq.tasks.captioning import load_encoder_weights

            load_encoder_weights(model.get_layer("encoder"), c.encoder_weights)
        return model

    def jit_compile(self, run):
        from kerasseq.training import resolve_jit_compile

        return self.jit_off_on_tensorflow_cpu(resolve_jit_compile(run.config.jit_compile))

    def compile_args(self, run):
        return dict(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])

    def callbacks(self, run, model):
        return [keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=run.config.patience,
                                              restore_best_weights=True)]

    # -- answers and scores -----------------------------------------------------------------

    def predict(self, run, model, images, questions) -> np.ndarray:
        """Class ids of uint8 ``images`` ``(n, S, S, 3)`` and question ids ``(n, T)``."""
        logits = model.predict({"images": images, "question": questions}, batch_size=EVAL_BATCH,
                               verbose=0)
        return np.argmax(logits, axis=-1)

    def test_answers(self, run, model, shuffle_images: bool = False):
        """``(questions, predicted, truths, rows)`` of the single-word test questions; with
        ``shuffle_images`` each question is asked about another test question's image (a
        seeded permutation): what the answers owe to the image."""
        single = run.encoded["test"]["single"]
        images, index, questions, _ = self.inputs(run, "test", keep=single)
        if shuffle_images:
            index = index[np.random.default_rng(run.config.seed).permutation(len(index))]
        predicted = [run.classes[k] for k in self.predict(run, model, images[index], questions)]
        qa = run.qa["test"]
        truths = [qa.answers[i][0] for i in np.flatnonzero(single)]
        return [qa.questions[i] for i in np.flatnonzero(single)], predicted, truths, index

    def evaluate(self, run, model, val_ds):
        """Validation loss and accuracy; test accuracy, WUPS@0.9 and WUPS@0.0 on the
        single-word questions, the counts behind them and, for comparison, the answer prior
        (the most frequent training answer for every question) and the accuracy with the test
        images shuffled among the questions (equal to the accuracy for question_only)."""
        from kerasseq.metrics.wups import WordNetMissing, accuracy, wups

        values = model.evaluate(val_ds, verbose=0, return_dict=True)
        metrics = {"val_loss": float(values["loss"]), "val_accuracy": float(values["accuracy"])}
        questions, predicted, truths, _ = self.test_answers(run, model)
        qa = run.qa["test"]
        metrics.update(run.left_out)
        metrics.update(train_questions=int(np.sum(run.encoded["train"]["usable"])),
                       test_questions=len(truths), test_multiword_excluded=len(qa) - len(truths),
                       test_answers_not_a_class=sum(t not in set(run.classes) for t in truths),
                       test_accuracy=accuracy(truths, predicted),
                       test_prior_accuracy=accuracy(truths, [run.classes[0]] * len(truths)),
                       test_shuffled_images_accuracy=accuracy(
                           truths, self.test_answers(run, model, shuffle_images=True)[1]))
        kinds = [daquar.question_type(q) for q in questions]
        for kind in daquar.QUESTION_TYPES:  # accuracy by answer type, as VQA results are broken down
            picked = [k for k, t in enumerate(kinds) if t == kind]
            metrics[f"test_questions_{kind}"] = len(picked)
            if picked:
                metrics[f"test_accuracy_{kind}"] = accuracy([truths[k] for k in picked],
                                                            [predicted[k] for k in picked])
        try:
            metrics["test_wups_0.9"] = wups(truths, predicted, 0.9)
            metrics["test_wups_0.0"] = wups(truths, predicted, 0.0)
        except WordNetMissing as exc:
            print(f"WUPS left out: {exc}")
        (run.artifacts / "test_answers.tsv").write_text(
            "image\tquestion\tpredicted\ttrue\n" + "".join(
                f"image{n}\t{q}\t{p}\t{t}\n" for n, q, p, t in
                zip(np.array(qa.images)[run.encoded["test"]["single"]], questions, predicted, truths)),
            encoding="utf-8")
        print(f"test ({len(truths)} single-word questions; {metrics['test_multiword_excluded']} "
              f"multi-word left out; {metrics['test_answers_not_a_class']} answers no class): "
              + ", ".join(f"{k[5:]} {v:.3f}" for k, v in metrics.items()
                          if k.startswith("test_") and isinstance(v, float)))
        return metrics

    # -- pictures ---------------------------------------------------------------------------

    def plots(self, run, model, history):
        from kerasseq.diagnostics.vqa_plots import plot_answers

        c = run.config
        questions, predicted, truths, index = self.test_answers(run, model)
        count = min(c.plots, len(truths))
        if not count:
            return
        pick = np.linspace(0, len(truths) - 1, count).round().astype(int)  # spread over images
        images = self.image_table(run)[0][index[pick]]
        attention = None
        if has_attention(model):
            ids = run.encoded["test"]["questions"][run.encoded["test"]["single"]][pick]
            attention = np.asarray(attention_model(model).predict(
                {"images": images, "question": ids}, verbose=0))
        plot_answers(images, [questions[k] for k in pick], [predicted[k] for k in pick],
                     [truths[k] for k in pick], run.artifacts / "answers.png", attention=attention,
                     title=f"DAQUAR {c.question_set} test, {c.model}")

    # -- serving ----------------------------------------------------------------------------

    def example_input(self, run):
        c = run.config
        return {"images": np.zeros((1, c.image_size, c.image_size, 3), np.uint8),
                "question": np.zeros((1, c.question_length), np.int32)}

    def export_endpoints(self, run, archive, serving_model):
        from kerasseq.export import vqa_endpoints

        c = run.config
        vqa_endpoints(archive, serving_model, run.vocab.tokens, run.classes,
                      image_size=c.image_size, question_length=c.question_length)

    def sample(self, run, model, prompt="", **options):
        """Answer questions about image files: ``--prompt`` lines ``IMAGE_PATH | question``."""
        from kerasseq.tasks.captioning import read_image

        pairs = [line.split("|", 1) for line in prompt.split("\n") if line.strip()]
        if not pairs or any(len(p) != 2 or not p[1].strip() for p in pairs):
            raise UserError("--prompt must hold lines 'IMAGE_PATH | question'")
        images = np.stack([read_image(p.strip(), run.config.image_size) for p, _ in pairs])
        ids = daquar.encode_questions([q for _, q in pairs], run.vocab, run.config.question_length)
        answers = [run.classes[k] for k in self.predict(run, model, images, ids)]
        return "\n".join(f"{p.strip()} | {q.strip()} -> {a}" for (p, q), a in zip(pairs, answers))


TASK = VQATask()
