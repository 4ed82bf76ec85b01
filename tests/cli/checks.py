"""What the Python tests under tests/cli share: counted checks and waiting on a condition.

    from checks import ok, wait_for, summary
    ok(cond, "what was checked")          # prints ok:/FAIL:, counts, returns cond
    wait_for(pred, timeout)               # pred's first true value, or None at the deadline
    sys.exit(summary("name"))             # prints "name: N passed, M failed"; 0 only if all
                                          # passed and at least one check ran
"""
import time

passed = failed = 0


def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("ok:", what)
    else:
        failed += 1
        print("FAIL:", what)
    return cond


def wait_for(pred, timeout=60.0, step=0.1):
    """Polls pred until it is true or the deadline passes (a condition, not a sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def summary(name):
    print("%s: %d passed, %d failed" % (name, passed, failed))
    return 0 if passed and not failed else 1
