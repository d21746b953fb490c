// SPDX-License-Identifier: Apache-2.0
// tests/e2e/openai_sdk.mjs: the official openai SDK against `gloam proxy`,
// changing only baseURL: non-streaming and streaming chat completions.
// usage: node openai_sdk.mjs BASE_URL CANARY NPM_DIR   (NPM_DIR holds node_modules/openai)
import { createRequire } from 'node:module';
import path from 'node:path';

const [baseURL, canary, npmDir] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(npmDir), 'package.json'));
const mod = require('openai');
const OpenAI = mod.OpenAI || mod.default || mod;
const client = new OpenAI({ baseURL, apiKey: 'unused-by-the-proxy', maxRetries: 0 });
const messages = [{ role: 'user', content: `Say hello. ${canary}` }];

const { data: r, response } = await client.chat.completions
  .create({ model: 'qwen3', messages, max_tokens: 8 })
  .withResponse();
if (response.headers.get('gloam-mode') !== 'client-sealed') throw new Error('no Gloam-Mode');
if (!r.gloam || r.gloam.receipt_verified !== true) throw new Error('no verified receipt');
if (typeof r.choices[0].message.content !== 'string') throw new Error('no content');

const stream = await client.chat.completions.create({ model: 'qwen3', messages, max_tokens: 8, stream: true });
let chunks = 0;
let verified = false;
for await (const c of stream) {
  chunks++;
  if (c.gloam && c.gloam.receipt_verified === true) verified = true;
}
if (!verified) throw new Error('the stream had no verified receipt');
console.log(`non-streaming ok, streaming ok (${chunks} chunks), trust ${r.gloam.trust}`);
