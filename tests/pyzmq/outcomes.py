"""pytest plugin for tests/pyzmq/run.sh: records every test's outcome.

It also shortens the timeout of tests known to hang now and then
(SHORT_TIMEOUTS).

Loaded with `-p outcomes` (run.sh puts this folder on PYTHONPATH). Each
report is appended at once, one JSON object a line, to the file named by
$PYZMQ_OUTCOMES, so the record survives a run that is killed part way
(a hang past the outer timeout). With pytest-xdist only the controller
writes; it also receives the reports of tests whose worker crashed.
report.py turns the lines into one outcome per test id.
"""

import json
import os
import time

_out = None

# Tests that hang now and then with libzmq itself get a shorter timeout than
# run.sh's per-test one (they pass in well under a second when they do not
# hang), so that a run does not spend a minute on them each time.
SHORT_TIMEOUTS = {
    # a third to half of stock runs: slow joiner, then a recv() without timeout
    "tests/test_log.py::TestPubLog::test_blank_root_topic": 10,
}


def pytest_collection_modifyitems(items):
    import pytest

    for item in items:
        if item.nodeid in SHORT_TIMEOUTS:
            item.add_marker(pytest.mark.timeout(SHORT_TIMEOUTS[item.nodeid]))


def _failure_message(report):
    """One line telling failures apart: the exception, else the last line."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = getattr(crash, "message", None) or str(report.longrepr or "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if crash is not None and lines:
        return lines[0][:300]
    return lines[-1][:300] if lines else ""


def _write(record):
    global _out
    path = os.environ.get("PYZMQ_OUTCOMES")
    if not path:
        return
    if _out is None:
        _out = open(path, "a", encoding="utf-8")
    record["t"] = round(time.time(), 3)
    _out.write(json.dumps(record) + "\n")
    _out.flush()


def pytest_runtest_logreport(report):
    # xdist workers set PYTEST_XDIST_WORKER; their reports reach the controller
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rec = {"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome}
    if hasattr(report, "wasxfail"):
        rec["xfail"] = True
    if report.failed:
        rec["message"] = _failure_message(report)
    elif report.skipped and isinstance(report.longrepr, tuple):
        rec["message"] = str(report.longrepr[-1])[:300]  # (file, line, reason)
    _write(rec)


def pytest_collectreport(report):
    # a module that fails to import, or skips itself whole (importorskip),
    # shows up here, not as test reports
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if report.skipped and isinstance(report.longrepr, tuple):
        _write(
            {
                "nodeid": report.nodeid,
                "when": "collect",
                "outcome": "skipped",
                "message": str(report.longrepr[-1])[:300],
            }
        )
    elif report.failed:
        _write(
            {
                "nodeid": report.nodeid,
                "when": "collect",
                "outcome": "failed",
                "message": _failure_message(report),
            }
        )
