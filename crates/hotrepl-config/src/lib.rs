//! hotrepl's configuration, with no Python in it: every option is declared once
//! ([`options`]) and set at levels, later winning: defaults, the config file
//! (`$XDG_CONFIG_HOME/hotrepl/config.toml`), `HOTREPL_<NAME>` environment variables,
//! command-line switches, and `%config` while a session runs ([`Config::set`]).
//!
//! A bad value never stops anything: it is reported with where it was written (the file
//! and line, the variable, the switch), with a "did you mean" for misspelt names, and the
//! option keeps the value it had.

mod file;
pub mod kinds;
pub mod options;
mod suggest;
pub mod theme;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use kinds::{ColorMode, Count, EditingMode, ImageProtocol, Raw, Seconds, ThemeName};
pub use options::{declaration, Declaration, Scope, Values, OPTIONS};
pub use theme::{Style, Theme, ThemeSpec};

use suggest::did_you_mean;

/// Where an option's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File {
        path: PathBuf,
        line: usize,
    },
    Env(String),
    CommandLine,
    /// `%config` in a running session.
    Runtime,
    /// As another process reported it (a kernel learns the client's settings this way).
    Reported(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { path, line } => write!(f, "{}:{line}", path.display()),
            Source::Env(var) => write!(f, "${var}"),
            Source::CommandLine => f.write_str("command line"),
            Source::Runtime => f.write_str("%config"),
            Source::Reported(text) => f.write_str(text),
        }
    }
}

/// Something wrong with a setting, and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `path:line`, `$HOTREPL_X`, `--switch`.
    pub place: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

/// One option as `%config` lists it.
#[derive(Debug, Clone)]
pub struct Setting {
    pub declaration: &'static Declaration,
    pub value: String,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    values: Values,
    /// Where each option that is not at its default got its value.
    sources: BTreeMap<&'static str, Source>,
    /// The themes defined in the config file, as written.
    themes: BTreeMap<String, ThemeSpec>,
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

impl Config {
    /// Every option at its default.
    pub fn new() -> Config {
        Config {
            values: Values::default(),
            sources: BTreeMap::new(),
            themes: BTreeMap::new(),
        }
    }

    /// Defaults, then the config file (if there is one), then the environment. The
    /// problems found are for the user to see; the options they are about keep their
    /// earlier values.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> (Config, Vec<Problem>) {
        let mut config = Config::new();
        let mut problems = Vec::new();
        if let Some(path) = file {
            match std::fs::read_to_string(path) {
                Ok(text) => problems.extend(config.read_file(path, &text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => problems.push(Problem {
                    place: path.display().to_string(),
                    message: format!("cannot read it ({e}); using the defaults"),
                }),
            }
        }
        problems.extend(config.read_env(env));
        (config, problems)
    }

    pub fn values(&self) -> &Values {
        &self.values
    }

    /// Sets options from the config file's text (`path` names it in problems).
    pub fn read_file(&mut self, path: &Path, text: &str) -> Vec<Problem> {
        file::read(self, path, text)
    }

    /// Sets options from their `HOTREPL_<NAME>` variables, as `var` finds them.
    pub fn read_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Vec<Problem> {
        let mut problems = Vec::new();
        for decl in OPTIONS {
            let name = decl.env_var();
            let Some(text) = var(&name) else { continue };
            if let Err(message) = self.set_from(decl.name, &Raw::Text(text), Source::Env(name.clone())) {
                problems.push(Problem {
                    place: format!("${name}"),
                    message,
                });
            }
        }
        problems
    }

    /// Sets `name` from `raw`, noting where it came from. Fails for an unknown name or a
    /// bad value, with the reason.
    pub fn set_from(&mut self, name: &str, raw: &Raw, source: Source) -> Result<(), String> {
        let decl = declaration(name).ok_or_else(|| unknown_option(name))?;
        let mut values = self.values.clone();
        values.set(decl.name, raw)?;
        if decl.name == "theme" {
            self.check_theme(&values.theme.0)?;
        }
        self.values = values;
        self.sources.insert(decl.name, source);
        Ok(())
    }

    /// `%config name value`: sets an option while a session runs. Options that only
    /// take effect at start-up are refused, saying where they can be set.
    pub fn set(&mut self, name: &str, text: &str) -> Result<(), String> {
        let decl = declaration(name).ok_or_else(|| unknown_option(name))?;
        if !decl.runtime {
            return Err(format!(
                "{} can only be set at start-up: in the config file, with ${} or with --{}",
                decl.name,
                decl.env_var(),
                decl.switch()
            ));
        }
        // The value's complaint names the option, as the config file's do.
        self.set_from(decl.name, &Raw::Text(text.to_owned()), Source::Runtime)
            .map_err(|e| format!("{}: {e}", decl.name))
    }

    /// Every option with its value, where the value came from, and its declaration.
    pub fn list(&self) -> Vec<Setting> {
        OPTIONS
            .iter()
            .map(|decl| Setting {
                declaration: decl,
                value: self.values.text(decl.name),
                source: self.sources.get(decl.name).cloned().unwrap_or(Source::Default),
            })
            .collect()
    }

    /// The themes the config file defines, as written.
    pub fn themes(&self) -> &BTreeMap<String, ThemeSpec> {
        &self.themes
    }

    /// Defines (or redefines) a theme; fails if the spec does not make one.
    pub fn define_theme(&mut self, name: &str, spec: ThemeSpec) -> Result<(), String> {
        theme::from_spec(&spec)?;
        self.themes.insert(name.to_owned(), spec);
        Ok(())
    }

    /// The theme the `theme` option names.
    pub fn theme(&self) -> Theme {
        let name = &self.values.theme.0;
        match self.themes.get(name) {
            Some(spec) => theme::from_spec(spec).unwrap_or_default(),
            None => theme::builtin(name).unwrap_or_default(),
        }
    }

    fn check_theme(&self, name: &str) -> Result<(), String> {
        if self.themes.contains_key(name) || theme::builtin(name).is_some() {
            return Ok(());
        }
        let mut known: Vec<&str> = theme::builtin_names().collect();
        known.extend(self.themes.keys().map(String::as_str));
        Err(format!(
            "no theme named {name:?}{} (themes: {})",
            did_you_mean(name, known.iter().copied()),
            known.join(", ")
        ))
    }
}

fn unknown_option(name: &str) -> String {
    format!(
        "unknown option '{name}'{}",
        did_you_mean(name, OPTIONS.iter().map(|d| d.name))
    )
}

/// `$XDG_CONFIG_HOME/hotrepl/NAME`, else `~/.config/hotrepl/NAME`.
pub fn config_path(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(dir.join("hotrepl").join(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn later_levels_win_and_are_listed_with_their_source() {
        let path = Path::new("/cfg/config.toml");
        let (mut config, problems) = Config::load(None, |var| (var == "HOTREPL_AUTOAWAIT").then(|| "off".to_string()));
        assert!(problems.is_empty());
        assert!(config.read_file(path, "color = 'never'\nautoawait = true\n").is_empty());
        // The file came after the environment here, so it wins; in `load` it comes first.
        assert!(config.values().autoawait);
        config
            .set_from("color", &Raw::Text("always".into()), Source::CommandLine)
            .unwrap();
        config.set("elapsed_threshold", "2").unwrap();
        let listed: BTreeMap<&str, (String, String)> = config
            .list()
            .into_iter()
            .map(|s| (s.declaration.name, (s.value, s.source.to_string())))
            .collect();
        assert_eq!(listed["color"], ("always".into(), "command line".into()));
        assert_eq!(listed["autoawait"], ("on".into(), "/cfg/config.toml:2".into()));
        assert_eq!(listed["elapsed_threshold"], ("2".into(), "%config".into()));
        assert_eq!(listed["pdb"], ("off".into(), "default".into()));
        assert_eq!(config.values().elapsed_threshold, Seconds(Some(Duration::from_secs(2))));
    }

    #[test]
    fn the_environment_is_read_per_option() {
        let (config, problems) = Config::load(None, |var| match var {
            "HOTREPL_IMAGE_PROTOCOL" => Some("sixel".into()),
            "HOTREPL_PDB" => Some("perhaps".into()),
            _ => None,
        });
        assert_eq!(config.values().image_protocol, ImageProtocol::Sixel);
        assert!(!config.values().pdb);
        assert_eq!(
            problems,
            vec![Problem {
                place: "$HOTREPL_PDB".into(),
                message: "expected on or off, got \"perhaps\"".into()
            }]
        );
    }

    #[test]
    fn runtime_changes_are_checked() {
        let mut config = Config::new();
        assert_eq!(
            config.set("editing_mode", "vi").unwrap_err(),
            "editing_mode can only be set at start-up: in the config file, with $HOTREPL_EDITING_MODE or with --editing-mode"
        );
        assert_eq!(
            config.set("colour", "never").unwrap_err(),
            "unknown option 'colour' (did you mean 'color'?)"
        );
        assert_eq!(
            config.set("theme", "ligth").unwrap_err(),
            "theme: no theme named \"ligth\" (did you mean 'light'?) (themes: default, light, mono)"
        );
        assert_eq!(config.values().theme.0, "default");
        config.set("theme", "light").unwrap();
        assert_eq!(config.theme(), theme::builtin("light").unwrap());
    }

    #[test]
    fn a_missing_file_is_no_problem() {
        let (config, problems) = Config::load(Some(Path::new("/nonexistent/hotrepl/config.toml")), |_| None);
        assert!(problems.is_empty());
        assert_eq!(config, Config::new());
    }
}
