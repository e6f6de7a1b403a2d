// `exemplar build`: the static site runs from a sub-path of a plain static server
// (Python's http.server), fetches stimuli by content hash, verifies them, and a tampered
// file is detected.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sizeByCrate } from './wasm_size.mjs';
import { BIN, DIST, ROOT, startCollector, launch, newPage, stimulusHashes, throughIntro, throughPractice, playTrial, variantExperiment, eventually } from './harness.mjs';

const hashes = stimulusHashes();
let collector, browser, server, base;
const root = mkdtempSync(join(tmpdir(), 'exemplar-site-'));

before(async () => {
  collector = await startCollector();
  browser = await launch();
  server = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', root], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise((ok, fail) => {
    let out = '';
    server.stdout.on('data', (d) => { out += d; const m = out.match(/port (\d+)/); if (m) ok(Number(m[1])); });
    server.on('exit', (c) => fail(new Error(`http.server exited ${c}`)));
  });
  base = `http://127.0.0.1:${port}/`;
});
after(async () => { server?.kill(); await browser?.close(); await collector?.kill('SIGTERM'); });

function build(name) {
  const exp = variantExperiment((j) => {
    j.practice.trials = j.practice.trials.slice(0, 1);
    j.session.main_trials = 2;
    j.session.catch_trials = 1;
    j.collect = { kind: 'http', url: `${collector.url}records` };
  });
  const out = join(root, 'studies', name);
  const printed = execFileSync(BIN, ['build', exp, '--out', out, '--client', DIST], { encoding: 'utf8' });
  return { out, printed, link: `${base}studies/${name}/` };
}

test('a built site runs a whole session from a sub-path of a plain static server', async () => {
  const { printed, link } = build('pilot-1');
  assert.match(printed, /one participant downloads \d+\.\d\d MiB on average/);
  const page = await newPage(browser);
  const urls = [];
  page.on('request', (r) => urls.push(r.url()));
  await page.goto(`${link}?pid=built-1`);
  // The welcome page's Markdown, rendered by `exemplar build` (the page has no parser).
  await page.locator('article.text h1', { hasText: 'Welcome' }).waitFor();
  assert.equal(await page.locator('article.text strong').first().textContent(), '5 minutes');
  await throughPractice(page, hashes);
  for (let i = 0; i < 3; i++) await playTrial(page, hashes, { index: i });
  await page.getByTestId('feedback-submit').click();
  await eventually(async () => (await page.getByTestId('end').getAttribute('data-status')) === 'saved');
  const records = (await collector.storedRecords()).filter((r) => r.participant_id === 'built-1');
  assert.deepEqual(records.map((r) => r.seq), records.map((_, i) => i));
  assert.equal(records.filter((r) => r.type === 'trial').length, 4);
  // Stimuli come by content hash, under the sub-path; no query's file name is fetched.
  const stimuli = urls.filter((u) => u.includes('/experiment/s/'));
  assert.ok(stimuli.length >= 80, `${stimuli.length} hashed stimulus requests`);
  assert.ok(stimuli.every((u) => u.startsWith(`${link}experiment/s/`) && /\/[0-9a-f]{64}\.jpg$/.test(u)));
  assert.deepEqual(urls.filter((u) => /_9\.jpg/.test(u)), []);
  // The page texts come rendered; the researcher's page and the engine never load.
  assert.ok(urls.includes(`${link}experiment/pages.json`), urls.join('\n'));
  assert.deepEqual(urls.filter((u) => /research|engine_worker/.test(u)), []);
  assert.deepEqual(page.errors, []);
});

test('a stimulus changed on the server is detected, its trial skipped and recorded', async () => {
  const { out, link } = build('tampered');
  const manifest = JSON.parse(readFileSync(join(out, 'experiment/manifest.json'), 'utf8'));
  const entry = manifest.files['stimuli/practice/trial_1/max_3.jpg'];
  const file = join(out, 'experiment', entry.url);
  const bytes = readFileSync(file);
  bytes[bytes.length - 20] ^= 0xff;
  writeFileSync(file, bytes);
  const page = await newPage(browser);
  await page.goto(`${link}?pid=tampered-1`);
  await throughIntro(page);
  await page.getByTestId('practice-start').click();
  // The only practice trial cannot be shown: the session moves on to the main block.
  await page.getByTestId('main-start').waitFor({ timeout: 20000 });
  const skipped = await eventually(async () =>
    (await collector.storedRecords()).find((r) => r.participant_id === 'tampered-1' && r.type === 'trial_skipped'));
  assert.equal(skipped.failed_images.length, 1);
  assert.match(skipped.failed_images[0], /^stimuli\/practice\/trial_1\/max_3\.jpg: content does not match the manifest \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\)$/);
});

test('exemplar serve BUILT serves a built site with the collector on one port', async () => {
  const { out } = build('served');
  const db = join(mkdtempSync(join(tmpdir(), 'exemplar-served-')), 'r.db');
  const child = spawn(BIN, ['serve', out, '--port', '0', '--db', db], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise((ok, fail) => {
      let text = '';
      child.stdout.on('data', (d) => { text += d; const m = text.match(/at (http:\/\/[^ ]+\/)\n/); if (m) ok(m[1]); });
      child.on('exit', (c) => fail(new Error(`exemplar serve exited ${c}`)));
    });
    for (const path of ['', 'experiment/experiment.json', 'experiment/manifest.json', 'health']) {
      assert.equal((await fetch(new URL(path, url))).status, 200, path);
    }
    const page = await newPage(browser);
    await page.goto(`${url}?pid=served-1`);
    await throughPractice(page, hashes);
    await playTrial(page, hashes, { index: 0 });
    assert.deepEqual(page.errors, []);
  } finally {
    child.kill();
  }
  const notBuilt = spawn(BIN, ['serve', DIST, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  notBuilt.stderr.on('data', (d) => (stderr += d));
  // 'close', not 'exit': stderr may still be arriving when the process exits.
  const code = await new Promise((ok) => notBuilt.on('close', ok));
  assert.notEqual(code, 0);
  assert.match(stderr, /is not a site made by `exemplar build`/);
});

// Last: the preview keeps fetching every stimulus for offline use in the background,
// which would slow the tests after it on this one static server.
test("a preview link opens the researcher's page, which the participant's page does not link", async () => {
  const { out, link } = build('previewed');
  const page = await newPage(browser);
  await page.goto(`${link}?mode=preview&pid=x#top`);
  await page.getByTestId('preview').waitFor();
  assert.equal(page.url(), `${link}research.html?mode=preview&pid=x#top`);
  assert.deepEqual(page.errors, []);
  await page.close();
  // The participant's module: none of the preview, the simulator, the Markdown parser or
  // the per-field validation (cargo's output, which still has function names).
  const unopt = join(ROOT, process.env.CARGO_TARGET_DIR || 'target', 'wasm32-unknown-unknown/release');
  const participant = sizeByCrate(join(unopt, 'exemplar-app.wasm')).names;
  const research = sizeByCrate(join(unopt, 'exemplar-research.wasm')).names;
  const linked = (names, re) => names.filter((n) => re.test(n)).length;
  for (const [what, re] of [['the preview', /3app7preview|app\.\.preview/], ['the simulator', /3app8simulate|app\.\.simulate/],
    ['the Markdown parser', /pulldown_cmark/], ['per-field validation', /serde_path_to_error|8validate11check_types/]]) {
    assert.equal(linked(participant, re), 0, `the participant's page links ${what}`);
    assert.ok(linked(research, re) > 0, `the researcher's page lacks ${what} (${re})`);
  }
  assert.ok(participant.length > 1000 && research.length > participant.length);
  const html = readFileSync(join(out, 'index.html'), 'utf8');
  assert.doesNotMatch(html, /research/);
});
