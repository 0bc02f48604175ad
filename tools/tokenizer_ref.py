#!/usr/bin/env python3
"""Writes the extra tokenizer case tests/vectors/tokenizer_small: a tiny CLIP-style BPE vocabulary
(256 byte symbols, their "</w>" forms, merges learned from a fixed corpus, the two special tokens)
and the ids of a Python re-implementation of OpenAI CLIP's simple_tokenizer. The `regex` and `ftfy`
packages are absent, so \\p{L} / \\p{N} come from unicodedata categories, the pre-tokenizer regex is a
hand-written scanner with the same alternation order, and ftfy.fix_text is reduced to the fixes
Kinora documents (curly quotes, Latin ligatures, full-width ASCII, control characters, NFC).

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


def ftfy_lite(text):
    out = []
    lig = {0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "st", 0xFB06: "st",
           0x132: "IJ", 0x133: "ij"}
    for ch in text:
        c = ord(ch)
        if c in lig:
            out.append(lig[c])
        elif (c <= 8 or c == 0xB or 0xE <= c <= 0x1F or c == 0x7F or 0x206A <= c <= 0x206F or c == 0xFEFF
              or 0xFFF9 <= c <= 0xFFFC or 0x1D173 <= c <= 0x1D17A or 0xE0000 <= c <= 0xE007F):
            continue
        elif 0xFF01 <= c <= 0xFF5E:
            out.append(chr(c - 0xFEE0))
        elif c == 0x3000:
            out.append(" ")
        elif 0x2018 <= c <= 0x201B:
            out.append("'")
        elif 0x201C <= c <= 0x201F:
            out.append('"')
        else:
            out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def clean(text):
    text = html.unescape(html.unescape(ftfy_lite(text))).strip()
    return " ".join(text.split()).lower()   # str.split() splits on the same characters as re's \s


def pretokens(text):
    specials = ["<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]
    i, out = 0, []
    while i < len(text):
        hit = next((s for s in specials if text.startswith(s, i)), None)
        if hit:
            out.append(hit)
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
                    "\\p{L}/\\p{N}, str.lower, html.unescape twice, ftfy reduced to quotes/ligatures/width/"
                    "control characters, NFC); pad token '!' as in SD 2 tokenizers, model_max_length 16. The same script "
                    "reproduces all ids of shared/testvectors/tokenizer_clip with its real CLIP vocabulary."}
    with open(os.path.join(out, "case.json"), "w") as f:
        json.dump(case, f, indent=1)
    for t, r in zip(TEXTS, rows):
        print(repr(t)[:40], r)


if __name__ == "__main__":
    main()
