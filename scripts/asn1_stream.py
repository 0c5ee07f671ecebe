#!/usr/bin/env python3
"""A whole vmstate BER stream decoded by asn1tools, with no vmstate code.

Usage: asn1_stream.py MODULE.asn STREAM.ber TYPES.json OUT.json

MODULE.asn is the module a Registry generates (`Registry::asn1_module`: the stream
framing, the RAM elements and the device types). TYPES.json names the types:
{"configuration": type, "devices": {"idstr#instance": type of its value}}. The script decodes STREAM.ber as
VMState-Stream, each device value as its type, and applies the RAM elements to
blocks made from the block list. It writes OUT.json:

  {"items": [{"item": "header" | "description" | "configuration" | "command" | "section", ...}],
   "ram": {block name: SHA-256 of its memory},
   "ram-kinds": {RAM element kind: how many}}

where a section has its kind, section-id, idstr, instance-id, version, the device
value in JER (X.697), whether asn1tools re-encodes that value to the same octets,
and the number of RAM elements; a command has its name (the ENUMERATED's) and its
data in hex. Warnings are errors.
"""
import hashlib
import json
import sys
import warnings
import zlib

warnings.simplefilter("error")

import asn1tools  # noqa: E402

def apply_ram(elements, blocks, kinds, page):
    """Applies RAM elements to the blocks; returns the page size (set by mem-size)."""
    page_size = page
    for kind, e in elements:
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "mem-size":
            page_size = e.get("page-size", 4096)
            for b in e["blocks"]:
                mem = blocks[b["name"]] = bytearray(b["length"])
                # A mapped-ram file's block: the pages whose bit is set, from their
                # slots (the bitmap is host words, least significant bit first).
                m = b.get("mapped")
                if m:
                    slots = bytearray(b["length"])
                    for run in m["runs"]:
                        slots[run["offset"]:run["offset"] + len(run["data"])] = run["data"]
                    for k in range(b["length"] // page_size):
                        if m["bitmap"][k // 8] >> (k % 8) & 1:
                            at = k * page_size
                            mem[at:at + page_size] = slots[at:at + page_size]
                    kinds["mapped"] = kinds.get("mapped", 0) + 1
            continue
        if kind == "multifd-flush":
            continue
        mem = blocks[e["block"]]
        at = e["offset"]
        if kind == "zero-run":
            n = e["pages"] * page_size
            mem[at:at + n] = bytes([e["fill"]]) * n
        elif kind == "data-run":
            mem[at:at + len(e["data"])] = e["data"]
        elif kind == "mixed-run":
            bits, pages = e["zero"]
            data = e["data"]
            used = 0
            for k in range(pages):
                if bits[k // 8] & (0x80 >> (k % 8)):
                    mem[at + k * page_size:at + (k + 1) * page_size] = bytes(page_size)
                else:
                    mem[at + k * page_size:at + (k + 1) * page_size] = data[used:used + page_size]
                    used += page_size
            assert used == len(data), "mixed run: data does not match the bit map"
        elif kind == "xbzrle":
            xbzrle_apply(e["delta"], mem, at, page_size)
        elif kind == "zlib":
            page = zlib.decompress(e["zlib"])
            assert len(page) <= page_size, "zlib page: more than a page"
            mem[at:at + len(page)] = page
    return page_size


def uleb(b, i):
    """A ULEB128 of at most two octets at b[i]: (value, length)."""
    if b[i] & 0x80 == 0:
        return b[i], 1
    assert b[i + 1] & 0x80 == 0, "xbzrle: a length over 14 bits"
    return (b[i] & 0x7F) | (b[i + 1] << 7), 2


def xbzrle_apply(delta, mem, at, page_size):
    """QEMU's xbzrle_decode_buffer: unchanged runs skipped, changed runs copied."""
    i = d = 0
    while i < len(delta):
        zrun, n = uleb(delta, i)
        i, d = i + n, d + zrun
        nzrun, n = uleb(delta, i)
        i += n
        assert nzrun > 0 and d + nzrun <= page_size, "xbzrle: a run past the page"
        mem[at + d:at + d + nzrun] = delta[i:i + nzrun]
        i, d = i + nzrun, d + nzrun


def main():
    module, stream_path, types_path, out_path = sys.argv[1:5]
    ber = asn1tools.compile_files(module, "ber")
    jer = asn1tools.compile_files(module, "jer")
    with open(types_path) as f:
        types = json.load(f)
    with open(stream_path, "rb") as f:
        stream = ber.decode("VMState-Stream", f.read())
    items, blocks, kinds, page = [], {}, {}, 4096
    for kind, value in stream:
        if kind == "header":
            items.append({"item": kind, "stream-version": value["stream-version"]})
        elif kind == "description":
            items.append({"item": kind, "json": json.loads(value)})
        elif kind == "configuration":
            ty = types["configuration"]
            items.append({"item": kind, "value": json.loads(jer.encode(ty, value))})
        elif kind == "command":
            items.append({"item": kind, "command": value["number"],
                          "data": bytes(value.get("data", b"")).hex().upper()})
        else:
            out = {"item": kind}
            for k in ("kind", "section-id", "idstr", "instance-id", "version"):
                if k in value:
                    out[k] = value[k]
            if "device" in value:
                ty = types["devices"][f'{value["idstr"]}#{value["instance-id"]}']
                octets = bytes(value["device"]["value"])
                device = ber.decode(ty, octets)
                out["value"] = json.loads(jer.encode(ty, device))
                out["same-octets"] = ber.encode(ty, device) == octets
            if "ram" in value:
                out["ram-elements"] = len(value["ram"])
                page = apply_ram(value["ram"], blocks, kinds, page)
            items.append(out)
    ram = {name: hashlib.sha256(mem).hexdigest() for name, mem in blocks.items()}
    with open(out_path, "w") as f:
        json.dump({"items": items, "ram": ram, "ram-kinds": kinds}, f)
    sections = sum(1 for i in items if i["item"] == "section")
    print(f"asn1tools {asn1tools.__version__}: {len(items)} stream items, "
          f"{sections} sections, {len(ram)} RAM blocks, RAM elements {kinds}")


if __name__ == "__main__":
    main()
