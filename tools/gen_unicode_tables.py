#!/usr/bin/env python3
"""Generates src/models/unicode_tables.c: the Unicode classes the CLIP tokenizer needs, as sorted
code point ranges, and the NFC data (canonical combining classes, canonical decompositions, primary
compositions) from Debian's UnicodeData.txt and CompositionExclusions.txt (package unicode-data),
plus the HTML5 named character references and numeric-reference fix-ups of Python's html.unescape
(stdlib tables).

usage: tools/gen_unicode_tables.py [/usr/share/unicode] > src/models/unicode_tables.c
"""
import os
import html
import html.entities
import sys


def read_ucd(path):
    rows = []
    first = None
    with open(path, encoding="ascii") as f:
        for line in f:
            p = line.rstrip("\n").split(";")
            cp = int(p[0], 16)
            if p[1].endswith(", First>"):
                first = cp
                continue
            if p[1].endswith(", Last>"):
                for c in range(first, cp + 1):
                    rows.append((c, p))
                continue
            rows.append((cp, p))
    return rows


def ranges(cps):
    out = []
    for c in sorted(cps):
        if out and out[-1][1] + 1 == c:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def lower_runs(pairs):
    """(cp, lower) pairs -> runs (lo, hi, delta, step): every step-th code point in [lo, hi] maps to
    cp + delta. Latin Extended alternates upper/lower, hence step 2."""
    runs = []
    for cp, lo in sorted(pairs):
        d = lo - cp
        if runs:
            r = runs[-1]
            if r[2] == d and ((r[0] == r[1] and cp - r[1] in (1, 2)) or cp - r[1] == r[3]):
                if r[0] == r[1]:
                    r[3] = cp - r[1]
                r[1] = cp
                continue
        runs.append([cp, cp, d, 1])
    return runs


def emit_ranges(name, rs):
    print(f"const uint32_t {name}[][2] = {{")
    for i in range(0, len(rs), 6):
        print("    " + " ".join(f"{{0x{a:X}, 0x{b:X}}}," for a, b in rs[i:i + 6]))
    print("};")
    print(f"const int {name}_n = {len(rs)};\n")


def c_str(s):
    b = s.encode("utf-8")
    return '"' + "".join(chr(x) if 32 <= x < 127 and chr(x) not in '"\\?' else f"\\{x:03o}" for x in b) + '"'


def emit_nfc(rows, excl_path):
    ccc = {c: int(p[3]) for c, p in rows if int(p[3])}
    runs = []
    for c in sorted(ccc):
        if runs and runs[-1][1] + 1 == c and runs[-1][2] == ccc[c]:
            runs[-1][1] = c
        else:
            runs.append([c, c, ccc[c]])
    print("/* Canonical combining classes: {lo, hi, class} for every non-zero class. */")
    print("const uint32_t kn_uni_ccc[][3] = {")
    for i in range(0, len(runs), 6):
        print("    " + " ".join(f"{{0x{a:X}, 0x{b:X}, {k}}}," for a, b, k in runs[i:i + 6]))
    print("};")
    print(f"const int kn_uni_ccc_n = {len(runs)};\n")
    dec = {}
    for c, p in rows:
        if p[5] and not p[5].startswith("<"):
            dec[c] = [int(x, 16) for x in p[5].split()]
    print("/* Canonical decompositions (one level; apply recursively): {cp, first, second or 0}. */")
    print("const uint32_t kn_uni_decomp[][3] = {")
    items = sorted(dec.items())
    for i in range(0, len(items), 5):
        print("    " + " ".join(f"{{0x{c:X}, 0x{d[0]:X}, 0x{d[1] if len(d) > 1 else 0:X}}}," for c, d in items[i:i + 5]))
    print("};")
    print(f"const int kn_uni_decomp_n = {len(items)};\n")
    excl = set()
    with open(excl_path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line:
                excl.add(int(line, 16))
    comp = sorted((d[0], d[1], c) for c, d in dec.items()
                  if len(d) == 2 and c not in excl and c not in ccc and d[0] not in ccc)
    print("/* Primary composites: {first, second, composite}, sorted by (first, second). */")
    print("const uint32_t kn_uni_comp[][3] = {")
    for i in range(0, len(comp), 5):
        print("    " + " ".join(f"{{0x{a:X}, 0x{b:X}, 0x{c:X}}}," for a, b, c in comp[i:i + 5]))
    print("};")
    print(f"const int kn_uni_comp_n = {len(comp)};\n")


def emit_ftfy():
    """ftfy's fix_character_width map (half/full-width forms to their NFKC forms, U+3000 to a space) and
    the all-caps entity names its unescape_html also decodes (lower-case HTML5 names, upper-cased,
    that html.unescape would leave alone), with the upper-cased value."""
    import unicodedata
    width = {0x3000: (0x20, 0)}
    for i in range(0xFF01, 0xFFF0):
        alt = unicodedata.normalize("NFKC", chr(i))
        if alt != chr(i):
            assert len(alt) <= 2, hex(i)
            width[i] = (ord(alt[0]), ord(alt[1]) if len(alt) > 1 else 0)
    print("/* ftfy fix_character_width: {code point, replacement, second code point or 0}. */")
    print("const uint32_t kn_ftfy_width[][3] = {")
    items = sorted(width.items())
    for i in range(0, len(items), 5):
        print("    " + " ".join(f"{{0x{a:X}, 0x{b:X}, 0x{c:X}}}," for a, (b, c) in items[i:i + 5]))
    print("};")
    print(f"const int kn_ftfy_width_n = {len(items)};\n")
    upper = {}
    for name, char in html.entities.html5.items():
        if name.endswith(";") and name == name.lower():
            ent = "&" + name.upper()
            if html.unescape(ent) == ent:
                upper[name.upper()] = char.upper()
    ents = sorted(upper.items(), key=lambda kv: kv[0].encode())
    print("/* ftfy unescape_html's extra all-caps names (with their ';'), sorted by name bytes. */")
    print("const char *const kn_ftfy_upper_entity[][2] = {")
    for k, v in ents:
        print(f"    {{{c_str(k)}, {c_str(v)}}},")
    print("};")
    print(f"const int kn_ftfy_upper_entity_n = {len(ents)};\n")


def main():
    ucd = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
    rows = read_ucd(os.path.join(ucd, "UnicodeData.txt"))
    letters = [c for c, p in rows if p[2].startswith("L")]
    numbers = [c for c, p in rows if p[2].startswith("N")]
    # Python's str.isspace (what re's \s matches): bidi class WS, B or S, or category Zs.
    spaces = [c for c, p in rows if p[4] in ("WS", "B", "S") or p[2] == "Zs"]
    lowers = [(c, int(p[13], 16)) for c, p in rows if p[13]]
    print("/* Generated by tools/gen_unicode_tables.py from UnicodeData.txt and Python's html module: do not edit.")
    print(" * Sorted, disjoint code point ranges for the CLIP tokenizer's \\p{L}, \\p{N} and \\s, runs of simple")
    print(" * lower-case mappings, NFC data, and the HTML5 character references of html.unescape. */")
    print("#include <stdint.h>\n")
    emit_ranges("kn_uni_letter", ranges(letters))
    emit_ranges("kn_uni_number", ranges(numbers))
    emit_ranges("kn_uni_space", ranges(spaces))
    runs = lower_runs(lowers)
    print("/* {lo, hi, delta, step}: code points lo, lo+step, ... hi map to cp + delta. */")
    print("const int32_t kn_uni_lower[][4] = {")
    for i in range(0, len(runs), 4):
        print("    " + " ".join(f"{{0x{a:X}, 0x{b:X}, {d}, {s}}}," for a, b, d, s in runs[i:i + 4]))
    print("};")
    print(f"const int kn_uni_lower_n = {len(runs)};\n")
    emit_nfc(rows, os.path.join(ucd, "CompositionExclusions.txt"))
    ents = sorted(html.entities.html5.items(), key=lambda kv: kv[0].encode())
    print("/* HTML5 named references (names with their ';' where the standard has one), sorted by name bytes. */")
    print("const char *const kn_html_entity[][2] = {")
    for k, v in ents:
        print(f"    {{{c_str(k)}, {c_str(v)}}},")
    print("};")
    print(f"const int kn_html_entity_n = {len(ents)};\n")
    emit_ftfy()
    inv = sorted(html._invalid_charrefs.items())
    print("/* Numeric references html.unescape replaces (Windows-1252 fix-ups): {number, code point}. */")
    print("const uint32_t kn_html_charref_fix[][2] = {")
    for k, v in inv:
        print(f"    {{0x{k:X}, 0x{ord(v):X}}},")
    print("};")
    print(f"const int kn_html_charref_fix_n = {len(inv)};\n")
    emit_ranges("kn_html_dropped", ranges(html._invalid_codepoints))


if __name__ == "__main__":
    main()
