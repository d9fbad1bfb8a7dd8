"""imdb_rnn.runtime.errors: one-line errors with credentials hidden."""

from __future__ import annotations

import pytest

from imdb_rnn.runtime.errors import PipelineError


def test_every_error_line_of_every_stage_hides_url_credentials(capsys):
    """common.run prints every stage's one-line error through the one redaction (tracking.redact)."""
    from imdb_rnn.runtime import errors as common
    from imdb_rnn.tracking import store as tracking

    def fails():
        raise PipelineError(
            "models:/m/1: cannot load the model: API request to http://someone:s3cret@127.0.0.1:1/api failed"
        )

    with pytest.raises(SystemExit):
        common.run(fails)
    assert (
        capsys.readouterr().err
        == "error: models:/m/1: cannot load the model: API request to http://***@127.0.0.1:1/api failed\n"
    )
    assert tracking.redact is common.redact
