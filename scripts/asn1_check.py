#!/usr/bin/env python3
"""Independent check of vmstate's BER encoding with asn1tools.

Usage: asn1_check.py MODULE.asn CASES.json OUT.json

CASES.json is a list of {"id", "type", "ber" (hex), "json"} written by the Rust test
vmstate-runtime/tests/independent_asn1.rs. For each case this script
  1. decodes the BER octets with asn1tools against the generated module and
     re-encodes the value with the JSON Encoding Rules (X.697): it must equal the
     JSON of the Rust value;
  2. decodes the case's JSON with asn1tools' JER codec and encodes that value with
     its BER codec, writing the octets to OUT.json for the Rust side to decode.
Exits 1 on any mismatch, printing each one. Warnings are errors.
"""
import json
import sys
import warnings

warnings.simplefilter("error")

import asn1tools  # noqa: E402


def main():
    module, cases_path, out_path = sys.argv[1:4]
    ber = asn1tools.compile_files(module, "ber")
    jer = asn1tools.compile_files(module, "jer")
    with open(cases_path) as f:
        cases = json.load(f)
    failures = []
    encoded = {}
    for case in cases:
        cid, ty = case["id"], case["type"]
        try:
            value = ber.decode(ty, bytes.fromhex(case["ber"]))
            got = json.loads(jer.encode(ty, value))
            if got != case["json"]:
                failures.append(f"{cid}: asn1tools decoded\n  {json.dumps(got)}\nRust has\n  {json.dumps(case['json'])}")
            from_json = jer.decode(ty, json.dumps(case["json"]).encode())
            encoded[cid] = ber.encode(ty, from_json, check_constraints=True).hex()
        except Exception as e:  # report every case, not just the first
            failures.append(f"{cid}: {type(e).__name__}: {e}")
    with open(out_path, "w") as f:
        json.dump(encoded, f)
    for f in failures:
        print(f, file=sys.stderr)
    print(f"asn1tools {asn1tools.__version__}: {len(cases)} cases, {len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
