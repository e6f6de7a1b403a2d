//! `exemplar-fuzz`: runs the fuzz targets (see the library's documentation).
//!
//! ```text
//! exemplar-fuzz seeds TARGET DIR            write TARGET's seed corpus into DIR
//! exemplar-fuzz run TARGET SECONDS OUTDIR   the built-in loop; crashes under OUTDIR
//! exemplar-fuzz replay TARGET FILE...       run files once each (a crash panics)
//! exemplar-fuzz afl TARGET                  the AFL++ harness (built with --features afl)
//! ```

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use exemplar_fuzz::{guard, mutate, seeds, targets};

fn usage() -> ExitCode {
    eprintln!(
        "usage: exemplar-fuzz seeds TARGET DIR | run TARGET SECONDS OUTDIR | replay TARGET FILE... | afl TARGET\n\
         targets: {}",
        targets::TARGETS.join(" ")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(cmd), Some(target)) = (args.first(), args.get(1)) else {
        return usage();
    };
    if !targets::TARGETS.contains(&target.as_str()) {
        return usage();
    }
    match (cmd.as_str(), &args[2..]) {
        ("seeds", [dir]) => match seeds::write(target, Path::new(dir)) {
            Ok(n) => {
                println!("{target}: {n} seeds in {dir}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("exemplar-fuzz: {dir}: {e}");
                ExitCode::FAILURE
            }
        },
        ("run", [secs, out]) => {
            let Ok(secs) = secs.parse::<u64>() else {
                return usage();
            };
            let out = Path::new(out);
            let crashes = out.join("crashes");
            if let Err(e) = std::fs::create_dir_all(&crashes) {
                eprintln!("exemplar-fuzz: {}: {e}", crashes.display());
                return ExitCode::FAILURE;
            }
            // An abort (allocation cap, hang) leaves the input here; the script reports it.
            let fatal = crashes.join(format!("{target}-fatal.bin"));
            match std::fs::File::create(&fatal) {
                Ok(f) => guard::set_fatal_file(f),
                Err(e) => {
                    eprintln!("exemplar-fuzz: {}: {e}", fatal.display());
                    return ExitCode::FAILURE;
                }
            }
            guard::start_watchdog(Duration::from_secs(10));
            let corpus = seeds::seeds(target).into_iter().map(|(_, b)| b).collect();
            let seed = std::env::var("FUZZ_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(1, |d| d.as_nanos() as u64)
                });
            let stats = mutate::fuzz(
                target,
                corpus,
                Duration::from_secs(secs),
                u64::MAX,
                seed,
                Some(&crashes),
            );
            let _ = std::fs::remove_file(&fatal);
            let secs = stats.elapsed.as_secs_f64();
            println!(
                "{target}: engine=builtin seed={seed} executions={} execs/s={:.0} duration={:.0}s crashes={} corpus={} signatures={} crash_dir={}",
                stats.execs,
                stats.execs as f64 / secs.max(1e-9),
                secs,
                stats.crashes.len(),
                stats.corpus,
                stats.signatures,
                crashes.display()
            );
            if stats.crashes.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        ("replay", files) if !files.is_empty() => {
            for f in files {
                let data = match std::fs::read(f) {
                    Ok(d) => d,
                    Err(e) => {
                        eprintln!("exemplar-fuzz: {f}: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                targets::run(target, &data);
                println!("{target}: {f}: ok");
            }
            ExitCode::SUCCESS
        }
        ("afl", []) => afl(target),
        _ => usage(),
    }
}

#[cfg(feature = "afl")]
fn afl(target: &str) -> ExitCode {
    let target = target.to_string();
    afl::fuzz!(|data: &[u8]| {
        targets::run(&target, data);
    });
    ExitCode::SUCCESS
}

#[cfg(not(feature = "afl"))]
fn afl(_: &str) -> ExitCode {
    eprintln!("exemplar-fuzz: built without the `afl` feature (see scripts/fuzz.sh)");
    ExitCode::FAILURE
}
