// Shared pieces of the end-to-end tests: a real `exemplar serve` process, Debian's
// Chromium driven by playwright-core, and helpers that play trials as a participant
// would, while checking what is on screen against what the records say.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { createRequire } from 'node:module';

export const ROOT = resolve(import.meta.dirname, '../..');
const require = createRequire(join(ROOT, '.tools/package.json'));
const { chromium } = require('playwright-core');

const TARGET = process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target');
export const BIN = process.env.EXEMPLAR_BIN || join(TARGET, 'debug/exemplar');
/** Runs one of the workspace's examples (an `examples/` file of a crate), built with the same features as
 * the test command's `cargo test --workspace` (which already built it: no other build). */
export function runExample(name, args, options = {}) {
  execFileSync('cargo', ['build', '-q', '--workspace', '--examples'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  return execFileSync(join(TARGET, 'debug/examples', name), args, options);
}
export const DIST = process.env.EXEMPLAR_DIST || join(ROOT, 'dist');
export const DEMO = join(ROOT, 'demo');
/** CI's run (`CI` set, and not empty, `0` or `false`): a missing prerequisite fails there, never skips. */
export const IN_CI = !['', '0', 'false'].includes(process.env.CI ?? '');
/** The researcher's credential the test servers are started with (reads need it). */
export const ADMIN_TOKEN = 'e2e-admin-token-not-secret';
/** Every record the collector at `url` stored, read as the researcher does. */
export async function readRecords(url) {
  const r = await fetch(new URL('admin/records', url), { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (!r.ok) throw new Error(`reading the records: ${r.status} ${await r.text()}`);
  return r.json();
}
export const demoExperiment = () => JSON.parse(readFileSync(join(DEMO, 'experiment.json'), 'utf8'));

/** Starts `exemplar serve` on a free (or given) port; resolves once it prints its URL. */
export async function startServer({ port = 0, db, mounts = [], experiment = DEMO, args: extra = [], site = DIST } = {}) {
  db ??= join(mkdtempSync(join(tmpdir(), 'exemplar-e2e-')), 'responses.db');
  const args = ['serve', '--site', site, '--experiment', experiment, '--port', String(port), '--db', db, '--admin-token', ADMIN_TOKEN, ...extra];
  for (const m of mounts) args.push('--mount', m);
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const url = await new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`exemplar serve did not start: ${stderr}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/at (http:\/\/[^ ]+\/)\n/);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`exemplar serve exited ${code}: ${stderr}`)); });
  });
  return {
    url, db, child,
    port: Number(new URL(url).port),
    storedRecords: () => readRecords(url),
    kill(signal = 'SIGKILL') {
      return new Promise((ok) => { child.once('exit', ok); child.kill(signal); });
    },
  };
}

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic', '--disable-features=Translate,MediaRouter',
];

/** Headless Chromium; `webgpu` exposes navigator.gpu on its SwiftShader adapter. */
export async function launch({ webgpu = false } = {}) {
  const args = webgpu
    ? [...CHROMIUM_ARGS.filter((a) => a !== '--disable-gpu'), '--enable-unsafe-webgpu']
    : CHROMIUM_ARGS;
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args });
}

export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  // E2E_CONSOLE=1 echoes the page's console (and its workers') while debugging a test.
  if (process.env.E2E_CONSOLE) {
    page.on('console', (m) => console.error(`[console ${m.type()}] ${m.text()}`));
  }
  return page;
}

/** sha256 of every stimulus file, as hash -> paths relative to the experiment folder. */
export function stimulusHashes(dir = DEMO) {
  const map = new Map();
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(png|jpe?g)$/.test(name)) {
        const h = createHash('sha256').update(readFileSync(p)).digest('hex');
        map.set(h, [...(map.get(h) || []), relative(dir, p)]);
      }
    }
  };
  walk(join(dir, 'stimuli'));
  return map;
}

/** sha256 of what an <img> on the page shows (its blob: bytes). */
export async function shownHashes(page, selector) {
  return page.$$eval(selector, async (imgs) => Promise.all(imgs.map(async (img) => {
    const bytes = await (await fetch(img.src)).arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
  })));
}

/** The stimulus path an image shows; fails if the bytes match no stimulus file. */
export function pathOf(hashes, hash) {
  const paths = hashes.get(hash);
  if (!paths) throw new Error(`the page shows an image that is no stimulus (${hash})`);
  return paths;
}

/** Walks welcome → consent → instructions (with a Back) → fullscreen → practice start. */
export async function throughIntro(page, { instructions = 4 } = {}) {
  await page.getByTestId('welcome-continue').click();
  await page.getByTestId('consent-accept').click();
  if (instructions > 1) {
    await page.getByTestId('instructions-next').click();
    await page.getByTestId('instructions-back').click();
  }
  for (let i = 0; i < instructions; i++) await page.getByTestId('instructions-next').click();
  await page.getByTestId('fullscreen-continue').click();
}

/** Walks the intro, plays the (single) practice trial of a short variant correctly and
 *  starts the main block. */
export async function throughPractice(page, hashes) {
  await throughIntro(page);
  await page.getByTestId('practice-start').click();
  await playTrial(page, hashes, { phase: 'practice', index: 0 });
  await page.getByTestId('main-start').click();
}

/** Runs in the page: the SHA-256 of the bytes each image of the trial on screen shows. */
export async function trialHashesInPage() {
  const hex = async (img) => {
    const bytes = await (await fetch(img.src)).arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
  };
  const all = (sel) => Promise.all([...document.querySelectorAll(sel)].map(hex));
  const trial = document.querySelector('[data-testid=trial]');
  return {
    index: Number(trial.dataset.trialIndex),
    phase: trial.dataset.phase,
    upper: (await all('[data-testid=query-upper]'))[0],
    lower: (await all('[data-testid=query-lower]'))[0],
    left: await all('.refs:first-of-type .grid img'),
    right: await all('.refs:last-of-type .grid img'),
  };
}

/** What a trial showed, as stimulus paths, from the hashes of its images (`raw`: index,
 *  phase, upper, lower, left, right); `upperIsMax` says which query is the max query. */
export function identifyShown(hashes, raw) {
  const shown = {
    index: raw.index,
    phase: raw.phase,
    upper: pathOf(hashes, raw.upper),
    lower: pathOf(hashes, raw.lower),
    left: raw.left.map((h) => pathOf(hashes, h)),
    right: raw.right.map((h) => pathOf(hashes, h)),
  };
  // One crop may be a stimulus of several units: keep the paths in the one batch folder
  // that all 20 shown images have in common.
  const dirOf = (p) => p.slice(0, p.lastIndexOf('/'));
  const all = [shown.upper, shown.lower, ...shown.left, ...shown.right];
  const common = all.map((ps) => new Set(ps.map(dirOf))).reduce((a, b) => new Set([...a].filter((d) => b.has(d))));
  if (common.size === 1) {
    const [dir] = common;
    for (const key of ['upper', 'lower']) shown[key] = shown[key].filter((p) => dirOf(p) === dir);
    for (const key of ['left', 'right']) shown[key] = shown[key].map((ps) => ps.filter((p) => dirOf(p) === dir));
  }
  const upperIsMax = shown.upper.some((p) => /max_9\.\w+$/.test(p));
  const lowerIsMax = shown.lower.some((p) => /max_9\.\w+$/.test(p));
  if (upperIsMax === lowerIsMax) throw new Error(`cannot tell the queries apart: ${shown.upper} / ${shown.lower}`);
  shown.upperIsMax = upperIsMax;
  return shown;
}

/**
 * Plays the trial on screen. `correct` decides the answer; `confidence` 1-3; `key`
 * answers with the number keys instead of a click. `beforeContinue` runs after the
 * response is given (for reload tests). Returns what was shown and done.
 */
export async function playTrial(page, hashes, { correct = true, confidence = 3, key = false, phase, index, beforeContinue } = {}) {
  const sel = `[data-testid=trial]${index === undefined ? '' : `[data-trial-index="${index}"]`}${phase ? `[data-phase="${phase}"]` : ''}`;
  await page.locator(sel).waitFor();
  const raw = await page.evaluate(trialHashesInPage);
  const shown = identifyShown(hashes, raw);
  const row = shown.upperIsMax === correct ? 'upper' : 'lower';
  shown.row = row;
  shown.chosen = row === 'upper' ? shown.upper : shown.lower;
  shown.confidence = confidence;
  // The buttons are locked for the initial wait.
  shown.lockedAtStart = await page.getByTestId(`choice-${row}-${confidence}`).isDisabled();
  if (key) {
    await page.waitForFunction((s) => !document.querySelector(`[data-testid=${s}]`).disabled, `choice-${row}-${confidence}`);
    await page.keyboard.press(String(row === 'upper' ? confidence : 3 + confidence));
  } else {
    await page.getByTestId(`choice-${row}-${confidence}`).click();
  }
  shown.input = key ? 'key' : 'click';
  shown.verdict = await page.getByTestId('verdict').textContent({ timeout: 5000 }).catch(() => null);
  if (shown.phase !== 'practice') {
    shown.progress = await page.getByTestId('progress').getAttribute('value');
    shown.counter = await page.locator('.counter').textContent();
  }
  if (beforeContinue) return { ...shown, ...(await beforeContinue()) };
  await page.getByTestId('continue').click();
  return shown;
}

/** A trial record says what the participant saw and did (`p`, from playTrial or the
 *  other engines' player), and is the trial the native `plan` gives. Returns `where`. */
export function assertTrialAsPlayed(r, p, plan, k) {
  const where = `trial record ${k} (${r.phase} ${r.trial_index})`;
  assert.equal(r.trial_index, p.index, where);
  assert.equal(r.phase, p.phase, where);
  assert.ok(p.chosen.includes(r.chosen_stimulus), `${where}: chose ${p.chosen}, record says ${r.chosen_stimulus}`);
  assert.equal(r.correct, /max_9\.\w+$/.test(r.chosen_stimulus), where);
  assert.equal(r.choice, r.correct ? 'b' : 'a', where);
  assert.equal(r.switched_queries, p.upper.includes(r.max_query), `${where}: switched_queries vs the upper image`);
  assert.equal(r.confidence, p.confidence, where);
  assert.equal(r.button_pressed, (p.row === 'upper' ? 0 : 3) + p.confidence - 1, where);
  assert.equal(r.input, p.input, where);
  assert.deepEqual(r.min_references.map((x, i) => p.left[i].includes(x)), Array(9).fill(true), `${where}: left grid`);
  assert.deepEqual(r.max_references.map((x, i) => p.right[i].includes(x)), Array(9).fill(true), `${where}: right grid`);
  assert.ok(r.rt_dom >= r.rt, `${where}: DOM-insertion RT ${r.rt_dom} >= paint RT ${r.rt}`);
  // The browser's plan (wasm) is the native plan.
  const planned = r.phase === 'practice' ? plan.practice[r.attempt][r.trial_index] : plan.main[r.trial_index];
  assert.equal(r.unit_id, planned.unit.unit_id, where);
  assert.equal(r.batch, planned.unit.batch, where);
  assert.equal(r.switched_queries, planned.switched_queries, where);
  assert.deepEqual(r.min_references, planned.min_references, where);
  assert.deepEqual(r.max_references, planned.max_references, where);
  return where;
}

/** A copy of the demo experiment, changed by `edit(json)`, in a temporary folder (or
 *  `root/name`) with a copy of the demo's stimuli (optionally with some files missing). */
export function variantExperiment(edit, { missing = [], root, name } = {}) {
  const dir = root ? join(root, name) : mkdtempSync(join(tmpdir(), 'exemplar-variant-'));
  mkdirSync(dir, { recursive: true });
  const json = demoExperiment();
  edit?.(json);
  writeFileSync(join(dir, 'experiment.json'), typeof json === 'string' ? json : JSON.stringify(json, null, 2));
  copyTree(join(DEMO, 'stimuli'), join(dir, 'stimuli'));
  for (const m of missing) rmSync(join(dir, m));
  if (existsSync(join(DEMO, 'models'))) copyTree(join(DEMO, 'models'), join(dir, 'models'));
  return dir;
}

/** A short session of the demo (1 practice, 3 main and 1 catch trial) posting to `url`
 *  (kind `http`) with a 2 s timeout, as `root/name`; `delivery` overrides its settings. */
export function shortVariant(root, name, url, delivery = {}) {
  return variantExperiment((j) => {
    j.practice.trials = j.practice.trials.slice(0, 1);
    j.session.main_trials = 3;
    j.session.catch_trials = 1;
    j.collect = { kind: 'http', url };
    j.delivery = { timeout_ms: 2000, batch_size: 50, download_after_ms: 60000, ...delivery };
  }, { root, name });
}

/** Each record of the session stored exactly once, none missing, every trial answered. */
export function assertExactlyOnce(records, pid, { trials = 5 } = {}) {
  const mine = records.filter((r) => r.participant_id === pid);
  const seqs = mine.map((r) => r.seq).sort((a, b) => a - b);
  assert.deepEqual(seqs, seqs.map((_, i) => i), `${pid}: every seq exactly once`);
  assert.equal(mine.filter((r) => r.type === 'trial').length, trials, `${pid}: trial records`);
  assert.equal(mine.filter((r) => r.type === 'trial_skipped').length, 0, `${pid}: nothing skipped`);
  assert.ok(mine.some((r) => r.type === 'session_completed'), `${pid}: completed`);
  return mine;
}

/** Copies a folder (hard links where the file system allows): `exemplar serve` serves no
 *  file reached through a symlink that leaves its folder, so a variant needs its own. */
export function copyTree(from, to) {
  try {
    execFileSync('cp', ['-al', from, to], { stdio: 'ignore' });
  } catch {
    rmSync(to, { recursive: true, force: true });
    execFileSync('cp', ['-r', from, to]);
  }
}

/**
 * `exemplar plan` for a participant (and the group a `?condition=` names): the native plan
 * the browser must reproduce. A plan of one block also has that block's `practice` and
 * `main` on itself, as the tests of single-condition experiments read them.
 */
export function nativePlan(participant, dir = DEMO, condition = null) {
  const args = ['plan', dir, '--participant', participant, ...(condition ? ['--condition', condition] : [])];
  const plan = JSON.parse(execFileSync(BIN, args, { encoding: 'utf8' }));
  if (plan.blocks.length === 1) Object.assign(plan, { practice: plan.blocks[0].practice, main: plan.blocks[0].main });
  return plan;
}

/** Polls `f` until it returns a truthy value. */
export async function eventually(f, { timeout = 20000, every = 200 } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, every));
  }
}

function spawnUntilUrl(args, what) {
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${what} did not start: ${stderr}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/(http:\/\/[0-9.:]+\/)/);
      if (m) { clearTimeout(timer); ok({ child, url: m[1] }); }
    });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`${what} exited ${code}: ${stderr}`)); });
  });
}

/** Starts the reference collector alone (`exemplar collect`), on a free or given port. */
export async function startCollector({ port = 0, db } = {}) {
  // EXEMPLAR_E2E_POSTGRES=postgres://… runs every collector on that PostgreSQL database
  // (scripts/test.sh runs the delivery scenarios so, against scripts/pg_temp.sh's server).
  db ??= process.env.EXEMPLAR_E2E_POSTGRES || join(mkdtempSync(join(tmpdir(), 'exemplar-collector-')), 'responses.db');
  const { child, url } = await spawnUntilUrl(['collect', '--port', String(port), '--db', db, '--admin-token', ADMIN_TOKEN], 'exemplar collect');
  return {
    url, db, child, port: Number(new URL(url).port),
    storedRecords: () => readRecords(url),
    kill(signal = 'SIGKILL') { return new Promise((ok) => { child.once('exit', ok); child.kill(signal); }); },
  };
}

/** A proxy in front of `target` that breaks on purpose: of every three POSTs, one is
 *  forwarded, one is answered 500 or 503 without forwarding, and one is forwarded but its
 *  answer held back `stallMs` (past the client's timeout: stored, but not acknowledged). */
export async function startFaultyProxy(target, { stallMs }) {
  const counts = { forwarded: 0, failed: 0, stalled: 0 };
  let n = 0;
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const cors = {
      'access-control-allow-origin': req.headers.origin || '*',
      'access-control-allow-headers': 'content-type, authorization',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
    };
    if (req.method === 'OPTIONS') { res.writeHead(204, cors); res.end(); return; }
    const kind = req.method === 'POST' ? n++ % 3 : 0;
    if (kind === 1) {
      counts.failed++;
      res.writeHead(counts.failed % 2 ? 500 : 503, { ...cors, 'content-type': 'application/json' });
      res.end('{"error":"injected failure"}');
      return;
    }
    const upstream = await fetch(new URL(req.url, target), {
      method: req.method, body: req.method === 'POST' ? body : undefined,
      headers: { 'content-type': req.headers['content-type'] || 'application/json' },
    });
    const text = await upstream.text();
    if (kind === 2) { counts.stalled++; await new Promise((r) => setTimeout(r, stallMs)); } else counts.forwarded++;
    if (!res.destroyed) { res.writeHead(upstream.status, { ...cors, 'content-type': 'application/json' }); res.end(text); }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${server.address().port}/`, counts, close: () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }) };
}
