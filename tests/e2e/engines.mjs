// The three browser engines behind one small driver, so that the same participant runs in
// each: Debian's Chromium through playwright-core, Debian's Firefox ESR through
// puppeteer-core over WebDriver BiDi, and WebKitGTK's MiniBrowser (Safari's engine) through
// Debian's WebKitWebDriver and selenium-webdriver, on a virtual X display (Xvfb). Clicks and
// keys go through each driver's input actions, so the page receives trusted input.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT, launch as launchChromium, newPage as newChromiumPage, eventually } from './harness.mjs';

const require = createRequire(join(ROOT, '.tools/package.json'));

export const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';
export const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER || '/usr/bin/WebKitWebDriver';
export const MINIBROWSER = process.env.MINIBROWSER
  || ['x86_64', 'aarch64'].map((a) => `/usr/lib/${a}-linux-gnu/webkit2gtk-4.1/MiniBrowser`).find(existsSync)
  || '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
const XVFB = process.env.XVFB || '/usr/bin/Xvfb';

/** Firefox ESR 153 on Linux ships WebGPU turned off (and blocklists software adapters):
 *  these preferences turn it on, in pages and in workers, as a researcher would to use it.
 *  Without them the page sees no `navigator.gpu` and the engine runs on the CPU. */
const FIREFOX_WEBGPU = { 'dom.webgpu.enabled': true, 'dom.webgpu.workers.enabled': true, 'gfx.webgpu.ignore-blocklist': true };

/** What each engine needs on this machine; `missing(name)` lists what is absent. */
export function missing(name) {
  const need = { chromium: [process.env.CHROMIUM || '/usr/bin/chromium'], firefox: [FIREFOX], webkit: [WEBKIT_DRIVER, MINIBROWSER, XVFB] }[name];
  return need.filter((p) => !existsSync(p));
}

/** The axe-core script, injected into pages by `Driver.run` (see a11y checks). */
export const AXE_SOURCE = () => readFileSync(join(ROOT, '.tools/node_modules/axe-core/axe.min.js'), 'utf8');

/**
 * The driver every engine offers:
 * - `goto(url)`, `reload()`
 * - `evaluate(fn, ...args)`: runs `fn` (self-contained; may be async) in the page, returns its JSON value
 * - `run(source)`: runs a script's text in the page (for axe-core)
 * - `waitFor(css, { enabled, timeout })`: until an element matches (and is visible, and enabled)
 * - `click(css)`: waits for it to be visible and enabled, then clicks it
 * - `press(key)`, `setOffline(bool)` (not WebKit), `errors` (uncaught page errors seen), `close()`
 */
class Driver {
  constructor(name) { this.name = name; this.errors = []; }

  async waitFor(css, { enabled = false, timeout = 30_000 } = {}) {
    await eventually(() => this.evaluate((sel, en) => {
      const el = document.querySelector(sel);
      if (!el) return false;
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && (!en || !el.disabled);
      // A page that navigates meanwhile (a preview link goes on to research.html) has no
      // context to evaluate in for a moment: not yet.
    }, css, enabled).catch(() => false), { timeout, every: 100 }).catch(() => {
      throw new Error(`${this.name}: nothing matched ${css}${enabled ? ' (enabled)' : ''} within ${timeout} ms`);
    });
  }

  async text(css) { return this.evaluate((sel) => document.querySelector(sel)?.textContent ?? null, css); }

  async attribute(css, name) {
    return this.evaluate((sel, n) => document.querySelector(sel)?.getAttribute(n) ?? null, css, name);
  }
}

class ChromiumDriver extends Driver {
  constructor(page) { super('chromium'); this.page = page; page.on('pageerror', (e) => this.errors.push(e.message)); }
  goto(url) { return this.page.goto(url); }
  reload() { return this.page.reload(); }
  evaluate(fn, ...args) { return this.page.evaluate(([src, a]) => (0, eval)(`(${src})`)(...a), [fn.toString(), args]); }
  run(source) { return this.page.evaluate(source); }
  async click(css) { await this.waitFor(css, { enabled: true }); await this.page.click(css); }
  press(key) { return this.page.keyboard.press(key); }
  setOffline(off) { return this.page.context().setOffline(off); }
  close() { return this.page.context().close(); }
}

/** Firefox reports failed requests among its page errors (a request the network refused,
 *  or one a reload cut off inside the service worker); the tests judge those by their
 *  outcome (records stored once), so only script errors count as page errors here. */
const FIREFOX_REQUEST_FAILURE = /^(Failed to load ‘|Cross-Origin Request Blocked: |NetworkError when attempting to fetch)/;

class FirefoxDriver extends Driver {
  constructor(page) {
    super('firefox');
    this.page = page;
    page.on('pageerror', (e) => { if (!FIREFOX_REQUEST_FAILURE.test(e.message)) this.errors.push(e.message); });
  }
  goto(url) { return this.page.goto(url); }
  reload() { return this.page.reload(); }
  evaluate(fn, ...args) { return this.page.evaluate(fn, ...args); }
  run(source) { return this.page.evaluate(source); }
  async click(css) { await this.waitFor(css, { enabled: true }); await this.page.click(css); }
  press(key) { return this.page.keyboard.press(key); }
  setOffline(off) { return this.page.setOfflineMode(off); }
  close() { return this.page.close(); }
}

class WebKitDriver extends Driver {
  constructor(session, By) { super('webkit'); this.session = session; this.By = By; }
  goto(url) { return this.session.get(url); }
  reload() { return this.session.navigate().refresh(); }
  async evaluate(fn, ...args) {
    // An async script: its last argument is the callback, so a Promise's value comes back.
    const out = await this.session.executeAsyncScript(
      `const done = arguments[arguments.length - 1];
       Promise.resolve().then(() => (${fn.toString()}).apply(null, Array.prototype.slice.call(arguments, 0, -1)))
         .then((v) => done({ ok: v === undefined ? null : v }), (e) => done({ error: String(e && e.stack || e) }));`, ...args);
    if (out.error) throw new Error(`webkit: ${out.error}`);
    return out.ok;
  }
  run(source) { return this.session.executeScript(source); }
  async click(css) { await this.waitFor(css, { enabled: true }); await this.session.findElement(this.By.css(css)).click(); }
  press(key) { return this.session.actions().sendKeys(key).perform(); }
  setOffline() { throw new Error('webkit: WebKitWebDriver cannot take the browser offline'); }
  close() { return this.session.quit(); }
}

function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

async function portOpen(port) {
  return new Promise((ok) => {
    const c = net.connect(port, '127.0.0.1', () => { c.end(); ok(true); });
    c.on('error', () => ok(false));
  });
}

/** The window every engine's participant gets (the demo asks for at least 940 x 600). */
export const WINDOW = { width: 1280, height: 800 };

/**
 * Starts one engine. `open(name)` resolves to `{ name, newPage(), close() }`; `newPage()`
 * resolves to a `Driver`. Options: `webgpu` (Chromium's SwiftShader adapter; Firefox's
 * WebGPU on Mesa's lavapipe, see FIREFOX_WEBGPU; WebKitGTK has none).
 */
export async function open(name, { webgpu = false } = {}) {
  if (name === 'chromium') {
    const browser = await launchChromium({ webgpu });
    return { name, newPage: async () => new ChromiumDriver(await newChromiumPage(browser)), close: () => browser.close() };
  }
  if (name === 'firefox') {
    const puppeteer = require('puppeteer-core');
    const browser = await puppeteer.launch({
      browser: 'firefox', executablePath: FIREFOX, headless: true,
      // No update checks, telemetry or other traffic from a browser on a closed network.
      extraPrefsFirefox: { ...(webgpu ? FIREFOX_WEBGPU : {}), 'app.update.enabled': false, 'datareporting.policy.dataSubmissionEnabled': false, 'toolkit.telemetry.enabled': false },
    });
    return {
      name,
      async newPage() {
        const page = await browser.newPage();
        await page.setViewport(WINDOW);
        return new FirefoxDriver(page);
      },
      close: () => browser.close(),
    };
  }
  if (name === 'webkit') {
    const { Builder, By } = require('selenium-webdriver');
    const display = `:${90 + Math.floor(Math.random() * 100)}`;
    const xvfb = spawn(XVFB, [display, '-screen', '0', '1440x1000x24', '-nolisten', 'tcp'], { stdio: 'ignore' });
    const port = await freePort();
    const driver = spawn(WEBKIT_DRIVER, [`--port=${port}`], { stdio: 'ignore', env: { ...process.env, DISPLAY: display } });
    const stop = () => { driver.kill('SIGTERM'); xvfb.kill('SIGTERM'); };
    try {
      await eventually(() => portOpen(port), { timeout: 20_000, every: 100 });
    } catch (e) { stop(); throw new Error(`WebKitWebDriver did not start on ${display}: ${e.message}`); }
    const sessions = [];
    return {
      name,
      async newPage() {
        const session = await new Builder().usingServer(`http://127.0.0.1:${port}`).withCapabilities({
          browserName: 'MiniBrowser',
          'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
        }).build();
        sessions.push(session);
        await session.manage().window().setRect(WINDOW);
        await session.manage().setTimeouts({ script: 60_000 });
        return new WebKitDriver(session, By);
      },
      async close() {
        for (const s of sessions) await s.quit().catch(() => {});
        stop();
      },
    };
  }
  throw new Error(`no such engine: ${name}`);
}
