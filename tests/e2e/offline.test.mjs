// After one load the study works with the network off: the service worker keeps the app,
// the experiment and the stimuli, so a reload offline continues a started session (and
// its records arrive once the network is back) and the preview opens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, newPage, stimulusHashes, throughIntro, playTrial, eventually } from './harness.mjs';

let server, browser;
const hashes = stimulusHashes();
before(async () => { server = await startServer(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.kill('SIGTERM'); });

const offlineReady = (page) => eventually(async () => Number(await page.evaluate(() => document.documentElement.dataset.offlineReady || 0)), { timeout: 60_000 });

test('a session started online continues offline after a reload, and its records arrive later', async () => {
  const pid = 'e2e-offline-1';
  const page = await newPage(browser);
  await page.goto(`${server.url}?pid=${pid}`);
  const kept = await offlineReady(page);
  // The page, its code and styles, the experiment, and every stimulus of this plan.
  assert.ok(kept > 200, `${kept} files kept`);
  await throughIntro(page);
  await page.getByTestId('practice-start').click();
  await playTrial(page, hashes, { phase: 'practice', index: 0 });
  await eventually(async () => (await server.storedRecords()).some((r) => r.participant_id === pid && r.type === 'trial'));

  await page.context().setOffline(true);
  await page.reload();
  // The same session, at the next trial, with its images, and with no network at all.
  await page.getByTestId('trial').waitFor({ timeout: 30_000 });
  for (let i = 1; i < 5; i++) await playTrial(page, hashes, { phase: 'practice', index: i });
  await page.getByTestId('main-start').click();
  await playTrial(page, hashes, { index: 0 });
  const before = (await server.storedRecords()).filter((r) => r.participant_id === pid).length;

  await page.context().setOffline(false);
  await page.evaluate(() => window.dispatchEvent(new Event('online')));
  const records = await eventually(async () => {
    const r = (await server.storedRecords()).filter((x) => x.participant_id === pid);
    return r.filter((x) => x.type === 'trial').length === 6 && r;
  }, { timeout: 60_000 });
  assert.ok(records.length > before, 'the offline answers arrived once online');
  assert.deepEqual(records.map((r) => r.seq), records.map((_, i) => i), 'each record once, in order');
  assert.ok(records.some((r) => r.type === 'session_resumed'));
  assert.deepEqual(page.errors, []);
});

test('the preview opens offline after one load', async () => {
  const page = await newPage(browser);
  const link = `${server.url}?mode=preview&pid=e2e-offline-preview`;
  await page.goto(link);
  // The participant's page sends the link on to the researcher's page.
  await page.waitForURL(`${server.url}research.html?mode=preview&pid=e2e-offline-preview`);
  await offlineReady(page);
  await page.context().setOffline(true);
  // The same link again, offline: both pages come from the service worker.
  await page.goto(link);
  await page.waitForURL(/research\.html/);
  await page.getByTestId('plan').waitFor({ timeout: 30_000 });
  await page.getByTestId('plan-row').nth(20).getByTestId('plan-jump').click();
  await page.locator('[data-testid=trial][data-phase]').waitFor({ timeout: 30_000 });
  assert.equal(await page.getByTestId('image-id').count(), 20);
  await page.context().setOffline(false);
});
