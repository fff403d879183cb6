//! How long a cell has been running: a quiet spinner with the time under the output once
//! it passes a second, and the time it took, printed after it when that was longer than
//! the `elapsed_threshold` option.

use std::time::{Duration, Instant};

/// A cell shorter than this shows no spinner.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// How often the spinner turns.
const TICK: Duration = Duration::from_millis(125);
const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

pub struct Stopwatch {
    started: Instant,
    next_tick: Instant,
    frame: usize,
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        let started = Instant::now();
        Stopwatch {
            started,
            next_tick: started + SHOW_AFTER,
            frame: 0,
        }
    }

    /// When the spinner is next due.
    pub fn next_tick(&self) -> Instant {
        self.next_tick
    }

    /// The spinner's next line: a frame and the time so far.
    pub fn tick(&mut self) -> String {
        self.next_tick = Instant::now() + TICK;
        self.frame = (self.frame + 1) % FRAMES.len();
        format!("{} {:.1} s", FRAMES[self.frame], self.elapsed().as_secs_f64())
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// `0.42 s`, `12.30 s`, `2 min 5.0 s`.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.2} s")
    } else {
        format!("{} min {:.1} s", (secs / 60.0).floor(), secs % 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_millis(420)), "0.42 s");
        assert_eq!(human(Duration::from_millis(125_000)), "2 min 5.0 s");
    }

    #[test]
    fn the_spinner_waits_a_second() {
        let watch = Stopwatch::start();
        assert!(watch.next_tick() >= watch.started + SHOW_AFTER);
    }
}
