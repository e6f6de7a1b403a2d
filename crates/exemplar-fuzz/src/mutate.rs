//! The built-in fuzzing loop: needs nothing but stable Rust, so that the test command can
//! run it everywhere. It mutates a corpus (bytes, and also the structure of JSON texts and
//! ONNX models) and keeps each mutant whose outcome signature is new (see
//! [`crate::targets`]): a cheap stand-in for coverage. Panics are caught and kept; an
//! abort (allocation cap, watchdog) ends the process after [`crate::guard`] saved the input.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use exemplar_engine::onnx::ModelProto;
use prost::Message;
use serde_json::Value;

/// Picks mutations with the plans' generator (`exemplar_core::rng`), in `usize`.
pub struct Rng(exemplar_core::rng::Rng);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(exemplar_core::rng::Rng::new(seed))
    }
    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0.below(n as u64) as usize
    }
}

const INTERESTING: [i64; 16] = [
    0,
    1,
    -1,
    2,
    3,
    7,
    8,
    16,
    255,
    256,
    65535,
    65536,
    1 << 31,
    -(1 << 31),
    i64::MAX,
    i64::MIN,
];
const JSON_TOKENS: [&str; 22] = [
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "true",
    "-0",
    "1e999",
    "-1e309",
    "0.0000001",
    "18446744073709551616",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"../x\"",
    "\n",
    "\r\n",
    "\u{feff}",
    "\"=1+1\"",
    "NaN",
];

/// Byte-level havoc: 1 to 8 of bit flips, byte sets, interesting values, insertions,
/// deletions, duplications, tokens and splices with another corpus entry.
pub fn havoc(data: &mut Vec<u8>, other: &[u8], rng: &mut Rng) {
    for _ in 0..1 + rng.below(8) {
        let len = data.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next_u64() as u8;
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let v = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
                let n = [1, 2, 4, 8][rng.below(4)].min(len - i);
                data[i..i + n].copy_from_slice(&v[..n]);
            }
            3 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                data.splice(i..i, bytes);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                data.drain(i..i + n);
            }
            5 if len > 0 && len < 1 << 20 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let copy = data[i..i + n].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, copy);
            }
            6 => {
                let t = JSON_TOKENS[rng.below(JSON_TOKENS.len())].as_bytes();
                let i = rng.below(len + 1);
                data.splice(i..i, t.iter().copied());
            }
            7 if !other.is_empty() => {
                let i = rng.below(len + 1);
                let j = rng.below(other.len());
                let n = 1 + rng.below((other.len() - j).min(512));
                data.truncate(i);
                data.extend_from_slice(&other[j..j + n]);
            }
            _ if len > 1 => {
                let i = rng.below(len);
                let j = rng.below(len);
                data.swap(i, j);
            }
            _ => data.push(rng.next_u64() as u8),
        }
    }
}

/// A strange value for a JSON leaf.
fn odd_value(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => Value::from(INTERESTING[rng.below(INTERESTING.len())]),
        2 => Value::from(u64::MAX),
        3 => serde_json::json!(-1.5e300),
        4 => Value::from(""),
        5 => Value::from("../../etc/passwd"),
        6 => Value::from("x".repeat(1 + rng.below(300))),
        7 => Value::from("\u{0}\u{202e}<script>é"),
        8 => serde_json::json!([]),
        _ => serde_json::json!({}),
    }
}

/// One structural change somewhere in a JSON value: a leaf replaced, a key or element
/// removed or duplicated, a number nudged.
fn mutate_json(v: &mut Value, other: &Value, rng: &mut Rng, depth: usize) {
    let descend = depth < 12 && rng.below(4) != 0;
    match v {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let k = &keys[rng.below(keys.len())];
            if descend {
                mutate_json(map.get_mut(k).expect("a key"), other, rng, depth + 1);
            } else {
                match rng.below(4) {
                    0 => {
                        map.remove(k);
                    }
                    1 => {
                        map.insert(k.clone(), odd_value(rng));
                    }
                    2 => {
                        let picked = pick(other, rng).clone();
                        map.insert(k.clone(), picked);
                    }
                    _ => {
                        map.insert(format!("{k}_"), Value::from(1));
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.below(items.len());
            if descend {
                mutate_json(&mut items[i], other, rng, depth + 1);
            } else {
                match rng.below(4) {
                    0 => {
                        items.remove(i);
                    }
                    1 => {
                        let again = items[i].clone();
                        let many = if rng.below(8) == 0 { 200 } else { 3 };
                        let n = 1 + rng.below(many);
                        for _ in 0..n {
                            items.insert(i, again.clone());
                        }
                    }
                    2 => items[i] = odd_value(rng),
                    _ => items.truncate(i),
                }
            }
        }
        Value::Number(n) => {
            let x = n.as_i64().unwrap_or(1);
            *v = match rng.below(4) {
                0 => Value::from(x.wrapping_add(1)),
                1 => Value::from(x.wrapping_sub(1)),
                2 => Value::from(x.wrapping_mul(1000)),
                _ => odd_value(rng),
            };
        }
        Value::String(s) if rng.below(2) == 0 => {
            s.push_str(["/..", "\"", "-1", "", "é\u{0}"][rng.below(5)]);
        }
        _ => *v = odd_value(rng),
    }
}

/// A random sub-value of `v`.
fn pick<'a>(v: &'a Value, rng: &mut Rng) -> &'a Value {
    let mut cur = v;
    for _ in 0..rng.below(6) {
        cur = match cur {
            Value::Object(m) if !m.is_empty() => m.values().nth(rng.below(m.len())).expect("n"),
            Value::Array(a) if !a.is_empty() => &a[rng.below(a.len())],
            _ => break,
        };
    }
    cur
}

/// One structural change to an ONNX model: an attribute's integers, a tensor's dims, a
/// node's operator or inputs, the declared input shape.
fn mutate_model(m: &mut ModelProto, rng: &mut Rng) {
    const OPS: [&str; 24] = [
        "Conv",
        "Relu",
        "Reshape",
        "Expand",
        "Pad",
        "Slice",
        "Gather",
        "Concat",
        "Transpose",
        "MatMul",
        "Gemm",
        "MaxPool",
        "AveragePool",
        "Split",
        "Range",
        "ConstantOfShape",
        "Shape",
        "Unsqueeze",
        "Squeeze",
        "Where",
        "Softmax",
        "ReduceMean",
        "Cast",
        "Tile",
    ];
    let Some(g) = m.graph.as_mut() else { return };
    let val = |rng: &mut Rng| INTERESTING[rng.below(INTERESTING.len())];
    match rng.below(7) {
        0 if !g.node.is_empty() => {
            let n = rng.below(g.node.len());
            let node = &mut g.node[n];
            if node.attribute.is_empty() {
                return;
            }
            let a = rng.below(node.attribute.len());
            let attr = &mut node.attribute[a];
            if attr.ints.is_empty() || rng.below(4) == 0 {
                attr.i = val(rng);
            } else {
                let k = rng.below(attr.ints.len());
                attr.ints[k] = if rng.below(2) == 0 {
                    val(rng)
                } else {
                    attr.ints[k].wrapping_add(1)
                };
                if rng.below(6) == 0 {
                    attr.ints.push(val(rng));
                }
            }
        }
        1 if !g.initializer.is_empty() => {
            let t = rng.below(g.initializer.len());
            let t = &mut g.initializer[t];
            if !t.int64_data.is_empty() && rng.below(2) == 0 {
                let k = rng.below(t.int64_data.len());
                t.int64_data[k] = val(rng);
            } else if !t.dims.is_empty() {
                let k = rng.below(t.dims.len());
                t.dims[k] = val(rng);
            } else {
                t.dims.push(val(rng));
            }
        }
        2 if !g.node.is_empty() => {
            let n = rng.below(g.node.len());
            g.node[n].op_type = OPS[rng.below(OPS.len())].into();
        }
        3 if g.node.len() > 1 => {
            // Rewire an input to another tensor of the graph.
            let n = rng.below(g.node.len());
            let src = rng.below(g.node.len());
            let name = g.node[src].output.first().cloned().unwrap_or_default();
            let node = &mut g.node[n];
            if node.input.is_empty() || rng.below(5) == 0 {
                node.input.push(name);
            } else {
                let k = rng.below(node.input.len());
                node.input[k] = name;
            }
        }
        4 => {
            if let Some(dim) = g
                .input
                .first_mut()
                .and_then(|i| i.r#type.as_mut())
                .and_then(|t| t.tensor_type.as_mut())
                .and_then(|t| t.shape.as_mut())
            {
                if dim.dim.is_empty() {
                    return;
                }
                let k = rng.below(dim.dim.len());
                dim.dim[k].dim_value = val(rng);
            }
        }
        5 if !g.node.is_empty() => {
            let n = rng.below(g.node.len());
            let node = g.node[n].clone();
            g.node.insert(rng.below(g.node.len()), node);
        }
        _ if !g.node.is_empty() => {
            let n = rng.below(g.node.len());
            g.node.remove(n);
        }
        _ => {}
    }
}

/// A mutant of `input` for `target` (`other` is another corpus entry to splice from).
pub fn mutate(target: &str, input: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    if rng.below(2) == 0 {
        match target {
            "experiment" | "envelope" | "analysis" => {
                let (head, body) = if target == "analysis" && !input.is_empty() {
                    (&input[..1], &input[1..])
                } else {
                    (&input[..0], input)
                };
                let other = if target == "analysis" && !other.is_empty() {
                    &other[1..]
                } else {
                    other
                };
                // JSON Lines: one line of the file.
                let text = String::from_utf8_lossy(body);
                let lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let l = rng.below(lines.len());
                    let o: Value = serde_json::from_slice(other).unwrap_or(Value::Null);
                    let parsed = serde_json::from_str::<Value>(lines[l])
                        .or_else(|_| serde_json::from_str::<Value>(&text));
                    if let Ok(mut v) = parsed {
                        for _ in 0..1 + rng.below(3) {
                            mutate_json(&mut v, &o, rng, 0);
                        }
                        let mut out = head.to_vec();
                        if lines.len() > 1 && serde_json::from_str::<Value>(lines[l]).is_ok() {
                            let mut lines: Vec<String> =
                                lines.iter().map(|s| s.to_string()).collect();
                            lines[l] = v.to_string();
                            out.extend(lines.join("\n").bytes());
                        } else {
                            out.extend(v.to_string().bytes());
                        }
                        return out;
                    }
                }
            }
            "onnx" if input.len() > 2 => {
                if let Ok(mut m) = ModelProto::decode(&input[2..]) {
                    for _ in 0..1 + rng.below(3) {
                        mutate_model(&mut m, rng);
                    }
                    let mut out = input[..2].to_vec();
                    if rng.below(4) == 0 {
                        out[0] = rng.next_u64() as u8;
                    }
                    out.extend(m.encode_to_vec());
                    return out;
                }
            }
            _ => {}
        }
    }
    let mut out = input.to_vec();
    havoc(&mut out, other, rng);
    out
}

/// A crash the loop kept: the panic's message and where the input was saved.
#[derive(Debug)]
pub struct Crash {
    /// The panic message with its location.
    pub message: String,
    /// The saved input, when a directory was given.
    pub path: Option<PathBuf>,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Stats {
    /// Inputs run.
    pub execs: u64,
    /// Distinct crashes (by message).
    pub crashes: Vec<Crash>,
    /// Inputs in the corpus at the end.
    pub corpus: usize,
    /// Distinct outcome signatures seen.
    pub signatures: usize,
    /// Wall time.
    pub elapsed: Duration,
}

thread_local! {
    static IN_TARGET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `target` on mutants of `seeds` until `budget` passes or `max_execs` inputs ran,
/// with RNG seed `seed`. Crashing inputs go to `crash_dir` (when given) as
/// `<target>-<n>.bin` with the message in `<target>-<n>.txt`.
pub fn fuzz(
    target: &str,
    seeds: Vec<Vec<u8>>,
    budget: Duration,
    max_execs: u64,
    seed: u64,
    crash_dir: Option<&Path>,
) -> Stats {
    // Panics of the target are recorded, not printed; others (another test's, in a test
    // binary) go to the hook that was there.
    type Hook = dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync;
    let previous: std::sync::Arc<Hook> = std::sync::Arc::from(std::panic::take_hook());
    let other = previous.clone();
    std::panic::set_hook(Box::new(move |info| {
        crate::guard::disarm();
        if IN_TARGET.with(|t| t.get()) {
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
        } else {
            other(info);
        }
    }));
    let mut rng = Rng::new(seed);
    let mut corpus = seeds;
    let mut seen = HashSet::new();
    let mut stats = Stats::default();
    let start = Instant::now();
    let mut messages = HashSet::new();
    let mut run_one = |input: &[u8], stats: &mut Stats| -> Option<u64> {
        stats.execs += 1;
        crate::guard::running(input);
        IN_TARGET.with(|t| t.set(true));
        let r = std::panic::catch_unwind(|| crate::targets::run(target, input));
        IN_TARGET.with(|t| t.set(false));
        crate::guard::done();
        match r {
            Ok(sig) => Some(sig),
            Err(_) => {
                let message = LAST_PANIC
                    .with(|p| p.borrow_mut().take())
                    .unwrap_or_else(|| "a panic without message".into());
                if messages.insert(message.clone()) {
                    let path = crash_dir.map(|dir| {
                        let n = stats.crashes.len();
                        let _ = std::fs::create_dir_all(dir);
                        let path = dir.join(format!("{target}-{n}.bin"));
                        let _ = std::fs::write(&path, input);
                        let _ = std::fs::write(dir.join(format!("{target}-{n}.txt")), &message);
                        path
                    });
                    eprintln!("exemplar-fuzz: {target}: crash: {message}");
                    stats.crashes.push(Crash { message, path });
                }
                None
            }
        }
    };
    for s in corpus.clone() {
        if let Some(sig) = run_one(&s, &mut stats) {
            seen.insert(sig);
        }
    }
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    while start.elapsed() < budget && stats.execs < max_execs {
        let a = rng.below(corpus.len());
        let b = rng.below(corpus.len());
        let mut input = mutate(target, &corpus[a], &corpus[b], &mut rng);
        input.truncate(1 << 20);
        if let Some(sig) = run_one(&input, &mut stats) {
            if seen.insert(sig) && corpus.len() < 4096 {
                corpus.push(input);
            }
        }
    }
    std::panic::set_hook(Box::new(move |info| previous(info)));
    stats.corpus = corpus.len();
    stats.signatures = seen.len();
    stats.elapsed = start.elapsed();
    stats
}
