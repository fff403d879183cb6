//! `hotrepl exec TARGET CODE`: runs one cell in a live process and prints what it prints
//! (its stdout on ours, its stderr and traceback on our stderr). Exits 0 if the cell ran,
//! 1 if it raised (Ctrl-C interrupts it remotely: KeyboardInterrupt), the status it gave
//! `SystemExit`, and 2 if it could not run at all. `input()` in the cell reads our stdin.

use hotrepl_config::Config;

use crate::attach;
use crate::session::CellEnd;
use crate::target::Target;

pub fn run(target: &Target, code: &str, token: Option<String>, config: Config) -> Result<i32, String> {
    let mut session = attach::open(target, token, config)?;
    session.configure_kernel()?;
    let status = match session.run_cell(code) {
        CellEnd::Ok => 0,
        CellEnd::Failed => 1,
        CellEnd::Exit(status) => {
            session.wait_closed();
            return Ok(status);
        }
        CellEnd::Gone(reason) => return Err(reason),
    };
    session.shut_down();
    Ok(status)
}
