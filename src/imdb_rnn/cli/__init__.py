"""The commands a user runs ([project.scripts] in pyproject.toml): imdb-predict, imdb-preset, imdb-params, imdb-ui."""
