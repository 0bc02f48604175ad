#!/usr/bin/env python3
"""Compares the tokenizer's NFC (kn_uni_nfc) with Python's unicodedata.normalize("NFC") on every assigned
code point (alone, after "a", before marks, decomposed) and 100k random base/mark sequences.

usage: cc -O2 -fPIC -shared -Iinclude -Isrc $(pkg-config --cflags jansson) src/models/tokenizer.c \
           src/models/unicode_tables.c -o /tmp/libtok.so && python3 tools/check_nfc.py /tmp/libtok.so
"""
import ctypes, os, unicodedata, random, sys
lib = ctypes.CDLL(sys.argv[1] if len(sys.argv) > 1 else "/tmp/libtok.so", mode=os.RTLD_LAZY)
lib.kn_uni_nfc.restype = ctypes.c_long
def nfc(s):
    cps = [ord(c) for c in s]
    a = (ctypes.c_uint32 * max(1,len(cps)))(*cps); o = (ctypes.c_uint32 * (4*len(cps)+8))()
    n = lib.kn_uni_nfc(a, len(cps), o, 4*len(cps)+8)
    return "".join(chr(o[i]) for i in range(n))
print(unicodedata.unidata_version)
bad = 0
for c in range(0x110000):
    if 0xD800 <= c <= 0xDFFF: continue
    ch = chr(c)
    if unicodedata.category(ch) == 'Cn': continue
    for s in (ch, "a" + ch, ch + "\u0301", ch + "\u0323\u0301", unicodedata.normalize("NFD", ch)):
        if nfc(s) != unicodedata.normalize("NFC", s):
            bad += 1
            if bad < 10: print(hex(c), [hex(ord(x)) for x in s], [hex(ord(x)) for x in nfc(s)], [hex(ord(x)) for x in unicodedata.normalize("NFC", s)])
random.seed(1)
marks = [c for c in range(0x300, 0x370)] + [0x5B0, 0x93C, 0x94D, 0x1161, 0x11A8, 0x3099, 0x309A, 0x0F71, 0x0F72]
bases = [ord(c) for c in "aeiouAEIOUcnsz"] + [0x1100, 0xAC00, 0x304B, 0x915, 0x3B1, 0x3C9, 0x0F40]
for _ in range(100000):
    s = "".join(chr(random.choice(bases if random.random() < 0.3 else marks)) for _ in range(random.randint(1, 6)))
    if nfc(s) != unicodedata.normalize("NFC", s):
        bad += 1
        if bad < 20: print("seq", [hex(ord(x)) for x in s], [hex(ord(x)) for x in nfc(s)], [hex(ord(x)) for x in unicodedata.normalize("NFC", s)])
print("mismatches", bad)
