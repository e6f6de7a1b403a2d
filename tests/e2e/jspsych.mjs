// jsPsych 8, the named alternative of the client benchmarks (bench.mjs, bench_timing.mjs):
// installed from npm into .tools/bench-jspsych on first use, never part of the client.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './harness.mjs';

export const JSPSYCH_DIR = join(ROOT, '.tools/bench-jspsych');
const PACKAGES = ['jspsych@8.3.0', '@jspsych/plugin-image-button-response@2.2.0', '@jspsych/plugin-html-button-response@2.1.0'];

/** The files a jsPsych build of this task loads: `{ core, css, imageButton }` (paths). */
export function jspsychFiles() {
  const nm = join(JSPSYCH_DIR, 'node_modules');
  const files = {
    core: join(nm, 'jspsych/dist/index.browser.min.js'),
    css: join(nm, 'jspsych/css/jspsych.css'),
    imageButton: join(nm, '@jspsych/plugin-image-button-response/dist/index.browser.min.js'),
  };
  if (!Object.values(files).every(existsSync)) {
    mkdirSync(JSPSYCH_DIR, { recursive: true });
    writeFileSync(join(JSPSYCH_DIR, 'package.json'), '{"private": true}');
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--silent', ...PACKAGES], { cwd: JSPSYCH_DIR, stdio: 'ignore' });
  }
  return files;
}
