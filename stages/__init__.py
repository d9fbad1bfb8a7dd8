"""The DVC stages, one module each, as dvc.yaml runs them (`python -m stages.<name>`): parse the
arguments, load the stage's params, call the library (imdb_rnn), write the outputs."""
