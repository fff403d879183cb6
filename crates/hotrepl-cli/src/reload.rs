//! `hotrepl reload TARGET MODULE...`: patches edited modules into a live program and
//! prints the report. It runs one cell there, as `hotrepl exec` does, calling
//! `hotrepl.reload`, which ends the session with status 1 when something could not be
//! patched. So: exit 0 when everything was patched, 1 when something could not be (the
//! report says what) or the new source raised (its traceback on stderr; nothing changed),
//! 2 when there is no connection.

use hotrepl_config::Config;

use crate::exec;
use crate::target::Target;

pub fn run(
    target: &Target,
    modules: &[String],
    keep_deleted: bool,
    token: Option<String>,
    config: Config,
) -> Result<i32, String> {
    if let Some(bad) = modules.iter().find(|m| !is_module_name(m)) {
        return Err(format!("{bad:?} is not a module name"));
    }
    exec::run(target, &cell(modules, keep_deleted), token, config)
}

/// The cell run in the program. It binds no name in the program's namespace.
fn cell(modules: &[String], keep_deleted: bool) -> String {
    let names: Vec<String> = modules.iter().map(|m| format!("'{m}'")).collect();
    let remove_deleted = if keep_deleted { "False" } else { "True" };
    format!(
        "__import__('hotrepl._patch', fromlist=['_']).reload_from_cli([{}], {remove_deleted})",
        names.join(", ")
    )
}

/// A dotted Python name (which also makes it safe to quote into the cell).
fn is_module_name(name: &str) -> bool {
    name.split('.').all(|part| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c == '_' || c.is_alphabetic()) && chars.all(|c| c == '_' || c.is_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_are_dotted_identifiers() {
        assert!(is_module_name("handlers"));
        assert!(is_module_name("app.handlers_2"));
        assert!(is_module_name("_private.ünïcode"));
        for bad in ["", "a..b", ".a", "a.", "2fast", "a-b", "a b", "x')+__import__('os"] {
            assert!(!is_module_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_cell_calls_the_cli_reload() {
        let modules = vec!["a".to_string(), "b.c".to_string()];
        assert_eq!(
            cell(&modules, false),
            "__import__('hotrepl._patch', fromlist=['_']).reload_from_cli(['a', 'b.c'], True)"
        );
        assert!(cell(&modules, true).ends_with("(['a', 'b.c'], False)"));
    }
}
