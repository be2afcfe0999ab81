#!/usr/bin/env python3
"""Fails when a lower layer includes a higher one (ARCHITECTURE.md, "Layers").

Every project include ("folder/...") of every C++/CUDA file under the source root is checked
against the table below: a folder may include itself and the folders it lists, nothing else.
Within model/ and coordinator/ the same rule holds between their sub-folders. A test file
follows the rules of the folder it sits in; tests that need both ends of something live in
tests/. The table is the architecture: change it only together with ARCHITECTURE.md.

Usage: check_layering.py [SOURCE_ROOT]     (exit 0: clean; 1: violations, one per line)
       check_layering.py --self-test       (the checker finds planted violations)
"""
import os
import re
import sys
import tempfile

# folder -> the folders it may include (besides itself). Lower layers first.
TOP_LEVEL = {
    "base": [],
    "wire": ["base"],
    "parallel": ["base"],
    "model": ["base", "parallel", "wire"],
    "config": ["base", "parallel", "model"],
    "api": ["base"],
    "worker": ["base", "wire", "parallel", "model"],
    "coordinator": ["base", "wire", "api", "model", "config"],
    "cli": ["base", "wire", "parallel", "model", "config", "api", "worker", "coordinator"],
    "bench": ["base", "wire", "parallel", "model", "config", "api", "worker", "coordinator"],
    "tests": ["base", "wire", "parallel", "model", "config", "api", "worker", "coordinator"],
}

# Inside a folder: sub-folder -> the sibling sub-folders it may include. Sub-folders not listed
# may include any sibling.
WITHIN = {
    "model": {
        # Building blocks: no architecture, no backend.
        "kernels": [],
        "gguf": [],
        "safetensors": [],
        "kv_cache": [],
        "sampler": [],
        "grammar": ["tokenizer", "gguf"],
        "tokenizer": ["gguf"],
        "chat_template": [],
        # Architectures and backends on top of them.
        "llama": ["kernels", "gguf", "kv_cache", "tokenizer"],
        "bert": ["kernels", "safetensors", "llama"],
        "cuda": ["kernels", "gguf", "kv_cache", "llama"],
    },
    "coordinator": {
        "stream": [],
        "metrics": [],
        "serving": ["stream", "metrics", "knowledge"],
        # The knowledge base's storage: no HTTP, no serving.
        "knowledge": [],
    },
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCE_SUFFIXES = (".h", ".cc", ".cu", ".cuh")
SKIP_DIRS = {".git", "models", ".venv", "web", "deploy", "configs", "scripts", "__pycache__"}


def owner(path_parts):
    """(top folder, sub-folder or None) of a repository-relative path split into parts."""
    top = path_parts[0]
    sub = path_parts[1] if len(path_parts) > 2 else None
    return top, sub


def violations(root):
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = [d for d in dirnames
                       if d not in SKIP_DIRS and not d.startswith("build")]
        if rel_dir == ".":
            continue
        for name in filenames:
            if not name.endswith(SOURCE_SUFFIXES):
                continue
            rel = os.path.join(rel_dir, name)
            src_top, src_sub = owner(rel.split(os.sep))
            if src_top not in TOP_LEVEL:
                found.append(f"{rel}: folder '{src_top}' is not in the layering table")
                continue
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                for line_no, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = m.group(1).split("/")
                    if len(target) < 2 or target[0] not in TOP_LEVEL:
                        continue  # a file beside this one, or not a project folder
                    dst_top, dst_sub = owner(target)
                    where = f"{rel}:{line_no}: includes \"{m.group(1)}\""
                    if dst_top != src_top:
                        if dst_top not in TOP_LEVEL[src_top]:
                            found.append(f"{where}: {src_top}/ may not include {dst_top}/")
                        continue
                    rules = WITHIN.get(src_top, {})
                    if src_sub in rules and dst_sub and dst_sub != src_sub:
                        if dst_sub in rules and dst_sub not in rules[src_sub]:
                            found.append(f"{where}: {src_top}/{src_sub}/ may not include "
                                         f"{src_top}/{dst_sub}/")
    return found


def self_test():
    """Plants one include of each kind in a scratch tree; all wrong ones must be found."""
    planted = {
        "model/llama/a.h": '#include "worker/group.h"\n',         # up a layer: wrong
        "model/kernels/b.h": '#include "model/llama/c.h"\n',      # kernels -> architecture
        "coordinator/stream/d.h": '#include "coordinator/serving/e.h"\n',  # wrong
        "api/f.h": '#include "wire/messages.h"\n',                # api is the protocol alone
        "worker/g.h": '#include "model/llama/c.h"\n#include "wire/x.h"\n',  # fine
        "wire/h.h": '#include "base/status.h"\n#include "i.h"\n',  # fine
    }
    with tempfile.TemporaryDirectory() as root:
        for rel, text in planted.items():
            os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)
        found = sorted(v.split(":")[0] for v in violations(root))
    expected = ["api/f.h", "coordinator/stream/d.h", "model/kernels/b.h", "model/llama/a.h"]
    if found != expected:
        print(f"self-test FAILED: found {found}, expected {expected}")
        return 1
    print("self-test: every planted violation found, no false alarm")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    found = violations(root)
    for v in found:
        print(v)
    if found:
        print(f"{len(found)} include(s) against the layering (tests/layering/check_layering.py)")
        return 1
    print("layering: every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
