"""The recurrent classifier: every `train` option turned into a compiled Keras model, and the
guard that stops its training when the loss diverges."""

from __future__ import annotations

from imdb_rnn.models.pooling import masked_max_pooling_class
from imdb_rnn.runtime.params import TrainParams

RNN_LAYERS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
POOLING_LAYERS = {"mean": "GlobalAveragePooling1D", "max": "GlobalMaxPooling1D"}


def build_model(params: TrainParams, vocabulary_size: int, max_len: int | None):
    """Embedding (-> SpatialDropout1D) (-> word dropout) -> `layers` recurrent layers (optionally bidirectional) ->
    the last output, or the mean/max over all outputs (`pooling`) (-> Dropout) -> Dense(1, sigmoid).
    The defaults give the classic Embedding(10000, 32) -> SimpleRNN(32) -> Dense(1). `max_len` None:
    reviews of any length (bucketed batches). `adversarial` > 0: trained with imdb_rnn.models.adversarial
    (take the plain model out with adversarial.classifier)."""
    import keras
    from keras import layers

    if params.init == "region":  # the pretrain stage's frozen states beside the classifier's own embedding
        from imdb_rnn.models.pretraining import region_classifier

        return compiled(region_classifier(params, vocabulary_size, max_len), params)
    rnn = getattr(layers, RNN_LAYERS[params.cell])
    if params.adversarial:  # trained on perturbed embeddings too; saved as the plain Sequential
        from imdb_rnn.models.adversarial import perturbation_classes

        EmbeddingPerturbation, AdversarialSequential = perturbation_classes()
        model = AdversarialSequential(name=f"imdb_{params.cell}")
        model.strength = params.adversarial
    else:
        model = keras.Sequential(name=f"imdb_{params.cell}")
    model.add(keras.Input(shape=(max_len,), dtype="int32"))
    model.add(layers.Embedding(vocabulary_size, params.embedding_dim, mask_zero=params.mask_padding))
    if params.embedding_dropout:
        # Whole channels, not single values: neighbouring steps cannot fill in for a dropped one.
        model.add(layers.SpatialDropout1D(params.embedding_dropout))
    if params.word_dropout:
        # Whole words: the model cannot lean on one name or phrase it met in training.
        model.add(layers.Dropout(params.word_dropout, noise_shape=(None, None, 1), name="word_dropout"))
    if params.adversarial:
        model.add(EmbeddingPerturbation(name="embedding_perturbation"))
    for index in range(params.layers):
        cell = rnn(
            params.units,
            dropout=params.dropout,
            recurrent_dropout=params.recurrent_dropout,
            return_sequences=index < params.layers - 1 or params.pooling != "last",
        )
        model.add(layers.Bidirectional(cell) if params.bidirectional else cell)
    if params.pooling != "last":
        # Pooling over every step's output: the review's strongest cues, wherever they are.
        if params.pooling == "max" and params.mask_padding:  # Keras' own max would count the padding
            model.add(masked_max_pooling_class()())
        else:
            model.add(getattr(layers, POOLING_LAYERS[params.pooling])())
    if params.output_dropout:
        model.add(layers.Dropout(params.output_dropout))
    model.add(layers.Dense(1, activation="sigmoid"))
    return compiled(model, params)


def compiled(model, params: TrainParams):
    """`model` compiled with the optimizer, loss and metric every classifier trains with."""
    import keras

    clipping = {"clipnorm": params.clipnorm} if params.clipnorm else {}  # keeps adam steady on long sequences
    optimizer = keras.optimizers.get(
        {"class_name": params.optimizer, "config": {"learning_rate": params.learning_rate, **clipping}}
    )
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    return model


def terminate_on_nan():
    """keras.callbacks.TerminateOnNaN's check, made at the end of each epoch (a NaN batch makes the
    epoch's mean loss NaN) instead of after every batch: a per-batch callback turns off Keras'
    asynchronous dispatch, and on JAX Ctrl-C then took about 30 s instead of a few to stop training
    on this loaded machine (tests/integration/test_faults.py). It costs at most one epoch of a diverged run."""
    import keras

    class TerminateOnNaNPerEpoch(keras.callbacks.TerminateOnNaN):
        on_batch_end = keras.callbacks.Callback.on_batch_end  # Keras' no-op: no per-batch hook

        def on_epoch_end(self, epoch, logs=None):
            keras.callbacks.TerminateOnNaN.on_batch_end(self, epoch, logs)

    return TerminateOnNaNPerEpoch()
