// SPDX-License-Identifier: Apache-2.0
// The official openai (v4) and @anthropic-ai/sdk clients against a real coordinator
// with a protocol-level test node (run.sh starts both). Not in CTest yet: it needs
// the npm packages, which belong in tests/npm.
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import fs from 'fs';
const [port, key] = fs.readFileSync(process.env.HOLD, 'utf8').trim().split(' ');
const base = `http://127.0.0.1:${port}`;
const oa = new OpenAI({ apiKey: key, baseURL: base + '/v1', maxRetries: 0 });
const out = [];
const ok = (name, cond, extra) => { out.push(`${cond ? 'PASS' : 'FAIL'} ${name}${extra ? ' ' + extra : ''}`); };
try {
  const models = await oa.models.list();
  ok('models.list', models.data.length === 1 && models.data[0].id === 'test/tiny-1');
  const m = await oa.models.retrieve('test/tiny-1');
  ok('models.retrieve', m.id === 'test/tiny-1');
  const r = await oa.chat.completions.create({ model: 'test/tiny-1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 });
  ok('chat non-stream', r.choices[0].message.content === 'token-0 token-1 token-2 ', JSON.stringify(r.choices[0].message));
  const s = await oa.chat.completions.create({ model: 'test/tiny-1', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
  let text = ''; let n = 0;
  for await (const c of s) { n++; if (c.choices[0]?.delta?.content) text += c.choices[0].delta.content; }
  ok('chat stream', text === 'token-0 token-1 token-2 ', `${n} chunks, "${text}"`);
  const withRaw = await oa.chat.completions.create({ model: 'test/tiny-1', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  ok('Gloam-Mode header', withRaw.response.headers.get('gloam-mode') === 'coordinator-sealed');
  try { await oa.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }); ok('404', false); }
  catch (e) { ok('404 NotFoundError', e instanceof OpenAI.NotFoundError && e.code === 'model_not_found', `${e.status} ${e.code}`); }
  try { await new OpenAI({ apiKey: 'gk_bad', baseURL: base + '/v1', maxRetries: 0 }).models.list(); ok('401 on models (public)', true); } catch (e) { ok('401', false, String(e)); }
  try { await new OpenAI({ apiKey: 'gk_bad', baseURL: base + '/v1', maxRetries: 0 }).chat.completions.create({ model: 'test/tiny-1', messages: [{ role: 'user', content: 'x' }] }); ok('401', false); }
  catch (e) { ok('401 AuthenticationError', e instanceof OpenAI.AuthenticationError, `${e.status}`); }
  try { await oa.chat.completions.create({ model: 'test/tiny-1', messages: [{ role: 'user', content: 'x' }], n: 2 }); ok('400', false); }
  catch (e) { ok('400 BadRequestError param', e instanceof OpenAI.BadRequestError && e.param === 'n', `${e.status} ${e.param}`); }
  try { await oa.completions.create({ model: 'test/tiny-1', prompt: 'hi', max_tokens: 5 }); ok('completions 400', false); }
  catch (e) { ok('completions 400 BadRequestError', e instanceof OpenAI.BadRequestError && e.param === 'model' && e.type === 'invalid_request_error' && e.error?.message === 'model test/tiny-1 does not support /v1/completions; use /v1/chat/completions', `${e.status} ${e.param} ${e.error?.message}`); }
  try { await oa.embeddings.create({ model: 'test/tiny-1', input: 'hi' }); ok('embeddings 400', false); }
  catch (e) { ok('embeddings 400 BadRequestError', e instanceof OpenAI.BadRequestError && e.param === 'model' && e.type === 'invalid_request_error', `${e.status} ${e.param}`); }
  try { await oa.embeddings.create({ model: 'no/such', input: 'hi' }); ok('embeddings 404', false); }
  catch (e) { ok('embeddings 404 NotFoundError', e instanceof OpenAI.NotFoundError && e.code === 'model_not_found', `${e.status} ${e.code}`); }
  const an = new Anthropic({ apiKey: key, baseURL: base, maxRetries: 0 });
  const am = await an.messages.create({ model: 'test/tiny-1', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
  ok('anthropic non-stream', am.content[0].text === 'token-0 token-1 token-2 ' && am.stop_reason === 'end_turn', JSON.stringify(am.content));
  const as = an.messages.stream({ model: 'test/tiny-1', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
  let at = ''; as.on('text', (t) => { at += t; });
  const fin = await as.finalMessage();
  ok('anthropic stream', at === 'token-0 token-1 token-2 ' && fin.usage.output_tokens === 3, `"${at}" ${JSON.stringify(fin.usage)}`);
  try { await new Anthropic({ apiKey: 'gk_bad', baseURL: base, maxRetries: 0 }).messages.create({ model: 'test/tiny-1', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }); ok('anthropic 401', false); }
  catch (e) { ok('anthropic 401 AuthenticationError', e instanceof Anthropic.AuthenticationError, `${e.status}`); }
} catch (e) { ok('unexpected', false, String(e.stack || e)); }
console.log(out.join('\n'));
fs.unlinkSync(process.env.HOLD);
