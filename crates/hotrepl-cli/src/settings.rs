//! The client's configuration: the declared options as command-line switches
//! (`--autoawait off`, and `--config NAME=VALUE` for any of them), read over the config
//! file and the environment; and the start-up files the local REPL runs before its first
//! prompt.

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};
use hotrepl_config::{config_path, Config, Raw, Source, OPTIONS};

/// The id of `--config NAME=VALUE`.
const CONFIG_ARG: &str = "config";

/// `command` with a switch for every option, and `--config`.
pub fn with_switches(mut command: Command) -> Command {
    command = command.arg(
        Arg::new(CONFIG_ARG)
            .long(CONFIG_ARG)
            .value_name("NAME=VALUE")
            .action(ArgAction::Append)
            .global(true)
            .help("Set any option (see the options below); may be repeated"),
    );
    for decl in OPTIONS {
        command = command.arg(
            Arg::new(decl.name)
                .long(decl.switch())
                .value_name("VALUE")
                .global(true)
                .help_heading("Options (also in config.toml and $HOTREPL_<NAME>)")
                .help(format!("{} [{}]", decl.doc, (decl.default)())),
        );
    }
    command
}

/// The options from the config file, the environment and then the command line. Problems
/// with the file or the environment are reported and the rest goes on; a bad switch is an
/// error.
pub fn load(matches: &ArgMatches) -> Result<Config, String> {
    let file = config_path("config.toml");
    let (mut config, problems) = Config::load(file.as_deref(), |var| std::env::var(var).ok());
    for problem in problems {
        eprintln!("hotrepl: {problem}");
    }
    for pair in matches.get_many::<String>(CONFIG_ARG).into_iter().flatten() {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--config {pair}: expected NAME=VALUE"))?;
        config
            .set_from(name.trim(), &Raw::Text(value.trim().into()), Source::CommandLine)
            .map_err(|e| format!("--config {name}: {e}"))?;
    }
    for decl in OPTIONS {
        if let Some(value) = matches.get_one::<String>(decl.name) {
            config
                .set_from(decl.name, &Raw::Text(value.clone()), Source::CommandLine)
                .map_err(|e| format!("--{}: {e}", decl.switch()))?;
        }
    }
    Ok(config)
}

/// The files the local REPL runs before its first prompt, in order: `$PYTHONSTARTUP` (as
/// Python's own prompt does), then `$XDG_CONFIG_HOME/hotrepl/startup.py`.
pub fn startup_files() -> Vec<PathBuf> {
    let python = std::env::var_os("PYTHONSTARTUP")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    python
        .into_iter()
        .chain(config_path("startup.py"))
        .filter(|p| p.is_file())
        .collect()
}
