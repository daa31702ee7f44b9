#!/usr/bin/env python3
"""Size of checkpoint files (format 2) had they been written in format 1.

Usage: python3 benches/checkpoint_format1_size.py STATE_DIR/chk-*.json

Format 2 writes every byte field as a base64 string: in the checkpoint (operator states, read
positions, sink states) and inside the operator snapshots, which are JSON themselves. Format 1
wrote them as JSON lists of numbers. This rewrites each file in memory the format-1 way (every
base64 string of an operator snapshot is taken for bytes, which holds for the snapshots of this
build) and prints both sizes.
"""
import base64
import binascii
import json
import sys


def numbers(b):
    return list(b)


def snapshot(b):
    """An operator snapshot's bytes in format 1 (its JSON with number lists), as a number list."""
    try:
        value = json.loads(b)
    except ValueError:
        return numbers(b)

    def convert(x):
        if isinstance(x, str):
            try:
                return numbers(base64.b64decode(x, validate=True))
            except (binascii.Error, ValueError):
                return x
        if isinstance(x, list):
            return [convert(y) for y in x]
        if isinstance(x, dict):
            return {k: convert(y) for k, y in x.items()}
        return x

    return numbers(json.dumps(convert(value), separators=(",", ":")).encode())


for path in sys.argv[1:]:
    with open(path, "rb") as f:
        data = f.read()
    c = json.loads(data)
    for w in c["workers"].values():
        w["operators"] = [snapshot(base64.b64decode(o)) for o in w["operators"]]
    for s in c["sources"].values():
        s["offsets"] = [numbers(base64.b64decode(o)) for o in s["offsets"]]
    c["sinks"] = {k: numbers(base64.b64decode(v)) for k, v in c["sinks"].items()}
    del c["format"]
    old = len(json.dumps(c, separators=(",", ":")))
    print(f"{path}: format 2 {len(data)} bytes; as format 1 {old} bytes ({old / len(data):.2f}x)")
