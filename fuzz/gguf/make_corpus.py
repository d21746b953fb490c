#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Writes the seed corpus of fuzz_gguf: tiny but complete GGUF models (llama,
# qwen3moe, gemma3, minimax-m2) and a few malformed headers. Independent of gloam's
# writer (plain struct packing after the GGUF v3 spec).
import os, struct, random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
rng = random.Random(7)

def s(x):
    b = x.encode()
    return struct.pack("<Q", len(b)) + b

def kv(key, t, v):
    out = s(key) + struct.pack("<I", t)
    if t == 4: out += struct.pack("<I", v)
    elif t == 6: out += struct.pack("<f", v)
    elif t == 7: out += struct.pack("<B", v)
    elif t == 8: out += s(v)
    elif t == 9:
        et, items = v
        out += struct.pack("<IQ", et, len(items))
        for it in items:
            out += s(it) if et == 8 else struct.pack({4: "<I", 7: "<B", 6: "<f"}[et], it)
    return out

def q8_row(n):
    out = b""
    for _ in range(n // 32):
        out += struct.pack("<e", 0.01) + bytes(rng.randrange(256) for _ in range(32))
    return out

def tensor(name, ne, kind):
    rows = 1
    for d in ne[1:]: rows *= d
    if kind == "f32":
        data = struct.pack("<%df" % (ne[0] * rows), *[rng.uniform(-1, 1) for _ in range(ne[0] * rows)])
        t = 0
    else:
        data = b"".join(q8_row(ne[0]) for _ in range(rows))
        t = 8
    return (name, ne, t, data)

def gguf(kvs, tensors):
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    off, infos, blobs = 0, b"", b""
    for name, ne, t, data in tensors:
        infos += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        infos += struct.pack("<IQ", t, off)
        pad = (-len(data)) % 32
        blobs += data + b"\0" * pad
        off += len(data) + pad
    out += infos
    out += b"\0" * ((-len(out)) % 32)
    return out + blobs

def model(arch, extra_kv, layer_fn, n_layers, tied=True):
    H, NH, NKV, HD, F, V = 32, 2, 1, 16, 32, 4
    kvs = [kv("general.architecture", 8, arch),
           kv(arch + ".block_count", 4, n_layers), kv(arch + ".embedding_length", 4, H),
           kv(arch + ".feed_forward_length", 4, F), kv(arch + ".attention.head_count", 4, NH),
           kv(arch + ".attention.head_count_kv", 4, NKV), kv(arch + ".attention.key_length", 4, HD),
           kv(arch + ".context_length", 4, 64), kv(arch + ".rope.freq_base", 6, 10000.0),
           kv(arch + ".attention.layer_norm_rms_epsilon", 6, 1e-5),
           kv("tokenizer.ggml.tokens", 9, (8, ["a", "b", "c", "d"])),
           kv("tokenizer.ggml.eos_token_id", 4, 1)] + extra_kv
    ts = [tensor("token_embd.weight", [H, V], "f32"), tensor("output_norm.weight", [H], "f32")]
    if not tied: ts.append(tensor("output.weight", [H, V], "q8"))
    for l in range(n_layers):
        p = "blk.%d." % l
        ts += [tensor(p + "attn_norm.weight", [H], "f32"),
               tensor(p + "attn_q.weight", [H, NH * HD], "q8"),
               tensor(p + "attn_k.weight", [H, NKV * HD], "q8"),
               tensor(p + "attn_v.weight", [H, NKV * HD], "q8"),
               tensor(p + "attn_output.weight", [NH * HD, H], "q8"),
               tensor(p + "ffn_norm.weight", [H], "f32")]
        ts += layer_fn(p, H, F, HD)
    return gguf(kvs, ts)

def dense(p, H, F, HD):
    return [tensor(p + "ffn_gate.weight", [H, F], "q8"), tensor(p + "ffn_up.weight", [H, F], "q8"),
            tensor(p + "ffn_down.weight", [F, H], "q8")]

def moe(p, H, F, HD):
    E = 2
    return [tensor(p + "attn_q_norm.weight", [HD], "f32"), tensor(p + "attn_k_norm.weight", [HD], "f32"),
            tensor(p + "ffn_gate_inp.weight", [H, E], "f32"),
            tensor(p + "ffn_gate_exps.weight", [H, F, E], "q8"),
            tensor(p + "ffn_up_exps.weight", [H, F, E], "q8"),
            tensor(p + "ffn_down_exps.weight", [F, H, E], "q8")]

def gemma(p, H, F, HD):
    return [tensor(p + "attn_q_norm.weight", [HD], "f32"), tensor(p + "attn_k_norm.weight", [HD], "f32"),
            tensor(p + "post_attention_norm.weight", [H], "f32"),
            tensor(p + "post_ffw_norm.weight", [H], "f32")] + dense(p, H, F, HD)

def minimax(p, H, F, HD):
    E, NH, NKV = 2, 2, 1  # q/k norms over all heads; sigmoid routing bias
    return [tensor(p + "attn_q_norm.weight", [NH * HD], "f32"),
            tensor(p + "attn_k_norm.weight", [NKV * HD], "f32"),
            tensor(p + "ffn_gate_inp.weight", [H, E], "f32"),
            tensor(p + "exp_probs_b.bias", [E], "f32"),
            tensor(p + "ffn_gate_exps.weight", [H, F, E], "q8"),
            tensor(p + "ffn_up_exps.weight", [H, F, E], "q8"),
            tensor(p + "ffn_down_exps.weight", [F, H, E], "q8")]

os.makedirs(OUT, exist_ok=True)
files = {
    "llama_tiny.gguf": model("llama", [], dense, 1, tied=False),
    "qwen3moe_tiny.gguf": model("qwen3moe", [kv("qwen3moe.expert_count", 4, 2),
                                             kv("qwen3moe.expert_used_count", 4, 1),
                                             kv("qwen3moe.expert_feed_forward_length", 4, 32)], moe, 1),
    "gemma3_tiny.gguf": model("gemma3", [kv("gemma3.attention.sliding_window", 4, 4),
                                         kv("gloam.layer_sliding", 9, (7, [1, 0]))], gemma, 2),
    "minimax_m2_tiny.gguf": model("minimax-m2", [kv("minimax-m2.expert_count", 4, 2),
                                                 kv("minimax-m2.expert_used_count", 4, 1),
                                                 kv("minimax-m2.expert_feed_forward_length", 4, 32),
                                                 kv("minimax-m2.rope.dimension_count", 4, 8)],
                                  minimax, 1),
    "empty.gguf": gguf([], []),
    "bad_version.gguf": b"GGUF" + struct.pack("<IQQ", 1, 0, 0),
    "huge_counts.gguf": b"GGUF" + struct.pack("<IQQ", 3, 2**62, 2**62),
    "nested_array.gguf": b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + s("k") + struct.pack("<IIQ", 9, 9, 1),
}
for name, data in files.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
