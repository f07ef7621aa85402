"""The fuzz campaign in the suite: 2,000 seeded mutants of five valid models (``make fuzz`` runs
16,000). Each is accepted or rejected with a one-line FlowError, never a traceback; an accepted
QONNX mutant computes what the independent exact interpreter computes."""

from __future__ import annotations

import warnings

from tests.fuzz_onnx import run_campaign


def test_two_thousand_mutants_never_crash_the_reader(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_campaign(2000, seed=12, workdir=tmp_path)
    assert res.total == 2000
    assert not res.findings, "\n\n".join(tb for _, _, tb in res.findings[:3])
    assert res.accepted > 100 and res.rejected > 1000 and res.compared > 50  # the campaign exercises both sides
