//! The names IPython users expect after each cell, set in the session's namespace: `_iN`
//! (the input of cell N) and `_i`, `_ii`, `_iii` (the last three inputs); for a cell with a
//! value, `Out[N]` and `_N`, of which only the last `HOTREPL_OUT_CACHE` are kept so that old
//! results can be freed.
//!
//! In a program the namespace is the program's own: a global `Out` that is not a plain
//! dict is the program's, and is left alone (only `_N` is set then).

use std::collections::VecDeque;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::settings;

#[derive(Default)]
pub struct Names {
    /// The inputs `_i`, `_ii` and `_iii` name, newest first.
    recent: [Option<Py<PyString>>; 3],
    /// Counts whose value is in `Out`, oldest first.
    kept: VecDeque<u64>,
}

const RECENT: [&str; 3] = ["_i", "_ii", "_iii"];

impl Names {
    pub fn keep_input(&mut self, py: Python<'_>, ns: &Bound<'_, PyDict>, count: u64, input: &str) {
        let input = PyString::new(py, input);
        self.recent.rotate_right(1);
        self.recent[0] = Some(input.clone().unbind());
        for (name, value) in RECENT.iter().zip(&self.recent) {
            if let Some(value) = value {
                let _ = ns.set_item(*name, value.bind(py));
            }
        }
        let _ = ns.set_item(format!("_i{count}"), input);
    }

    pub fn keep_result(&mut self, py: Python<'_>, ns: &Bound<'_, PyDict>, count: u64, value: &Bound<'_, PyAny>) {
        let cache = settings().out_cache;
        if cache == 0 {
            return;
        }
        let out = out_dict(py, ns);
        if let Some(out) = &out {
            let _ = out.set_item(count, value);
        }
        let _ = ns.set_item(format!("_{count}"), value);
        self.kept.retain(|&c| c != count);
        self.kept.push_back(count);
        while self.kept.len() > cache {
            let Some(old) = self.kept.pop_front() else { break };
            if let Some(out) = &out {
                let _ = out.del_item(old);
            }
            let _ = ns.del_item(format!("_{old}"));
        }
    }
}

/// `Out` in the namespace, made if missing; None if the name holds something else.
fn out_dict<'py>(py: Python<'py>, ns: &Bound<'py, PyDict>) -> Option<Bound<'py, PyDict>> {
    match ns.get_item("Out") {
        Ok(Some(existing)) => existing.cast_exact::<PyDict>().ok().cloned(),
        Ok(None) => {
            let out = PyDict::new(py);
            ns.set_item("Out", &out).ok()?;
            Some(out)
        }
        Err(_) => None,
    }
}
