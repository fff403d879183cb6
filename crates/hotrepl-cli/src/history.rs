//! `hotrepl history [PATTERN]`: the cells of every session (local REPLs, attached sessions),
//! oldest first, from the history database. PATTERN is a substring of the cell's input (a
//! regular expression with `--regex`); `--target` keeps a program's cells (by pid, or a
//! piece of its command line), `--since` recent ones, `--limit` the last N. `--outputs`
//! adds what each cell printed, returned and raised; `--json` gives one object per line.

use std::io::Write;
use std::path::PathBuf;

use chrono::{Local, TimeZone};
use clap::Args;
use hotrepl_history::audit::iso;
use hotrepl_history::record::now_us;
use hotrepl_history::{paths, Capped, Place, PlaceKind, Query, Regex, Status, Store, StoredCell, Target, TextMatch};
use serde_json::{json, Value};

#[derive(Args)]
pub struct HistoryArgs {
    /// Only cells whose input contains this (a regular expression with --regex).
    pattern: Option<String>,
    /// PATTERN is a regular expression.
    #[arg(long, requires = "pattern")]
    regex: bool,
    /// Only cells run in this program: a pid, or a piece of its command line.
    #[arg(long, value_name = "PID|PROGRAM")]
    target: Option<String>,
    /// Only cells started in this past stretch of time: 90s, 15m, 2h, 3d, 1w (or 1h30m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_us)]
    since: Option<i64>,
    /// Only the last N cells.
    #[arg(long, short = 'n', value_name = "N")]
    limit: Option<usize>,
    /// Each input once (its latest run).
    #[arg(long)]
    unique: bool,
    /// With what each cell printed, returned and raised.
    #[arg(long)]
    outputs: bool,
    /// One JSON object per line, for scripts and audits.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &HistoryArgs) -> Result<i32, String> {
    let path: PathBuf = paths::database().ok_or("no place for the history (neither HOME nor XDG_DATA_HOME is set)")?;
    let warn = |w: &str| eprintln!("hotrepl: {w}");
    let store = Store::open(&path, paths::legacy_file().as_deref(), &warn).map_err(|e| e.to_string())?;
    let text = match (&args.pattern, args.regex) {
        (Some(p), true) => Some(TextMatch::Regex(Regex::new(p).map_err(|e| format!("--regex: {e}"))?)),
        (Some(p), false) => Some(TextMatch::Substring(p.clone())),
        (None, _) => None,
    };
    let target = args.target.as_ref().map(|t| match t.parse() {
        Ok(pid) => Target::Pid(pid),
        Err(_) => Target::Program(t.clone()),
    });
    let query = Query {
        text,
        target,
        since_us: args.since.map(|ago| now_us() - ago),
        limit: args.limit,
        unique: args.unique,
        outputs: args.outputs,
        newest_first: true,
        ..Query::default()
    };
    let mut cells = store
        .cells(&query)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    cells.reverse();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for cell in &cells {
        let shown = if args.json {
            format!("{}\n", as_json(cell))
        } else {
            as_text(cell)
        };
        // A reader that left early (`hotrepl history | head`) is no error.
        if out.write_all(shown.as_bytes()).is_err() {
            return Ok(0);
        }
    }
    let _ = out.flush();
    Ok(0)
}

/// `90s`, `15m`, `2h`, `3d`, `1w`, or several (`1h30m`), in microseconds.
fn parse_duration_us(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a duration (like 90s, 15m, 2h, 3d, 1w or 1h30m)");
    let mut total: i64 = 0;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let seconds: i64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        let n: i64 = std::mem::take(&mut number).parse().map_err(|_| bad())?;
        total = n
            .checked_mul(seconds * 1_000_000)
            .and_then(|us| total.checked_add(us))
            .ok_or_else(bad)?;
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(total)
}

/// Where a session ran, in a few words.
fn place_text(place: &Place) -> String {
    let pid = place.pid.map(|p| format!("pid {p}")).unwrap_or_default();
    match place.kind {
        PlaceKind::Local => format!("local REPL, {pid} on {}", place.host),
        PlaceKind::Imported => "imported from the old line history".into(),
        PlaceKind::Attached | PlaceKind::Embedded => {
            let how = if place.kind == PlaceKind::Embedded {
                "embedded in "
            } else {
                ""
            };
            let at = if place.address.is_empty() {
                String::new()
            } else {
                format!(", {}", place.address)
            };
            format!("{how}{pid} ({}) on {}{at}", place.program, place.host)
        }
    }
}

/// A header line, the input, and the outputs if asked for.
fn as_text(cell: &StoredCell) -> String {
    let when = Local
        .timestamp_micros(cell.started_us)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default();
    let status = match cell.status {
        Status::Ok => String::new(),
        other => format!("  [{}]", other.as_str()),
    };
    let mut text = format!(
        "# {when}  session {}, cell {}  {}{status}\n{}\n",
        cell.session.number,
        cell.count,
        place_text(&cell.session.place),
        cell.input
    );
    if let Some(outputs) = &cell.outputs {
        text.push_str(&outputs.shown(cell.count));
    }
    text
}

fn as_json(cell: &StoredCell) -> Value {
    let place = &cell.session.place;
    let mut object = json!({
        "session": cell.session.id,
        "session_number": cell.session.number,
        "count": cell.count,
        "input": cell.input,
        "started": iso(cell.started_us),
        "duration": cell.duration_us as f64 / 1e6,
        "status": cell.status.as_str(),
        "where": {
            "kind": place.kind.as_str(),
            "pid": place.pid,
            "program": place.program,
            "host": place.host,
            "address": place.address,
        },
    });
    if let Some(o) = &cell.outputs {
        let omitted = |c: Option<&Capped>| c.map_or(0, |c| c.omitted);
        object["stdout"] = json!(o.stdout.text);
        object["stderr"] = json!(o.stderr.text);
        object["result"] = json!(o.result.as_ref().map(|r| &r.text));
        object["error"] = json!(o.error.as_ref().map(|e| json!({
            "ename": e.ename,
            "evalue": e.evalue,
            "traceback": e.traceback.text,
        })));
        object["omitted"] = json!({
            "stdout": o.stdout.omitted,
            "stderr": o.stderr.omitted,
            "result": omitted(o.result.as_ref()),
            "traceback": omitted(o.error.as_ref().map(|e| &e.traceback)),
        });
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration_us("90s"), Ok(90_000_000));
        assert_eq!(parse_duration_us("2h"), Ok(7_200_000_000));
        assert_eq!(parse_duration_us("1h30m"), Ok(5_400_000_000));
        assert_eq!(parse_duration_us("1w"), Ok(604_800_000_000));
        for bad in ["", "2", "h", "2x", "0s", "-1h", "99999999999999999w"] {
            assert!(parse_duration_us(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
