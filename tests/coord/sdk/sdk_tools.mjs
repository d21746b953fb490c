// SPDX-License-Identifier: Apache-2.0
// Tool calls through the official SDKs, both APIs, streaming and not (run.sh tool).
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import fs from 'fs';
const [port, key] = fs.readFileSync(process.env.HOLD, 'utf8').trim().split(' ');
const base = `http://127.0.0.1:${port}`;
const out = [];
const ok = (name, cond, extra) => { out.push(`${cond ? 'PASS' : 'FAIL'} ${name}${extra ? ' ' + extra : ''}`); };
try {
  const oa = new OpenAI({ apiKey: key, baseURL: base + '/v1', maxRetries: 0 });
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const r = await oa.chat.completions.create({ model: 'test/tiny-1', messages: [{ role: 'user', content: 'w?' }], tools });
  const tc = r.choices[0].message.tool_calls?.[0];
  ok('openai tools non-stream', tc?.function.name === 'get_weather' && JSON.parse(tc.function.arguments).city === 'Oslo' && r.choices[0].finish_reason === 'tool_calls');
  const runner = oa.beta.chat.completions.stream({ model: 'test/tiny-1', messages: [{ role: 'user', content: 'w?' }], tools });
  const fc = await runner.finalChatCompletion();
  const stc = fc.choices[0].message.tool_calls?.[0];
  ok('openai tools stream (accumulated)', stc?.function.name === 'get_weather' && JSON.parse(stc.function.arguments).city === 'Oslo', JSON.stringify(fc.choices[0].message));
  const an = new Anthropic({ apiKey: key, baseURL: base, maxRetries: 0 });
  const atools = [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
  const am = await an.messages.create({ model: 'test/tiny-1', max_tokens: 20, tools: atools, messages: [{ role: 'user', content: 'w?' }] });
  ok('anthropic tool_use', am.content[0].type === 'tool_use' && am.content[0].input.city === 'Oslo' && am.stop_reason === 'tool_use');
  const fin = await an.messages.stream({ model: 'test/tiny-1', max_tokens: 20, tools: atools, messages: [{ role: 'user', content: 'w?' }] }).finalMessage();
  ok('anthropic tool_use stream', fin.content[0].type === 'tool_use' && fin.content[0].input.city === 'Oslo' && fin.stop_reason === 'tool_use', JSON.stringify(fin.content) + JSON.stringify(fin.usage));
  /* round trip: send the tool result back */
  const am2 = await an.messages.create({ model: 'test/tiny-1', max_tokens: 20, tools: atools, messages: [
    { role: 'user', content: 'w?' }, { role: 'assistant', content: am.content },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: am.content[0].id, content: '-3C' }] }] });
  ok('anthropic tool_result round trip accepted', am2.type === 'message');
} catch (e) { ok('unexpected', false, String(e.stack || e)); }
console.log(out.join('\n'));
fs.unlinkSync(process.env.HOLD);
