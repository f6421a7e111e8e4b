"""Export a trained task model: a ``.keras`` file and a TensorFlow SavedModel.

The SavedModel has a ``serve`` signature (the serving model's forward pass) plus any the
task adds (the character LM adds ``sample``), and loads with ``tf.saved_model.load`` alone:
no kerasseq import is needed to serve it. A run trained on another backend (JAX) exports
its ``.keras`` file at once and its SavedModel with ``kerasseq export`` on TensorFlow.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def _spec_of(tensor):
    import tensorflow as tf

    return tf.TensorSpec(shape=tensor.shape, dtype=tensor.dtype, name=tensor.name.split(":")[0])


def export_task_model(task, run, model, out_dir: Path | None = None, serving=None) -> dict:
    """Write ``model.keras`` and ``saved_model/`` for ``task`` under ``out_dir``
    (default ``run_dir/export``); ``serving`` is ``task.serving_model(run, model)`` when the
    caller has it already. Returns the two paths."""
    import keras

    out_dir = Path(out_dir) if out_dir else run.export_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    serving = serving if serving is not None else task.serving_model(run, model)
    keras_path = out_dir / "model.keras"
    serving.save(keras_path)
    if keras.backend.backend() != "tensorflow":
        # A SavedModel holds TensorFlow graphs; the .keras checkpoint is backend-neutral.
        print(f"Exported {keras_path}. The SavedModel needs the TensorFlow backend: run "
              f"KERAS_BACKEND=tensorflow kerasseq export {task.name} --run_dir {run.dir}")
        return {"keras": keras_path}

    archive = keras.export.ExportArchive()
    archive.track(serving)
    if isinstance(serving.input, dict):  # named inputs: serve takes them by name
        specs = {name: _spec_of(t) for name, t in serving.input.items()}
        archive.add_endpoint(name="serve", fn=lambda inputs: serving(inputs, training=False),
                             input_signature=[specs])
    else:
        archive.add_endpoint(
            name="serve",
            fn=lambda *inputs: serving(list(inputs) if len(inputs) > 1 else inputs[0], training=False),
            input_signature=[_spec_of(t) for t in serving.inputs],
        )
    task.export_endpoints(run, archive, serving)
    saved_path = out_dir / "saved_model"
    if saved_path.exists():
        shutil.rmtree(saved_path)
    archive.write_out(str(saved_path), verbose=False)
    print(f"Exported {keras_path} and {saved_path}")
    return {"keras": keras_path, "saved_model": saved_path}


def char_sampler_endpoint(archive, step_model, chars: list[str]):
    """Add ``sample(prompt, num_chars, temperature) -> text`` to a SavedModel archive.

    ``step_model`` maps ``[ids, *states]`` to ``[logits, *states]``. The prompt (a UTF-8
    string of vocabulary characters) is read in one call, then ``num_chars`` characters are
    drawn one at a time from softmax(logits / temperature), inside one ``tf.while_loop``;
    temperature 0 takes the most likely character (greedy decoding, reproducible).
    Returns the prompt followed by the generated characters.
    """
    import tensorflow as tf

    vocab = tf.constant(chars)

    def sample(prompt, num_chars, temperature):
        prompt_chars = tf.strings.unicode_split(prompt, "UTF-8")  # (n,)
        matches = tf.equal(prompt_chars[:, None], vocab[None, :])  # (n, vocab)
        tf.debugging.assert_greater(tf.size(prompt_chars), 0, message="prompt is empty")
        tf.debugging.assert_equal(tf.reduce_all(tf.reduce_any(matches, axis=1)), True,
                                  message="prompt has characters outside the vocabulary of the model")
        tf.debugging.assert_greater_equal(temperature, 0.0,
                                          message="temperature must be >= 0 (0: greedy)")
        ids = tf.argmax(tf.cast(matches, tf.int32), axis=1, output_type=tf.int32)
        states = [tf.zeros((1, s.shape[-1])) for s in step_model.inputs[1:]]
        logits, *states = step_model([ids[None], *states], training=False)

        def body(i, last_logits, states, out):
            next_id = tf.cond(  # (1, 1)
                temperature > 0,
                lambda: tf.random.categorical(last_logits / temperature, 1, dtype=tf.int32),
                lambda: tf.argmax(last_logits, axis=-1, output_type=tf.int32)[:, None])
            logits, *states = step_model([next_id, *states], training=False)
            return i + 1, logits[:, -1], states, out.write(i, next_id[0, 0])

        _, _, _, out = tf.while_loop(
            lambda i, *_: i < num_chars,
            body,
            (tf.constant(0), logits[:, -1], states, tf.TensorArray(tf.int32, size=num_chars)),
        )
        return prompt + tf.strings.reduce_join(tf.gather(vocab, out.stack()))

    archive.add_endpoint(
        name="sample",
        fn=sample,
        input_signature=[
            tf.TensorSpec([], tf.string, name="prompt"),
            tf.TensorSpec([], tf.int32, name="num_chars"),
            tf.TensorSpec([], tf.float32, name="temperature"),
        ],
    )


def casing_classes_tf(tokens):
    """:func:`kerasseq.data.conll.casing_class` of every token of a string tensor, in
    TensorFlow ops (for the SavedModel): int32 class ids, shaped like ``tokens``.

    Characters are counted by Unicode general category with RE2's ``\\p{..}`` classes, the
    categories the Python function reads with ``unicodedata``.
    """
    import tensorflow as tf

    from kerasseq.data.conll import CASING_CLASSES

    length = tf.strings.length(tokens, unit="UTF8_CHAR")

    def count(category):  # characters of one general category in each token
        rest = tf.strings.regex_replace(tokens, rf"\p{{{category}}}", "")
        return length - tf.strings.length(rest, unit="UTF8_CHAR")

    digits, upper, lower, title = (count(k) for k in ("Nd", "Lu", "Ll", "Lt"))
    rules = [  # the first that holds names the class, as in casing_class
        ("numeric", (length > 0) & (digits == length)),
        ("mainly_numeric", 2 * digits > length),
        ("all_lower", (lower > 0) & (upper == 0) & (title == 0)),
        ("all_upper", (upper > 0) & (lower == 0) & (title == 0)),
        ("initial_upper", tf.strings.regex_full_match(tokens, r"(?s)\p{Lu}.*")),
        ("contains_digit", digits > 0),
    ]
    classes = tf.fill(tf.shape(tokens), CASING_CLASSES.index("other"))
    for name, holds in reversed(rules):
        classes = tf.where(holds, CASING_CLASSES.index(name), classes)
    return classes


def tagger_endpoint(archive, model, vocab, max_word_len: int, crf: bool, casing: bool = False):
    """Add ``tag(tokens) -> tags`` to a SavedModel archive of a sequence tagger.

    ``tokens`` is a 1-D string tensor (one sentence); the result is one IOB2 tag per token.
    Word normalisation (lower case, digits to 0), the word and character lookups, the casing
    classes (with ``casing``: :func:`casing_classes_tf`), the model and Viterbi decoding all
    run inside the SavedModel.
    """
    import tensorflow as tf

    from kerasseq.data.conll import TAGS

    import keras

    # id 0: the mask token "", id 1: unknown, then the vocabulary: kerasseq's id layout.
    words_table = keras.layers.StringLookup(vocabulary=vocab.words.tokens, mask_token="",
                                            num_oov_indices=1, output_mode="int")
    chars_table = keras.layers.StringLookup(vocabulary=vocab.chars.tokens, mask_token="",
                                            num_oov_indices=1, output_mode="int")
    for table in (words_table, chars_table):
        table(tf.constant([""]))  # build before tracking
        archive.track(table)
    # The IOB2 name of every IOBES tag (B-/S- begin an entity, I-/E- continue it).
    iob2 = tf.constant([t if t == "O" else ("B-" if t[0] in "BS" else "I-") + t[2:] for t in TAGS])

    def tag(tokens):
        tf.debugging.assert_greater(tf.size(tokens), 0, message="tokens is empty")
        normalized = tf.strings.regex_replace(tf.strings.lower(tokens, encoding="utf-8"), r"\d", "0")
        words = tf.cast(words_table(normalized), tf.int32)[None]  # (1, n)
        chars = tf.strings.unicode_split(tokens, "UTF-8")[:, :max_word_len]  # ragged (n, <=max)
        chars = chars.to_tensor("", shape=[None, max_word_len])  # (n, max_word_len), "" pads
        chars = tf.cast(chars_table(chars), tf.int32)[None]
        inputs = {"words": words, "chars": chars}
        if casing:
            inputs["casing"] = casing_classes_tf(tokens)[None]  # (1, n)
        outputs = model(inputs, training=False)
        if crf:
            from kerasseq.layers.crf import viterbi_decode

            ids = viterbi_decode(outputs, tf.ones_like(words, tf.bool))
            ids = ids[0] if isinstance(ids, (tuple, list)) else ids
        else:
            ids = tf.argmax(outputs, axis=-1, output_type=tf.int32)
        return tf.gather(iob2, tf.cast(ids[0], tf.int32))

    archive.add_endpoint(name="tag", fn=tag,
                         input_signature=[tf.TensorSpec([None], tf.string, name="tokens")])


def translation_endpoint(archive, translator, source_tokenizer, target_tokenizer):
    """Add ``translate(sentences) -> translations`` to a SavedModel archive of a translation
    model: a 1-D string tensor of English sentences in, German sentences out.

    SentencePiece tokenisation (keras-hub's ``SentencePieceTokenizer``, TensorFlow Text ops),
    the encoder, the compiled search of ``translator`` (:class:`kerasseq.models.Translator`,
    greedy or beam) and detokenisation (a lookup of each id's text,
    :meth:`~kerasseq.data.multi30k.SubwordTokenizer.piece_bytes`: two TensorFlow Text
    SentencePiece models in one SavedModel share one resource and the second would read the
    first's vocabulary) all run inside the SavedModel. Loading it needs ``import
    tensorflow_text`` (which registers the SentencePiece ops) before ``tf.saved_model.load``,
    and no kerasseq.
    """
    import tensorflow as tf

    source = source_tokenizer.to_keras_hub()
    source.build(None)  # a weightless layer: built, so the archive can track it
    archive.track(source)
    pieces = tf.constant(target_tokenizer.piece_bytes())

    from kerasseq.data.multi30k import BUCKETS

    buckets = tf.constant(BUCKETS, tf.int32)

    def translate(sentences):
        tf.debugging.assert_greater(tf.size(sentences), 0, message="sentences is empty")
        ids = tf.cast(source(sentences), tf.int32).to_tensor(0)  # (n, longest)
        # Padded to the length bucket the Python path uses (the same search, the same result).
        longest = tf.maximum(tf.shape(ids)[1], 1)
        fits = tf.boolean_mask(buckets, buckets >= longest)
        length = tf.cond(tf.size(fits) > 0, lambda: fits[0], lambda: (longest + 63) // 64 * 64)
        ids = tf.pad(ids, [[0, 0], [0, length - tf.shape(ids)[1]]])
        decoded, _ = translator._search(ids, length + translator.extra_length)
        # Everything from the first EOS on is dropped (the ids after it are padding).
        ended = tf.cumsum(tf.cast(tf.equal(decoded, 3), tf.int32), axis=1) > 0
        decoded = tf.where(ended, tf.zeros_like(decoded), decoded)
        text = tf.strings.reduce_join(tf.gather(pieces, decoded), axis=1)  # PAD adds b""
        return tf.strings.regex_replace(text, "^ ", "")

    archive.add_endpoint(name="translate", fn=translate,
                         input_signature=[tf.TensorSpec([None], tf.string, name="sentences")])


def image_classifier_endpoint(archive, model, info, image_size: int):
    """Add ``classify(images) -> probabilities`` to a SavedModel archive of an image
    classifier: a uint8 batch ``(n, height, width, channels)`` of any size in (brought to the
    model's size as in training: :func:`kerasseq.data.images.to_model_size`; normalised
    inside the model), class probabilities ``(n, classes)`` out. Needs only TensorFlow."""
    import tensorflow as tf

    from kerasseq.data.images import to_model_size

    def classify(images):
        tf.debugging.assert_equal(tf.shape(images)[-1], info.channels,
                                  message=f"images must have {info.channels} channel(s)")
        x = to_model_size(images, info.native_size, image_size)
        x = tf.ensure_shape(x, [None, image_size, image_size, info.channels])
        return tf.nn.softmax(model(x, training=False), axis=-1)

    archive.add_endpoint(name="classify", fn=classify, input_signature=[
        tf.TensorSpec([None, None, None, info.channels], tf.uint8, name="images")])


def detector_endpoint(archive, model, decode, image_size: int, channels: int = 1):
    """Add ``detect(images, score_threshold)`` to a SavedModel archive of a detector.

    ``images``: a uint8 batch ``(n, height, width, channels)`` of any size (resized to the
    model's ``image_size`` square; boxes are mapped back to the input's pixels);
    ``score_threshold``: a float scalar. Returns ``boxes`` ``(n, K, 4)`` pixel
    ``(x1, y1, x2, y2)``, ``scores`` ``(n, K)`` and ``labels`` ``(n, K)`` int32, best first,
    the slots below the threshold padded (box 0, score 0, label −1), and
    ``num_detections`` ``(n,)``. ``decode`` maps the model's outputs to normalised boxes,
    scores and labels (:func:`kerasseq.models.detr.decode_detr`, ...). Needs only TensorFlow."""
    import tensorflow as tf

    def detect(images, score_threshold):
        tf.debugging.assert_equal(tf.shape(images)[-1], channels,
                                  message=f"images must have {channels} channel(s)")
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        x = tf.image.resize(tf.cast(images, tf.float32), (image_size, image_size))
        x = tf.ensure_shape(x, [None, image_size, image_size, channels])
        out = decode(model(x, training=False))
        scale = tf.cast(tf.stack([width, height, width, height]), tf.float32)
        keep = (out["scores"] >= score_threshold) & (out["labels"] >= 0)  # (n, K)
        scores = tf.where(keep, out["scores"], 0.0)
        order = tf.argsort(scores, axis=-1, direction="DESCENDING", stable=True)
        keep = tf.gather(keep, order, batch_dims=1)
        boxes = tf.gather(out["boxes"] * scale, order, batch_dims=1)
        return {"boxes": tf.where(keep[..., None], boxes, 0.0),
                "scores": tf.gather(scores, order, batch_dims=1),
                "labels": tf.where(keep, tf.gather(out["labels"], order, batch_dims=1), -1),
                "num_detections": tf.reduce_sum(tf.cast(keep, tf.int32), axis=-1)}

    archive.add_endpoint(name="detect", fn=detect, input_signature=[
        tf.TensorSpec([None, None, None, channels], tf.uint8, name="images"),
        tf.TensorSpec([], tf.float32, name="score_threshold")])


def caption_endpoints(archive, captioner, words: list[str], resize: int, crop: int):
    """Add ``caption(images) -> captions`` and ``caption_attention(images) -> {captions,
    attention}`` to a SavedModel archive of a captioning model.

    ``images``: a uint8 batch ``(n, height, width, 3)`` of any size, resized to ``resize``
    (bilinear, antialiased, as the training images) and centre-cropped to ``crop``; the
    search is the :class:`kerasseq.models.Captioner`'s (greedy or beam). ``captions``: one
    string per image. ``attention`` ``(n, steps, h, w)``: where the decoder looked for each
    word (and ``<end>``; zeros after it), on the encoder's h × w grid (Show, Attend and Tell
    only). ``words``: the vocabulary's tokens from id 2. Needs only TensorFlow.
    """
    import tensorflow as tf

    table = tf.constant(["", "<unk>"] + [f" {w}" for w in words])

    def prepare(images):
        tf.debugging.assert_equal(tf.shape(images)[-1], 3, message="images must be RGB (3 channels)")
        x = tf.image.resize(images, (resize, resize), antialias=True)
        x = tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8)
        start = (resize - crop) // 2
        return tf.ensure_shape(x[:, start:start + crop, start:start + crop], [None, crop, crop, 3])

    def search(images):
        x = prepare(images)
        ids = captioner.search(x)
        ended = tf.cumsum(tf.cast(tf.logical_or(tf.equal(ids, 3), tf.equal(ids, 0)), tf.int32), axis=1) > 0
        ids = tf.where(ended, tf.zeros_like(ids), ids)
        text = tf.strings.reduce_join(tf.gather(table, ids), axis=1)
        return x, ids, tf.strings.regex_replace(text, "^ ", "")

    def caption(images):
        return search(images)[2]

    spec = [tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")]
    archive.add_endpoint(name="caption", fn=caption, input_signature=spec)
    if captioner.has_attention:
        def caption_attention(images):
            x, ids, text = search(images)
            features = captioner.features(x, training=False)
            inputs = tf.concat([tf.fill([tf.shape(ids)[0], 1], 2), ids[:, :-1]], axis=1)
            _, alphas = captioner.decoder([features, inputs], training=False)
            # Keep the <end> step: zero the steps after the caption's last word + 1.
            valid = tf.cumsum(tf.cast(tf.equal(inputs, 0), tf.int32), axis=1) == 0
            alphas = alphas * tf.cast(valid, alphas.dtype)[..., None]
            side = int(round(captioner.features.output.shape[1] ** 0.5))
            grid = tf.reshape(alphas, [tf.shape(alphas)[0], tf.shape(alphas)[1], side, side])
            return {"captions": text, "attention": grid}

        archive.add_endpoint(name="caption_attention", fn=caption_attention, input_signature=spec)


def vqa_endpoints(archive, model, words: list[str], answers: list[str], image_size: int,
                  question_length: int):
    """Add ``answer(images, questions) -> answers`` (and, for an attention model,
    ``answer_attention(images, questions) -> {answers, attention}``) to a SavedModel archive
    of a :func:`kerasseq.models.build_vqa_model` model.

    ``images``: a uint8 batch ``(n, height, width, 3)`` of any size, resized to
    ``image_size`` (bilinear, antialiased, as the training images); ``questions``: ``(n,)``
    strings, tokenised as :func:`kerasseq.data.daquar.tokenize` does (lower case, ``imageN``
    → ``image``, runs of letters, digits and underscores) and looked up in ``words`` (the
    vocabulary's tokens from id 2). ``answers``: one string per question. ``attention``
    ``(n, h, w)``: the weights over the CNN's grid. Needs only TensorFlow.
    """
    import keras
    import tensorflow as tf

    lookup = keras.layers.StringLookup(vocabulary=words, mask_token="", num_oov_indices=1,
                                       output_mode="int")
    lookup(tf.constant([""]))  # build before tracking
    archive.track(lookup)
    table = tf.constant(answers)

    def prepare(images, questions):
        tf.debugging.assert_equal(tf.shape(images)[-1], 3, message="images must be RGB (3 channels)")
        tf.debugging.assert_equal(tf.shape(images)[0], tf.shape(questions)[0],
                                  message="expected one question per image")
        x = tf.image.resize(images, (image_size, image_size), antialias=True)
        x = tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8)
        text = tf.strings.lower(questions)
        text = tf.strings.regex_replace(text, r"\bth eimage([0-9]+)", r"the image\1")
        text = tf.strings.regex_replace(text, r"image[0-9]+", "image")
        text = tf.strings.regex_replace(text, r"[^a-z0-9_]+", " ")
        tokens = tf.strings.split(tf.strings.strip(text))  # ragged (n, words)
        tokens = tokens.to_tensor("", shape=[None, question_length])
        return {"images": tf.ensure_shape(x, [None, image_size, image_size, 3]),
                "question": tf.cast(lookup(tokens), tf.int32)}

    def answer(images, questions):
        logits = model(prepare(images, questions), training=False)
        return tf.gather(table, tf.argmax(logits, axis=-1))

    spec = [tf.TensorSpec([None, None, None, 3], tf.uint8, name="images"),
            tf.TensorSpec([None], tf.string, name="questions")]
    archive.add_endpoint(name="answer", fn=answer, input_signature=spec)
    if any(layer.name == "attention" for layer in model.layers):
        from kerasseq.models.vqa import attention_model

        weights = attention_model(model)
        side = int(round(model.get_layer("attention").input[1].shape[1] ** 0.5))

        def answer_attention(images, questions):
            inputs = prepare(images, questions)
            alphas = weights(inputs, training=False)
            return {"answers": tf.gather(table, tf.argmax(model(inputs, training=False), axis=-1)),
                    "attention": tf.reshape(alphas, [-1, side, side])}

        archive.add_endpoint(name="answer_attention", fn=answer_attention, input_signature=spec)
