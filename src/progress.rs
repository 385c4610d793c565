//! Progress bars (indicatif) that fall back to one line per epoch when stderr is not a
//! terminal, and stay silent when disabled (tests, library use).

use indicatif::{ProgressBar, ProgressStyle};
use std::cell::Cell;

/// A progress bar over a known number of steps.
pub struct Progress {
    bar: Option<ProgressBar>,
    enabled: bool,
    steps: Cell<u64>,
}

impl Progress {
    /// A bar of `len` steps labelled `prefix`; nothing is shown unless `enabled`.
    pub fn new(len: u64, prefix: &str, enabled: bool) -> Self {
        let bar = (enabled && console_is_terminal()).then(|| {
            let bar = ProgressBar::new(len);
            bar.set_style(
                ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {msg} ({eta})")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(prefix.to_string());
            bar
        });
        Progress {
            bar,
            enabled,
            steps: Cell::new(0),
        }
    }

    /// Advances one step; `message` is only built when it will be shown (every 10 steps).
    pub fn step(&self, message: impl FnOnce() -> String) {
        let n = self.steps.get() + 1;
        self.steps.set(n);
        if let Some(bar) = &self.bar {
            if n % 10 == 1 {
                bar.set_message(message());
            }
            bar.inc(1);
        }
    }

    /// Ends the bar and prints `summary` as a permanent line.
    pub fn finish(&self, summary: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.enabled {
            eprintln!("{summary}");
        }
    }
}

fn console_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}
