// The JavaScript GPT-2 encoder (npm package gpt-3-encoder) timed as `tapegrad-bench tokenize`
// times data::BPETokenizer: the vocabulary loaded once (not timed), then each repeat encodes
// the text with a fresh module, so that its piece cache starts empty as ours does.
//
// The encoder appends each piece's ids with Array.concat, which copies the whole result every
// time: its cost grows with the square of the text's length (a 1.7 MB text takes about 45
// minutes). So the text is encoded in chunks of about --chunk bytes (default 4096), each ending
// at a newline, the way the encoder is used on prompts and documents; --chunk 0 encodes it whole.
//
//   node bench/tokenize_js.js <gpt-3-encoder dir> <text file> [repeats] [--chunk BYTES]
'use strict';
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
let chunk = 4096;
const at = args.indexOf('--chunk');
if (at >= 0) {
    chunk = Number(args[at + 1]);
    args.splice(at, 2);
}
if (args.length < 2 || !(chunk >= 0)) {
    console.error('usage: node tokenize_js.js <gpt-3-encoder dir> <text file> [repeats] [--chunk BYTES]');
    process.exit(2);
}
const pkg = path.resolve(args[0]);
const raw = fs.readFileSync(args[1]);
const repeats = Number(args[2] || 5);
const bytes = raw.length;

// Chunks of about `chunk` bytes, each ending just after a newline where there is one (the
// same cuts as `tapegrad-bench tokenize --chunk`; a newline byte is never inside a character).
const chunks = [];
for (let start = 0; start < raw.length;) {
    let end = raw.length;
    if (chunk > 0) {
        const newline = raw.indexOf(0x0a, Math.min(raw.length, start + chunk));
        end = newline < 0 ? raw.length : newline + 1;
    }
    chunks.push(raw.subarray(start, end).toString('utf-8'));
    start = end;
}
const ms = [];
let tokens = 0;
for (let r = 0; r < repeats; ++r) {
    for (const key of Object.keys(require.cache)) if (key.startsWith(pkg)) delete require.cache[key];
    const { encode } = require(pkg);
    const t0 = process.hrtime.bigint();
    tokens = 0;
    for (const piece of chunks) tokens += encode(piece).length;
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
ms.sort((a, b) => a - b);
const med = ms[Math.floor((ms.length - 1) / 2 + 0.5)];
console.log(`framework: gpt-3-encoder (node ${process.version})`);
console.log(`chunks: ${chunks.length}`);
console.log(`bytes: ${bytes}\ntokens: ${tokens}\nbytes_per_token: ${(bytes / Math.max(tokens, 1)).toFixed(3)}`);
console.log(`ms_encode: ${med.toFixed(1)}\nmb_per_s: ${(bytes / 1e3 / med).toFixed(3)}`);
