"""Makes the Linux guest of the device tests (see ../linux-guest.sh).

build.py KERNEL_ROOT BUSYBOX INIT OUT [DIRTY]: writes OUT/vmlinux, the kernel's ELF image
taken out of its bzImage (QEMU boots it by its PVH note, past the compressed
kernel's decompressor), and OUT/initrd.gz, a newc cpio of busybox, INIT as /init
and the modules INIT names with everything they depend on, in load order
(/modules/order), and DIRTY, the benchmarks' workload program, as /bin/dirty.
"""
import gzip
import lzma
import os
import sys

kroot, busybox, init, out = sys.argv[1:5]
dirty = sys.argv[5] if len(sys.argv) > 5 else None

# The kernel: the XZ stream inside the bzImage (Debian compresses with XZ).
boot = os.path.join(kroot, "boot")
vmlinuz = next(os.path.join(boot, f) for f in os.listdir(boot) if f.startswith("vmlinuz-"))
data = open(vmlinuz, "rb").read()
start = data.find(b"\xfd7zXZ\x00")
image = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
assert image[:4] == b"\x7fELF", "no ELF kernel inside the bzImage"
open(os.path.join(out, "vmlinux"), "wb").write(image)

# The modules: by name (dashes and underscores alike), with their dependencies
# from each module's own .modinfo (`depends=`), dependencies first.
mods = {}
for dirpath, _, files in os.walk(os.path.join(kroot, "lib", "modules")):
    for f in files:
        if f.endswith(".ko"):
            mods[f[:-3].replace("-", "_")] = os.path.join(dirpath, f)


def depends(path):
    blob = open(path, "rb").read()
    i = blob.find(b"\x00depends=")
    if i < 0:
        return []
    end = blob.index(b"\x00", i + 1)
    deps = blob[i + 9 : end].decode()
    return [d.replace("-", "_") for d in deps.split(",") if d]


wanted = [
    line.split()[2]
    for line in open(init)
    if line.startswith("# module ")
]
order = []


def add(name):
    name = name.replace("-", "_")
    if name in order:
        return
    if name not in mods:
        return  # built into the kernel
    for d in depends(mods[name]):
        add(d)
    order.append(name)


for w in wanted:
    if w.replace("-", "_") not in mods:
        sys.exit(f"module {w} not in the kernel package")
    add(w)

# The initramfs: a newc cpio, files and directories only.
entries = []


def entry(name, mode, body=b""):
    entries.append((name, mode, body))


for d in ["bin", "dev", "proc", "sys", "modules", "mnt", "tmp", "etc"]:
    entry(d, 0o040755)
entry("bin/busybox", 0o100755, open(busybox, "rb").read())
entry("init", 0o100755, open(init, "rb").read())
if dirty:
    entry("bin/dirty", 0o100755, open(dirty, "rb").read())
for name in order:
    entry(f"modules/{name}.ko", 0o100644, open(mods[name], "rb").read())
entry("modules/order", 0o100644, "".join(f"{n}\n" for n in order).encode())


def newc(ino, name, mode, body):
    name_b = name.encode() + b"\x00"
    fields = [ino, mode, 0, 0, 1, 0, len(body), 0, 0, 0, 0, len(name_b), 0]
    head = b"070701" + b"".join(b"%08X" % f for f in fields)
    pad = lambda n: b"\x00" * ((4 - n % 4) % 4)
    return head + name_b + pad(len(head) + len(name_b)) + body + pad(len(body))


cpio = b"".join(newc(i + 1, n, m, b) for i, (n, m, b) in enumerate(entries))
cpio += newc(0, "TRAILER!!!", 0, b"")
with gzip.open(os.path.join(out, "initrd.gz"), "wb", compresslevel=6) as f:
    f.write(cpio)
print(f"vmlinux {len(image)} bytes, initramfs with {len(order)} modules", file=sys.stderr)
