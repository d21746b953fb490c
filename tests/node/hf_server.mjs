// SPDX-License-Identifier: Apache-2.0
//
// tests/node/hf_server.mjs: a tiny Hugging Face Hub-compatible HTTP server
// for the `gloam-node models pull` tests (tests/node/test_node_models.c).
//
//   node hf_server.mjs ROOT PORT_FILE LOG_FILE CONTROL_FILE
//
// GET /api/models/ORG/NAME/revision/REV  -> the JSON file named by the
//     control file's "api" (the test writes it), when "repo" is ORG/NAME
// GET /ORG/NAME/resolve/COMMIT/FILE      -> *.safetensors: 302 to /_cdn/FILE
//     (as the Hub redirects LFS files to its CDN); other files: the content
// GET /_cdn/FILE                         -> the content of ROOT/FILE
// Content honours "Range: bytes=A-" (206 / 416). CONTROL_FILE (JSON, re-read
// for every request) injects faults:
//   "cut":     {"file": F, "after": N, "times": K}  the first K responses
//              for F end (socket destroyed) once byte offset N was sent
//   "corrupt": F      one byte of F is flipped in every response
//   "throttle_ms": M  content goes out in 32 KiB pieces M ms apart
//   "ignore_range": true  answer 200 with the whole file to Range requests
// Every request appends {"url":..., "range":...} as a line to LOG_FILE.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const [root, portFile, logFile, ctlFile] = process.argv.slice(2);
const cutsUsed = new Map();

function control() {
  try { return JSON.parse(fs.readFileSync(ctlFile, 'utf8')); } catch { return {}; }
}

function sendContent(req, res, rel, ctl) {
  const file = path.join(root, rel);
  if (rel.includes('..') || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
    res.writeHead(404, {'content-type': 'application/json'});
    res.end('{"error":"Entry not found"}');
    return;
  }
  let data = fs.readFileSync(file);
  if (ctl.corrupt === rel) {
    data = Buffer.from(data);
    data[data.length >> 1] ^= 0x5a;
  }
  let start = 0;
  const m = ctl.ignore_range ? null : /^bytes=(\d+)-$/.exec(req.headers.range || '');
  const headers = {'content-type': 'application/octet-stream', 'accept-ranges': 'bytes'};
  if (m) {
    start = Number(m[1]);
    if (start >= data.length) {
      res.writeHead(416, {'content-range': `bytes */${data.length}`});
      res.end();
      return;
    }
    headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
  }
  headers['content-length'] = String(data.length - start);
  res.writeHead(m ? 206 : 200, headers);
  let cutAt = -1;
  if (ctl.cut && ctl.cut.file === rel) {
    const key = `${rel}:${ctl.cut.after}`;
    const used = cutsUsed.get(key) || 0;
    if (used < (ctl.cut.times || 1)) {
      cutsUsed.set(key, used + 1);
      cutAt = ctl.cut.after;
    }
  }
  const end = cutAt >= start ? cutAt : data.length;
  const piece = 32 * 1024;
  let pos = start;
  const pump = () => {
    while (pos < end) {
      const next = Math.min(end, pos + piece);
      const chunk = data.subarray(pos, next);
      pos = next;
      if (ctl.throttle_ms) {
        res.write(chunk);
        setTimeout(pump, ctl.throttle_ms);
        return;
      }
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    if (cutAt >= 0) setTimeout(() => res.socket.destroy(), 20);
    else res.end();
  };
  pump();
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  fs.appendFileSync(logFile, JSON.stringify({url: req.url, range: req.headers.range || null}) + '\n');
  const ctl = control();
  const parts = url.pathname.split('/').map(decodeURIComponent);
  if (parts[1] === 'api' && parts[2] === 'models' && parts[5] === 'revision') {
    if (`${parts[3]}/${parts[4]}` !== ctl.repo || !ctl.api) {
      res.writeHead(404, {'content-type': 'application/json'});
      res.end('{"error":"Repository not found"}');
      return;
    }
    res.writeHead(200, {'content-type': 'application/json'});
    res.end(fs.readFileSync(ctl.api));
    return;
  }
  if (parts[1] === '_cdn') return sendContent(req, res, parts.slice(2).join('/'), ctl);
  if (parts[3] === 'resolve' && `${parts[1]}/${parts[2]}` === ctl.repo) {
    const rel = parts.slice(5).join('/');
    if (rel.endsWith('.safetensors')) {
      res.writeHead(302, {location: `/_cdn/${rel}`});
      res.end('redirect');
      return;
    }
    return sendContent(req, res, rel, ctl);
  }
  res.writeHead(404);
  res.end();
});
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(portFile + '.tmp', String(server.address().port));
  fs.renameSync(portFile + '.tmp', portFile);
});
