// A participant takes a whole session of a German experiment in headless Chromium: every
// string on screen (text, button labels, accessible names, alt texts) is German at every
// step, and no English default of the page's texts or pages is left; every record
// arrives once. A right-to-left language sets the page's direction.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launch, newPage, stimulusHashes, playTrial, eventually, shortVariant, variantExperiment, assertExactlyOnce, BIN } from './harness.mjs';

const defaults = (language) => JSON.parse(execFileSync(BIN, ['texts', '--language', language], { encoding: 'utf8' }));

/** Pieces of the English defaults (texts and pages, cut at placeholders and Markdown marks)
 *  that no German default contains: none may be on a German page. */
function englishPieces() {
  const [en, de] = [defaults('en'), defaults('de')];
  const all = (d) => [...Object.values(d.texts), ...Object.values(d.pages).flat()];
  const german = all(de).join('\n');
  const pieces = new Set();
  for (const text of all(en)) {
    for (const piece of text.split(/\{[a-z_]+\}|[#*\n→()]/)) {
      const p = piece.trim();
      if (p.length >= 4 && !german.includes(p)) pieces.add(p);
    }
  }
  return [...pieces];
}

/** Runs in the page: what a participant can read or hear of it. */
function readable() {
  const parts = [document.title, document.body.innerText];
  for (const el of document.querySelectorAll('[aria-label], [alt], [title], [placeholder]')) {
    for (const a of ['aria-label', 'alt', 'title', 'placeholder']) if (el.hasAttribute(a)) parts.push(el.getAttribute(a));
  }
  return { text: parts.join('\n'), lang: document.documentElement.lang, dir: document.documentElement.dir };
}

let browser;
const hashes = stimulusHashes();
const root = mkdtempSync(join(tmpdir(), 'exemplar-language-'));
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a whole German session shows no English and stores every record once', async () => {
  const dir = shortVariant(root, 'de', 'records');
  const server = await startServer({ experiment: variantExperimentFrom(dir, (j) => {
    j.language = 'de';
    j.title = 'Welches Bild passt besser?';
    delete j.pages;
    j.completion = { code: 'C0DE-1234' };
  }) });
  try {
    const english = englishPieces();
    assert.ok(english.length > 60, `${english.length} English pieces to look for`);
    const pid = 'de-participant-1';
    const page = await newPage(browser);
    const seen = [];
    const check = async (step) => {
      const r = await page.evaluate(readable);
      assert.equal(r.lang, 'de', step);
      assert.equal(r.dir, 'ltr', step);
      const left = english.filter((e) => r.text.includes(e));
      assert.deepEqual(left, [], `${step}: English on a German page:\n${r.text}`);
      seen.push(step);
      return r.text;
    };
    await page.goto(`${server.url}?PROLIFIC_PID=${pid}`);
    await page.getByTestId('welcome-continue').waitFor();
    assert.match(await check('welcome'), /Willkommen/);
    await page.getByTestId('welcome-continue').click();
    await page.getByTestId('consent-accept').waitFor();
    assert.match(await check('consent'), /Ich stimme zu/);
    await page.getByTestId('consent-accept').click();
    await page.getByTestId('instructions-next').waitFor();
    assert.match(await check('instructions'), /Anleitung 1 von 1/);
    await page.getByTestId('instructions-next').click();
    await page.getByTestId('fullscreen-continue').waitFor();
    assert.match(await check('fullscreen'), /Vollbild/);
    await page.getByTestId('fullscreen-continue').click();
    await page.getByTestId('practice-start').waitFor();
    await check('practice intro');
    await page.getByTestId('practice-start').click();
    await page.locator('[data-testid=trial][data-phase=practice]').waitFor();
    assert.match(await check('practice trial'), /Welches Bild in der Mitte passt besser/);
    const practice = await playTrial(page, hashes, { phase: 'practice', index: 0, beforeContinue: async () => {
      await page.getByTestId('continue').waitFor({ state: 'visible' });
      return { text: await check('practice verdict') };
    } });
    assert.equal(practice.verdict, 'Richtig!');
    await page.getByTestId('continue').click();
    await page.getByTestId('main-start').waitFor();
    assert.match(await check('main intro'), /Hauptteil/);
    await page.getByTestId('main-start').click();
    for (let i = 0; i < 4; i++) {
      const t = await playTrial(page, hashes, { index: i, beforeContinue: i === 0 ? async () => ({ text: await check('main trial') }) : undefined });
      if (i === 0) {
        assert.match(t.text, /Richtige Antworten: 1/);
        await page.getByTestId('continue').click();
      }
    }
    await page.getByTestId('feedback-text').waitFor();
    assert.match(await check('feedback'), /Möchten Sie uns etwas mitteilen/);
    await page.getByTestId('feedback-submit').click();
    const end = page.getByTestId('end');
    await eventually(async () => (await end.getAttribute('data-status')) === 'saved');
    assert.match(await check('end'), /Ihr Abschlusscode: C0DE-1234/);
    assert.deepEqual(page.errors, []);
    assertExactlyOnce(await server.storedRecords(), pid);
    await page.close();
  } finally {
    await server.kill('SIGTERM');
  }
});

test('a right-to-left language sets the page direction; its own texts replace the defaults', async () => {
  const dir = variantExperiment((j) => {
    j.language = 'he';
    j.pages.welcome = '# ברוכים הבאים';
    j.texts = { continue: 'המשך' };
  }, { root, name: 'he' });
  const server = await startServer({ experiment: dir });
  try {
    const page = await newPage(browser);
    await page.goto(`${server.url}?PROLIFIC_PID=he-1`);
    await page.getByTestId('welcome-continue').waitFor();
    const r = await page.evaluate(readable);
    assert.equal(r.lang, 'he');
    assert.equal(r.dir, 'rtl');
    assert.equal((await page.getByTestId('welcome-continue').textContent()).trim(), 'המשך');
    assert.match(r.text, /ברוכים הבאים/);
    await page.close();
  } finally {
    await server.kill('SIGTERM');
  }
});

/** The experiment of folder `dir` changed by `edit`, in place; returns `dir`. */
function variantExperimentFrom(dir, edit) {
  const file = join(dir, 'experiment.json');
  const json = JSON.parse(readFileSync(file, 'utf8'));
  edit(json);
  writeFileSync(file, JSON.stringify(json, null, 2));
  return dir;
}
