// Real stimuli from the original study (../shared/imi: GoogLeNet catch-trial units,
// ImageNet-derived, never copied into the repository): an experiment that points at them
// validates natively and runs in the browser, in the natural and the synthetic condition
// (feature visualisations as references, natural queries from another folder).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, mkdtempSync, writeFileSync, symlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, BIN, startServer, launch, newPage, stimulusHashes, throughPractice, playTrial, demoExperiment } from './harness.mjs';

const IMI = join(ROOT, '../shared/imi');
const skip = existsSync(join(IMI, 'catch_trials')) ? false : 'needs ../shared/imi';

function imiExperiment() {
  const dir = mkdtempSync(join(tmpdir(), 'exemplar-imi-'));
  symlinkSync(IMI, join(dir, 'stimuli'));
  const units = [];
  for (const layer of readdirSync(join(IMI, 'catch_trials')).sort()) {
    for (const ch of readdirSync(join(IMI, 'catch_trials', layer))) {
      const at = `stimuli/catch_trials/${layer}/${ch}`;
      const channel = Number(ch.replace('channel_', ''));
      units.push({ id: `${layer}/${channel}`, model: 'googlenet', layer, channel, mode: 'natural',
        batches: [{ batch: 0, references: `${at}/natural_images` }] });
      units.push({ id: `${layer}/${channel}/optimized`, model: 'googlenet', layer, channel, mode: 'optimized',
        batches: [{ batch: 0, references: `${at}/optimized_images`, queries: `${at}/natural_images` }] });
    }
  }
  const exp = demoExperiment();
  delete exp.$schema;
  Object.assign(exp, {
    id: 'imi-catch', title: 'IMI catch units', units, catch_units: [],
    practice: { max_attempts: 1, trials: [units[0]].map((u) => ({ ...u, id: 'practice' })) },
    session: { main_trials: units.length, catch_trials: 0, draw: 'first' },
  });
  writeFileSync(join(dir, 'experiment.json'), JSON.stringify(exp, null, 2));
  return { dir, units };
}

let server, browser, imi;
before(async () => {
  if (skip) return;
  imi = imiExperiment();
  server = await startServer({ mounts: [`/imi=${imi.dir}`] });
  browser = await launch();
});
after(async () => { await browser?.close(); await server?.kill('SIGTERM'); });

test('an experiment over the original catch-trial stimuli validates natively', { skip }, () => {
  const out = execFileSync(BIN, ['validate', imi.dir], { encoding: 'utf8' });
  assert.match(out, /valid \(14 units, 0 catch units, 300 stimulus files\)/);
});

test('real ImageNet stimuli run in the browser, natural and synthetic', { skip }, async () => {
  const hashes = stimulusHashes(imi.dir);
  const page = await newPage(browser);
  await page.goto(`${server.url}?experiment=imi/experiment.json&pid=imi-1`);
  await throughPractice(page, hashes);
  const seen = new Set();
  for (let i = 0; i < 4; i++) {
    const t = await playTrial(page, hashes, { index: i });
    const refs = [...t.left, ...t.right].flat();
    // Every query is a natural image; references come from one folder of one unit.
    assert.ok([...t.upper, ...t.lower].every((p) => p.includes('/natural_images/')), `${t.upper} ${t.lower}`);
    seen.add(refs.some((p) => p.includes('/optimized_images/')) ? 'optimized' : 'natural');
  }
  assert.deepEqual([...seen].sort(), ['natural', 'optimized'], 'draw "first" alternates the two conditions');
  const records = (await server.storedRecords()).filter((r) => r.participant_id === 'imi-1' && r.type === 'trial' && r.phase === 'main');
  assert.equal(records.length, 4);
  for (const r of records) {
    assert.equal(r.model, 'googlenet');
    assert.equal(r.mode, r.unit_id.endsWith('/optimized') ? 'optimized' : 'natural');
    assert.match(r.max_query, /natural_images\/max_9\.png$/);
    assert.ok(r.max_references.every((x) => x.includes(r.mode === 'optimized' ? '/optimized_images/' : '/natural_images/')));
  }
  assert.deepEqual(page.errors, []);
});
