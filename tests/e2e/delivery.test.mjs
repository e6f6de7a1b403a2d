// Every response reaches its endpoint exactly once, whatever breaks: the collector is
// killed, the browser goes offline, the endpoint fails and stalls, the tab is closed, the
// endpoint is down for the whole session. Real Chromium, real `exemplar collect`, on SQLite,
// or on PostgreSQL with EXEMPLAR_E2E_POSTGRES set (scripts/test.sh runs both).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, startCollector, startFaultyProxy, launch, newPage, stimulusHashes, throughPractice, playTrial, shortVariant, assertExactlyOnce, eventually } from './harness.mjs';

const hashes = stimulusHashes();
const root = mkdtempSync(join(tmpdir(), 'exemplar-delivery-'));
let site, browser;
before(async () => { site = await startServer({ mounts: [`/v=${root}`] }); browser = await launch(); });
after(async () => { await browser?.close(); await site?.kill('SIGTERM'); });

/** A short session posting to `url`, served under `v/NAME/`. */
function variant(name, url, delivery = {}) {
  shortVariant(root, name, url, delivery);
  return `${site.url}?experiment=v/${name}/experiment.json`;
}

async function startSession(page, link, pid) {
  await page.goto(`${link}&pid=${pid}`);
  await throughPractice(page, hashes);
}

async function finish(page, { timeout = 90000 } = {}) {
  await page.getByTestId('feedback-submit').click();
  await eventually(async () => (await page.getByTestId('end').getAttribute('data-status')) === 'saved', { timeout });
}

test('1. the collector is killed mid-session and restarted 20 s later', async () => {
  let collector = await startCollector();
  const link = variant('killed', `${collector.url}records`);
  const page = await newPage(browser);
  await startSession(page, link, 'kill-1');
  await playTrial(page, hashes, { index: 0 });
  const { port, db } = collector;
  await collector.kill('SIGKILL');
  const downAt = Date.now();
  for (let i = 1; i < 4; i++) await playTrial(page, hashes, { index: i });
  await page.getByTestId('feedback-submit').click();
  assert.equal(await page.getByTestId('end').getAttribute('data-status'), 'saving');
  await new Promise((r) => setTimeout(r, Math.max(0, 20000 - (Date.now() - downAt))));
  collector = await startCollector({ port, db });
  await eventually(async () => (await page.getByTestId('end').getAttribute('data-status')) === 'saved', { timeout: 60000 });
  assertExactlyOnce(await collector.storedRecords(), 'kill-1');
  await collector.kill('SIGTERM');
});

test('2. the browser is offline for 30 s mid-session', async () => {
  const collector = await startCollector();
  const link = variant('offline', `${collector.url}records`);
  const page = await newPage(browser);
  await startSession(page, link, 'offline-1');
  await playTrial(page, hashes, { index: 0 });
  await page.context().setOffline(true);
  const offAt = Date.now();
  // The next trials were preloaded; the participant goes on answering.
  await playTrial(page, hashes, { index: 1 });
  await playTrial(page, hashes, { index: 2 });
  assert.ok(Date.now() - offAt < 30000, 'answered while offline');
  await new Promise((r) => setTimeout(r, 30000 - (Date.now() - offAt)));
  await page.context().setOffline(false);
  await playTrial(page, hashes, { index: 3 });
  await finish(page);
  assertExactlyOnce(await collector.storedRecords(), 'offline-1');
  await collector.kill('SIGTERM');
});

test('3. the endpoint answers 500/503 to one request in three and stalls on another', async () => {
  const collector = await startCollector();
  const proxy = await startFaultyProxy(collector.url, { stallMs: 3000 });
  const link = variant('faulty', `${proxy.url}records`, { timeout_ms: 1500 });
  const page = await newPage(browser);
  await startSession(page, link, 'faulty-1');
  for (let i = 0; i < 4; i++) await playTrial(page, hashes, { index: i });
  await finish(page);
  assert.ok(proxy.counts.failed >= 2 && proxy.counts.stalled >= 2, `faults happened: ${JSON.stringify(proxy.counts)}`);
  assertExactlyOnce(await collector.storedRecords(), 'faulty-1');
  await proxy.close();
  await collector.kill('SIGTERM');
});

test('5. the tab is closed right after a response and the link opened again', async () => {
  const collector = await startCollector();
  const link = variant('closed', `${collector.url}records`);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  let page = await context.newPage();
  await startSession(page, link, 'closed-1');
  await playTrial(page, hashes, { index: 0 });
  await playTrial(page, hashes, { index: 1, beforeContinue: async () => { await page.close(); return {}; } });
  page = await context.newPage();
  await page.goto(`${link}&pid=closed-1`);
  // Trial 1 was answered: the session continues at trial 2.
  await playTrial(page, hashes, { index: 2 });
  await playTrial(page, hashes, { index: 3 });
  await finish(page);
  const mine = assertExactlyOnce(await collector.storedRecords(), 'closed-1');
  assert.deepEqual(mine.filter((r) => r.type === 'trial' && r.phase !== 'practice').map((r) => r.trial_index), [0, 1, 2, 3]);
  await context.close();
  await collector.kill('SIGTERM');
});

test('6. the endpoint is down for the whole session: the download is offered, then all arrives', async () => {
  // Reserve a port, then leave it closed.
  const probe = await startCollector();
  const { port } = probe;
  await probe.kill('SIGKILL');
  const link = variant('down', `http://127.0.0.1:${port}/records`, { download_after_ms: 4000 });
  const page = await newPage(browser);
  await startSession(page, link, 'down-1');
  for (let i = 0; i < 4; i++) await playTrial(page, hashes, { index: i });
  await page.getByTestId('delivery-warning').waitFor();
  await page.getByTestId('feedback-submit').click();
  const end = page.getByTestId('end');
  await page.getByTestId('download-data').waitFor({ timeout: 30000 });
  assert.equal(await end.getAttribute('data-status'), 'saving');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-data').click()]);
  assert.match(download.suggestedFilename(), /^exemplar-exemplar-demo-down-1-[0-9a-f]+\.jsonl$/);
  const lines = readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((r) => r.seq), lines.map((_, i) => i), 'the file holds every unsaved record');
  assert.equal(lines.at(-1).type, 'session_completed');

  const collector = await startCollector({ port });
  await eventually(async () => (await end.getAttribute('data-status')) === 'saved', { timeout: 60000 });
  const stored = assertExactlyOnce(await collector.storedRecords(), 'down-1');
  assert.equal(stored.length, lines.length);
  await collector.kill('SIGTERM');
});
