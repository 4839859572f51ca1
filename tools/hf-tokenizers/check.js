// Runs Hugging Face's tokenizers (the official Node binding of the Rust crate, pinned in package-lock.json) on the
// tokenizer.json files BertSharp writes for the repository's tokenizer test cases, and prints the ids HF gives:
//   cd tools/hf-tokenizers && npm ci && node check.js > ../../tests/BertSharp.Tests/Text/Fixtures/hf_tokenizer_ids.json
// The tokenizer.json inputs are committed fixtures that TokenizerJsonTests checks BertSharp still writes byte for byte.
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const fixtures = path.join(__dirname, '..', '..', 'tests', 'BertSharp.Tests', 'Text', 'Fixtures');
const cases = JSON.parse(fs.readFileSync(path.join(fixtures, 'tokenizer_cases.json'), 'utf8')).cases.map(c => c.text);

async function run() {
  const out = { generator: 'tools/hf-tokenizers/check.js', tokenizers: require('tokenizers/package.json').version, casings: {} };
  for (const casing of ['uncased', 'cased']) {
    const tok = Tokenizer.fromFile(path.join(fixtures, 'hf_tokenizer', casing, 'tokenizer.json'));
    const single = [], pairs = [];
    for (const text of cases) single.push((await tok.encode(text)).getIds());
    // Pairs of neighbouring cases: the template's [SEP] and token types.
    for (let i = 0; i + 1 < cases.length; i += 2) {
      const e = await tok.encode(cases[i], cases[i + 1]);
      pairs.push({ a: i, b: i + 1, ids: e.getIds(), type_ids: e.getTypeIds() });
    }
    // A padded batch (BatchLongest, [PAD], attention mask 0).
    const batch = await tok.encodeBatch(cases.slice(1, 5));
    out.casings[casing] = {
      single, pairs,
      batch: batch.map(e => ({ ids: e.getIds(), attention_mask: e.getAttentionMask() })),
      decoded: await tok.decode(single[1], true),
    };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
run().catch(e => { console.error(e); process.exit(1); });
