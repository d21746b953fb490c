// SPDX-License-Identifier: Apache-2.0
//
// tests/speech/sdk/speech_sdk.mjs: the official `openai` npm SDK (v4)
// calling audio.transcriptions.create and audio.translations.create through
// gloam, driven by run.sh (which starts gloam-coord, a gloam-node serving the
// whisper fixture, and `gloam proxy`, and writes what `gloam-engine
// transcribe` prints for the same file and options into REF_DIR).
//
// Checked for both privacy modes (the coordinator: coordinator-sealed; the
// proxy: client-sealed), every response_format, streaming and translation:
// the tokens equal gloam-engine's (the fixture has no tokenizer.json, so
// texts are empty and the token ids are what can be compared), SRT/VTT
// timing lines in their published shapes and equal to verbose_json's
// segments, verbose_json's fields, the receipt verified with jose against
// the node's key from /v1/nodes, audio_ms equal to the WAV's own duration
// (read from its header here), billing (balance down by exactly
// ceil(audio_ms * price / 60000)), and clean OpenAI errors for corrupt audio,
// a JSON body, an oversized upload, an unknown model and a short balance.
// Every check prints PASS or FAIL.
import fs from 'node:fs';
import OpenAI, { toFile } from 'openai';
import { compactVerify, importJWK, decodeProtectedHeader } from 'jose';

const env = process.env;
const COORD = env.COORD_URL, PROXY = env.PROXY_URL, KEY = env.API_KEY, POOR = env.POOR_KEY;
const WAV = fs.readFileSync(env.WAV);
const PRICE = Number(env.PRICE_PER_MIN);
const MODEL = env.MODEL;
let failed = 0;
const pass = (m) => console.log(`PASS ${m}`);
const fail = (m) => { failed++; console.log(`FAIL ${m}`); };
const check = (c, m) => (c ? pass(m) : fail(m));

// The WAV's duration from its own header (RIFF/WAVE, fmt + data chunks).
function wavMs(b) {
  let off = 12, rate = 0, align = 0, data = 0;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4), len = b.readUInt32LE(off + 4);
    if (id === 'fmt ') { rate = b.readUInt32LE(off + 12); align = b.readUInt16LE(off + 20); }
    if (id === 'data') data = len;
    off += 8 + len + (len & 1);
  }
  return (data / align / rate) * 1000;
}
const WAV_MS = wavMs(WAV);

// gloam-engine transcribe's ids for an option set ("ts", "plain", "translate").
function refIds(name) {
  const t = fs.readFileSync(`${env.REF_DIR}/${name}.txt`, 'utf8');
  const m = t.match(/^ids:(.*)$/m);
  return m ? m[1].trim().split(/\s+/).filter(Boolean).map(Number) : [];
}
const TS_BEGIN = 50364; // <|0.00|> in the 51865-token multilingual vocabulary
const textIds = (ids) => ids.filter((i) => i < 50257);

const nodes = await (await fetch(`${COORD}/v1/nodes?model=${MODEL}`, {
  headers: { Authorization: `Bearer ${KEY}` } })).json();
const jwk = nodes.data?.[0]?.keys?.receipt?.jwk ?? nodes.data?.[0]?.receipt_jwk;
async function verifyReceipt(jws, what) {
  try {
    const key = await importJWK(jwk, 'ES256');
    const { payload } = await compactVerify(jws, key);
    const c = JSON.parse(new TextDecoder().decode(payload));
    check(decodeProtectedHeader(jws).typ === 'gloam-receipt', `${what}: receipt typ`);
    check(Math.abs(c.audio_ms - WAV_MS) <= 1, `${what}: receipt audio_ms ${c.audio_ms} = WAV ${WAV_MS.toFixed(1)} ms`);
    check(c.price_micro_usd === Math.ceil((c.audio_ms * PRICE) / 60000), `${what}: receipt price per minute`);
    check(c.model === MODEL, `${what}: receipt model`);
    return c;
  } catch (e) {
    fail(`${what}: receipt verifies with jose (${e.message})`);
    return null;
  }
}

const timeRe = (sep) => new RegExp(`^(\\d{2}):(\\d{2}):(\\d{2})${sep}(\\d{3}) --> (\\d{2}):(\\d{2}):(\\d{2})${sep}(\\d{3})$`);
const toS = (m, i) => Number(m[i]) * 3600 + Number(m[i + 1]) * 60 + Number(m[i + 2]) + Number(m[i + 3]) / 1000;
function cueTimes(text, vtt) {
  const lines = text.split('\n');
  const re = timeRe(vtt ? '\\.' : ',');
  const out = [];
  for (const l of lines) { const m = l.match(re); if (m) out.push([toS(m, 1), toS(m, 5)]); }
  return out;
}

async function balance() {
  const r = await fetch(`${COORD}/v1/balance`, { headers: { Authorization: `Bearer ${KEY}` } });
  const b = await r.json();
  return b.balance_micro_usd ?? b.balance;
}

async function modeChecks(label, baseURL) {
  const client = new OpenAI({ apiKey: KEY, baseURL: `${baseURL}/v1`, maxRetries: 0 });
  const file = () => toFile(WAV, 'speech16k.wav');
  const tsRef = refIds('ts'), plainRef = refIds('plain'), trRef = refIds('translate');
  check(tsRef.length > 0 && plainRef.length > 0, `${label}: gloam-engine reference ids present`);

  // json (no timestamps) + billing
  const before = await balance();
  const j = await client.audio.transcriptions.create({ file: await file(), model: MODEL, language: 'en' });
  const after = await balance();
  check(typeof j.text === 'string' && j.text === '', `${label}: json text equals gloam-engine's (empty: no tokenizer)`);
  check(j.usage?.type === 'duration' && j.usage.seconds === Math.ceil(WAV_MS / 1000), `${label}: json usage seconds`);
  const rj = j.gloam?.receipt;
  check(typeof rj === 'string', `${label}: json carries the receipt`);
  const claims = rj ? await verifyReceipt(rj, `${label} json`) : null;
  if (claims) {
    const charged = Math.ceil((claims.audio_ms * PRICE) / 60000);
    check(before - after === charged, `${label}: balance down by duration x price (${before - after} = ${charged})`);
    if (j.gloam.charged_micro_usd !== undefined) check(j.gloam.charged_micro_usd === charged, `${label}: charged_micro_usd`);
  }

  // text
  const t = await client.audio.transcriptions.create({ file: await file(), model: MODEL, language: 'en', response_format: 'text' });
  check(typeof t === 'string' && t === '\n', `${label}: text format is the text and a newline`);

  // verbose_json (timestamps): tokens = gloam-engine --timestamps
  const v = await client.audio.transcriptions.create({ file: await file(), model: MODEL, language: 'en',
    response_format: 'verbose_json', timestamp_granularities: ['segment'] });
  check(v.task === 'transcribe' && v.language === 'english', `${label}: verbose_json task and language`);
  check(Math.abs(v.duration * 1000 - WAV_MS) < 1, `${label}: verbose_json duration ${v.duration}`);
  check(Array.isArray(v.segments) && v.segments.length > 0, `${label}: verbose_json has segments`);
  const segOk = v.segments.every((s, i) => s.id === i && typeof s.seek === 'number' && s.start <= s.end &&
    Array.isArray(s.tokens) && typeof s.avg_logprob === 'number' && typeof s.temperature === 'number' &&
    typeof s.text === 'string');
  check(segOk, `${label}: verbose_json segment fields`);
  const vTok = v.segments.flatMap((s) => s.tokens);
  check(JSON.stringify(vTok) === JSON.stringify(textIds(tsRef)),
    `${label}: verbose_json tokens equal gloam-engine transcribe --timestamps (${vTok.length} tokens)`);
  check(tsRef.some((i) => i >= TS_BEGIN), `${label}: the reference has timestamp tokens`);

  // srt / vtt: published shapes, same times as verbose_json
  const srt = await client.audio.transcriptions.create({ file: await file(), model: MODEL, language: 'en', response_format: 'srt' });
  const nums = [...srt.matchAll(/(?:^|\n)(\d+)\n\d{2}:\d{2}:\d{2},\d{3} --> /g)].map((m) => Number(m[1]));
  check(nums.length > 0 && nums.every((n, i) => n === i + 1), `${label}: srt cues numbered from 1`);
  const st = cueTimes(srt, false);
  check(st.length === v.segments.length && st.every(([a, b], i) =>
    Math.abs(a - v.segments[i].start) < 0.0015 && Math.abs(b - v.segments[i].end) < 0.0015),
  `${label}: srt timing lines (HH:MM:SS,mmm) equal verbose_json segments`);
  const vtt = await client.audio.transcriptions.create({ file: await file(), model: MODEL, language: 'en', response_format: 'vtt' });
  check(vtt.startsWith('WEBVTT\n\n'), `${label}: vtt starts with WEBVTT`);
  const vt = cueTimes(vtt, true);
  check(JSON.stringify(vt) === JSON.stringify(st), `${label}: vtt timing lines (HH:MM:SS.mmm) equal srt's`);

  // stream: transcript.text.done (no deltas: empty texts), then gloam.usage
  const stream = await client.audio.transcriptions.create({ file: await file(), model: MODEL, language: 'en', stream: true });
  const events = [];
  for await (const ev of stream) events.push(ev);
  const done = events.find((e) => e.type === 'transcript.text.done');
  check(done && done.text === '', `${label}: stream ends with transcript.text.done`);
  check(events.every((e) => ['transcript.text.delta', 'transcript.text.done', 'gloam.usage'].includes(e.type)),
    `${label}: stream events are transcript.text.* (+ gloam.usage)`);
  const gu = events.find((e) => e.type === 'gloam.usage');
  if (gu) await verifyReceipt(gu.gloam.receipt, `${label} stream`); else fail(`${label}: stream gloam.usage event`);

  // translations: verbose_json tokens = gloam-engine --task translate --timestamps
  const tr = await client.audio.translations.create({ file: await file(), model: MODEL, response_format: 'verbose_json' });
  check(tr.task === 'translate', `${label}: translation task`);
  const trTok = tr.segments.flatMap((s) => s.tokens);
  check(JSON.stringify(trTok) === JSON.stringify(textIds(trRef)),
    `${label}: translation tokens equal gloam-engine transcribe --task translate (${trTok.length})`);

  // errors
  const expectErr = async (what, status, fn) => {
    try { await fn(); fail(`${label}: ${what} was accepted`); } catch (e) {
      check(e.status === status && (e.error?.message || e.message), `${label}: ${what} -> ${status} (${e.status}: ${e.error?.message ?? e.message})`);
    }
  };
  const junk = Buffer.alloc(4096, 0x5a);
  await expectErr('corrupt audio', 400, async () =>
    client.audio.transcriptions.create({ file: await toFile(junk, 'x.wav'), model: MODEL }));
  // the coordinator answers OpenAI's 404; gloam proxy finds no node to seal to (503, as for chat)
  await expectErr('unknown model', label === 'client-sealed' ? 503 : 404, async () =>
    client.audio.transcriptions.create({ file: await file(), model: 'no-such-model' }));
  await expectErr('word timestamps', 400, async () =>
    client.audio.transcriptions.create({ file: await file(), model: MODEL, response_format: 'verbose_json', timestamp_granularities: ['word'] }));
  const r = await fetch(`${baseURL}/v1/audio/transcriptions`, { method: 'POST',
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ model: MODEL }) });
  const rb = await r.json().catch(() => ({}));
  check(r.status === 415 && rb.error?.message, `${label}: JSON body -> 415 with an OpenAI error (${r.status})`);
}

await modeChecks('coordinator-sealed', COORD);
await modeChecks('client-sealed', PROXY);

// coordinator only: oversized upload (run.sh caps uploads at 1 MiB) and a short balance
{
  const client = new OpenAI({ apiKey: KEY, baseURL: `${COORD}/v1`, maxRetries: 0 });
  try {
    await client.audio.transcriptions.create({ file: await toFile(Buffer.alloc(2 << 20, 1), 'big.wav'), model: MODEL });
    fail('oversized upload was accepted');
  } catch (e) { check(e.status === 413, `oversized upload -> 413 (${e.status}: ${e.error?.message ?? e.message})`); }
  // a trust level no node has (the coordinator labels nodes "none" until it verifies evidence)
  try {
    await client.audio.transcriptions.create({ file: await toFile(WAV, 'a.wav'), model: MODEL },
      { headers: { 'Gloam-Min-Trust': 'tpm' } });
    fail('Gloam-Min-Trust: tpm was accepted');
  } catch (e) { check(e.status === 503, `Gloam-Min-Trust: tpm -> 503 (${e.status}: ${e.error?.message ?? e.message})`); }
  try {
    await client.audio.transcriptions.create({ file: await toFile(WAV, 'a.wav'), model: MODEL },
      { headers: { 'Gloam-Min-Trust': 'bogus' } });
    fail('Gloam-Min-Trust: bogus was accepted');
  } catch (e) { check(e.status === 400, `Gloam-Min-Trust: bogus -> 400 (${e.status})`); }
  const poor = new OpenAI({ apiKey: POOR, baseURL: `${COORD}/v1`, maxRetries: 0 });
  try {
    await poor.audio.transcriptions.create({ file: await toFile(WAV, 'a.wav'), model: MODEL });
    fail('short balance was accepted');
  } catch (e) { check(e.status === 402, `short balance -> 402 (${e.status})`); }
}
process.exit(failed ? 1 : 0);
