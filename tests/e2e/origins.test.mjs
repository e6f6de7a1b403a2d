// `?experiment=` loads only from the page's own origin, or from the origins the
// researcher listed at build time (`exemplar build --allow-experiment-origin`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, DIST, DEMO, startServer, launch, newPage, demoExperiment } from './harness.mjs';

const root = mkdtempSync(join(tmpdir(), 'exemplar-origins-'));
const ALLOWED = 'https://studies.example.org';
let plain, other, built, browser;
before(async () => {
  const out = join(root, 'site');
  execFileSync(BIN, ['build', DEMO, '--out', out, '--client', DIST, '--allow-experiment-origin', `${ALLOWED}/`], { encoding: 'utf8' });
  assert.match(readFileSync(join(out, 'index.html'), 'utf8'), /<meta name="exemplar-experiment-origins" content="https:\/\/studies\.example\.org">/);
  [plain, other, built] = await Promise.all([startServer(), startServer(), startServer({ site: out })]);
  browser = await launch();
});
after(async () => { await browser?.close(); for (const s of [plain, other, built]) await s?.kill('SIGTERM'); });

/** Opens the study with `?experiment=<value>`; returns the page and every URL it asked for. */
async function open(site, value) {
  const page = await newPage(browser);
  const asked = [];
  page.on('request', (r) => asked.push(r.url()));
  // Any other site answers with a valid experiment (with CORS): only the check stops it.
  await page.route((url) => !url.href.startsWith(site.url), (route) => route.fulfill(
    route.request().url().endsWith('/experiment.json')
      ? { status: 200, headers: { 'access-control-allow-origin': '*', 'content-type': 'application/json' }, body: JSON.stringify({ ...demoExperiment(), collect: { kind: 'none' } }) }
      : { status: 404, headers: { 'access-control-allow-origin': '*' }, body: '' },
  ));
  await page.goto(`${site.url}?experiment=${encodeURIComponent(value)}`);
  await page.locator('[data-testid=experiment-error], [data-testid=welcome-continue]').first().waitFor();
  return { page, asked };
}

test('an experiment on another origin is refused with a clear page, and nothing is fetched from it', async () => {
  for (const value of [
    `${other.url}experiment/experiment.json`,
    `${ALLOWED}/e/experiment.json`,
    '//elsewhere.example.org/e.json',
    'https://elsewhere.example.org/e.json',
    'data:application/json,{}',
    'javascript:alert(1)',
  ]) {
    const { page, asked } = await open(plain, value);
    const error = page.getByTestId('experiment-error');
    assert.ok(await error.isVisible(), `${value} refused`);
    assert.match(await error.textContent(), /names an experiment this site does not load/);
    assert.equal(await page.getByTestId('welcome-continue').count(), 0);
    assert.deepEqual(asked.filter((u) => !u.startsWith(plain.url)), [], `${value}: nothing fetched elsewhere`);
    await page.context().close();
  }
  // The page's own origin still loads, relative or absolute.
  for (const value of ['experiment/experiment.json', `${plain.url}experiment/experiment.json`]) {
    const { page } = await open(plain, value);
    assert.ok(await page.getByTestId('welcome-continue').isVisible(), `${value} loads`);
    await page.context().close();
  }
});

test('a site built with --allow-experiment-origin loads from that origin, and only from it', async () => {
  const { page, asked } = await open(built, `${ALLOWED}/e/experiment.json`);
  assert.ok(await page.getByTestId('welcome-continue').isVisible(), 'the listed origin loads');
  assert.ok(asked.includes(`${ALLOWED}/e/experiment.json`));
  assert.deepEqual(page.errors, []);
  await page.context().close();
  const refused = await open(built, 'https://elsewhere.example.org/e.json');
  assert.ok(await refused.page.getByTestId('experiment-error').isVisible());
  await refused.page.context().close();
  // A bare origin only: a path in the flag is an error, not a silent prefix.
  assert.throws(() => execFileSync(BIN, ['build', DEMO, '--out', join(root, 'bad'), '--client', DIST, '--allow-experiment-origin', `${ALLOWED}/e`], { stdio: 'pipe' }), /bare origin/);
});
