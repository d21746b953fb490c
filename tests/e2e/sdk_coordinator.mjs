// SPDX-License-Identifier: Apache-2.0
// tests/e2e/sdk_coordinator.mjs: the official openai and @anthropic-ai/sdk
// clients straight against gloam-coord (coordinator-sealed mode: plain
// OpenAI/Anthropic JSON in, the coordinator seals to the node and opens its
// stream) with a real gloam-node serving the demo model. Changing only the
// base URL must be enough. Checks: models, chat non-streaming and streaming
// (greedy, so both give the same text; usage in the last chunk matches the
// non-streaming usage), the Gloam-* headers and the `gloam` object with the
// node's receipt, Anthropic messages streaming and not, and OpenAI-format
// errors (404, 401, 400 with param).
// The prompt carries the caller's canary: the coordinator sees it in this
// mode but must not log or store it (e2e_sealed.sh checks its logs and db).
// usage: node sdk_coordinator.mjs BASE_URL API_KEY MODEL CANARY NPM_DIR
import { createRequire } from 'node:module';
import path from 'node:path';

const [base, apiKey, model, canary, npmDir] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(npmDir), 'package.json'));
const oaMod = require('openai');
const OpenAI = oaMod.OpenAI || oaMod.default || oaMod;
const anMod = require('@anthropic-ai/sdk');
const Anthropic = anMod.Anthropic || anMod.default || anMod;

const oa = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0 });
const failures = [];
const check = (name, cond, detail) => {
  if (!cond) failures.push(`${name}${detail ? ': ' + detail : ''}`);
};
const messages = [{ role: 'user', content: `Count to five. ${canary}` }];
const greedy = { model, messages, max_tokens: 12, temperature: 0 };

const list = await oa.models.list();
check('models.list', list.data.some((m) => m.id === model), JSON.stringify(list.data));

const { data: r, response } = await oa.chat.completions.create(greedy).withResponse();
check('Gloam-Mode', response.headers.get('gloam-mode') === 'coordinator-sealed');
check('Gloam-Node', !!response.headers.get('gloam-node'));
check('Gloam-Trust', !!response.headers.get('gloam-trust'));
check('chat.completion', r.object === 'chat.completion' && typeof r.choices[0].message.content === 'string');
check('usage', r.usage.completion_tokens > 0 && r.usage.prompt_tokens > 0, JSON.stringify(r.usage));
check('receipt', typeof r.gloam?.receipt === 'string' && r.gloam.receipt.split('.').length === 3,
  JSON.stringify(r.gloam));

const stream = await oa.chat.completions.create({ ...greedy, stream: true, stream_options: { include_usage: true } });
let text = '';
let usage = null;
for await (const c of stream) {
  if (c.choices[0]?.delta?.content) text += c.choices[0].delta.content;
  if (c.usage) usage = c.usage;
}
check('stream text == non-stream text (greedy)', text === r.choices[0].message.content,
  `${JSON.stringify(text)} vs ${JSON.stringify(r.choices[0].message.content)}`);
check('stream usage', usage && usage.completion_tokens === r.usage.completion_tokens, JSON.stringify(usage));

const an = new Anthropic({ baseURL: base, apiKey, maxRetries: 0 });
const am = await an.messages.create({ model, max_tokens: 12, temperature: 0, messages });
check('anthropic message', am.type === 'message' && am.content[0]?.type === 'text', JSON.stringify(am));
let at = '';
const as = an.messages.stream({ model, max_tokens: 12, temperature: 0, messages });
as.on('text', (t) => { at += t; });
const fin = await as.finalMessage();
check('anthropic stream == non-stream', at === am.content[0].text, `${JSON.stringify(at)} vs ${JSON.stringify(am.content[0].text)}`);
check('anthropic usage', fin.usage.output_tokens === am.usage.output_tokens, JSON.stringify(fin.usage));

try {
  await oa.chat.completions.create({ ...greedy, model: 'no/such-model' });
  check('404', false, 'accepted');
} catch (e) {
  check('404', e instanceof OpenAI.NotFoundError && e.code === 'model_not_found', `${e.status} ${e.code}`);
}
try {
  await new OpenAI({ baseURL: `${base}/v1`, apiKey: 'gk_wrong', maxRetries: 0 }).chat.completions.create(greedy);
  check('401', false, 'accepted');
} catch (e) {
  check('401', e instanceof OpenAI.AuthenticationError, `${e.status}`);
}
try {
  await oa.chat.completions.create({ ...greedy, temperature: 7 });
  check('400', false, 'accepted');
} catch (e) {
  check('400', e instanceof OpenAI.BadRequestError && e.param === 'temperature', `${e.status} ${e.param}`);
}

if (failures.length) {
  console.error(failures.join('\n'));
  process.exit(1);
}
console.log(`openai + anthropic SDKs against the coordinator: all checks passed (${JSON.stringify(text)})`);
