"""The recurrent classifier: every `train` option turned into a compiled Keras model, and the
guard that stops its training when the loss diverges."""

from __future__ import annotations

import functools

from imdb_rnn.models.pooling import masked_max_pooling_class
from imdb_rnn.runtime.errors import raise_if_interrupted
from imdb_rnn.runtime.params import TrainParams


def build_model(params: TrainParams, vocabulary_size: int, max_len: int | None):
    """An Embedding (train.init region: beside the states of a frozen Embedding -> Bidirectional GRU,
    set by pretraining.load_into), then one stack for every classifier (_stack). The defaults give the
    classic Embedding(10000, 32) -> SimpleRNN(32) -> Dense(1). `max_len` None: reviews of any length
    (bucketed batches). `adversarial` > 0: an adversarial.perturbation_classes Sequential."""
    import keras
    from keras import layers

    ids = keras.Input(shape=(max_len,), dtype="int32")
    embed = functools.partial(layers.Embedding, vocabulary_size, params.embedding_dim, mask_zero=params.mask_padding)
    embedding = embed()
    if params.init == "region":  # a functional model: two inputs to the stack, concatenated
        from imdb_rnn.models.pretraining import REGION_EMBEDDING, REGION_STATES

        own = embedding(ids)  # model.layers[1]
        frozen = embed(trainable=False, name=REGION_EMBEDDING)(ids)
        gru = layers.GRU(params.units, return_sequences=True)
        states = layers.Bidirectional(gru, trainable=False, name=REGION_STATES)(frozen)
        x = layers.Concatenate()([own, states])
        for layer in _stack(params):
            x = layer(x)
        return compiled(keras.Model(ids, x, name=f"imdb_{params.cell}_region"), params)
    if params.adversarial:  # trained on perturbed embeddings too; saved as the plain Sequential
        from imdb_rnn.models.adversarial import perturbation_classes

        model = perturbation_classes()[1](name=f"imdb_{params.cell}")  # AdversarialSequential
        model.strength = params.adversarial
    else:
        model = keras.Sequential(name=f"imdb_{params.cell}")
    for layer in (ids, embedding, *_stack(params)):
        model.add(layer)
    return compiled(model, params)


def _stack(params: TrainParams):
    """(SpatialDropout1D) (word dropout) -> `layers` recurrent layers (optionally bidirectional) -> the
    last output, or the mean/max over all outputs (`pooling`) (-> Dropout) -> Dense(1, sigmoid), in the
    order they draw their initial weights' seeds in."""
    from keras import layers

    if params.embedding_dropout:
        # Whole channels, not single values: neighbouring steps cannot fill in for a dropped one.
        yield layers.SpatialDropout1D(params.embedding_dropout)
    if params.word_dropout:
        # Whole words: the model cannot lean on one name or phrase it met in training.
        yield layers.Dropout(params.word_dropout, noise_shape=(None, None, 1), name="word_dropout")
    if params.adversarial:
        from imdb_rnn.models.adversarial import perturbation_classes

        yield perturbation_classes()[0](name="embedding_perturbation")  # EmbeddingPerturbation
    kind = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}[params.cell]
    rnn = functools.partial(kind, params.units, dropout=params.dropout, recurrent_dropout=params.recurrent_dropout)
    for index in range(params.layers):
        cell = rnn(return_sequences=index < params.layers - 1 or params.pooling != "last")
        yield layers.Bidirectional(cell) if params.bidirectional else cell
    # Pooling over every step's output: the review's strongest cues, wherever they are.
    if params.pooling == "max" and params.mask_padding:  # Keras' own max would count the padding
        yield masked_max_pooling_class()()
    elif params.pooling != "last":
        yield {"mean": layers.GlobalAveragePooling1D, "max": layers.GlobalMaxPooling1D}[params.pooling]()
    if params.output_dropout:
        yield layers.Dropout(params.output_dropout)
    yield layers.Dense(1, activation="sigmoid")


def compiled(model, params: TrainParams):
    """`model` compiled with the optimizer, loss and metric every classifier trains with."""
    import keras

    clipping = {"clipnorm": params.clipnorm} if params.clipnorm else {}  # keeps adam steady on long sequences
    config = {"learning_rate": params.learning_rate, **clipping}
    optimizer = keras.optimizers.get({"class_name": params.optimizer, "config": config})
    accuracy = hard_label_accuracy()(name="accuracy")
    model.compile(optimizer=optimizer, loss="binary_crossentropy", weighted_metrics=[accuracy])
    return model


@functools.cache
def hard_label_accuracy():
    """The "accuracy" metric's class: against the hard label (target >= 0.5), weighted as the loss. Keras'
    binary accuracy counted a teacher's probability (train.unlabeled_weight) as a target always missed."""
    import keras

    @keras.saving.register_keras_serializable(package="imdb_rnn")
    class HardLabelAccuracy(keras.metrics.BinaryAccuracy):
        def update_state(self, y_true, y_pred, sample_weight=None):
            return super().update_state(keras.ops.greater_equal(y_true, 0.5), y_pred, sample_weight)

    return HardLabelAccuracy


def terminate_on_nan():
    """keras.callbacks.TerminateOnNaN's check at each epoch's end (a NaN batch makes its mean loss NaN),
    not after every batch: a per-batch callback turns off Keras' asynchronous dispatch, and on JAX
    Ctrl-C then took about 30 s to stop training (tests/integration/test_faults.py)."""
    import keras

    class TerminateOnNaNPerEpoch(keras.callbacks.TerminateOnNaN):
        on_batch_end = keras.callbacks.Callback.on_batch_end  # Keras' no-op: no per-batch hook

        def on_epoch_end(self, epoch, logs=None):
            raise_if_interrupted()
            keras.callbacks.TerminateOnNaN.on_batch_end(self, epoch, logs)

    return TerminateOnNaNPerEpoch()
