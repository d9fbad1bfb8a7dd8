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


def test_a_stage_failing_under_dvc_repro_says_how_to_bring_back_its_outputs(tmp_path, monkeypatch, capsys):
    """DVC deletes a stage's outputs before it runs it: the line names the command that restores the
    last ones (dvc.lock's, in DVC's cache), and the files git keeps; not for a stage never run."""
    import shutil

    from imdb_rnn.runtime import errors as common
    from tests.helpers import ROOT

    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  train:\n    cmd: python -m stages.train\n")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))

    def interrupted():
        raise KeyboardInterrupt

    for stage, code in (("train", 130), ("evaluate", 130)):
        monkeypatch.setenv("DVC_STAGE", stage)
        with pytest.raises(SystemExit) as exited:
            common.run(interrupted)
        assert exited.value.code == code
        line = capsys.readouterr().err
        if stage == "train":
            assert line.startswith(
                "error: interrupted by SIGINT (DVC deleted train's outputs before it ran: "
                "`dvc checkout train` brings back its last ones"
            ), line
        else:  # evaluate never finished: dvc.lock has nothing to restore
            assert line == "error: interrupted by SIGINT\n"
