// SPDX-License-Identifier: Apache-2.0
//
// tests/images/sdk/make_model.mjs: a tiny random-weight Janus checkpoint
// that takes text prompts, for the image API tests. It is the Janus fixture
// (tests/fixtures/models/janus: transformers' JanusForConditionalGeneration
// layout, 8 x 8 pixel images from 16 image tokens) with the language
// model's vocabulary grown to Llama 3's (128256 rows of embed_tokens,
// random, F16; the fixture has no lm_head, images use the generation head) and Llama 3's tokenizer beside it, so
// "<|User|>: TEXT\n\n<|Assistant|>:" tokenizes into ids the model has.
// The pad and <begin_of_image> ids (generation_config.json) are ordinary
// ids here: the weights are random anyway.
//
// usage: node make_model.mjs FIXTURES OUT_DIR
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const [fix, out] = process.argv.slice(2);
const src = path.join(fix, 'models/janus');
const V = 128256;
fs.mkdirSync(out, { recursive: true });
const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'));
cfg.text_config.vocab_size = V;
cfg.text_config.bos_token_id = 128000;
cfg.text_config.eos_token_id = 128001;
fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify(cfg, null, 2));
fs.writeFileSync(path.join(out, 'generation_config.json'), JSON.stringify({
  bos_token_id: 128000, eos_token_id: 128001, pad_token_id: 100,
  generation_kwargs: { boi_token_id: 101 },
}, null, 2));
fs.copyFileSync(path.join(fix, 'tokenizers/llama3/tokenizer.json.gz'),
  path.join(out, 'tokenizer.json.gz'));

const st = fs.readFileSync(path.join(src, 'model.safetensors'));
const hlen = Number(st.readBigUInt64LE(0));
const hdr = JSON.parse(st.subarray(8, 8 + hlen).toString('utf8'));
const data = st.subarray(8 + hlen);
const names = Object.keys(hdr).filter((k) => k !== '__metadata__');
const grown = new Set(['model.language_model.embed_tokens.weight']); // no lm_head: images use the generation head
const parts = [];
const newHdr = {};
let off = 0;
for (const k of names) {
  let buf;
  if (grown.has(k)) {
    const h = hdr[k].shape[1];
    // random halves in +-[1/128, 1/64): sign, exponent 8, random mantissa
    buf = crypto.randomBytes(V * h * 2);
    for (let i = 0; i < buf.length; i += 2) buf.writeUInt16LE((buf.readUInt16LE(i) & 0x83ff) | 0x2000, i);
    newHdr[k] = { dtype: 'F16', shape: [V, h], data_offsets: [off, off + buf.length] };
  } else {
    const [a, b] = hdr[k].data_offsets;
    buf = data.subarray(a, b);
    newHdr[k] = { dtype: hdr[k].dtype, shape: hdr[k].shape, data_offsets: [off, off + buf.length] };
  }
  parts.push(buf);
  off += buf.length;
}
for (const k of grown) if (!newHdr[k]) throw new Error(`fixture has no ${k}`);
let hj = Buffer.from(JSON.stringify(newHdr), 'utf8');
const pad = (8 - (hj.length % 8)) % 8;
hj = Buffer.concat([hj, Buffer.alloc(pad, 0x20)]);
const len = Buffer.alloc(8);
len.writeBigUInt64LE(BigInt(hj.length));
fs.writeFileSync(path.join(out, 'model.safetensors'), Buffer.concat([len, hj, ...parts]));
