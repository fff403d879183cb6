//! Asking the terminal which image protocol it speaks, rather than guessing from `$TERM`:
//! a kitty graphics query, XTVERSION (the terminal's name), the cell size in pixels, and
//! last the primary device attributes (DA1), which every terminal answers, so its answer
//! ends the wait. Sixel support is a `4` among DA1's attributes. Asked once per client,
//! when the first image is shown, never while starting up.

use std::time::Duration;

use super::encode::tmux_passthrough;

/// How long a terminal gets to answer; one that does not answer even DA1 draws no images.
const ANSWER_TIMEOUT: Duration = Duration::from_millis(500);

const KITTY_QUERY: &str = "\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\";
const XTVERSION: &str = "\x1b[>0q";
const CELL_SIZE: &str = "\x1b[16t";
const DEVICE_ATTRIBUTES: &str = "\x1b[c";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Kitty,
    Iterm2,
    Sixel,
}

/// What the terminal said.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Terminal {
    /// The best protocol it supports, if any.
    pub protocol: Option<Protocol>,
    /// Its cell size in pixels (width, height), if it said.
    pub cell: Option<(u16, u16)>,
}

/// Asks the terminal on stdin/stdout. Keys the user typed meanwhile are kept for the
/// prompt (see [`crate::typeahead`]).
pub fn ask() -> Terminal {
    let in_tmux = std::env::var_os("TMUX").is_some();
    // tmux answers DA1 and the cell size itself; the terminal outside it answers the rest.
    let outside = |q: &str| if in_tmux { tmux_passthrough(q) } else { q.to_owned() };
    let query = format!(
        "{}{}{CELL_SIZE}{DEVICE_ATTRIBUTES}",
        outside(KITTY_QUERY),
        outside(XTVERSION)
    );
    let answers = crate::ask::ask(
        query.as_bytes(),
        |got| split_replies(got).0.attributes.is_some(),
        ANSWER_TIMEOUT,
    );
    let (replies, typed) = split_replies(&answers);
    crate::typeahead::keep(&typed);
    let program = std::env::var("TERM_PROGRAM").unwrap_or_default();
    let lc_terminal = std::env::var("LC_TERMINAL").unwrap_or_default();
    replies.judge(&[program, lc_terminal])
}

/// The terminal's replies, picked out of what was read.
#[derive(Debug, Default, PartialEq, Eq)]
struct Replies {
    kitty_ok: bool,
    version: Option<String>,
    cell: Option<(u16, u16)>,
    /// DA1's attributes.
    attributes: Option<Vec<u32>>,
}

impl Replies {
    /// `names`: what the environment says the terminal is (TERM_PROGRAM, LC_TERMINAL).
    fn judge(&self, names: &[String]) -> Terminal {
        let version = self.version.as_deref().unwrap_or("");
        let iterm2 = ["iTerm2", "iTerm.app", "WezTerm"]
            .iter()
            .any(|n| version.contains(n) || names.iter().any(|name| name == n));
        let sixel = self.attributes.as_ref().is_some_and(|a| a.contains(&4));
        let protocol = if self.kitty_ok {
            Some(Protocol::Kitty)
        } else if iterm2 {
            Some(Protocol::Iterm2)
        } else if sixel {
            Some(Protocol::Sixel)
        } else {
            None
        };
        Terminal {
            protocol,
            cell: self.cell,
        }
    }
}

/// Separates the replies to our queries from anything else (keys typed meanwhile).
fn split_replies(bytes: &[u8]) -> (Replies, Vec<u8>) {
    let mut replies = Replies::default();
    let mut typed = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let (used, understood) = if let Some(body) = rest.strip_prefix(b"\x1b_G") {
            // APC: kitty's reply, `i=31;OK` when it can show images.
            let end = find(body, b"\x1b\\").map(|e| (e, e + 2));
            end.map_or((rest.len(), true), |(e, skip)| {
                replies.kitty_ok |= body[..e].ends_with(b";OK");
                (3 + skip, true)
            })
        } else if let Some(body) = rest.strip_prefix(b"\x1bP>|") {
            // DCS: XTVERSION's name and version.
            let e = find(body, b"\x1b\\").unwrap_or(body.len());
            replies.version = Some(String::from_utf8_lossy(&body[..e]).into_owned());
            (4 + (e + 2).min(body.len()), true)
        } else if let Some(body) = rest.strip_prefix(b"\x1b[") {
            // CSI: the cell size (`6;H;Wt`) or DA1 (`?62;4;22c`).
            let len = body
                .iter()
                .position(|b| (0x40..=0x7e).contains(b))
                .unwrap_or(body.len());
            let params = String::from_utf8_lossy(&body[..len]);
            match body.get(len) {
                Some(b't') if params.starts_with("6;") => {
                    let n: Vec<u16> = params.split(';').filter_map(|p| p.parse().ok()).collect();
                    if let [6, h, w] = n[..] {
                        replies.cell = Some((w, h));
                    }
                    (2 + len + 1, true)
                }
                Some(b'c') if params.starts_with('?') => {
                    let attributes = params[1..].split(';').filter_map(|p| p.parse().ok()).collect();
                    replies.attributes = Some(attributes);
                    (2 + len + 1, true)
                }
                _ => (1, false),
            }
        } else {
            (1, false)
        };
        if !understood {
            typed.extend_from_slice(&rest[..used]);
        }
        i += used;
    }
    (replies, typed)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kitty_reply_wins() {
        let (replies, typed) = split_replies(b"\x1b_Gi=31;OK\x1b\\\x1b[6;20;10t\x1b[?62;4;22c");
        assert!(typed.is_empty());
        let terminal = replies.judge(&[]);
        assert_eq!(terminal.protocol, Some(Protocol::Kitty));
        assert_eq!(terminal.cell, Some((10, 20)));
    }

    #[test]
    fn sixel_from_device_attributes_and_keys_kept() {
        let (replies, typed) = split_replies(b"ab\x1b[?62;4;22c\r");
        assert_eq!(replies.judge(&[]).protocol, Some(Protocol::Sixel));
        assert_eq!(typed, b"ab\r");
    }

    #[test]
    fn iterm2_by_name() {
        let (replies, _) = split_replies(b"\x1bP>|iTerm2 3.5.0\x1b\\\x1b[?62;22c");
        assert_eq!(replies.version.as_deref(), Some("iTerm2 3.5.0"));
        assert_eq!(replies.judge(&[]).protocol, Some(Protocol::Iterm2));
        let (plain, _) = split_replies(b"\x1b[?62;22c");
        assert_eq!(plain.judge(&["WezTerm".into()]).protocol, Some(Protocol::Iterm2));
        assert_eq!(plain.judge(&[]).protocol, None);
    }

    #[test]
    fn a_kitty_error_is_no_support() {
        let (replies, _) = split_replies(b"\x1b_Gi=31;ENOTSUPPORTED:no\x1b\\\x1b[?62c");
        assert_eq!(replies.judge(&[]).protocol, None);
    }
}
