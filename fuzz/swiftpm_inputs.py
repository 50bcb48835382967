"""Reads what `swift build` (debug) recorded, for building a fuzz target against the package's
dependencies without rebuilding them.

  swiftpm_inputs.py flags TARGET   the -I / -Xcc module flags SwiftPM used to compile TARGET
  swiftpm_inputs.py objects SKIP…  the object files of the `cortex` executable, minus those of the
                                   targets named (and of `cortex` itself), one per line
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / ".build" / "debug"


def flags(target):
    manifest = ROOT / ".build" / "debug.yaml"
    if not manifest.exists():
        sys.exit(f"{manifest} is missing: run `swift build` first")
    text = manifest.read_text()
    key = f'"C.{target}-'
    start = text.find(key)
    while start != -1 and "-debug.module" not in text[start:text.find("\n", start)]:
        start = text.find(key, start + 1)
    if start == -1:
        sys.exit(f"no compile command for {target} in debug.yaml: run `swift build` first")
    line = text.find("args: ", start)
    args = json.loads(text[line + 6:text.find("\n", line)])
    out = []
    i = 0
    while i < len(args):
        if args[i] == "-I":
            out += args[i:i + 2]
            i += 2
        elif args[i] == "-Xcc":
            out += args[i:i + 2]
            i += 2
        else:
            i += 1
    # -fPIC/-g for C are harmless; keep only module-related flags.
    keep = []
    i = 0
    while i < len(out):
        if out[i] == "-Xcc" and out[i + 1] in ("-fPIC", "-g", "-fno-omit-frame-pointer"):
            i += 2
            continue
        keep.append(out[i])
        i += 1
    print("\n".join(keep))


def objects(skip):
    skip = {f"{name}.build" for name in [*skip, "cortex"]}
    listing = BUILD / "cortex.product" / "Objects.LinkFileList"
    if not listing.exists():
        sys.exit(f"{listing} is missing: run `swift build` first")
    for line in listing.read_text().splitlines():
        path = pathlib.Path(line.strip().strip("'\""))
        if path.suffix == ".o" and not (set(path.parts) & skip):
            print(path)


if __name__ == "__main__":
    if sys.argv[1] == "flags":
        flags(sys.argv[2])
    else:
        objects(sys.argv[2:])
