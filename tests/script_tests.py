"""The runner of the script tests (tests/tp, tests/cli): every `test_*` function of a module,
each in its own temporary directory, called with the shardserve binary. Prints `PASS name` or
`FAIL name: why` per test (ctest fails on "FAIL "), and a SKIP line when the model is absent.

    sys.exit(run_tests(globals()))      # at the end of a test script
"""
import argparse
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def run_tests(namespace):
    """Runs the test_* functions of `namespace` (a module's globals()); the exit status."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--shardserve", required=True, help="the shardserve binary")
    ap.add_argument("--only", help="run only the tests whose name contains this")
    a = ap.parse_args()
    if not MODEL.exists():
        print(f"SKIP: {MODEL} absent (run scripts/fetch-models)")
        return 0
    tests = [(name, fn) for name, fn in namespace.items() if name.startswith("test_")]
    passed = failed = 0
    for name, fn in tests:
        if a.only and a.only not in name:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                fn(a.shardserve, tmp)
                passed += 1
                print(f"PASS {name}")
            except AssertionError as e:
                failed += 1
                print(f"FAIL {name}: {e}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
