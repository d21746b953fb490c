// SPDX-License-Identifier: Apache-2.0
//
// tests/npm/interop_seal.mjs: an independent JavaScript implementation of
// gloam sealing (docs/sealing.md) using only WebCrypto (crypto.subtle:
// X25519, HMAC/HKDF-SHA256, AES-128-GCM) -- what a browser can do -- plus the
// npm `jose` library to verify receipts. Driven by tests/crypto/interop.c:
//
//   node interop_seal.mjs selftest          RFC 9180 A.1 vector through this code
//   node interop_seal.mjs seal DIR          read DIR/node_pk.hex, write DIR/request.bin
//                                           and DIR/client_state.json
//   node interop_seal.mjs open DIR          open DIR/response.sse (made by C), check the
//                                           text and verify the receipt with jose
//
// Exits 0 on success; prints the reason and exits 1 otherwise.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compactVerify, importJWK, importSPKI, calculateJwkThumbprint } from 'jose';

const subtle = globalThis.crypto.subtle;
const enc8 = (s) => new TextEncoder().encode(s);
const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const cat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const i2osp = (v, n) => {
  const out = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v % 256;
  return out;
};
const sha256 = async (b) => new Uint8Array(await subtle.digest('SHA-256', b));
const fail = (msg) => {
  console.error(`interop_seal: ${msg}`);
  process.exit(1);
};
const check = (cond, msg) => cond || fail(msg);
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// ---- HKDF-SHA256 from HMAC (WebCrypto's HKDF does extract+expand in one) ----
async function hmac(key, data) {
  const k = await subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle.sign('HMAC', k, data));
}
// An empty salt is HashLen zero bytes (RFC 5869 §2.2); WebCrypto rejects empty HMAC keys.
const extract = (salt, ikm) => hmac(salt.length ? salt : new Uint8Array(32), ikm);
async function expand(prk, info, L) {
  let t = new Uint8Array(0);
  let out = new Uint8Array(0);
  for (let i = 1; out.length < L; i++) {
    t = await hmac(prk, cat(t, info, Uint8Array.of(i)));
    out = cat(out, t);
  }
  return out.slice(0, L);
}

// ---- HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM ----
const KEM = 0x0020, KDF = 0x0001, AEAD = 0x0001, NK = 16, NN = 12, NH = 32;
const KEM_SUITE = cat(enc8('KEM'), i2osp(KEM, 2));
const HPKE_SUITE = cat(enc8('HPKE'), i2osp(KEM, 2), i2osp(KDF, 2), i2osp(AEAD, 2));
const labeledExtract = (suite, salt, label, ikm) =>
  extract(salt, cat(enc8('HPKE-v1'), suite, enc8(label), ikm));
const labeledExpand = (suite, prk, label, info, L) =>
  expand(prk, cat(i2osp(L, 2), enc8('HPKE-v1'), suite, enc8(label), info), L);

async function x25519(priv, pubRaw) {
  const pub = await subtle.importKey('raw', pubRaw, { name: 'X25519' }, true, []);
  return new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: pub }, priv, 256));
}

// SetupBaseS. `eph` = {privateKey, publicRaw} (fixed for the RFC vector, fresh otherwise).
async function setupBaseS(pkR, info, eph) {
  if (!eph) {
    const kp = await subtle.generateKey({ name: 'X25519' }, true, ['deriveBits']);
    eph = { privateKey: kp.privateKey, publicRaw: new Uint8Array(await subtle.exportKey('raw', kp.publicKey)) };
  }
  const dh = await x25519(eph.privateKey, pkR);
  check(!dh.every((x) => x === 0), 'all-zero DH output');
  const encv = eph.publicRaw;
  const eaePrk = await labeledExtract(KEM_SUITE, new Uint8Array(0), 'eae_prk', dh);
  const shared = await labeledExpand(KEM_SUITE, eaePrk, 'shared_secret', cat(encv, pkR), NH);
  const pskIdHash = await labeledExtract(HPKE_SUITE, new Uint8Array(0), 'psk_id_hash', new Uint8Array(0));
  const infoHash = await labeledExtract(HPKE_SUITE, new Uint8Array(0), 'info_hash', info);
  const ksc = cat(Uint8Array.of(0), pskIdHash, infoHash);
  const secret = await labeledExtract(HPKE_SUITE, shared, 'secret', new Uint8Array(0));
  const key = await labeledExpand(HPKE_SUITE, secret, 'key', ksc, NK);
  const baseNonce = await labeledExpand(HPKE_SUITE, secret, 'base_nonce', ksc, NN);
  const exporterSecret = await labeledExpand(HPKE_SUITE, secret, 'exp', ksc, NH);
  return { enc: encv, shared, ksc, secret, key, baseNonce, exporterSecret, seq: 0 };
}

function xorCounter(base, counter) {
  const n = base.slice();
  const c = i2osp(counter, 8);
  for (let i = 0; i < 8; i++) n[n.length - 8 + i] ^= c[i];
  return n;
}

async function aesGcm(op, key, nonce, aad, data) {
  const k = await subtle.importKey('raw', key, { name: 'AES-GCM' }, false, [op]);
  const params = { name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 };
  return new Uint8Array(await subtle[op](params, k, data));
}

async function hpkeSeal(ctx, aad, pt) {
  const ct = await aesGcm('encrypt', ctx.key, xorCounter(ctx.baseNonce, ctx.seq), aad, pt);
  ctx.seq++;
  return ct;
}
const hpkeExport = (ctx, expCtx, L) => labeledExpand(HPKE_SUITE, ctx.exporterSecret, 'sec', expCtx, L);

// ---- RFC 9180 A.1 (X25519, HKDF-SHA256, AES-128-GCM) through this code ----
async function selftest() {
  const v = {
    info: '4f6465206f6e2061204772656369616e2055726e',
    pkEm: '37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431',
    skEm: '52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736',
    pkRm: '3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d',
    shared: 'fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc',
    key: '4531685d41d65f03dc48f6b8302c05b0',
    baseNonce: '56d890e5accaaf011cff4b7d',
    pt: '4265617574792069732074727574682c20747275746820626561757479',
    aad0: '436f756e742d30',
    ct0: 'f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a',
    exp0: '3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee',
  };
  const b64 = (h) => Buffer.from(unhex(h)).toString('base64url');
  const priv = await subtle.importKey('jwk', { kty: 'OKP', crv: 'X25519', d: b64(v.skEm), x: b64(v.pkEm) },
    { name: 'X25519' }, false, ['deriveBits']);
  const ctx = await setupBaseS(unhex(v.pkRm), unhex(v.info), { privateKey: priv, publicRaw: unhex(v.pkEm) });
  check(hex(ctx.shared) === v.shared, 'selftest: shared_secret');
  check(hex(ctx.key) === v.key, 'selftest: key');
  check(hex(ctx.baseNonce) === v.baseNonce, 'selftest: base_nonce');
  check(hex(await hpkeSeal(ctx, unhex(v.aad0), unhex(v.pt))) === v.ct0, 'selftest: ciphertext 0');
  check(hex(await hpkeExport(ctx, new Uint8Array(0), 32)) === v.exp0, 'selftest: export');
  console.log('interop_seal: RFC 9180 A.1 vector ok (WebCrypto)');
}

// ---- the gloam request envelope v1 ----
const REQUEST_INFO = enc8('gloam request v1');
const RESPONSE_LABEL = enc8('gloam response v1');
const NR = Math.max(NK, NN);

async function keyId(pk) {
  return (await sha256(cat(enc8('gloam key id v1'), i2osp(KEM, 2), pk))).slice(0, 16);
}

function header(h) {
  const str = (s) => cat(Uint8Array.of(s.length), enc8(s));
  return cat(
    enc8('GLSQ'), Uint8Array.of(1, 0), i2osp(KEM, 2), i2osp(KDF, 2), i2osp(AEAD, 2),
    h.keyId, h.requestId, i2osp(h.timestampMs, 8), i2osp(h.maxOutputTokens, 4),
    i2osp(h.audioMs, 4), i2osp(h.nImages, 4), i2osp(h.bodyLen, 4),
    str(h.nodeId), str(h.model), str(h.endpoint));
}

async function seal(dir) {
  const pkR = unhex(readFileSync(join(dir, 'node_pk.hex'), 'utf8'));
  check(pkR.length === 32, 'node_pk.hex is not an X25519 key');
  const body = enc8(JSON.stringify({
    model: 'Qwen/Qwen3-0.6B',
    messages: [{ role: 'user', content: 'Sealed in JavaScript with WebCrypto. \u00e9\u4e16 \ud83d\ude00' }],
    max_tokens: 64,
  }));
  const h = {
    keyId: await keyId(pkR), requestId: globalThis.crypto.getRandomValues(new Uint8Array(16)),
    timestampMs: Date.now(), maxOutputTokens: 64, audioMs: 0, nImages: 0, bodyLen: body.length + 16,
    nodeId: 'node-js', model: 'Qwen/Qwen3-0.6B', endpoint: 'chat/completions',
  };
  const aad = header(h);
  const ctx = await setupBaseS(pkR, REQUEST_INFO);
  const ct = await hpkeSeal(ctx, aad, body);
  const envelope = cat(aad, ctx.enc, ct);
  writeFileSync(join(dir, 'request.bin'), envelope);
  writeFileSync(join(dir, 'request_body.json'), body);
  // What the client keeps to open the response (a browser keeps it in memory).
  const secret = await hpkeExport(ctx, RESPONSE_LABEL, NR);
  writeFileSync(join(dir, 'client_state.json'), JSON.stringify({
    secret: hex(secret), enc: hex(ctx.enc), request_id: hex(h.requestId),
    request_sha256: hex(await sha256(envelope)),
  }));
  console.log(`interop_seal: sealed ${body.length} bytes into a ${envelope.length}-byte envelope`);
}

// ---- the sealed response stream over SSE ----
function parseSse(text) {
  const events = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (!block.trim()) continue;
    let event = 'message';
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    events.push({ event, data: data.join('\n') });
  }
  return events;
}

async function open(dir) {
  const st = JSON.parse(readFileSync(join(dir, 'client_state.json'), 'utf8'));
  const events = parseSse(readFileSync(join(dir, 'response.sse'), 'utf8'));
  let keys = null, next = 0, done = false, receipt = null, sawDone = false;
  const chunks = [];
  for (const ev of events) {
    if (ev.event === 'gloam.receipt') { receipt = ev.data; continue; }
    if (ev.event === 'gloam.error') fail(`stream error event: ${ev.data}`);
    if (ev.event !== 'message') fail(`unknown event ${ev.event}`);
    if (ev.data === '[DONE]') { sawDone = true; continue; }
    check(!done, 'frame after the final chunk');
    const f = new Uint8Array(Buffer.from(ev.data, 'base64url'));
    if (f[0] === 0x00) {
      check(!keys && f[1] === 1 && f.length === 2 + NR, 'bad start frame');
      const salt = cat(unhex(st.enc), f.subarray(2));
      const prk = await extract(salt, unhex(st.secret));
      keys = { key: await expand(prk, enc8('key'), NK), nonce: await expand(prk, enc8('nonce'), NN) };
      continue;
    }
    check(keys && (f[0] === 0x01 || f[0] === 0x02) && f.length >= 21, 'bad chunk frame');
    const counter = ((f[1] << 24) >>> 0) + (f[2] << 16) + (f[3] << 8) + f[4];
    check(counter === next, `chunk ${counter} out of order`);
    const nonce = keys.nonce.slice();
    for (let i = 0; i < 4; i++) nonce[NN - 1 - i] ^= (counter >>> (8 * i)) & 0xff;
    const pt = await aesGcm('decrypt', keys.key, nonce, f.subarray(0, 5), f.subarray(5));
    chunks.push(pt);
    next++;
    if (f[0] === 0x02) done = true;
  }
  check(done, 'stream truncated: no final chunk');
  check(sawDone, 'no [DONE] event');
  const transcript = cat(...chunks);
  const expected = readFileSync(join(dir, 'response_plain.txt'));
  check(same(transcript, new Uint8Array(expected)), 'opened text differs from what C sealed');
  console.log(`interop_seal: opened ${next} chunks, ${transcript.length} bytes`);

  // The receipt, verified by jose with the JWK and with the PEM key.
  check(receipt, 'no receipt event');
  const jwk = JSON.parse(readFileSync(join(dir, 'receipt_pub.jwk'), 'utf8'));
  const pem = readFileSync(join(dir, 'receipt_pub.pem'), 'utf8');
  for (const key of [await importJWK(jwk, 'ES256'), await importSPKI(pem, 'ES256')]) {
    const { payload, protectedHeader } = await compactVerify(receipt, key, { algorithms: ['ES256'] });
    check(protectedHeader.alg === 'ES256' && protectedHeader.typ === 'gloam-receipt', 'receipt header');
    check(protectedHeader.kid === (await calculateJwkThumbprint(jwk, 'sha256')), 'kid is not the RFC 7638 thumbprint');
    const c = JSON.parse(new TextDecoder().decode(payload));
    check(c.ver === 1 && c.node_id === 'node-js' && c.model === 'Qwen/Qwen3-0.6B', 'receipt claims');
    check(c.request_id === st.request_id, 'receipt request id');
    check(c.request_sha256 === st.request_sha256, 'receipt request hash');
    check(c.transcript_sha256 === hex(await sha256(transcript)), 'receipt transcript hash');
    check(Number.isSafeInteger(c.price_micro_usd) && c.finished_ms >= c.started_ms, 'receipt numbers');
  }
  // A changed payload must not verify.
  const parts = receipt.split('.');
  const forged = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
  forged.price_micro_usd += 1;
  parts[1] = Buffer.from(JSON.stringify(forged)).toString('base64url');
  let rejected = false;
  try {
    await compactVerify(parts.join('.'), await importJWK(jwk, 'ES256'));
  } catch {
    rejected = true;
  }
  check(rejected, 'jose accepted a forged receipt');
  console.log('interop_seal: receipt verified by jose (JWK and PEM)');
}

const [mode, dir] = process.argv.slice(2);
const run = { selftest, seal: () => seal(dir), open: () => open(dir) }[mode];
if (!run || (mode !== 'selftest' && !dir)) fail('usage: interop_seal.mjs selftest | seal DIR | open DIR');
run().catch((e) => fail(e && e.stack ? e.stack : String(e)));
