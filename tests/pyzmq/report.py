"""Summarises a run of pyzmq's test suite (tests/pyzmq/run.sh).

    report.py OUTCOMES.jsonl [--expected-failures FILE] [--stock-passing FILE]
              [--write-passing FILE --header TEXT]

OUTCOMES.jsonl is what outcomes.py wrote. Prints the counts, then compares
the failing tests with the expected-failures list (one test id a line, then
`# reason`): exits 1 if a test failed that the list does not name, and
names listed tests that passed (so the list can shrink) without failing,
except those whose reason starts with "flaky": they may go either way.
Against the stock-passing list it also tells which of stock pyzmq's passing
tests did not pass here, for information.

Outcomes: passed, failed (the test body), error (setup/teardown/collection),
skipped, xfailed, xpassed, and incomplete (started, never finished: the run
was killed while it ran). failed, error and incomplete count as failing.
"""

import argparse
import json
import re
import sys
from collections import Counter

from outcomes import SHORT_TIMEOUTS  # beside this file

FAILING = ("failed", "error", "incomplete")


def load_outcomes(path, test_timeout=None):
    phases = {}  # nodeid -> list of records in order
    last_t = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill
            t = rec.get("t")
            if rec["when"] == "???" and t and last_t:
                # xdist's report for a worker that died: the time since the
                # report before it is about how long the test ran, which
                # tells a hang that the per-test timeout killed from a crash
                ran = t - last_t
                limit = SHORT_TIMEOUTS.get(rec["nodeid"], test_timeout)
                if limit and ran >= limit - 1:
                    rec["message"] = f"timed out: killed after {ran:.0f} s (the per-test timeout)"
                else:
                    rec["message"] = f"crashed: its worker died after {ran:.1f} s (see pytest.log)"
            last_t = t or last_t
            phases.setdefault(rec["nodeid"], []).append(rec)

    result = {}
    reruns = {}
    for nodeid, recs in phases.items():
        # pytest-rerunfailures (pyzmq marks a few tests flaky(reruns=3))
        # reports a failed try as "rerun", then runs setup/call/teardown
        # again: only the last try counts
        tries = sum(1 for r in recs if r["outcome"] == "rerun")
        if tries:
            reruns[nodeid] = tries
            last = max(i for i, r in enumerate(recs) if r["outcome"] == "rerun")
            nxt = [i for i, r in enumerate(recs) if i > last and r["when"] == "setup"]
            recs = recs[nxt[0]:] if nxt else recs[last + 1:]
        by_when = {}
        message = ""
        for r in recs:
            by_when.setdefault(r["when"], r)
            if r["outcome"] != "passed" and not message:
                message = r.get("message", "")
        xfail = any(r.get("xfail") for r in recs)
        failed_whens = [w for w, r in by_when.items() if r["outcome"] == "failed"]
        if "collect" in failed_whens:
            outcome = "error"
        elif xfail and not failed_whens:
            call = by_when.get("call")
            outcome = "xpassed" if call and call["outcome"] == "passed" else "xfailed"
        elif any(w not in ("setup", "teardown") for w in failed_whens):
            # the body failed, or ('???') xdist's report of a crashed worker
            outcome = "failed"
        elif failed_whens:
            outcome = "error"
        elif any(r["outcome"] == "skipped" for r in by_when.values()):
            outcome = "skipped"
        elif "call" in by_when and "teardown" in by_when:
            outcome = "passed"
        else:
            outcome = "incomplete"
        result[nodeid] = (outcome, message)
    return result, reruns


def load_list(path):
    """Test ids of a list file: one a line, `# ...` comments, blank lines."""
    ids = {}
    if not path:
        return ids
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        print(f"(no {path})")
        return ids
    with f:
        for line in f:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = re.split(r"\s+#\s?", line.rstrip("\n"), maxsplit=1)
            ids[parts[0].strip()] = parts[1].strip() if len(parts) > 1 else ""
    return ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outcomes")
    ap.add_argument("--expected-failures")
    ap.add_argument("--stock-passing")
    ap.add_argument("--write-passing")
    ap.add_argument("--header", default="")
    ap.add_argument("--flaky-only", action="store_true", help="take only the flaky entries of --expected-failures")
    ap.add_argument("--test-timeout", type=float, help="the per-test timeout, seconds")
    args = ap.parse_args()

    try:
        outcomes, reruns = load_outcomes(args.outcomes, args.test_timeout)
    except FileNotFoundError:
        outcomes, reruns = {}, {}
    if not outcomes:
        print("pyzmq suite: no test outcome was recorded", file=sys.stderr)
        return 2

    counts = Counter(o for o, _ in outcomes.values())
    failing = {t: m for t, (o, m) in outcomes.items() if o in FAILING}
    passing = {t for t, (o, _) in outcomes.items() if o in ("passed", "xpassed")}

    if args.write_passing:
        with open(args.write_passing, "w", encoding="utf-8") as f:
            for line in args.header.splitlines():
                f.write(f"# {line}".rstrip() + "\n")
            for t in sorted(passing):
                f.write(t + "\n")
        print(f"wrote {len(passing)} passing test ids to {args.write_passing}")

    expected = load_list(args.expected_failures)
    if args.flaky_only:
        expected = {e: r for e, r in expected.items() if r.lower().startswith("flaky")}
    stock = load_list(args.stock_passing)

    # an entry ending in * names every test id that starts with the rest
    prefixes = tuple(e[:-1] for e in expected if e.endswith("*"))

    def listed(t):
        return t in expected or (prefixes and t.startswith(prefixes))

    def matches(e):
        return [t for t in outcomes if t.startswith(e[:-1])] if e.endswith("*") else [e]

    # The target: every test stock pyzmq passes passes here too. One that
    # is skipped here (or never ran) misses it as surely as a failure.
    stock_missed_unlisted = [
        t for t in stock if t not in passing and t not in failing and not listed(t)
    ]
    unexpected = sorted(set(t for t in failing if not listed(t)) | set(stock_missed_unlisted))
    # a test listed as flaky (its reason starts with "flaky") may pass or fail
    fixed = sorted(
        e
        for e in expected
        if not expected[e].lower().startswith("flaky")
        and matches(e)
        and all(t in passing for t in matches(e))
    )
    still = sorted(t for t in failing if listed(t))
    unseen = sorted(e for e in expected if not any(t in outcomes for t in matches(e)))

    print()
    if stock:
        stock_missed = sorted(t for t in stock if t not in passing and t not in failing)
        stock_ok = sum(1 for t in stock if t in passing)
        print(f"stock pyzmq's passing tests that pass here: {stock_ok} of {len(stock)}")
        if stock_missed:
            print(f"stock-passing tests that did not run to a pass here ({len(stock_missed)}):")
            for t in stock_missed:
                outcome, why = outcomes.get(t, ("not run", ""))
                print(f"  {outcome:10} {t}" + (f"  ({why})" if why else ""))
    if reruns:
        print(f"tests run again by pyzmq's flaky(reruns=N) marks ({len(reruns)}):")
        for t in sorted(reruns):
            print(f"  {outcomes[t][0]:10} {t} after {reruns[t]} failed tr{'y' if reruns[t] == 1 else 'ies'}")
    if still:
        print(f"expected failures still failing ({len(still)}):")
        for t in still:
            print(f"  {outcomes[t][0]:10} {t}")
    if unseen:
        print(f"listed in expected-failures but not run ({len(unseen)}):")
        for t in unseen:
            print(f"  {t}")
    if fixed:
        print(f"listed in expected-failures but PASSED now; remove them from the list ({len(fixed)}):")
        for t in fixed:
            print(f"  {t}")
    if unexpected:
        print(f"UNEXPECTED FAILURES, not in expected-failures ({len(unexpected)}):")
        for t in unexpected:
            msg = failing.get(t, "passes on stock pyzmq")
            outcome = outcomes.get(t, ("not run", ""))[0]
            print(f"  {outcome:10} {t}" + (f"\n             {msg}" if msg else ""))

    n_fail = counts["failed"] + counts["incomplete"]
    extra = []
    for k in ("xfailed", "xpassed", "incomplete"):
        if counts[k]:
            extra.append(f"{counts[k]} {k}")
    print()
    print(
        f"pyzmq suite: {counts['passed']} passed, {n_fail} failed, "
        f"{counts['skipped']} skipped, {counts['error']} errors"
        + (f" ({', '.join(extra)})" if extra else "")
    )
    if unexpected:
        print(
            f"pyzmq suite: FAIL: {len(unexpected)} test(s) failing, or passing on stock pyzmq "
            "but not here, that are not in the expected-failures list"
        )
        return 1
    print(f"pyzmq suite: OK: every failing test ({len(failing)}) is in the expected-failures list")
    return 0


if __name__ == "__main__":
    sys.exit(main())
