// Where a wasm module's bytes go, by crate: reads the module's code section and its
// `name` section (function names as the linker wrote them, demangled) and sums each
// function's body size under the crate its name starts with. Data segments count apart.
// Used by bench.mjs on the unoptimised cargo output (the shipped file has its names
// stripped by wasm-opt, so its sizes are measured whole). Usage: node wasm_size.mjs FILE.wasm
import { readFileSync } from 'node:fs';

function reader(buf) {
  let at = 0;
  const r = {
    get at() { return at; },
    set at(v) { at = v; },
    byte: () => buf[at++],
    u32() {
      let result = 0, shift = 0, b;
      do { b = buf[at++]; result |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
      return result >>> 0;
    },
    name() { const n = r.u32(); const s = buf.toString('utf8', at, at + n); at += n; return s; },
  };
  return r;
}

/** The crate a function name belongs to: the first path's first segment, from a legacy
 *  mangled name (`_ZN10serde_json2de…`, `_ZN…_$LT$serde_json..de..X$u20$as$u20$…`) or a
 *  demangled one (`<serde_json::de::X as serde::Deserializer>::f` is serde_json's). */
export function crateOf(name) {
  const mangled = name.match(/^_ZN(\d+)/);
  if (mangled) {
    let ident = name.slice(3 + mangled[1].length, 3 + mangled[1].length + Number(mangled[1]));
    ident = ident.replace(/^_?(\$LT\$|\$u5b\$)*/, '').replace(/^(\$RF\$|\$BP\$|mut\$u20\$|dyn\$u20\$|const\$u20\$)+/, '');
    const m = ident.match(/^[A-Za-z_][A-Za-z0-9_]*/);
    if (m && /^[A-Z]$/.test(m[0])) return '(blanket impls over a type parameter)';
    return m ? m[0] : '(unnamed)';
  }
  const m = name.match(/([A-Za-z_][A-Za-z0-9_]*)::/);
  if (m) return m[1];
  if (name.startsWith('__wbg') || name.startsWith('__wbindgen')) return 'wasm_bindgen';
  return /^(mem|str|__|dl|abort|rust_)/.test(name) ? '(runtime)' : '(unnamed)';
}

/** `{ total, data, code, byCrate: [[crate, bytes], …] largest first, names }` for a wasm
 *  file (`names`: every function name of its name section, as the linker wrote it). */
export function sizeByCrate(path) {
  const buf = readFileSync(path);
  const r = reader(buf);
  r.at = 8;
  let importedFunctions = 0, data = 0, code = 0;
  const bodies = [];
  const names = new Map();
  while (r.at < buf.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.at + size;
    if (id === 2) {
      for (let n = r.u32(); n > 0; n--) {
        r.name(); r.name();
        const kind = r.byte();
        if (kind === 0) { r.u32(); importedFunctions++; }
        else if (kind === 1) { r.byte(); const f = r.byte(); r.u32(); if (f & 1) r.u32(); }
        else if (kind === 2) { const f = r.byte(); r.u32(); if (f & 1) r.u32(); }
        else if (kind === 3) { r.byte(); r.byte(); }
        else r.u32();
      }
    } else if (id === 10) {
      code = size;
      for (let n = r.u32(), i = 0; i < n; i++) {
        const len = r.u32();
        bodies.push(len);
        r.at += len;
      }
    } else if (id === 11) {
      data = size;
    } else if (id === 0 && r.name() === 'name') {
      while (r.at < end) {
        const sub = r.byte();
        const len = r.u32();
        const subEnd = r.at + len;
        if (sub === 1) for (let n = r.u32(); n > 0; n--) { const idx = r.u32(); names.set(idx, r.name()); }
        r.at = subEnd;
      }
    }
    r.at = end;
  }
  const byCrate = new Map();
  bodies.forEach((len, i) => {
    const c = crateOf(names.get(importedFunctions + i) ?? '');
    byCrate.set(c, (byCrate.get(c) ?? 0) + len);
  });
  byCrate.set('(data segments)', data);
  return { total: buf.length, code, data, byCrate: [...byCrate].sort((a, b) => b[1] - a[1]), names: [...names.values()] };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { total, byCrate } = sizeByCrate(process.argv[2]);
  const code = byCrate.reduce((s, [, b]) => s + b, 0);
  console.log(`${process.argv[2]}: ${total} bytes; code and data by crate:`);
  for (const [c, b] of byCrate.slice(0, 25)) console.log(`${(b / 1024).toFixed(1).padStart(8)} KB ${(100 * b / code).toFixed(1).padStart(5)} %  ${c}`);
}
