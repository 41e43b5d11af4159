#!/usr/bin/env python3
"""Sum a GNU ld map file's allocated section sizes by origin archive.

    mapsize.py build/kube-eventer.map

Prints bytes per origin (our code, libcurl, mbedTLS, cJSON, libyaml, musl
libc, ...) for the sections that end up in the binary (.text, .rodata,
.data, .bss and friends), largest first.
"""
import collections
import re
import sys

KEEP = re.compile(r"^ \.(text|rodata|data|bss|tdata|tbss|init_array|fini_array|data\.rel\.ro)")
LINE = re.compile(r"^\s+(\.\S+)?\s*0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)")


def origin(path):
    name = path.split("/")[-1]
    m = re.match(r"(lib[\w+-]+\.a)\(", name)
    if m:
        lib = m.group(1)
    elif path.startswith("build/") or "/build/" in path:
        lib = "kube-eventer"
    else:
        lib = name.split("(")[0]
    return {"libcurl.a": "libcurl", "libmbedtls.a": "mbedTLS", "libmbedx509.a": "mbedTLS",
            "libmbedcrypto.a": "mbedTLS", "libcjson.a": "cJSON", "libyaml.a": "libyaml", "liblz4.a": "lz4",
            "libc.a": "musl libc", "libke.a": "kube-eventer"}.get(lib, lib)


def main():
    sizes = collections.Counter()
    section = None
    discarded = False
    for line in open(sys.argv[1], errors="replace"):
        if line.startswith("Discarded input sections"):
            discarded = True
        if line.startswith("Linker script and memory map"):
            discarded = False
        if discarded:
            continue
        if line.startswith(" .") and len(line.split()) == 1:
            section = line.strip()  # long section name: address on the next line
            continue
        m = LINE.match(line)
        if not m:
            section = None
            continue
        sec = m.group(1) or section
        section = None
        if not sec or not KEEP.match(" " + sec):
            continue
        if sec.startswith(".bss") or sec.startswith(".tbss"):
            continue  # not in the file
        size = int(m.group(3), 16)
        if size:
            sizes[origin(m.group(4))] += size
    total = sum(sizes.values())
    for k, v in sizes.most_common():
        print(f"  {k:<14} {v / 1024:8.1f} KiB  {100 * v / total:5.1f}%")
    print(f"  {'total':<14} {total / 1024:8.1f} KiB (code + data, before headers)")


if __name__ == "__main__":
    main()
