//! Every option, declared once: its name, type, default, who uses it, whether it can
//! change while a session runs, and its doc. Everything else (the `Values` struct, the
//! table `%config` lists, the command-line switches, the README's table) comes from here.

use crate::kinds::{ColorMode, Count, EditingMode, ImageProtocol, OptionType, Raw, Seconds, ThemeName};

/// Who acts on an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The terminal client (`hotrepl`).
    Client,
    /// The kernel: the local REPL's Python child, or the live process a session is in.
    Kernel,
}

/// An option's declaration.
#[derive(Debug)]
pub struct Declaration {
    pub name: &'static str,
    pub doc: &'static str,
    pub scope: Scope,
    /// Whether `%config` may change it while a session runs (else only at start-up).
    pub runtime: bool,
    /// What a valid value looks like.
    pub expected: fn() -> String,
    /// The default, as text.
    pub default: fn() -> String,
}

impl Declaration {
    /// `HOTREPL_<NAME>`: the environment variable that sets it.
    pub fn env_var(&self) -> String {
        format!("HOTREPL_{}", self.name.to_ascii_uppercase())
    }

    /// `--name-with-dashes`: its command-line switch, without the dashes in front.
    pub fn switch(&self) -> String {
        self.name.replace('_', "-")
    }
}

macro_rules! options {
    ($($(#[doc = $doc:literal])* $name:ident: $ty:ty = $default:expr, $scope:ident, $when:ident;)*) => {
        /// The value of every option.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Values {
            $($(#[doc = $doc])* pub $name: $ty,)*
        }

        impl Default for Values {
            fn default() -> Values {
                Values { $($name: $default,)* }
            }
        }

        /// Every option's declaration, in the order they are listed.
        pub static OPTIONS: &[Declaration] = &[$(Declaration {
            name: stringify!($name),
            doc: concat!($($doc),*),
            scope: Scope::$scope,
            runtime: options!(@runtime $when),
            expected: <$ty as OptionType>::expected,
            default: || $default.to_text(),
        },)*];

        impl Values {
            /// Reads `raw` into the option `name` (a declared name).
            pub(crate) fn set(&mut self, name: &str, raw: &Raw) -> Result<(), String> {
                match name {
                    $(stringify!($name) => self.$name = <$ty as OptionType>::read(raw)?,)*
                    _ => unreachable!("undeclared option {name}"),
                }
                Ok(())
            }

            /// The option `name`'s value as text.
            pub fn text(&self, name: &str) -> String {
                match name {
                    $(stringify!($name) => self.$name.to_text(),)*
                    _ => unreachable!("undeclared option {name}"),
                }
            }
        }
    };
    (@runtime runtime) => { true };
    (@runtime startup) => { false };
}

options! {
    /// When output is coloured: auto (when it goes to a terminal and NO_COLOR is not set), always or never.
    color: ColorMode = ColorMode::Auto, Client, runtime;
    /// The colour theme: default, light, mono, or one defined in a [themes.NAME] table.
    theme: ThemeName = ThemeName("default".into()), Client, runtime;
    /// The line width values are pretty-printed to; 0 is the terminal's width.
    pretty_width: Count = Count(0), Kernel, runtime;
    /// How many items of a container are shown before the rest is summed up as "... N more".
    pretty_max_items: Count = Count(1000), Kernel, runtime;
    /// How many characters of a long string are shown (its middle is elided); 0 shows all.
    pretty_max_string: Count = Count(10_000), Kernel, runtime;
    /// How many cells the prompt's history (Up, Ctrl-R) keeps.
    history_size: Count = Count(10_000), Client, startup;
    /// Whether `await` works at the top level of a cell.
    autoawait: bool = true, Kernel, runtime;
    /// Whether the post-mortem debugger starts when a cell raises.
    pdb: bool = false, Kernel, runtime;
    /// A cell that runs longer than this many seconds prints how long it took afterwards; off: never.
    elapsed_threshold: Seconds = Seconds(None), Client, runtime;
    /// How images are drawn: auto (asks the terminal), kitty, iterm2, sixel, or none (a one-line placeholder).
    image_protocol: ImageProtocol = ImageProtocol::Auto, Client, runtime;
    /// Whether Ctrl-D at the prompt asks before leaving.
    confirm_exit: bool = false, Client, runtime;
    /// The prompt's key bindings: emacs or vi.
    editing_mode: EditingMode = EditingMode::Emacs, Client, startup;
    /// Whether each cell goes through mcpyrate's macro expander.
    macros: bool = false, Kernel, runtime;
}

/// The declaration of `name` (dashes count as underscores).
pub fn declaration(name: &str) -> Option<&'static Declaration> {
    let name = name.replace('-', "_");
    OPTIONS.iter().find(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_reads_back() {
        let mut values = Values::default();
        for decl in OPTIONS {
            let default = (decl.default)();
            values.set(decl.name, &Raw::Text(default.clone())).unwrap();
            assert_eq!(values.text(decl.name), default, "{}", decl.name);
            assert!(!decl.doc.is_empty());
        }
        assert_eq!(values, Values::default());
    }

    /// The README's table of options is made from the declarations; this keeps it so.
    #[test]
    fn the_readme_lists_every_option() {
        let mut table =
            String::from("| option | default | set at run time | used by | what it does |\n|---|---|---|---|---|\n");
        for decl in OPTIONS {
            let scope = match decl.scope {
                Scope::Client => "client",
                Scope::Kernel => "kernel",
            };
            let runtime = if decl.runtime { "yes" } else { "start-up only" };
            table.push_str(&format!(
                "| `{}` | `{}` | {runtime} | {scope} | {} |\n",
                decl.name,
                (decl.default)(),
                decl.doc.trim()
            ));
        }
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
        assert!(
            readme.contains(&table),
            "README.md should have this table of options:\n{table}"
        );
    }

    #[test]
    fn names_find_their_declaration() {
        assert_eq!(declaration("image-protocol").map(|d| d.name), Some("image_protocol"));
        assert_eq!(
            declaration("autoawait").map(|d| d.env_var()),
            Some("HOTREPL_AUTOAWAIT".into())
        );
        assert!(declaration("nope").is_none());
    }
}
