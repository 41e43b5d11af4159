#!/usr/bin/env python3
"""Run the integration tests: every test_* function of every test_*.py here.

    run.py [--bin PATH] [--quick] [-k SUBSTRING]

Prints "ok N - module.test" / "not ok N - ..." lines and ends with
"N passed, N failed"; exits 1 on any failure. --quick runs only the tests each
module marks QUICK: a fast subset while developing.
"""
import argparse
import importlib
import os
import sys
import time
import traceback

import harness

TEST_TIMEOUT = 120


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=harness.BIN)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-k", default="")
    a = ap.parse_args()
    harness.BIN = os.path.abspath(a.bin)
    if not os.access(harness.BIN, os.X_OK):
        print(f"no binary at {harness.BIN}")
        print("0 passed, 1 failed")
        return 1
    sys.stdout.reconfigure(line_buffering=True)
    mods = sorted(f[:-3] for f in os.listdir(harness.HERE) if f.startswith("test_") and f.endswith(".py"))
    n = passed = failed = 0
    t_all = time.monotonic()
    for mname in mods:
        mod = importlib.import_module(mname)
        quick = set(getattr(mod, "QUICK", ()))
        for fname in sorted(x for x in dir(mod) if x.startswith("test_")):
            full = f"{mname}.{fname}"
            if a.k and a.k not in full:
                continue
            if a.quick and fname not in quick:
                continue
            n += 1
            case = harness.Case(full)
            t0 = time.monotonic()
            try:
                getattr(mod, fname)(case)
                ok, why = True, ""
            except Exception as e:  # a failed check or an unexpected error
                ok = False
                why = "".join(traceback.format_exception(type(e), e, e.__traceback__)[-3:])
            finally:
                case.run_cleanups()
            dt = time.monotonic() - t0
            if ok:
                passed += 1
                print(f"ok {n} - {full} ({dt:.1f}s)")
            else:
                failed += 1
                print(f"not ok {n} - {full} ({dt:.1f}s)")
                for line in why.rstrip().splitlines():
                    print(f"#   {line}")
    # Secrets never reach a log: checked over everything every test printed.
    n += 1
    leaks = [(t, line) for t, line in harness.ALL_LOGS for s in harness.SECRETS if s and s in line]
    if leaks or not harness.SECRETS and not a.k and not a.quick:
        failed += 1
        print(f"not ok {n} - no_secret_in_any_log ({len(harness.SECRETS)} secrets, "
              f"{len(harness.ALL_LOGS)} lines)")
        for t, line in leaks[:10]:
            print(f"#   {t}: {line[:200]}")
    else:
        passed += 1
        print(f"ok {n} - no_secret_in_any_log ({len(harness.SECRETS)} secrets, {len(harness.ALL_LOGS)} lines)")
    print(f"# {time.monotonic() - t_all:.1f}s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
