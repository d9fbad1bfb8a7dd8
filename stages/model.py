"""The recurrent classifier: every `train` option turned into a compiled Keras model."""

from __future__ import annotations

from stages.common import TrainParams

RNN_LAYERS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
POOLING_LAYERS = {"mean": "GlobalAveragePooling1D", "max": "GlobalMaxPooling1D"}


def build_model(params: TrainParams, vocabulary_size: int, max_len: int | None):
    """Embedding (-> SpatialDropout1D) -> `layers` recurrent layers (optionally bidirectional) ->
    the last output, or the mean/max over all outputs (`pooling`) (-> Dropout) -> Dense(1, sigmoid).
    The defaults give the classic Embedding(10000, 32) -> SimpleRNN(32) -> Dense(1). `max_len` None:
    reviews of any length (bucketed batches)."""
    import keras
    from keras import layers

    rnn = getattr(layers, RNN_LAYERS[params.cell])
    model = keras.Sequential(name=f"imdb_{params.cell}")
    model.add(keras.Input(shape=(max_len,), dtype="int32"))
    model.add(layers.Embedding(vocabulary_size, params.embedding_dim, mask_zero=params.mask_padding))
    if params.embedding_dropout:
        # Whole channels, not single values: neighbouring steps cannot fill in for a dropped one.
        model.add(layers.SpatialDropout1D(params.embedding_dropout))
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
        model.add(getattr(layers, POOLING_LAYERS[params.pooling])())
    if params.output_dropout:
        model.add(layers.Dropout(params.output_dropout))
    model.add(layers.Dense(1, activation="sigmoid"))
    clipping = {"clipnorm": params.clipnorm} if params.clipnorm else {}  # keeps adam steady on long sequences
    optimizer = keras.optimizers.get({"class_name": params.optimizer, "config": {"learning_rate": params.learning_rate, **clipping}})
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    return model
