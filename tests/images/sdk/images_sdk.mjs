// SPDX-License-Identifier: Apache-2.0
//
// tests/images/sdk/images_sdk.mjs: the official `openai` npm SDK (v4)
// calling images.generate through gloam, driven by run.sh (gloam-coord, a
// gloam-node serving a tiny random Janus model with a tokenizer, `gloam
// proxy`). Checked: through the coordinator (coordinator-sealed) b64_json
// with n = 1 and 2; through the proxy (client-sealed) b64_json and url;
// every image is a PNG whose signature and IHDR (read here by hand, PNG
// spec §5.2/§11.2.2) give the model's size and whose IDAT inflates (Node's
// zlib) to height x (1 + width x 3) bytes; the receipt verifies with jose
// against the node's key from /v1/nodes and binds each PNG's SHA-256 and
// the count; the balance goes down by exactly n x price; bad sizes,
// oversized n, an empty prompt, an unknown model, url through the
// coordinator and a short balance are refused with OpenAI error bodies.
// Every check prints PASS or FAIL.
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import OpenAI from 'openai';
import { compactVerify, importJWK, decodeProtectedHeader } from 'jose';

const env = process.env;
const COORD = env.COORD_URL, PROXY = env.PROXY_URL, KEY = env.API_KEY, POOR = env.POOR_KEY;
const PRICE = Number(env.PRICE), MODEL = env.MODEL, SIDE = Number(env.SIDE);
let failed = 0;
const pass = (m) => console.log(`PASS ${m}`);
const fail = (m) => { failed++; console.log(`FAIL ${m}`); };
const check = (c, m) => (c ? pass(m) : fail(m));

// PNG: signature, IHDR first (width, height, bit depth 8, colour type 2 =
// RGB), the IDAT stream inflated to one filter byte + 3 bytes per pixel a row.
function checkPng(b, what) {
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (!b.subarray(0, 8).equals(sig)) return fail(`${what}: PNG signature`);
  check(b.toString('ascii', 12, 16) === 'IHDR', `${what}: IHDR first`);
  const w = b.readUInt32BE(16), h = b.readUInt32BE(20);
  check(w === SIDE && h === SIDE && b[24] === 8 && b[25] === 2, `${what}: ${w}x${h} 8-bit RGB`);
  let off = 8;
  const idat = [];
  while (off + 8 <= b.length) {
    const len = b.readUInt32BE(off), type = b.toString('ascii', off + 4, off + 8);
    if (type === 'IDAT') idat.push(b.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  try {
    const raw = zlib.inflateSync(Buffer.concat(idat));
    check(raw.length === h * (1 + w * 3), `${what}: pixel data inflates to ${raw.length} bytes`);
  } catch (e) { fail(`${what}: IDAT inflates (${e.message})`); }
}

const nodes = await (await fetch(`${COORD}/v1/nodes?model=${MODEL}`, {
  headers: { Authorization: `Bearer ${KEY}` } })).json();
const jwk = nodes.data?.[0]?.keys?.receipt?.jwk ?? nodes.data?.[0]?.receipt_jwk;
async function verifyReceipt(jws, pngs, what) {
  try {
    const { payload } = await compactVerify(jws, await importJWK(jwk, 'ES256'));
    const c = JSON.parse(new TextDecoder().decode(payload));
    check(decodeProtectedHeader(jws).typ === 'gloam-receipt', `${what}: receipt typ`);
    check(c.images === pngs.length, `${what}: receipt images ${c.images}`);
    const want = pngs.map((p) => crypto.createHash('sha256').update(p).digest('hex')).join('');
    check(c.images_sha256 === want, `${what}: receipt binds each PNG's SHA-256`);
    check(c.price_micro_usd === pngs.length * PRICE, `${what}: receipt price n x ${PRICE}`);
    check(c.model === MODEL, `${what}: receipt model`);
  } catch (e) { fail(`${what}: receipt verifies with jose (${e.message})`); }
}

async function balance() {
  const r = await fetch(`${COORD}/v1/balance`, { headers: { Authorization: `Bearer ${KEY}` } });
  const b = await r.json();
  return b.balance_micro_usd ?? b.balance;
}

async function generate(base, label, n, format) {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: KEY, maxRetries: 0 });
  const before = await balance();
  let r;
  try {
    r = await client.images.generate({ model: MODEL, prompt: 'a red fox in the snow', n, response_format: format });
  } catch (e) { return fail(`${label}: images.generate (${e.status} ${e.message})`); }
  const after = await balance();
  check(Array.isArray(r.data) && r.data.length === n, `${label}: ${n} image(s)`);
  check(Number.isInteger(r.created), `${label}: created`);
  const pngs = [];
  for (const [i, d] of (r.data ?? []).entries()) {
    if (format === 'url') {
      check(typeof d.url === 'string' && d.url.startsWith(`${base}/v1/images/files/`), `${label}: url ${d.url}`);
      const f = await fetch(d.url);
      check(f.status === 200 && f.headers.get('content-type') === 'image/png', `${label}: url serves image/png`);
      pngs.push(Buffer.from(await f.arrayBuffer()));
    } else {
      check(typeof d.b64_json === 'string', `${label}: b64_json`);
      pngs.push(Buffer.from(d.b64_json ?? '', 'base64'));
    }
    checkPng(pngs[i], `${label} image ${i}`);
  }
  if (n > 1) check(!pngs[0].equals(pngs[1]), `${label}: the images of one call differ`);
  const g = r.gloam ?? {};
  check(typeof g.receipt === 'string', `${label}: gloam.receipt`);
  if (g.receipt) await verifyReceipt(g.receipt, pngs, label);
  check(before - after === n * PRICE, `${label}: balance down by n x price (${before - after} = ${n * PRICE})`);
  return pngs;
}

async function refused(base, label, body, status, param, key = KEY) {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
  try {
    await client.images.generate(body);
    fail(`${label}: accepted`);
  } catch (e) {
    check(e.status === status && (param === undefined || e.param === param) && e.error?.message,
      `${label} -> ${e.status} ${e.param ?? ''} (${e.error?.message ?? e.message})`);
    return e;
  }
}

await generate(COORD, 'coordinator b64_json', 1, 'b64_json');
await generate(COORD, 'coordinator n=2', 2, 'b64_json');
const ok = { model: MODEL, prompt: 'a fox' };
const e = await refused(COORD, 'bad size', { ...ok, size: '1024x1024' }, 400, 'size');
check(e?.error?.message?.includes('384x384'), 'bad size: the message lists the supported sizes');
await refused(COORD, 'n=5', { ...ok, n: 5 }, 400, 'n');
await refused(COORD, 'empty prompt', { ...ok, prompt: '' }, 400, 'prompt');
await refused(COORD, 'unknown model', { ...ok, model: 'nope' }, 404, 'model');
await refused(COORD, 'url through the coordinator', { ...ok, response_format: 'url' }, 400, 'response_format');
await refused(COORD, 'short balance', ok, 402, undefined, POOR);
if (PROXY) {
  await generate(PROXY, 'proxy b64_json', 1, 'b64_json');
  const pngs = await generate(PROXY, 'proxy url n=2', 2, 'url');
  await refused(PROXY, 'proxy bad size', { ...ok, size: '512x512' }, 400, 'size');
  await refused(PROXY, 'proxy n=5', { ...ok, n: 5 }, 400, 'n');
  check((await fetch(`${PROXY}/v1/images/files/0123456789abcdef0123456789abcdef.png`)).status === 404,
    'proxy: an unknown image id is 404');
  check(pngs?.length === 2, 'proxy url images fetched');
}
console.log(failed ? `FAIL ${failed} check(s)` : 'PASS all');
process.exit(failed ? 1 : 0);
