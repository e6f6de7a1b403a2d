//! Progress of a long run on stderr: on a terminal, a bar (indicatif) with images/s and the
//! time left; in a log, a line per tenth of the work, and after any chunk that ends a
//! minute or more after the last line.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// After this long without a line, the next chunk that ends writes one.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// A run's progress on stderr.
pub(crate) struct Progress {
    count: Count,
    start: Instant,
    /// On a terminal: the bar. Elsewhere: when the last log line was written.
    out: Out,
}

enum Out {
    Bar(ProgressBar),
    Log { last: Instant, tenths: usize },
}

/// What is done, as the lines and the bar say it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Count {
    total: usize,
    done: usize,
    /// Images a resumed run found done (not counted in its rate).
    resumed: usize,
}

impl Count {
    fn tenths(self) -> usize {
        self.done * 10 / self.total.max(1)
    }

    /// What follows the count, after `elapsed` of this run: the rate and the time left,
    /// over the images this run computed (not those a resumed run found done).
    fn speed(self, elapsed: Duration) -> String {
        let computed = self.done.saturating_sub(self.resumed);
        if computed == 0 {
            // Nothing computed yet in this run: no rate to tell the time left by.
            return String::from(if self.resumed > 0 { ", resumed" } else { "" });
        }
        let rate = computed as f64 / elapsed.as_secs_f64().max(1e-9);
        let left = Duration::from_secs_f64((self.total - self.done) as f64 / rate);
        format!(", {rate:.1} images/s, {} left", duration(left))
    }

    /// The log line after `elapsed` of this run.
    fn line(self, elapsed: Duration) -> String {
        format!(
            "exemplar exemplars: {}/{} images ({:.0} %){}",
            self.done,
            self.total,
            100.0 * self.done as f64 / self.total.max(1) as f64,
            self.speed(elapsed)
        )
    }
}

/// A time left, to the minute above an hour: `35 h 33 min`, `4 min 10 s`, `9 s`.
fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// Whether a log line is due: a new tenth, the end, or a minute without one.
fn log_due(count: Count, tenths: usize, since_last: Duration) -> bool {
    count.tenths() != tenths || count.done >= count.total || since_last >= LOG_EVERY
}

impl Progress {
    /// `total` images to compute, of which a resumed run found `resumed` done.
    pub(crate) fn new(total: usize, resumed: usize) -> Progress {
        let count = Count {
            total,
            done: resumed.min(total),
            resumed: resumed.min(total),
        };
        let now = Instant::now();
        let out = if std::io::stderr().is_terminal() {
            Out::Bar(bar(count))
        } else {
            Out::Log {
                last: now,
                tenths: usize::MAX,
            }
        };
        let mut p = Progress {
            count,
            start: now,
            out,
        };
        if resumed > 0 {
            p.advance(0);
        }
        p
    }

    /// `n` more images are done.
    pub(crate) fn advance(&mut self, n: usize) {
        self.count.done = (self.count.done + n).min(self.count.total);
        match &mut self.out {
            Out::Bar(bar) => {
                bar.set_position(self.count.done as u64);
                if self.count.done >= self.count.total {
                    bar.finish();
                }
            }
            Out::Log { last, tenths } => {
                if !log_due(self.count, *tenths, last.elapsed()) {
                    return;
                }
                *last = Instant::now();
                *tenths = self.count.tenths();
                let line = self.count.line(self.start.elapsed());
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    }
}

/// The terminal's bar, starting at what a resumed run found done; its rate and time left
/// are the log lines' ([`Count::speed`]), over the images this run computed.
fn bar(count: Count) -> ProgressBar {
    let start = Instant::now();
    let style = ProgressStyle::with_template(
        "exemplar exemplars {wide_bar} {pos}/{len} images ({percent} %){speed}",
    )
    .expect("a valid template")
    .with_key(
        "speed",
        move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let now = Count {
                done: state.pos() as usize,
                ..count
            };
            let _ = write!(w, "{}", now.speed(start.elapsed()));
        },
    );
    let bar = ProgressBar::new(count.total as u64).with_style(style);
    bar.set_position(count.done as u64);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(done: usize, resumed: usize) -> Count {
        Count {
            total: 1000,
            done,
            resumed,
        }
    }

    #[test]
    fn a_log_line_says_the_rate_and_the_time_left() {
        assert_eq!(
            count(250, 0).line(Duration::from_secs(10)),
            "exemplar exemplars: 250/1000 images (25 %), 25.0 images/s, 30 s left"
        );
        // A resumed run's rate counts only what it computed.
        assert_eq!(
            count(600, 500).line(Duration::from_secs(10)),
            "exemplar exemplars: 600/1000 images (60 %), 10.0 images/s, 40 s left"
        );
        assert_eq!(
            count(500, 500).line(Duration::ZERO),
            "exemplar exemplars: 500/1000 images (50 %), resumed"
        );
        assert_eq!(
            Count {
                total: 1_281_167,
                done: 1000,
                resumed: 0
            }
            .line(Duration::from_secs(100)),
            "exemplar exemplars: 1000/1281167 images (0 %), 10.0 images/s, 35 h 33 min left"
        );
    }

    #[test]
    fn times_left_read_as_people_say_them() {
        let s = Duration::from_secs;
        assert_eq!(duration(s(9)), "9 s");
        assert_eq!(duration(s(250)), "4 min 10 s");
        assert_eq!(duration(s(3600 * 35 + 60 * 33 + 59)), "35 h 33 min");
    }

    #[test]
    fn a_log_gets_a_line_per_tenth_at_the_end_and_every_minute() {
        let s = Duration::from_secs;
        // The same tenth, within the minute: no line.
        assert!(!log_due(count(150, 0), 1, s(59)));
        // A minute without one: a line, even in the same tenth (a day-long run).
        assert!(log_due(count(150, 0), 1, s(60)));
        // A new tenth.
        assert!(log_due(count(200, 0), 1, s(1)));
        // The end.
        assert!(log_due(count(1000, 0), 10, s(0)));
    }
}
