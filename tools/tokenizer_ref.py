#!/usr/bin/env python3
"""Writes the extra tokenizer case tests/vectors/tokenizer_small: a tiny CLIP-style BPE vocabulary
(256 byte symbols, their "</w>" forms, merges learned from a fixed corpus, the two special tokens)
and the ids of a Python re-implementation of OpenAI CLIP's simple_tokenizer. The `regex` and `ftfy`
packages are absent, so \\p{L} / \\p{N} come from unicodedata categories, the pre-tokenizer regex is a
hand-written scanner with the same alternation order, and ftfy.fix_text is re-implemented from its
steps (entities, C1 controls, ligatures, width, quotes, terminal escapes, control characters, NFC,
repeated until stable, per line) without fix_encoding (mojibake repair).

usage: python3 tools/tokenizer_ref.py [OUT_DIR=tests/vectors/tokenizer_small]
"""
import collections
import html
import json
import os
import struct
import sys
import unicodedata

CORPUS = ("a red apple bouncing on a wooden table the quick brown fox jumps over the lazy dog "
          "rocket flying high into the sunset over the sea cats and dogs running in the park "
          "don't won't it's we've i'm they'd you'll café naïve déjà vu") * 3
NUM_MERGES = 150
MAX_LENGTH = 16
TEXTS = [
    "The quick brown fox",
    "don't STOP: it's 2024!!",
    "caf\u00e9 na\u00efve \u00c9COLE",
    "cafe\u0301 \u212b a\u0301\u0323 \u1100\u1161\u11a8",
    "&amp;lt;b&amp;gt; Tom &amp; Jerry &eacute;t&eacute; &#39;x&#x27; &notin &bogus;",
    "\u201ccurly\u201d \u2018quotes\u2019 \uff26\uff55\uff4c\uff4c\u3000width \ufb01ne",
    "\u039f\u0394\u039f\u03a3 \u0130stanbul \u00df",
    "\u65e5\u672c\u8a9e \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \U0001f680\U0001f680",
    "<|startoftext|>the<|endoftext|>end",
    "tab\tand\r\nnewline\u00a0nbsp   spaces",
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen",
    "'s 're --'ll ''d x'ts",
    "",
    "   ",
    "\x07\x1bcontrol\x7f\u200bzero",
    "&amp;amp;amp;lt; P&EACUTE;REZ &SZLIG; &#12a;",
    "\uff76\uff9e \x85\x91x\x92 \u0149 \ufb05 \x1b[31mred\x1b[0m",
    "it'\u017f \ufb05op",
    "x &amp;amp;amp; y\n<b> &amp;amp;amp;\nz &amp;amp;amp;",
]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


BYTE_ENC = bytes_to_unicode()


def is_letter(ch):
    return unicodedata.category(ch).startswith("L")


def is_number(ch):
    return unicodedata.category(ch).startswith("N")


LIGATURES = {0x132: "IJ", 0x133: "ij", 0x149: "\u02bcn", 0x1C4: "D\u017d", 0x1C5: "D\u017e", 0x1C6: "d\u017e",
             0x1C7: "LJ", 0x1C8: "Lj", 0x1C9: "lj", 0x1CA: "NJ", 0x1CB: "Nj", 0x1CC: "nj", 0x1F1: "DZ",
             0x1F2: "Dz", 0x1F3: "dz", 0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl",
             0xFB05: "\u017ft", 0xFB06: "st"}
CONTROL = set(range(0, 9)) | {0xB} | set(range(0xE, 0x20)) | {0x7F} | set(range(0x206A, 0x2070)) | {0xFEFF} | \
    set(range(0xFFF9, 0xFFFD))


def ftfy_entities():
    ents = {"&" + k: v for k, v in html.entities.html5.items() if k.endswith(";")}
    for k, v in html.entities.html5.items():
        if k.endswith(";") and k == k.lower() and html.unescape("&" + k.upper()) == "&" + k.upper():
            ents["&" + k.upper()] = v.upper()
    return ents


FTFY_ENTITIES = ftfy_entities()


def ftfy_unescape(text):
    out, i = [], 0
    while i < len(text):
        if text[i] == "&":
            j = i + 1 + (i + 1 < len(text) and text[i + 1] == "#")
            k = j
            while k < len(text) and k - j < 24 and text[k].isascii() and text[k].isalnum():
                k += 1
            if k > j and k < len(text) and text[k] == ";":
                ent = text[i:k + 1]
                if ent in FTFY_ENTITIES:
                    out.append(FTFY_ENTITIES[ent]); i = k + 1; continue
                if ent.startswith("&#") and ";" not in html.unescape(ent):
                    out.append(html.unescape(ent)); i = k + 1; continue
        out.append(text[i]); i += 1
    return "".join(out)


def ftfy_line(text, unescape):
    while True:
        orig = text
        if unescape:
            text = ftfy_unescape(text)
        text = "".join(bytes([ord(c)]).decode("cp1252", errors="ignore") or c if 0x80 <= ord(c) <= 0x9F else c
                       for c in text)
        text = "".join(LIGATURES.get(ord(c), c) for c in text)
        w = []
        for c in text:
            if c == "\u3000":
                w.append(" ")
            elif 0xFF01 <= ord(c) < 0xFFF0:
                w.append(unicodedata.normalize("NFKC", c))
            else:
                w.append(c)
        text = "".join(w)
        text = "".join("'" if c == "\u02bc" or "\u2018" <= c <= "\u201b" else '"' if "\u201c" <= c <= "\u201f" else c
                       for c in text)
        out, i = [], 0
        while i < len(text):
            if text[i] == "\x1b" and text[i + 1:i + 2] == "[":
                j = i + 2
                while j < len(text) and (text[j] in "0123456789;"):
                    j += 1
                if j < len(text) and text[j].isascii() and text[j].isalpha():
                    i = j + 1
                    continue
            out.append(text[i]); i += 1
        text = "".join(c for c in out if ord(c) not in CONTROL)
        text = unicodedata.normalize("NFC", text)
        if text == orig:
            return text


def ftfy_fix(text):
    """ftfy.fix_text without fix_encoding: per line, entities only while no line so far had '<'."""
    out, unescape = [], True
    pos = 0
    while pos < len(text):
        end = text.find("\n", pos) + 1 or len(text)
        seg = text[pos:end]
        if "<" in seg:
            unescape = False
        out.append(ftfy_line(seg, unescape))
        pos = end
    return "".join(out)


def clean(text):
    text = html.unescape(html.unescape(ftfy_fix(text))).strip()
    return " ".join(text.split()).lower()   # str.split() splits on the same characters as re's \s


def pretokens(text):
    specials = ["<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]
    i, out = 0, []
    while i < len(text):
        # the reference regex is case-insensitive: LONG S folds to 's'
        hit = next((s for s in specials if text[i:i + len(s)].replace("\u017f", "s") == s), None)
        if hit:
            out.append(text[i:i + len(hit)])
            i += len(hit)
            continue
        j = i
        if is_letter(text[i]):
            while j < len(text) and is_letter(text[j]):
                j += 1
        elif is_number(text[i]):
            j = i + 1
        else:
            while j < len(text) and not (text[j].isspace() or is_letter(text[j]) or is_number(text[j])):
                j += 1
        if j == i:
            i += 1
            continue
        out.append(text[i:j])
        i = j
    return out


def bpe(word, ranks):
    syms = list(word[:-1]) + [word[-1] + "</w>"]
    while len(syms) > 1:
        pairs = [(ranks.get((a, b), 1 << 30), a, b) for a, b in zip(syms, syms[1:])]
        r, a, b = min(pairs)
        if r == 1 << 30:
            break
        new, i = [], 0
        while i < len(syms):
            if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                new.append(a + b)
                i += 2
            else:
                new.append(syms[i])
                i += 1
        syms = new
    return syms


def learn_merges():
    words = collections.Counter("".join(BYTE_ENC[b] for b in w.encode()) for w in pretokens(clean(CORPUS)))
    split = {w: list(w[:-1]) + [w[-1] + "</w>"] for w in words}
    merges = []
    for _ in range(NUM_MERGES):
        pc = collections.Counter()
        for w, n in words.items():
            s = split[w]
            for p in zip(s, s[1:]):
                pc[p] += n
        if not pc:
            break
        best = max(pc.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        for w in words:
            split[w] = bpe_once(split[w], best)
    return merges


def bpe_once(s, pair):
    new, i = [], 0
    while i < len(s):
        if i + 1 < len(s) and (s[i], s[i + 1]) == pair:
            new.append(s[i] + s[i + 1])
            i += 2
        else:
            new.append(s[i])
            i += 1
    return new


def encode(text, vocab, ranks, pad_id):
    ids = []
    for tok in pretokens(clean(text)):
        if tok in ("<|startoftext|>", "<|endoftext|>"):
            ids.append(vocab[tok])
            continue
        ids += [vocab[s] for s in bpe("".join(BYTE_ENC[b] for b in tok.encode()), ranks)]
    ids = [vocab["<|startoftext|>"]] + ids[:MAX_LENGTH - 2] + [vocab["<|endoftext|>"]]
    return ids + [pad_id] * (MAX_LENGTH - len(ids))


def write_safetensors(path, name, rows):
    flat = [v for r in rows for v in r]
    raw = struct.pack(f"<{len(flat)}q", *flat)
    h = json.dumps({name: {"dtype": "I64", "shape": [len(rows), MAX_LENGTH], "data_offsets": [0, len(raw)]}},
                   separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + raw)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/vectors/tokenizer_small"
    os.makedirs(os.path.join(out, "tokenizer"), exist_ok=True)
    merges = learn_merges()
    syms = list(BYTE_ENC.values())
    vocab_list = syms + [s + "</w>" for s in syms] + ["".join(m) for m in merges]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {}
    for s in vocab_list:
        vocab.setdefault(s, len(vocab))
    ranks = {m: i for i, m in enumerate(merges)}
    pad_id = vocab["!"]
    with open(os.path.join(out, "tokenizer", "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(out, "tokenizer", "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    with open(os.path.join(out, "tokenizer", "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": MAX_LENGTH, "bos_token": {"content": "<|startoftext|>", "lstrip": False},
                   "eos_token": "<|endoftext|>", "pad_token": "!", "do_lower_case": True}, f, indent=1)
    rows = [encode(t, vocab, ranks, pad_id) for t in TEXTS]
    write_safetensors(os.path.join(out, "io.safetensors"), "out.input_ids", rows)
    case = {"kind": "tokenizer", "model": "tokenizer", "texts": TEXTS, "max_length": MAX_LENGTH,
            "note": "made by tools/tokenizer_ref.py: a tiny BPE vocabulary learned from a fixed corpus and the "
                    "ids of a Python re-implementation of CLIP's simple_tokenizer (unicodedata categories for "
                    "\\p{L}/\\p{N}, str.lower, html.unescape twice, ftfy.fix_text re-implemented without "
                    "fix_encoding); pad token '!' as in SD 2 tokenizers, model_max_length 16. The same script "
                    "reproduces all ids of shared/testvectors/tokenizer_clip with its real CLIP vocabulary."}
    with open(os.path.join(out, "case.json"), "w") as f:
        json.dump(case, f, indent=1)
    for t, r in zip(TEXTS, rows):
        print(repr(t)[:40], r)


if __name__ == "__main__":
    main()
