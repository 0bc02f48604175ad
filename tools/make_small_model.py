#!/usr/bin/env python3
"""Builds the small test model (random weights) used by the tests and, until the default model
ships, by the demo: the shared pipeline_t2v_a case folder, with its 512-entry token table expanded to
the tokenizer's vocabulary so that id i looks up row i % 510 -- exactly what the reference pipeline
did ("token ids are taken modulo 510 before the lookup") -- so generation from text computes what
the reference computed. Python standard library only.

usage: make_small_model.py SHARED_CASE_DIR OUT_DIR
"""
import json, os, shutil, struct, sys


def read_st(path):
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    hdr = json.loads(buf[8:8 + n])
    meta = hdr.pop("__metadata__", None)
    data = buf[8 + n:]
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in hdr.items()}, meta


def write_st(path, tensors):
    hdr, off, blobs = {}, 0, []
    for name in sorted(tensors):
        dt, shape, raw = tensors[name]
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    src, out = sys.argv[1], sys.argv[2]
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("io.safetensors", "case.json"))
    for d, _, files in os.walk(tmp):   # the shared folders are read-only; the copy must not be
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)
    vocab = json.load(open(os.path.join(src, "tokenizer", "vocab.json"), encoding="utf-8"))
    V = len(vocab)
    te = os.path.join(tmp, "text_encoder")
    cfg = json.load(open(os.path.join(te, "config.json")))
    old_v, modulo = cfg["vocab_size"], cfg["vocab_size"] - 2
    tensors, _ = read_st(os.path.join(te, "model.safetensors"))
    name = "text_model.embeddings.token_embedding.weight"
    dt, shape, raw = tensors[name]
    assert dt == "F32" and shape[0] == old_v
    row = shape[1] * 4
    table = b"".join(raw[(i % modulo) * row:(i % modulo + 1) * row] for i in range(V))
    tensors[name] = (dt, [V, shape[1]], table)
    write_st(os.path.join(te, "model.safetensors"), tensors)
    cfg["vocab_size"] = V
    cfg["bos_token_id"] = vocab.get("<|startoftext|>", cfg["bos_token_id"])
    cfg["eos_token_id"] = cfg["pad_token_id"] = vocab.get("<|endoftext|>", cfg["eos_token_id"])
    json.dump(cfg, open(os.path.join(te, "config.json"), "w"), indent=1)
    json.dump({"_class_name": "AnimateDiffPipeline", "note": "Kinora small test model: random weights"},
              open(os.path.join(tmp, "model_index.json"), "w"), indent=1)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
