#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/), small meaningful inputs
in each target's input format (see the comment at the top of tests/fuzz/fuzz_<target>.c and
fuzz_vq.h). Run it again after changing a format: python3 tests/fuzz/seeds.py"""
import gzip
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# --- fuzz_vq.h: a driver round ---------------------------------------------------------------
NEXT, WRITE, INDIRECT = 1, 2, 4
RAM = 0x20000  # each of the two regions of fuzz_vq.h's fake RAM
DATA = 0xe000  # FVQ_DATA


def u8(v):
    return struct.pack("<B", v & 0xff)


def u16(v):
    return struct.pack("<H", v & 0xffff)


def u32(v):
    return struct.pack("<I", v & 0xffffffff)


def u64(v):
    return struct.pack("<Q", v & 0xffffffffffffffff)


def desc(addr, length, flags=0, nxt=0):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def round_(descs=(), heads=(), blobs=(), avail_flags=0, used_event=0, raw_idx=None):
    """descs: [(index, desc bytes)], heads: avail entries, blobs: [(gpa, bytes)]."""
    out = u8(len(descs))
    for i, d in descs:
        out += u8(i) + d
    out += u8(len(heads) | (0x80 if raw_idx is not None else 0))
    for h in heads:
        out += u16(h)
    if raw_idx is not None:
        out += u16(raw_idx)
    out += u8(len(blobs))
    for gpa, b in blobs:
        assert len(b) < 256
        out += u32(gpa) + u8(len(b)) + b
    return out + u16(avail_flags) + u16(used_event)


def chain(first, bufs):
    """Descriptors first.. for bufs [(addr, len, write)], linked with NEXT."""
    out = []
    for k, (addr, length, wr) in enumerate(bufs):
        last = k == len(bufs) - 1
        out.append((first + k, desc(addr, length, (WRITE if wr else 0) | (0 if last else NEXT), first + k + 1)))
    return out


def table(bufs):
    """An indirect table's bytes for bufs [(addr, len, write)]."""
    return b"".join(d for _, d in chain(0, bufs))


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- fuzz_virtq ------------------------------------------------------------------------------
def virtq():
    t = "virtq"
    two = round_(chain(0, [(DATA, 64, False), (DATA + 0x100, 128, True)]), heads=[0],
                 blobs=[(DATA, b"hello, device")])
    write(t, "chain-pop-push", u8(4) + u8(8) + u8(0) + two + u8(1) + u8(4) + u8(3) + u8(4) + u8(1))
    write(t, "chain-event-idx", u8(0x20 | 4) + u8(8) + u8(0) + two + u8(5) + u8(8) + u8(3) + u8(4) + u8(1) + u8(7))
    ind = table([(DATA + 0x200, 32, False), (DATA + 0x300, 32, False), (DATA + 0x400, 64, True)])
    r = round_([(0, desc(DATA + 0x800, len(ind), INDIRECT))], heads=[0], blobs=[(DATA + 0x800, ind)])
    write(t, "indirect", u8(4) + u8(16) + u8(0) + r + u8(1) + u8(2) + u8(2) + u8(0) + u32(64))
    loop = round_([(0, desc(DATA, 8, NEXT, 1)), (1, desc(DATA, 8, NEXT, 0))], heads=[0])
    write(t, "loop", u8(3) + u8(8) + u8(0) + loop + u8(1) + u8(1))
    cross = round_([(0, desc(RAM - 8, 16, WRITE))], heads=[0])
    write(t, "across-regions", u8(3) + u8(8) + u8(0) + cross + u8(1) + u8(1))
    jump = round_(raw_idx=300)
    write(t, "avail-jump", u8(3) + u8(8) + u8(0) + jump + u8(1) + u8(1) + u8(7))
    write(t, "custom-rings", u8(0x10) + u8(4) + u16(16) + u32(0x1000) + u32(0x6000) + u32(0x8000) + u8(1) + u8(1))
    many = round_(chain(0, [(DATA + 16 * i, 16, i >= 4) for i in range(8)]), heads=[0, 0, 0])
    write(t, "many-bufs", u8(4) + u8(3) + u8(0) + many + u8(6) + u8(0) + u8(2) + u8(1) + u8(8) + u8(6) + u8(0) + u8(2))


# --- fuzz_blk_req ----------------------------------------------------------------------------
def blk_header(req_type, sector):
    return u32(req_type) + u32(0) + u64(sector)


def blk_req():
    t = "blk_req"
    hdr = DATA
    cfg = u8(4 << 4) + u8(7) + u64(2048) + b"fuzz-serial".ljust(20, b"\0")

    def req(name, bufs, header, extra_blobs=(), flags=None):
        r = round_(chain(0, bufs), heads=[0], blobs=[(hdr, header)] + list(extra_blobs))
        c = cfg if flags is None else u8(flags) + cfg[1:]
        write(t, name, c + u8(0) + r + u8(1) + u8(1))

    status = (DATA + 0x2000, 1, True)
    req("read", [(hdr, 16, False), (DATA + 0x1000, 512, True), status], blk_header(0, 8))
    req("write", [(hdr, 16, False), (DATA + 0x1000, 1024, False), status], blk_header(1, 2046))
    req("write-ro", [(hdr, 16, False), (DATA + 0x1000, 512, False), status], blk_header(1, 0), flags=(4 << 4) | 1)
    req("read-direct", [(hdr, 16, False), (DATA + 0x1000, 4096, True), status], blk_header(0, 8), flags=(4 << 4) | 6)
    req("flush", [(hdr, 16, False), status], blk_header(4, 0))
    req("get-id", [(hdr, 16, False), (DATA + 0x1000, 20, True), status], blk_header(8, 0))
    seg = u64(16) + u32(8) + u32(0)
    req("discard", [(hdr, 16, False), (DATA + 0x100, 16, False), status], blk_header(11, 0), [(DATA + 0x100, seg)])
    req("write-zeroes", [(hdr, 16, False), (DATA + 0x100, 32, False), status], blk_header(13, 0),
        [(DATA + 0x100, seg + u64(100) + u32(4) + u32(1))])
    req("past-end", [(hdr, 16, False), (DATA + 0x1000, 512, True), status], blk_header(0, 2048))
    ind = table([(hdr, 16, False), (DATA + 0x1000, 512, True), status])
    r = round_([(0, desc(DATA + 0x3000, len(ind), INDIRECT))], heads=[0],
               blobs=[(hdr, blk_header(0, 1)), (DATA + 0x3000, ind)])
    write(t, "read-indirect", cfg + u8(0) + r + u8(1) + u8(1))
    split = [(hdr, 4, False), (hdr + 4, 12, False), (DATA + 0x1000, 256, True), (DATA + 0x1100, 257, True)]
    req("split-header", split, blk_header(0, 4))


# --- fuzz_options ----------------------------------------------------------------------------
def options():
    t = "options"

    def argv(name, *args, errlen=200):
        write(t, name, u8(0) + u8(errlen) + b"\0".join(a.encode() for a in args))

    argv("minimal", "--kernel", "bzImage")
    argv("typical", "--kernel", "bzImage", "--initrd", "initrd.img", "--mem", "2G", "--cpus", "2",
         "--disk", "root.img", "--cmdline", "console=ttyS0 root=/dev/vda")
    argv("short", "-k", "vmlinux", "-m", "512M", "-c", "4", "-t", "30", "-v")
    argv("disks-nets", "--kernel=k", "--disk", "a.img,ro,serial=disk0", "--disk", "b.img,direct=on",
         "--net", "tap=tap0,mac=52:54:00:12:34:56,queues=2", "--net", "tap=tap1")
    argv("consoles", "--kernel", "k", "--console=file:serial.log", "--hvc=stdio", "--debug-exit=0xf4",
         "--boot-timer", "--stats")
    argv("errors", "--kernel", "k", "--mem", "1T", "--cpus", "65", errlen=16)
    argv("net-none", "-k", "k", "--net", "none", "--hvc", "file:hvc.log")
    argv("help", "--help")
    write(t, "size-g", u8(1) + u8(0) + b"4GiB")
    write(t, "size-k", u8(1) + u8(0) + b"64k")
    write(t, "size-big", u8(1) + u8(0) + b"18446744073709551615T")
    write(t, "disk", u8(2) + u8(64) + b"root.img,ro,serial=0123456789abcdefghij,direct=off")
    write(t, "disk-bad", u8(2) + u8(8) + b",ro")
    write(t, "net", u8(3) + u8(64) + b"tap=tap0,mac=02:00:00:00:00:01,queues=8")
    write(t, "net-bad-mac", u8(3) + u8(32) + b"tap=t,mac=01:00:5e:00:00:01")


# --- fuzz_legacy -----------------------------------------------------------------------------
COM, RTC, KBD_DATA, KBD_CMD, PM, GED, CF9, TIMER = range(8)


def pio_w(dev, off, v, width=1):
    return u8(1 | ({1: 0, 2: 1, 4: 2}[width] << 3)) + u8(dev) + u8(off + 1) + u32(v)


def pio_r(dev, off, width=1):
    return u8(0 | ({1: 0, 2: 1, 4: 2}[width] << 3)) + u8(dev) + u8(off + 1) + u32(0)


def legacy():
    t = "legacy"
    hdr = u8(16) + u64(1700000000)
    # Linux's 8250 probe and set-up: LCR DLAB, divisor, 8N1, FIFOs, interrupts on, a line of output.
    uart = (pio_w(COM, 3, 0x80) + pio_w(COM, 0, 1) + pio_w(COM, 1, 0) + pio_w(COM, 3, 0x03) + pio_w(COM, 2, 0xc7) +
            pio_w(COM, 4, 0x0b) + pio_w(COM, 1, 0x0f) + pio_r(COM, 2) + pio_r(COM, 5))
    for c in b"Linux version 6.1\r\n":
        uart += pio_w(COM, 0, c) + pio_r(COM, 5)
    uart += u8(3) + u8(64) + pio_r(COM, 2) + u8(2) + u8(5) + b"ls\r\n\x01" + pio_r(COM, 5) + pio_r(COM, 0) + pio_r(COM, 0)
    write(t, "uart", hdr + uart)
    write(t, "uart-loopback", hdr + pio_w(COM, 4, 0x10) + pio_w(COM, 0, 0x41) + pio_r(COM, 5) + pio_r(COM, 0) +
          pio_r(COM, 6) + pio_w(COM, 7, 0x55) + pio_r(COM, 7) + u8(6))
    rtc = b""
    for reg in (0x0a, 0x0b, 0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32, 0x0c, 0x0d):
        rtc += pio_w(RTC, 0, reg) + pio_r(RTC, 1)
    rtc += pio_w(RTC, 0, 0x0b) + pio_w(RTC, 1, 0x86) + pio_w(RTC, 0, 0x09) + pio_w(RTC, 1, 0x99)
    rtc += pio_w(RTC, 0, 0x0b) + pio_w(RTC, 1, 0x02) + pio_w(RTC, 0, 0x04) + pio_r(RTC, 1) + u8(4) + u32(86400 * 400)
    rtc += pio_w(RTC, 0, 0x40) + pio_w(RTC, 1, 0xaa) + pio_r(RTC, 1)
    write(t, "rtc", hdr + rtc)
    write(t, "i8042", hdr + pio_r(KBD_CMD, 0) + pio_w(KBD_CMD, 0, 0x20) + pio_r(KBD_DATA, 0) + pio_w(KBD_CMD, 0, 0x60) +
          pio_w(KBD_DATA, 0, 0x45) + pio_w(KBD_CMD, 0, 0xaa) + pio_r(KBD_DATA, 0) + pio_w(KBD_CMD, 0, 0xd1) +
          pio_w(KBD_DATA, 0, 0xfe) + pio_w(KBD_CMD, 0, 0xfe))
    write(t, "pm-ged", hdr + pio_r(PM, 0) + pio_r(PM, 1) + pio_w(PM, 1, 0x80) + u8(5) + pio_r(GED, 0) + pio_r(GED, 0) +
          pio_w(PM, 0, (5 << 2) | (1 << 5)) + pio_w(PM, 2, 0x0e) + pio_w(CF9, 0, 0x02) + pio_w(CF9, 0, 0x06) +
          pio_w(TIMER, 0, 0x10) + pio_r(COM, 0, 4) + pio_w(PM, 0, 0x12345678, 4))


# --- fuzz_pci --------------------------------------------------------------------------------
def pci_op(kind, write=False, width=4):
    return u8(kind | (8 if write else 0) | ({1: 0, 2: 1, 4: 2, 8: 3}[width] << 4))


def type1(devfn, reg, write=False, width=4, value=0):
    return pci_op(6, write, width) + u8(devfn) + u8(reg) + u32(value)


def ecam(slot, reg, write=False, width=4, value=0):
    return pci_op(7, write, width) + u8(slot) + u16(reg) + u32(value)


def pci():
    t = "pci"
    # Linux's enumeration of slot 1 by type-1 cycles: IDs, header, BAR sizing, enable, capabilities.
    scan = b"".join(type1(d << 3, 0) for d in range(5))
    bars = b""
    for reg in range(0x10, 0x28, 4):
        bars += type1(1 << 3, reg) + type1(1 << 3, reg, True, 4, 0xffffffff) + type1(1 << 3, reg)
    bars += type1(1 << 3, 0x10, True, 4, 0xc0000000) + type1(1 << 3, 0x18, True, 4, 0x0) + \
        type1(1 << 3, 0x1c, True, 4, 0x10)
    enable = type1(1 << 3, 0x04, True, 2, 0x0406) + type1(1 << 3, 0x34, width=1) + type1(1 << 3, 0x40) + \
        type1(1 << 3, 0x44, True, 4, 0x12345678) + type1(1 << 3, 0x06, width=2)
    mmio = pci_op(3) + u8(0) + u8(0) + u32(0x10) + u32(0) + pci_op(3, True, 8) + u8(0) + u8(2) + u32(0xfff8) + u32(7)
    write(t, "type1-enumerate", scan + bars + enable + mmio)
    # The same through ECAM, moving a BAR over another and turning INTx on and off.
    e = ecam(2, 0) + ecam(2, 0x04, True, 2, 0x0002) + ecam(2, 0x14, True, 4, 0xffffffff) + ecam(2, 0x14) + \
        ecam(2, 0x14, True, 4, 0xc0000000) + ecam(3, 0x24, True, 4, 0xc0000000) + ecam(3, 0x04, True, 2, 2) + \
        pci_op(4) + u8(0) + u32(0x10) + u32(0) + pci_op(5) + u8(0) + u8(1) + ecam(1, 0x04, True, 2, 0x400) + \
        ecam(1, 0x06, width=2) + pci_op(5) + u8(0) + u8(0) + ecam(3, 0x100) + ecam(1, 0x3c, True, 1, 11)
    write(t, "ecam-move", e)
    ports = pci_op(0) + u32(0x80000800) + pci_op(1, False, 2) + u8(6) + u32(0) + pci_op(1, True, 1) + u8(1) + \
        u32(0x06) + pci_op(1, False, 1) + u8(1) + u32(0) + pci_op(0) + u32(0x8f000000 | (1 << 11)) + \
        pci_op(1) + u8(4) + u32(0) + pci_op(2, False, 8) + u32(0x8000) + u32(0)
    write(t, "ports-ecs", ports)


# --- fuzz_msix -------------------------------------------------------------------------------
def msix():
    t = "msix"

    def entry(vec, field, value):  # op 5: an aligned dword of the table
        return u8(5 | 8 | (2 << 4)) + u8(vec) + u8(field) + u32(value)

    def ctrl(v):
        return u8(1) + u16(v)

    def notify(v):
        return u8(2) + u8(v)

    # Linux: enable with the function masked, program and unmask each vector, unmask the function.
    setup = ctrl(0xc000)
    for v in range(4):
        setup += entry(v, 0, 0xfee00000) + entry(v, 1, 0) + entry(v, 2, 0x4021 + v) + entry(v, 3, 0)
    setup += ctrl(0x8000) + notify(0) + notify(3) + notify(0xff)
    # Mask vector 1, notify it (pending), read the PBA, unmask (delivered), disable.
    setup += entry(1, 3, 1) + notify(1) + u8(0 | (3 << 4)) + u16(0x3c00) + u64(0) + entry(1, 3, 0) + ctrl(0)
    write(t, "linux-setup", u8(3) + u16(0x3800) + u16(0x3c00) + setup)
    # qword table writes, odd widths, a PBA write, a BAR move through configuration space.
    odd = u8(0 | 8 | (3 << 4)) + u16(0x1000) + u64(0xfee00000) + u8(0 | 8 | (1 << 4)) + u16(0x1002) + u64(0x55) + \
        u8(0 | 8 | (2 << 4)) + u16(0x2000) + u64(1) + ctrl(0x8000) + u8(0 | 8 | (3 << 4)) + u16(0x1008) + \
        u64(0x00004041) + notify(0) + u8(3 | 8 | (2 << 4)) + u8(0x10) + u32(0xc0004000) + \
        u8(0 | (3 << 4)) + u16(0x1000) + u64(0) + u8(4)
    write(t, "qword-move", u8(0) + u16(0x1000) + u16(0x2000) + odd)
    write(t, "bad-layout", u8(63) + u16(0x3ffc) + u16(0x3800) + ctrl(0x8000) + notify(63) + notify(62))
    # A vhost backend's call eventfds lent to vectors 1 and 2 (op 6), then mask, function mask,
    # disable and enable again, one taken back while live, one lent to a vector that does not exist.
    def lend(vec, slot):
        return u8(6) + u8(vec) + u8(slot)
    lent = ctrl(0xc000) + entry(1, 0, 0xfee00000) + entry(1, 2, 0x4022) + entry(1, 3, 0) + \
        entry(2, 0, 0xfee00000) + entry(2, 2, 0x4023) + entry(2, 3, 0) + lend(1, 0) + lend(2, 1) + ctrl(0x8000) + \
        entry(1, 3, 1) + notify(1) + entry(1, 3, 0) + ctrl(0xc000) + ctrl(0x8000) + ctrl(0) + ctrl(0x8000) + \
        lend(0, 1) + lend(9, 2) + lend(3, 3)
    write(t, "lend", u8(3) + u16(0x3800) + u16(0x3c00) + lent)


# --- fuzz_boot -------------------------------------------------------------------------------
# The setup header (0x1f1..0x26c) of Debian 12's linux-image-6.1.0-57-cloud-amd64 bzImage: data
# fields only (the boot sector's code and messages before it are left zero); setup_sects is set to
# 1 below so that a few hundred bytes stand for the protected-mode kernel.
DEBIAN_SETUP_HEADER = bytes.fromhex(
    "27010020830d000000ffff000055aaeb6a486472530f02000000000010c04200"
    "01008000001000000000000000000000000000e05b000000000000ffffff7f00"
    "00200001157f00ff070000000000000000000000000000cc020000779dd60000"
    "00000000000000000000010000000000803703c035d700bcffd700")


def bzimage(setup_sects=1, kernel=512, init_size=None, version=None, loadflags=None):
    img = bytearray(512 * (setup_sects + 1) + kernel)
    hdr = bytearray(DEBIAN_SETUP_HEADER)
    img[0x1f1:0x1f1 + len(hdr)] = hdr
    img[0x1f1] = setup_sects
    if init_size is not None:
        struct.pack_into("<I", img, 0x260, init_size)
    if version is not None:
        struct.pack_into("<H", img, 0x206, version)
    if loadflags is not None:
        img[0x211] = loadflags
    for i in range(512 * (setup_sects + 1), len(img)):
        img[i] = i & 0xff
    return bytes(img)


def elf(segments, pvh_entry=None, entry=0x1000000):
    """A 64-bit ELF vmlinux: PT_LOAD (paddr, data, memsz) segments, an optional Xen PVH note."""
    phnum = len(segments) + (1 if pvh_entry is not None else 0)
    off = 64 + 56 * phnum
    phdrs, body = b"", b""
    for paddr, data, memsz in segments:
        phdrs += struct.pack("<IIQQQQQQ", 1, 7, off + len(body), paddr, paddr, len(data), memsz, 0x1000)
        body += data
    if pvh_entry is not None:
        note = struct.pack("<III", 4, 4, 18) + b"Xen\0" + struct.pack("<I", pvh_entry)
        phdrs += struct.pack("<IIQQQQQQ", 4, 4, off + len(body), 0, 0, len(note), len(note), 4)
        body += note
    eh = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry, 64, 0, 0, 64,
                                                                     56, phnum, 64, 0, 0)
    return eh + phdrs + body


def boot():
    t = "boot"

    def seed(name, kernel, cmdline=b"console=ttyS0 reboot=k panic=-1", initrd=None, ram=3, high=False, rsdp=True):
        cfg = ram | (4 if high else 0) | (8 if initrd is not None else 0) | (0x10 if rsdp else 0)
        out = u8(cfg) + u16(len(cmdline)) + cmdline
        if initrd is not None:
            out += u16(len(initrd)) + initrd
        write(t, name, out + kernel)

    seed("bzimage-debian-header", bzimage(), initrd=b"070701" + bytes(100))
    seed("bzimage-high-ram", bzimage(init_size=0x100000), ram=2, high=True, rsdp=False)
    seed("bzimage-old-protocol", bzimage(version=0x020b))
    seed("bzimage-zimage", bzimage(loadflags=0))
    seed("bzimage-long-cmdline", bzimage(init_size=0x100000), cmdline=b"x" * 2100, ram=2)
    code = bytes(range(256))
    seed("elf-pvh", elf([(0x1000000, code, 0x2000), (0x1200000, code[:64], 0x100)], pvh_entry=0x1000040),
         initrd=b"initrd!", ram=2)
    seed("elf-64bit", elf([(0x1000000, code, 0x1000)]), ram=2, high=True)
    seed("elf-overlap", elf([(0x1000000, code, 0x1000), (0x1000800, code, 0x1000)]), ram=2)
    seed("elf-outside", elf([(0x7fffff00, code, 0x1000)], entry=0x7fffff00), ram=1)


# --- fuzz_virtio_console ---------------------------------------------------------------------
def virtio_console():
    t = "virtio_console"

    def rnd(q, r):
        return u8(0) + u8(q) + r

    def notify(q):
        return u8(1) + u8(q)

    text = b"Debian GNU/Linux 12 guest hvc0\r\n"
    tx = rnd(1, round_(chain(0, [(DATA, len(text), False)]), heads=[0], blobs=[(DATA, text)])) + notify(1)
    rx = rnd(0, round_(chain(0, [(DATA + 0x100, 64, True)]) + chain(1, [(DATA + 0x200, 8, True)]), heads=[0, 1]))
    rx += notify(0) + u8(2) + u8(20) + b"root\rls -l /\r\x03exit\r" + u8(4)
    write(t, "tx-rx", u8(0x44) + u8(0) + u16(4096) + tx + rx + u8(4))
    # A backend with 10 bytes of room: the chain is held, want_room(), then tx_ready() finishes it.
    write(t, "tx-short", u8(0x44) + u8(0) + u16(10) + tx + u8(4) + u8(3) + u8(16) + u8(3) + u8(200) + u8(4))
    write(t, "tx-inline-ready", u8(0x44) + u8(3) + u16(1) + tx + u8(4) + u8(4))
    multi = rnd(1, round_(chain(0, [(DATA + 16 * i, 16, False) for i in range(6)]), heads=[0, 0],
                          blobs=[(DATA, bytes(range(96)))])) + notify(1)
    write(t, "tx-multi-reset", u8(0x33) + u8(1) + u16(20) + multi + u8(6) + u8(7) + multi + u8(3) + u8(255) + u8(4))
    emerg = u8(5) + u8(8) + u8(4) + u32(0x41) + u8(1) + u8(5) + u8(0) + u8(4) + u32(0) + u8(0)
    write(t, "config-emerg", u8(0x22) + u8(8) + u16(100) + emerg + u8(5) + u8(4) + u8(2) + u32(0) + u8(0))
    bad = rnd(0, round_(chain(0, [(DATA, 16, False)]), heads=[0])) + notify(0) + u8(2) + u8(3) + b"abc" + \
        rnd(1, round_(chain(0, [(DATA, 16, True)]), heads=[0])) + notify(1) + u8(4)
    write(t, "malformed", u8(0x22) + u8(0) + u16(100) + bad)


# --- fuzz_virtio_input -----------------------------------------------------------------------
def virtio_input():
    t = "virtio_input"

    def rnd(q, r):
        return u8(0) + u8(q) + r

    def notify(q):
        return u8(1) + u8(q)

    press, turn, reset, snap = u8(2), u8(4), u8(5), u8(7)

    def activate(bits=0):
        return u8(6) + u8(bits)

    def cfg(off, width=1, value=None):
        """width 1/2/4/8; value: a write."""
        return u8(3) + u8(off) + u8({1: 0, 2: 1, 4: 2, 8: 3}[width] | (4 if value is not None else 0)) + u64(value or 0)

    def restore(rec):
        return u8(8) + u8(len(rec)) + rec

    def event(ev_type, code, value):
        return u16(ev_type) + u16(code) + u32(value)

    def buffers(n, first=0, size=8):
        """n lone writable event buffers, posted."""
        descs = [(first + i, desc(DATA + 0x10 * (first + i), size, WRITE)) for i in range(n)]
        return rnd(0, round_(descs, heads=[first + i for i in range(n)]))

    # What Linux's virtio_input does: ask the name, the ids and the event bits, then fill the event queue.
    probe = cfg(0, 2, 0x0001) + cfg(2) + b"".join(cfg(8 + i, 8) for i in range(0, 16, 8))
    probe += cfg(0, 1, 0x03) + cfg(2) + cfg(8, 8)
    probe += cfg(0, 1, 0x11) + cfg(1, 1, 0x01) + cfg(2) + cfg(8, 8) + cfg(16, 8)
    probe += cfg(1, 1, 0x02) + cfg(2) + cfg(0, 2, 0x0012) + cfg(2, 2)
    write(t, "linux-press", u8(0x33) + u8(1) + probe + buffers(8) + notify(0) + press + turn + press)
    # Presses before the driver: four wait, the fifth is dropped; the driver then takes them in two rounds.
    early = press * 5 + activate() + buffers(8) + notify(0) + buffers(8, 8) + notify(0) + press
    write(t, "presses-before-driver", u8(0x44) + u8(2) + early)
    # LED reports on the status queue: completed unread.
    led = rnd(1, round_([(0, desc(DATA + 0x800, 8)), (1, desc(DATA + 0x810, 8))], heads=[0, 1],
                        blobs=[(DATA + 0x800, event(0x11, 0, 1) + event(0, 0, 0))])) + notify(1)
    write(t, "status-led", u8(0x22) + u8(0) + led + buffers(2) + notify(0) + press)
    # Malformed event buffers: too small, read-only, an event split over two buffers, an indirect table.
    bad = [(0, desc(DATA, 4, WRITE)), (1, desc(DATA + 0x10, 8))]
    bad += chain(2, [(DATA + 0x20, 3, True), (DATA + 0x30, 5, True)])
    bad += [(4, desc(DATA + 0x100, 32, INDIRECT))]
    bad_round = rnd(0, round_(bad, heads=[0, 1, 2, 4], blobs=[(DATA + 0x100, table([(DATA + 0x40, 8, True)]))]))
    write(t, "malformed-buffers", u8(0x33) + u8(1) + press + bad_round + notify(0) + press)
    # A broken queue (the avail index jumps): NEEDS_RESET, the presses wait for the next driver.
    broken = rnd(0, round_(raw_idx=200)) + notify(0) + press + reset + activate(4) + buffers(4) + notify(0)
    write(t, "broken-reset", u8(0x22) + u8(0) + broken + activate())
    # Reset with presses waiting, a disabled status queue.
    write(t, "reset-keeps", u8(0x22) + u8(0) + press + press + reset + press + activate(2) + buffers(4) + notify(0))
    # Snapshots: with presses waiting and a question asked, live and after a reset.
    write(t, "snapshot", u8(0x33) + u8(0) + cfg(0, 2, 0x0111) + press + snap + cfg(2) + buffers(8) + notify(0) +
          press + reset + snap + activate() + buffers(4) + notify(0))
    # Restores: a record with two events (and the name asked), then refused ones.
    rec = u8(1) + u8(0) + u8(2) + event(1, 116, 1) + event(0, 0, 0)
    refused = restore(rec[:-1]) + restore(rec + b"\0") + restore(u8(0) + u8(0) + u8(17) + bytes(17 * 8)) + restore(b"")
    write(t, "restore", u8(0x22) + u8(1) + refused + restore(rec) + cfg(8, 8) + buffers(2) + notify(0) + turn +
          restore(u8(0) + u8(0) + u8(0)) + press)


# --- fuzz_virtio_pci -------------------------------------------------------------------------
# Field indexes of fuzz_virtio_pci.c's fields[].
DFSELECT, DF, GFSELECT, GF, MSIX_CFG, NUMQ, STATUS, CFGGEN, QSEL, QSIZE, QMSIX, QENABLE, QNOFF = range(13)


def vp_field(i, value, write=True):
    return u8(1 | (8 if write else 0)) + u8(i) + u64(value)


def vp_queue(q, size):
    return u8(7) + u8(q << 1 | 1) + u16(size)


def vp_round(q, r):
    return u8(7) + u8(q << 1) + r


def vp_linux_probe(nq, features_hi=1, msix=True):
    """Reset, ACKNOWLEDGE|DRIVER, features (VERSION_1 + EVENT_IDX), FEATURES_OK, queues, DRIVER_OK."""
    out = vp_field(STATUS, 0) + vp_field(STATUS, 1) + vp_field(STATUS, 3)
    out += vp_field(DFSELECT, 0) + vp_field(DF, 0, False) + vp_field(DFSELECT, 1) + vp_field(DF, 0, False)
    out += vp_field(GFSELECT, 0) + vp_field(GF, 1 << 29 | 1) + vp_field(GFSELECT, 1) + vp_field(GF, features_hi)
    out += vp_field(STATUS, 11) + vp_field(STATUS, 0, False)
    if msix:  # MSI-X on through configuration space (the capability follows the vendor ones)
        out += vp_field(MSIX_CFG, 0)
    for q in range(nq):
        out += vp_queue(q, 16)
    return out + vp_field(STATUS, 15)


def virtio_pci():
    t = "virtio_pci"
    fake2 = u8((1 << 1) | (4 << 4)) + u8(12 << 3)  # fake: 2 queues of up to 16, 12 config bytes
    tx = round_(chain(0, [(DATA, 32, False), (DATA + 0x100, 32, True)]), heads=[0], blobs=[(DATA, b"ping")])
    notify = u8(3 | 8 | (1 << 4)) + u8(0)
    write(t, "fake-probe-notify", fake2 + vp_linux_probe(2) + vp_round(0, tx) + notify + u8(6) + u8(4 | (0 << 4)) +
          u8(2 | (2 << 4)) + u8(4) + u64(0) + u8(2 | 8 | (1 << 4)) + u8(10) + u64(0xbeef) + vp_field(STATUS, 0))
    # The MSI-X capability enabled by a configuration write, vectors unmasked in the table.
    msix_on = u8(5 | 8 | (1 << 4)) + u8(0x9a) + u32(0x8000)  # the capability sits at 0x98 for this fake
    table = b"".join(u8(0 | 8 | (2 << 4)) + u16(0x3800 + 16 * v + f) + u64(val)
                     for v in range(3) for f, val in ((0, 0xfee00000), (8, 0x4020 + v), (12, 0)))
    write(t, "fake-msix", fake2 + msix_on + table + vp_linux_probe(2) + vp_round(1, tx) + u8(3 | 8 | (1 << 4)) +
          u8(1) + u8(6) + u8(4))
    write(t, "fake-activate-fails", u8((3 << 1) | (3 << 4)) + u8(1 | 2 | 4 | (5 << 3)) + vp_linux_probe(4) +
          u8(6) + vp_field(STATUS, 0, False) + vp_field(STATUS, 0))
    write(t, "fake-broken-queue", u8((0 << 1) | (8 << 4)) + u8(2 | 4) + vp_linux_probe(1) + vp_round(0, tx) +
          u8(3 | 8 | (1 << 4)) + u8(0) + u8(6) + u8(4) + vp_field(STATUS, 0, False))
    bad_rings = vp_field(STATUS, 3) + vp_field(GF, 1) + vp_field(GFSELECT, 1) + vp_field(GF, 1) + \
        vp_field(STATUS, 11) + vp_field(QSEL, 0) + vp_field(QSIZE, 3) + \
        u8(1 | 8 | (3 << 4)) + u8(21) + u64(0xfffffffffffffff0) + vp_field(QENABLE, 1) + vp_field(STATUS, 15)
    write(t, "fake-bad-rings", fake2 + bad_rings + u8(6))
    rx = round_(chain(0, [(DATA + 0x400, 64, True)]), heads=[0])
    write(t, "console", u8(1) + u8(0) + vp_linux_probe(2) + vp_round(1, tx) + vp_round(0, rx) +
          u8(3 | 8 | (1 << 4)) + u8(1) + u8(3 | 8 | (1 << 4)) + u8(0) + u8(6) + u8(2 | (1 << 4)) + u8(0) + u64(0) +
          u8(2 | 8 | (2 << 4)) + u8(8) + u64(0x21) + u8(6) + vp_field(STATUS, 0))


# --- fuzz_net --------------------------------------------------------------------------------
def net():
    t = "net"
    # Mode 0: net_rx.c. cfg bits: 1 MRG_RXBUF, 2 GUEST_CSUM, 3 GSO, 4 EVENT_IDX, 5-7 size 2^(n+1).
    bufs = [c for i in range(4) for c in chain(i, [(DATA + i * 0x800, 0x600, True)])]
    frame = lambda n, head=b"": u8(2) + u16(n) + head  # noqa: E731
    hdr = bytes([1, 0]) + bytes(8) + u16(0)  # virtio_net_hdr_mrg_rxbuf: NEEDS_CSUM
    write(t, "rx-merge", u8(2 | 4 | 8 | (3 << 5)) + u8(0) + round_(bufs, heads=[0, 1, 2, 3]) + u8(1) + u8(8) +
          frame(3000, hdr + b"\xff" * 12) + frame(60, hdr) + u8(1) + u8(8))
    write(t, "rx-plain", u8(3 << 5) + u8(0) + round_(chain(0, [(DATA, 12, True), (DATA + 0x100, 1518, True)]),
                                                    heads=[0]) + u8(1) + u8(4) + frame(74, hdr))
    write(t, "rx-truncated", u8(1 << 5) + u8(0) + round_(chain(0, [(DATA, 100, True)]), heads=[0]) + u8(1) + u8(1) +
          frame(1514) + frame(8) + frame(100))
    write(t, "rx-not-rx-chain", u8(2 | (1 << 5)) + u8(0) + round_(chain(0, [(DATA, 100, False)]) +
                                                                   chain(1, [(DATA, 4, True)]), heads=[0, 1]) +
          u8(1) + u8(4))
    # Mode 1: net.c over a socketpair. cfg bit 0 set; bit 1 two pairs; bit 2 EVENT_IDX; 3-7 dropped features.
    def dev(cfg, qsize_log, ops):
        return u8(1 | cfg) + u8(qsize_log) + ops

    def rnd(q, r):
        return u8(0) + u8(q) + r

    def notify(q):
        return u8(1) + u8(q)

    def host_frame(pair, data):
        return u8(2) + u8(pair) + u16(len(data)) + data[:256]

    eth = bytes.fromhex("525400123456525400abcdef0800") + bytes(46)
    tx = rnd(1, round_(chain(0, [(DATA, 12, False), (DATA + 0x40, len(eth), False)]), heads=[0],
                       blobs=[(DATA, hdr), (DATA + 0x40, eth)])) + notify(1)
    write(t, "dev-tx", dev(0, 4, tx + u8(3) + u8(4) + u8(7)))
    rx = rnd(0, round_(chain(0, [(DATA + 0x1000, 2048, True)]) + chain(1, [(DATA + 0x2000, 2048, True)]),
                       heads=[0, 1])) + notify(0)
    write(t, "dev-rx", dev(4, 4, rx + host_frame(0, hdr + eth) + u8(7) + u8(7) + u8(7) + host_frame(0, hdr) + u8(7) +
                          u8(7)))

    def ctrl(q, head, cls, cmd, data):
        cmdbuf = bytes([cls, cmd]) + data
        at = DATA + 0x3000 + 0x100 * head
        return rnd(q, round_(chain(head, [(at, len(cmdbuf), False), (at + 0x80, 1, True)]), heads=[head],
                             blobs=[(at, cmdbuf)])) + notify(q)

    c = ctrl(2, 0, 0, 0, b"\x01") + ctrl(2, 2, 1, 1, bytes.fromhex("02aabbccddee")) + \
        ctrl(2, 4, 1, 0, u32(0) + u32(0)) + ctrl(2, 6, 9, 9, b"") + u8(6) + u8(0) + u8(6) + u8(3)
    write(t, "dev-ctrl", dev(0, 4, c + u8(7)))
    rx1 = rnd(2, round_(chain(0, [(DATA + 0x1000, 2048, True)]), heads=[0])) + notify(2)
    mq = ctrl(4, 0, 4, 0, u16(2)) + rx1 + host_frame(1, hdr + eth) + u8(7) + u8(7) + ctrl(4, 2, 4, 0, u16(1)) + u8(7)
    write(t, "dev-mq", dev(2, 4, mq))
    write(t, "dev-reset", dev(0, 3, rx + u8(3) + u8(5) + rx + host_frame(0, hdr + eth) + u8(7) + u8(5)))


# --- fuzz_net_copy ---------------------------------------------------------------------------
def net_copy():
    t = "net_copy"
    # cfg: bit 0 user (else stream), bit 1 EVENT_IDX, bits 2-6 dropped features; then the queues' byte.
    hdr = bytes(12)
    eth = bytes.fromhex("525400123456525400abcdef0800") + bytes(46)

    def rnd(q, r):
        return u8(0) + u8(q) + r

    def notify(q):
        return u8(1) + u8(q)

    def rx_bufs(n, size=2048, first=0):
        descs = [c for i in range(n) for c in chain(first + i, [(DATA + 0x1000 + 0x800 * i, size, True)])]
        return rnd(0, round_(descs, heads=list(range(first, first + n)))) + notify(0)

    def tx(head, frame, at=DATA + 0x6000, h=hdr):
        return rnd(1, round_(chain(head, [(at, 12, False), (at + 0x40, len(frame), False)]), heads=[head],
                             blobs=[(at, h), (at + 0x40, frame[:255])])) + notify(1)

    def frame(data, length=None):  # the host sends a well-framed frame (stream)
        n = (len(data) if length is None else length) - 1
        return u8(2) + u8(4 if n >> 16 else 0) + u16(n) + u8(len(data)) + data

    def raw_len(v, data=b""):  # a raw length header (stream)
        return u8(2) + u8(1) + u32(v) + u8(len(data)) + data

    def cut(n, data, sent):  # a frame's header and only part of it (stream)
        return u8(2) + u8(6 if (n - 1) >> 16 else 2) + u16(n - 1) + u8(len(data)) + data + u8(sent)

    def guest(kind, host=2, port=0, flags=0, seq=0x12345678, ack=0, payload=b"", idx=0):  # user: a frame to send
        return u8(2) + u8(kind) + u8(host) + u16(port) + u8(flags) + u32(seq) + u32(ack) + u8(len(payload)) + \
            payload + u8(idx)

    turns, host_read, wait = u8(7), u8(4), u8(7)
    write(t, "stream-tx", u8(0) + u8(4) + tx(0, eth) + tx(1, eth[:20]) + turns + host_read + u8(3) + turns)
    write(t, "stream-rx", u8(0) + u8(4) + rx_bufs(4) + frame(eth) + turns + frame(eth, 3000) + turns +
          frame(b"\x01", 1) + turns + u8(6) + u8(6) + u8(2))
    # Hostile lengths: a frame cut short then completed by the next write, a length of 0 (the link goes
    # down), a transmit on the down link, a reset, and a length over 65549 the down link never reads.
    write(t, "stream-hostile", u8(0) + u8(4) + rx_bufs(2) + cut(64, eth, 40) + turns + raw_len(0x41424344, bytes(20)) +
          turns + raw_len(0, b"xx") + turns + u8(6) + u8(6) + u8(2) + tx(0, eth) + turns + u8(5) + u8(1) + rx_bufs(1) +
          raw_len(65550) + turns)
    write(t, "stream-eof", u8(0x02) + u8(3) + rx_bufs(2) + tx(0, eth) + u8(2) + u8(3) + u8(0) + turns + tx(1, eth) +
          turns + u8(5) + u8(0) + u8(2) + u8(3) + u8(1) + turns + tx(2, eth))
    ctrl_cmd = bytes([1, 1]) + bytes.fromhex("02aabbccddee")  # MAC_ADDR_SET
    at = DATA + 0x3000
    ctrl = rnd(2, round_(chain(0, [(at, len(ctrl_cmd), False), (at + 0x80, 1, True)]), heads=[0],
                         blobs=[(at, ctrl_cmd)])) + notify(2)
    # No MRG_RXBUF, a 2-entry queue: a frame longer than a buffer is dropped; the control queue.
    write(t, "stream-small", u8(0x04) + u8(1) + rx_bufs(1, 100) + frame(eth, 200) + frame(eth) + turns + ctrl +
          u8(6) + u8(0) + u8(6) + rx_bufs(1, 2048, 1) + turns)
    # Backpressure: eight 65549-byte frames fill the socket and the backend's buffer until tx_room says
    # no; the host reads and the backend's wake resumes the queue. Then the other way: five such frames
    # from the host fill the backend's receive buffer, taken by 40 merged 2 KiB buffers, twice.
    big = [(DATA + 0x10 * i, 12, False) for i in range(8)]
    txd = [c for i in range(8) for c in chain(2 * i, [big[i], (RAM, 65549, False)])]
    write(t, "stream-backpressure", u8(0) + u8(4) + rnd(1, round_(txd, heads=[2 * i for i in range(8)])) + notify(1) +
          turns + turns + host_read + turns + host_read + turns + host_read + turns)
    many = [c for i in range(40) for c in chain(i, [(RAM + 0x800 * i, 2048, True)])]
    write(t, "stream-rx-full", u8(0) + u8(6) + frame(eth, 65549) * 5 + turns + turns +
          rnd(0, round_(many, heads=list(range(40)))) + notify(0) + turns +
          rnd(0, round_(heads=list(range(40)))) + notify(0) + turns + turns)
    user = u8(1) + u8(4) + rx_bufs(8)
    write(t, "user-dhcp-icmp", user + guest(1, host=1) + wait + wait + guest(1, host=3, idx=1) + wait +
          guest(2, payload=b"ping" * 8, idx=2) + wait + guest(2, host=3, idx=3) + wait + u8(5) + u8(1) + rx_bufs(4) +
          guest(0) + wait)
    write(t, "user-udp-tcp", user + guest(0, idx=5) + wait + guest(3, port=53, payload=b"\x12\x34\x01\x00" + bytes(8), idx=0) + wait +
          guest(3, port=69, payload=b"\x00\x01file\x00octet\x00", idx=1) + wait + guest(4, port=80, idx=2) + wait +
          guest(4, port=22, flags=0x10, ack=1, payload=b"data", idx=3) + wait + guest(5, payload=eth, idx=4) +
          u8(3) + wait)
    # CSUM: DHCP, ICMP, UDP and TCP with the checksum left to the device (kind + 6), then headers that
    # put it past the frame's end or ask for GSO (dropped).
    def vhdr(flags, gso, start, off):
        return u8(flags) + u8(gso) + u16(0) + u16(0) + u16(start) + u16(off) + u16(0)
    write(t, "user-partial-csum", user + guest(7, host=1) + wait + guest(8, payload=b"ping" * 8, idx=1) + wait +
          guest(9, port=53, payload=b"\x12\x34\x01\x00" + bytes(8), idx=2) + wait + guest(10, port=80, idx=3) + wait +
          tx(4, eth, h=vhdr(1, 0, 50, 20)) + tx(5, eth, h=vhdr(1, 0, 0xffff, 0xffff)) + tx(6, eth, h=vhdr(0, 1, 0, 0)) +
          tx(7, eth, h=vhdr(1, 0, 58, 0)) + wait)


# --- fuzz_snapshot ---------------------------------------------------------------------------
def crc32c(data, crc=0):
    """CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), as snap_crc32c()."""
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff


assert crc32c(b"123456789") == 0xe3069283


def snap_section(name, kind, data, version=1):
    return u8(len(name)) + name.encode() + u8(len(kind)) + kind.encode() + u32(version) + u32(len(data)) + data


def snap_file(sections):
    """A state file (src/snapshot/format.h) of sections [(name, kind, data[, version])]."""
    body = b"".join(snap_section(*s) for s in sections)
    return b"VMMSNAP\0" + u32(1) + u32(len(sections)) + u64(len(body)) + u32(crc32c(body)) + u32(0) + body


def snap_serial(ier=0x0f, lcr=0x03, mcr=0x0b, rx=b"", thre_pending=True, tx_busy=False):
    """serial.c: ier lcr mcr scr dll dlm msr, bools fifo thre_pending tx_busy, u32 rx count, rx bytes."""
    if mcr & 0x10:  # loopback: the modem inputs follow MCR
        msr = (0x10 if mcr & 2 else 0) | (0x20 if mcr & 1 else 0) | (0x40 if mcr & 4 else 0) | (0x80 if mcr & 8 else 0)
    else:
        msr = 0xb0  # a connected terminal: CTS, DSR, DCD
    return (u8(ier) + u8(lcr) + u8(mcr) + u8(0x5a) + u8(1) + u8(0) + u8(msr) + u8(1) + u8(thre_pending) +
            u8(tx_busy) + u32(len(rx)) + rx)


def snap_rtc(index=0x0b, frozen=None, offset=3600, dow_adjust=0):
    """rtc.c: u8 index, 128 registers (time, C, D zero), u64 offset, u8 weekday adjust; frozen: 7 x i32, 2 bools."""
    regs = bytearray(128)
    regs[0x0a] = 0x26
    regs[0x0b] = 0x02 | (0x80 if frozen else 0)
    regs[0x0e:0x12] = b"\x00\x01\x02\x03"
    regs[0x7f] = 0xa5
    out = u8(index) + bytes(regs) + u64(offset) + u8(dow_adjust)
    if frozen:
        out += b"".join(u32(v) for v in frozen) + u8(1) + u8(0)
    return out


def snap_i8042(cmd_byte=0x47, outport=0x03, obuf=0xfa, obf=True, last_was_cmd=False, pending=0):
    return u8(cmd_byte) + u8(outport) + u8(obuf) + u8(obf) + u8(last_was_cmd) + u8(pending)


def snap_pci_host(command=0x0006, cf8=0x80000000):
    """pci.c: u8 layout 1, u8 slot, u16 256, configuration space, bool INTx; then u32 the 0xcf8 latch."""
    cfg = bytearray(256)
    cfg[0:4] = u16(0x8086) + u16(0x0d57)  # PCI_HOST_BRIDGE_VENDOR, _DEVICE
    cfg[4:6] = u16(command)
    cfg[0x0b] = 0x06  # class: bridge, host
    cfg[0x0c] = 0x10  # cache line size, latency timer: writable
    cfg[0x3c] = 0xff
    return u8(1) + u8(0) + u16(256) + bytes(cfg) + u8(0) + u32(cf8)


def kvm_struct(size, fill=0, head=b""):
    return u32(size) + (head + bytes([fill]) * size)[:size]


def snap_vcpu(msrs=((0x10, 123456789), (0x4b564d01, 0x12345681))):
    """x86/vcpu_state.c, a vCPU blob: every KVM struct at its x86_64 size."""
    out = u32(0x55504376) + u32(1) + u32(2000000)
    out += kvm_struct(144, head=u64(0) * 16 + u64(0x1000000) + u64(2))  # kvm_regs: rip, rflags
    out += kvm_struct(312)  # kvm_sregs
    out += kvm_struct(4096, head=u16(0x37f) + u16(0) + u32(0) * 5 + u32(0x1f80))  # XSAVE: FCW, MXCSR
    out += u32(0)  # no XCRs
    out += kvm_struct(128)  # kvm_debugregs
    out += kvm_struct(1024, head=bytes(0x20) + u32(0))  # kvm_lapic_state: APIC ID 0
    out += u32(len(msrs)) + b"".join(u32(i) + u64(v) for i, v in msrs)
    out += kvm_struct(64)  # kvm_vcpu_events
    out += kvm_struct(4)  # kvm_mp_state: RUNNABLE
    return out


def snap_vm(pit=True):
    """x86/vcpu_state.c, the VM blob: PIC master, slave, IOAPIC (chip_id first), the PIT, kvm-clock."""
    out = u32(0x4d564d76) + u32(1)
    for chip in range(3):
        out += kvm_struct(520, head=u32(chip) + u32(0))
    out += kvm_struct(112) if pit else u32(0)
    return out + kvm_struct(48, head=u64(5000000000))


def snapshot():
    t = "snapshot"
    legacy_sections = [
        ("serial", "serial", snap_serial(rx=b"ls -l\r")),
        ("rtc", "rtc", snap_rtc()),
        ("i8042", "i8042", snap_i8042()),
        ("pm", "pm", b""),
        ("ged", "ged", u8(1)),
        ("cf9", "cf9", u8(0x02)),
        ("boot-timer", "boot-timer", b""),
        ("pci-host", "pci-host", snap_pci_host()),
    ]
    write(t, "legacy-devices", snap_file(legacy_sections))
    write(t, "vm", snap_file([("vm", "vm", u32(1) + u32(2) + u64(256 << 20)), ("kvm", "kvm-x86", snap_vm()),
                              ("vcpu0", "vcpu-x86", snap_vcpu()), ("vcpu1", "vcpu-x86", snap_vcpu(msrs=()))] +
                             legacy_sections))
    write(t, "odd-states", snap_file([
        ("serial", "serial", snap_serial(mcr=0x1f, lcr=0x83, rx=bytes(range(200)), tx_busy=True)),
        ("rtc", "rtc", snap_rtc(index=0x32, frozen=(59, 59, 23, 31, 11, 8099, 6), offset=-253402300799,
                                dow_adjust=6)),
        ("i8042", "i8042", snap_i8042(obf=False, last_was_cmd=True, pending=0xd1)),
        ("pci-host", "pci-host", snap_pci_host(command=0x0407, cf8=0x8000fffc)),
        ("kvm", "kvm-x86", u32(0x4d564d76) + u32(1) + u32(0) * 4 + kvm_struct(48)),
    ]))
    write(t, "empty", snap_file([]))
    write(t, "unknown-kinds", snap_file([("virtio-0", "virtio-blk", bytes(64), 3), ("x", "y", b"\xff")]))
    # Raw mode: 'R', a u16 section count, then the body (fuzz_snapshot.c wraps a header around it).
    raw = [("serial", "serial", snap_serial()), ("i8042", "i8042", snap_i8042()), ("cf9", "cf9", u8(0x08)),
           ("rtc", "rtc", snap_rtc(index=0))]
    write(t, "raw-legacy", b"R" + u16(len(raw)) + b"".join(snap_section(*s) for s in raw))
    write(t, "raw-vcpu", b"R" + u16(1) + snap_section("vcpu0", "vcpu-x86", snap_vcpu()))


# --- fuzz_vsock -------------------------------------------------------------------------------
def vsock():
    t = "vsock"
    REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST = 1, 2, 3, 4, 5, 6, 7

    def pkt(op, gp=0, hp=0, payload=b"", fl=0, buf_alloc=1 << 18, fwd_cnt=0, shut=0, length=None, plen=None):
        out = u8(2) + u8(fl | (8 if length is not None else 0)) + u8(op) + u8(gp) + u8(hp)
        out += u32(buf_alloc) + u32(fwd_cnt) + u8(shut)
        if length is not None:
            out += u32(length)
        n = len(payload) if plen is None else plen
        return out + u16(n) + payload[:64]

    def rx(*sizes):
        return u8(3) + u8(len(sizes)) + b"".join(u16(z) for z in sizes)

    turn = u8(5) * 3
    accept = u8(8)

    def host_write(i, data):
        return u8(7) + u8(i) + u8(0) + u8(len(data)) + data

    def host_read(i):
        return u8(7) + u8(i) + u8(1)

    cfg = u8(0x88) + u8(0x08)  # 256 entries each
    # The guest connects to the host's listener on 1234, data both ways, then shuts down and resets.
    guest = cfg + rx(4140, 4140, 4140, 4140) + pkt(REQUEST) + turn + accept + turn
    guest += pkt(RW, payload=b"hello from the guest") + turn + host_read(0) + host_write(0, b"hello from the host")
    guest += turn + rx(4140, 4140) + pkt(CREDIT_REQUEST) + turn + pkt(SHUTDOWN, shut=3) + turn + pkt(RST)
    write(t, "guest-connect", guest + turn)
    # A host client CONNECTs to guest port 1000; the guest answers from 1000 to host port 1024.
    host = cfg + rx(4140, 4140, 4140) + u8(6) + u8(0) + turn + pkt(RESPONSE, hp=2) + turn + host_read(0)
    host += host_write(0, b"ping") + turn + rx(4140, 100) + pkt(RW, hp=2, payload=b"pong") + turn + host_read(0)
    host += pkt(CREDIT_UPDATE, hp=2, buf_alloc=4, fwd_cnt=0) + host_write(0, bytes(200)) + turn
    host += u8(7) + u8(0) + u8(3) + turn + pkt(SHUTDOWN, hp=2, shut=3) + turn
    write(t, "host-connect", host)
    # Refused: nobody listens on 1235; a garbage host line; an RST to nothing.
    write(t, "refused", cfg + rx(4140, 60) + pkt(REQUEST, hp=1) + turn + u8(6) + u8(0x80) + u8(6) + b"HELLO\n" +
          turn + pkt(RST, gp=3, hp=1) + pkt(RW, gp=3, hp=1, payload=b"x") + turn)
    # Hostile packets: wrong CIDs and type, unknown op, len beyond the chain or over 64 KiB, a chain
    # shorter than a header, a device-writable buffer, data beyond the credit, malformed rx buffers.
    bad = cfg + rx(4140, 0x8000 | 64, 10, 4140) + pkt(REQUEST) + turn + accept
    bad += pkt(REQUEST, fl=1) + pkt(REQUEST, fl=2) + pkt(REQUEST, fl=4) + pkt(12) + pkt(0)
    bad += pkt(RW, payload=b"abc", length=1000) + pkt(RW, plen=0x10001, length=0x10001) + pkt(RW, fl=64)
    bad += pkt(RW, fl=32, payload=b"w") + pkt(RW, fl=16, payload=b"split") + pkt(RW, plen=0xffff)
    bad += pkt(RW, plen=0xffff) + pkt(REQUEST) + turn + pkt(REQUEST) + turn + rx(1, 43, 44, 45, 9000) + turn
    write(t, "hostile", bad)
    # Resets and a snapshot with connections open both ways; the event queue hears TRANSPORT_RESET.
    rs = cfg + rx(4140, 4140) + pkt(REQUEST) + u8(6) + u8(1) + turn + accept + pkt(RESPONSE, gp=1, hp=2)
    rs += pkt(RW, payload=b"data") + u8(10) + u8(4) + u8(3) + u8(4) + u8(8) + turn + u8(9) + rx(4140) + pkt(REQUEST)
    rs += turn + host_write(1, b"late") + u8(11) + u8(0) + u8(8) + u8(9) + turn
    write(t, "reset-snapshot", rs)
    # Small queues (1, 2 and 4 entries) and EVENT_IDX.
    write(t, "small-queues", u8(0x10) + u8(0x12) + rx(4140, 4140) + pkt(REQUEST) + turn + pkt(RW, payload=b"q") +
          u8(0) + u8(1) + u8(0) + u8(0) + u8(0) + u8(0) + u16(0) + u16(0) + turn)


# --- fuzz_arm64_image ------------------------------------------------------------------------
ARM64_MAGIC = 0x644d5241  # "ARM\x64" at offset 56
MIB = 1 << 20


def image_bytes(text_offset=0, image_size=MIB, flags=0xa, body=4096, magic=ARM64_MAGIC):
    """An arm64 Image: the 64-byte header (an EFI "MZ" code0, a branch in code1) and a patterned body."""
    hdr = struct.pack("<IIQQQQQQII", 0x91005a4d, 0x14000000 | 16, text_offset, image_size, flags, 0, 0, 0, magic,
                      0x40)
    return hdr + bytes((i * 7 + 3) & 0xff for i in range(body))


def arm64_image():
    t = "arm64_image"
    ram_mib = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64]

    def seed(name, kernel, ram=16, pad=0, gz=None, initrd=None, bounds=None, parse_size=None, bad_ram=False):
        """gz: (opts, mangle, arg, val) to have the target gzip the kernel (opts: level | n << 4, windowBits
        9 + n % 7, memLevel 1 + (15 - n) % 7); bounds: (lo, hi) from BASE - 16 MiB."""
        cfg = ram_mib.index(ram) | (0x10 if gz else 0) | (0x20 if initrd is not None else 0)
        cfg |= (0x40 if bounds else 0) | (0x80 if bad_ram else 0)
        out = u8(cfg) + u8(pad)
        if gz:
            out += u8(gz[0]) + u8(gz[1]) + u16(gz[2]) + u8(gz[3])
        if initrd is not None:
            out += u16(len(initrd)) + initrd
        if bounds:
            out += u32(bounds[0]) + u32(bounds[1])
        write(t, name, out + u64(len(kernel) if parse_size is None else parse_size) + kernel)

    rd = b"070701" + bytes(range(200))
    seed("image", image_bytes(), initrd=rd)
    seed("image-text-offset", image_bytes(text_offset=0x80000, image_size=2 * MIB, body=8192), ram=8, initrd=rd)
    seed("image-old-header", image_bytes(text_offset=0, image_size=0, flags=0, body=8192), pad=8)
    seed("image-16k-pages-high-offset", image_bytes(text_offset=0x1080000, image_size=3 * MIB, flags=0xc), ram=20)
    seed("image-too-big", image_bytes(image_size=100 * MIB), ram=64)
    seed("image-big-endian", image_bytes(flags=0xb))
    seed("image-gz", image_bytes(body=16384), gz=(0x66, 0, 0, 0), initrd=rd)
    # image_size exactly what it inflates to: the kernel and 64 KiB of zeros.
    seed("image-gz-exact", image_bytes(image_size=4160 + 0x10000, body=4096), pad=0xc4, gz=(0x69, 0, 0, 0))
    seed("image-gz-old-header", image_bytes(text_offset=0, image_size=0, flags=0, body=4096), pad=48,
         gz=(0x01, 0, 0, 0))
    seed("image-gz-trailing", image_bytes(), gz=(0x66, 1, 7, 0))
    seed("image-gz-truncated", image_bytes(), gz=(0x66, 2, 9, 0))
    seed("image-gz-two-members", image_bytes(), gz=(0x66, 4, 0, 0))
    seed("image-gz-fname", image_bytes(), gz=(0x66, 5, 0, 8))
    seed("image-gz-bomb", image_bytes(image_size=256 << 10, body=64), pad=0xd2, gz=(0x69, 0, 0, 0))  # 288 KiB
    # An old header inflates as far as the RAM goes: 1 MiB from 0x80000 is 512 KiB, and this is 528 KiB.
    seed("image-gz-old-header-bomb", image_bytes(text_offset=0, image_size=0, flags=0, body=64), ram=1, pad=0xe1,
         gz=(0x01, 0, 0, 0))
    # A gzip file made by gzip itself (a name in its header), as the kernel's build makes Image.gz.
    raw = gzip.compress(image_bytes(body=2048), compresslevel=9, mtime=0)
    seed("image-gz-raw", raw[:3] + b"\x08" + raw[4:10] + b"Image\0" + raw[10:])
    seed("initrd-bounds", image_bytes(), initrd=rd, bounds=(16 * MIB + 2 * MIB, 16 * MIB + 4 * MIB))
    # Before 3.17 the header was in the kernel's byte order: a big-endian one has text_offset 0x80000 swapped.
    seed("image-big-endian-old-header", image_bytes(text_offset=0x0000080000000000, image_size=0, flags=0))
    seed("not-image-bzimage", bzimage())
    seed("not-image-elf", b"\x7fELF\x02\x01\x01" + bytes(11) + u16(183) + bytes(64))
    seed("not-image-xz", b"\xfd7zXZ\0" + bytes(64))
    seed("not-image-zboot", b"MZ\0\0zimg" + bytes(16) + b"gzip" + bytes(64))
    seed("bad-ram", image_bytes(), ram=4, bad_ram=True)


# --- fuzz_fdt --------------------------------------------------------------------------------
FDT_FIELDS = ["ram_base", "ram_size", "initrd_start", "initrd_size", "gicd_base", "gicd_size", "gicr_base",
              "gicr_size", "its_base", "its_size", "uart_base", "uart_size", "uart_spi", "rtc_base", "rtc_size",
              "rtc_spi", "pci_ecam_base", "pci_ecam_size", "pci_mmio32_base", "pci_mmio32_size", "pci_mmio64_base",
              "pci_mmio64_size", "pci_intx_spi", "rng_seed"]


def fdt_set(field, value):
    return u8(FDT_FIELDS.index(field)) + u64(value)


FDT_RANGES = ["ram", "initrd", "gicd", "gicr", "its", "uart", "rtc", "pci_ecam", "pci_mmio32", "pci_mmio64"]


def fdt_place(field, rng, base=False, delta=0):
    """field against range rng: a base at its end (or base) + delta, a size ending there, another field
    taking the value of field number rng (an int) + delta."""
    r = rng if isinstance(rng, int) else FDT_RANGES.index(rng)
    assert -2 <= delta <= 2
    return u8(FDT_FIELDS.index(field) | 0x60) + u8(r | (0x80 if base else 0)) + u8(delta + 2)


def fdt():
    t = "fdt"

    def seed(name, flags=0x06, ncpus=2, slots=32, cmdline=b"console=ttyS0 earlycon panic=-1", long=0,
             length=None, mpidrs=None, changes=b""):
        out = u8(flags | (0x40 if length is not None else 0) | (1 if mpidrs is not None else 0)) + u8(ncpus)
        out += u8(slots)
        if length is not None:
            out += u32(length)
        out += u16(len(cmdline)) + cmdline + u8(long)
        if mpidrs is not None:
            out += b"".join(u64(m) for m in mpidrs)
        write(t, name, out + changes)

    seed("machine")
    seed("64-cpus", flags=0, ncpus=64)
    seed("no-its-no-mmio64-4-slots", flags=0x18, ncpus=1, slots=4)
    seed("cmdline-bytes", cmdline=bytes(range(1, 256)))
    seed("cmdline-long", cmdline=b"x", long=12)
    seed("cmdline-near-limit", long=255)  # 2 MiB - 668 bytes: it fits
    seed("cmdline-too-long", cmdline=b"y" * 8192, long=255)
    seed("small-buffer", length=4096)
    seed("exact-buffer", length=7524)  # the machine's tree, when this was written
    seed("mpidr-aff3", ncpus=3, mpidrs=[0x80000000, 0x0100000000, 0xff00ffffff])
    seed("mpidr-duplicate", ncpus=2, mpidrs=[0x80000001, 0x1])
    seed("overlap-rtc-uart", changes=fdt_place("rtc_base", "uart", base=True))
    seed("uart-touches-rtc", changes=fdt_place("uart_size", "rtc", base=True))
    seed("uart-overlaps-rtc-by-a-byte", changes=fdt_place("uart_size", "rtc", base=True, delta=1))
    seed("initrd-at-ram-end", changes=fdt_set("initrd_size", 2) + fdt_place("initrd_start", "ram", delta=-2))
    seed("initrd-past-ram-end", changes=fdt_set("initrd_size", 2) + fdt_place("initrd_start", "ram", delta=-1))
    seed("shared-spi", changes=fdt_place("rtc_spi", FDT_FIELDS.index("uart_spi")))
    seed("initrd-outside", changes=fdt_set("initrd_start", 0x40000000 + 64 * MIB - 4096))
    seed("ram-wraps", changes=fdt_set("ram_base", 0xfffffffffff00000) + fdt_set("pci_mmio64_size", 0))
    seed("ecam-256-buses", changes=fdt_set("pci_ecam_base", 0x40000000 + 1024 * MIB) +
         fdt_set("pci_ecam_size", 256 * MIB))
    seed("bad-buffers", flags=0x86)


# --- fuzz_pl031 ------------------------------------------------------------------------------
PL031_EPOCH = 1795614307  # 2026-11-25 13:45:07 UTC
DR, MR, LR, CR, IMSC, RIS, MIS, ICR = range(8)


def rtc_rd(reg):
    return u8(0x30) + u8(reg)


def rtc_wr(reg, value):
    return u8(0x31) + u8(reg) + u64(value)


def rtc_io(off, width=2, write=False, value=0):
    """Any offset and width (0..3: 1, 2, 4, 8 bytes)."""
    return u8((1 if write else 0) | width << 3) + u16(off) + (u64(value) if write else b"")


def pl031():
    t = "pl031"
    ids = b"".join(rtc_io(0xfe0 + 4 * i) for i in range(8))
    # rtc-pl031's probe and an alarm: the IDs, CR, the time; an alarm 3 s ahead, the clock gets there.
    probe = ids + rtc_rd(CR) + rtc_wr(CR, 1) + rtc_rd(DR) + rtc_wr(IMSC, 0) + rtc_wr(ICR, 1)
    alarm = rtc_wr(MR, PL031_EPOCH + 3) + rtc_wr(IMSC, 1) + u8(2) + u8(2) + rtc_rd(RIS) + u8(2) + u8(1) + rtc_rd(MIS)
    alarm += rtc_wr(ICR, 1) + rtc_rd(RIS)
    write(t, "probe-alarm", u64(PL031_EPOCH) + probe + alarm)
    # hwclock --systohc: LR, then the counter ticks on from it; MR equal to the new counter matches at once.
    write(t, "set-time", u64(PL031_EPOCH) + rtc_wr(LR, 1000) + rtc_rd(DR) + u8(2) + u8(60) + rtc_rd(DR) +
          rtc_wr(MR, 1060) + rtc_rd(RIS) + rtc_rd(LR))
    # Odd widths and offsets, past the page.
    write(t, "odd-access", u64(PL031_EPOCH) + rtc_io(0, 0) + rtc_io(2, 2) + rtc_io(4, 3, True, 5) +
          rtc_io(0x1000) + rtc_io(0xffc) + rtc_io(0x20, 2, True, 7) + rtc_io(0xfe1, 0))
    # The clock steps back and far ahead (past 2^32 seconds: every counter value goes by).
    write(t, "clock-jumps", u64(PL031_EPOCH) + rtc_wr(MR, PL031_EPOCH - 10) + rtc_wr(IMSC, 1) + u8(3) + u64(-100) +
          rtc_rd(RIS) + u8(3) + u64(1 << 33) + u8(4) + rtc_rd(MIS) + u8(7) + u64(-(1 << 63)) + rtc_rd(DR))
    # Snapshots: an alarm pending across a save; restored later, one that fell meanwhile.
    snap = u64(PL031_EPOCH) + rtc_wr(LR, 5) + rtc_wr(MR, 20) + rtc_wr(IMSC, 1) + u8(5) + u8(2) + u8(30) + u8(5 | 8)
    snap += rtc_rd(RIS) + rtc_wr(ICR, 1) + u8(5 | 8) + rtc_rd(DR)
    write(t, "snapshot", snap)
    state = u32(7) + u32(8) + u32(9) + u8(1) + u8(0) + u64(PL031_EPOCH - 100)
    write(t, "restore", u64(PL031_EPOCH) + u8(6) + u8(len(state)) + state + rtc_rd(RIS) + u8(6 | 8) + u8(5) +
          state[:5] + u8(6) + u8(len(state)) + state[:12] + u8(2) + state[13:] + rtc_rd(MR))


# --- fuzz_arm64_state: the arm64 snapshot blobs (src/arm64/gic_state.h, vcpu_state.h) ---------------
GIC_DIST_WORDS, GIC_LEVEL_WORDS, GIC_REDIST_WORDS, GIC_ICC_MAIN, GIC_ITS_REGS = 235, 3, 19, 7, 13
KVM_REG_ARM64 = 0x6000000000000000


def gic_blob(ncpus, its, nap=1):
    b = u32(0x43494776) + u32(1) + u32(128) + u32(ncpus)
    b += b"".join(u32(0x100 + i) for i in range(GIC_DIST_WORDS)) + u32(0x1a) * GIC_LEVEL_WORDS
    for c in range(ncpus):
        b += b"".join(u32(c << 16 | i) for i in range(GIC_REDIST_WORDS))
        b += u64(0x7) + u64(4 << 8) + b"".join(u64(i) for i in range(GIC_ICC_MAIN - 2))
        b += u8(nap) + u64(1) * nap + u64(2) * nap
    b += u8(1 if its else 0)
    if its:
        b += b"".join(u64(0x8000 + i) for i in range(GIC_ITS_REGS))
    return b


def vcpu_blob(regs, mp_state=0, events=True):
    b = u32(0x34364176) + u32(1) + u32(mp_state)
    b += (u32(64) + bytes(64)) if events else u32(0)
    b += u32(len(regs))
    for size_code, value in regs:
        b += u64(KVM_REG_ARM64 | size_code << 52 | len(b)) + value
    return b


def arm64_state():
    t = "arm64_state"
    # mode byte: bit 0 clear, a GICv3 blob for (mode >> 1) % 64 + 1 vCPUs; set, a vCPU blob.
    write(t, "gic-1cpu-its", u8(0) + gic_blob(1, True))
    write(t, "gic-2cpu-noits-nap2", u8(2) + gic_blob(2, False, 2))
    write(t, "gic-wrong-cpus", u8(4) + gic_blob(1, True))
    write(t, "vcpu-core-and-sysregs", u8(1) + vcpu_blob([(3, u64(0x40080000)), (2, u32(0x3c5)), (4, bytes(16))]))
    write(t, "vcpu-stopped-no-events", u8(1) + vcpu_blob([(3, u64(1))] * 8, mp_state=5, events=False))
    write(t, "vcpu-sve-sized", u8(1) + vcpu_blob([(8, bytes(256))]))


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)
    for gen in (virtq, blk_req, options, legacy, pci, msix, boot, virtio_console, virtio_input, virtio_pci, net, snapshot,
                vsock, net_copy, arm64_image, fdt, pl031, arm64_state):
        gen()


if __name__ == "__main__":
    main()
