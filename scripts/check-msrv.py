#!/usr/bin/env python3
"""Checks that the library's declared rust-version (MSRV) is true of its dependencies.

A crate that says `rust-version = "1.89"` promises that Rust 1.89 builds it; that is false as soon
as one of its (normal or build) dependencies in Cargo.lock declares a newer rust-version. Our own
code is held to it by clippy's `incompatible_msrv` lint. Exits 1, naming each offender.

Usage: python3 scripts/check-msrv.py
"""

import json
import subprocess
import sys


def version(text):
    return tuple(int(part) for part in text.split("."))


def main():
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--locked", "--format-version", "1"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    packages = {p["id"]: p for p in metadata["packages"]}
    nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
    ours = [p for p in metadata["packages"] if p["id"] in metadata["workspace_members"]]
    failures = []
    for member in ours:
        msrv = member["rust_version"]
        if not msrv:
            failures.append(f"{member['name']} declares no rust-version")
            continue
        # What a user of the library compiles: normal and build dependencies, not dev-dependencies.
        seen, stack = set(), [member["id"]]
        while stack:
            pid = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            for dep in nodes[pid]["deps"]:
                if any(kind["kind"] != "dev" for kind in dep["dep_kinds"]):
                    stack.append(dep["pkg"])
        for pid in sorted(seen - {member["id"]}):
            dep = packages[pid]
            if dep["rust_version"] and version(dep["rust_version"]) > version(msrv):
                failures.append(
                    f"{dep['name']} {dep['version']} needs Rust {dep['rust_version']}, "
                    f"above {member['name']}'s rust-version {msrv}"
                )
        print(f"check-msrv: {member['name']}: rust-version {msrv}, {len(seen) - 1} dependencies checked")
    if failures:
        print("check-msrv: raise rust-version in Cargo.toml, or pin older dependencies:", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
