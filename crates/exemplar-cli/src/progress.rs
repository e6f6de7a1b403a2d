//! Progress of a long run on stderr: on a terminal, one line rewritten in place; in a log,
//! a line per tenth of the work.

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// One line on stderr: rewritten in place on a terminal, every tenth otherwise.
pub(crate) struct Progress {
    total: usize,
    done: usize,
    /// Images a resumed run found done (not counted in its rate).
    resumed: usize,
    start: Instant,
    tty: bool,
    tenths: usize,
}

impl Progress {
    pub(crate) fn new(total: usize, resumed: usize) -> Progress {
        let mut p = Progress {
            total,
            done: 0,
            resumed: resumed.min(total),
            start: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            tenths: 0,
        };
        if p.resumed > 0 {
            p.advance(p.resumed);
        }
        p
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.done = (self.done + n).min(self.total);
        let tenths = self.done * 10 / self.total.max(1);
        if !self.tty && tenths == self.tenths {
            return;
        }
        self.tenths = tenths;
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let rate = (self.done - self.resumed) as f64 / secs;
        let speed = if self.done == self.resumed {
            // Nothing computed yet in this run (a resumed run's first line).
            String::from(", resumed")
        } else {
            let left = (self.total - self.done) as f64 / rate;
            format!(", {rate:.1} images/s, {left:.0} s left")
        };
        let line = format!(
            "exemplar exemplars: {}/{} images ({:.0} %){speed}",
            self.done,
            self.total,
            100.0 * self.done as f64 / self.total.max(1) as f64
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            let end = if self.done >= self.total { "\n" } else { "" };
            write!(err, "\r{line}{end}")
        } else {
            writeln!(err, "{line}")
        };
    }
}
