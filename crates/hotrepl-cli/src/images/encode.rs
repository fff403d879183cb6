//! The escape sequences that draw an image, per protocol. Inside tmux, the kitty and
//! iTerm2 sequences go through its passthrough (`\ePtmux;...\e\\`, which needs tmux's
//! `allow-passthrough` option); tmux draws sixel itself.

use std::io::Cursor;

use base64::Engine;
use image::RgbaImage;

use super::Protocol;

/// The kitty protocol's largest payload chunk.
const KITTY_CHUNK: usize = 4096;
/// The cell size taken when the terminal does not say (pixels).
const DEFAULT_CELL: (u16, u16) = (10, 20);

/// What the terminal looks like: its size in cells, the size of a cell, and whether the
/// sequences must go through tmux.
pub struct Geometry {
    columns: u16,
    cell: (u16, u16),
    in_tmux: bool,
}

impl Geometry {
    /// Asks the kernel (TIOCGWINSZ) for the window; `reported_cell` is the terminal's
    /// answer to the cell size query, used when the kernel does not know the pixels.
    pub fn of_terminal(reported_cell: Option<(u16, u16)>) -> Geometry {
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ fills a winsize.
        let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
        let columns = if ok && size.ws_col > 0 { size.ws_col } else { 80 };
        let from_kernel = (ok && size.ws_xpixel > 0 && size.ws_ypixel > 0 && size.ws_row > 0)
            .then(|| (size.ws_xpixel / columns, size.ws_ypixel / size.ws_row));
        Geometry {
            columns,
            cell: from_kernel.or(reported_cell).unwrap_or(DEFAULT_CELL),
            in_tmux: std::env::var_os("TMUX").is_some(),
        }
    }

    /// The widest an image may be, in pixels: the window less one column.
    pub fn max_width(&self) -> u32 {
        (self.columns.saturating_sub(1).max(1) as u32) * self.cell.0.max(1) as u32
    }

    fn rows_for(&self, height: u32) -> u32 {
        height.div_ceil(self.cell.1.max(1) as u32)
    }

    fn wrap(&self, sequence: &str) -> String {
        if self.in_tmux {
            tmux_passthrough(sequence)
        } else {
            sequence.to_owned()
        }
    }

    /// Where the cursor goes after the image: the terminal moves it below the image
    /// itself, but inside tmux it does not know about the image, so one line per row of
    /// the image is printed instead.
    fn after(&self, height: u32) -> String {
        if self.in_tmux {
            "\n".repeat(self.rows_for(height) as usize)
        } else {
            "\n".into()
        }
    }
}

/// `sequence` through tmux's passthrough: every ESC inside doubled.
pub fn tmux_passthrough(sequence: &str) -> String {
    format!("\x1bPtmux;{}\x1b\\", sequence.replace('\x1b', "\x1b\x1b"))
}

/// Everything to write to draw `pixels`, then the newline(s) that put the cursor under
/// it. `png` is the image's own PNG when it needs no scaling (sent as it is).
pub fn draw(protocol: Protocol, pixels: &RgbaImage, png: Option<&[u8]>, geometry: &Geometry) -> Option<String> {
    let (_, height) = pixels.dimensions();
    let body = match protocol {
        Protocol::Kitty => kitty(&png_bytes(pixels, png)?, geometry),
        Protocol::Iterm2 => iterm2(&png_bytes(pixels, png)?, geometry),
        Protocol::Sixel => {
            icy_sixel::SixelImage::try_from_rgba(pixels.as_raw().clone(), pixels.width() as usize, height as usize)
                .and_then(|image| image.encode())
                .ok()?
        }
    };
    Some(body + &geometry.after(height))
}

fn png_bytes(pixels: &RgbaImage, original: Option<&[u8]>) -> Option<Vec<u8>> {
    if let Some(png) = original {
        return Some(png.to_vec());
    }
    let mut out = Vec::new();
    pixels
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .ok()?;
    Some(out)
}

/// Kitty: a PNG (`f=100`), transmitted and shown at once (`a=T`), in chunks; `q=2` keeps
/// the terminal from answering into our input. In tmux the cursor stays (`C=1`) and moves
/// with the newlines after.
fn kitty(png: &[u8], geometry: &Geometry) -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(png);
    let chunks: Vec<&str> = data
        .as_bytes()
        .chunks(KITTY_CHUNK)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    let mut out = String::with_capacity(data.len() + chunks.len() * 32);
    for (i, chunk) in chunks.iter().enumerate() {
        let more = u8::from(i + 1 < chunks.len());
        let sequence = if i == 0 {
            let cursor = if geometry.in_tmux { ",C=1" } else { "" };
            format!("\x1b_Ga=T,f=100,q=2{cursor},m={more};{chunk}\x1b\\")
        } else {
            format!("\x1b_Gm={more};{chunk}\x1b\\")
        };
        out.push_str(&geometry.wrap(&sequence));
    }
    out
}

/// iTerm2's inline image: the file, base64, in one OSC 1337.
fn iterm2(png: &[u8], geometry: &Geometry) -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(png);
    geometry.wrap(&format!(
        "\x1b]1337;File=inline=1;size={};preserveAspectRatio=1:{data}\x07",
        png.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(in_tmux: bool) -> Geometry {
        Geometry {
            columns: 80,
            cell: (10, 20),
            in_tmux,
        }
    }

    #[test]
    fn kitty_sends_the_png_in_chunks() {
        let png = vec![7u8; 5000];
        let out = kitty(&png, &geometry(false));
        let parts: Vec<&str> = out.split("\x1b\\").filter(|p| !p.is_empty()).collect();
        assert_eq!(parts.len(), 2);
        assert!(parts[0].starts_with("\x1b_Ga=T,f=100,q=2,m=1;"));
        assert!(parts[1].starts_with("\x1b_Gm=0;"));
        let data: String = parts.iter().map(|p| p.split_once(';').unwrap().1).collect();
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(data).unwrap(), png);
    }

    #[test]
    fn tmux_gets_passthrough_and_a_line_per_row() {
        let pixels = RgbaImage::new(30, 45);
        let out = draw(Protocol::Kitty, &pixels, None, &geometry(true)).unwrap();
        assert!(out.starts_with("\x1bPtmux;\x1b\x1b_Ga=T,f=100,q=2,C=1,m=0;"), "{out:?}");
        assert!(out.ends_with("\x1b\x1b\\\x1b\\\n\n\n"), "{out:?}");
    }

    #[test]
    fn sixel_is_a_dcs_sequence() {
        let pixels = RgbaImage::from_pixel(4, 6, image::Rgba([255, 0, 0, 255]));
        let out = draw(Protocol::Sixel, &pixels, None, &geometry(false)).unwrap();
        assert!(out.starts_with("\x1bP"), "{out:?}");
        assert!(out.contains('q'));
        assert!(out.ends_with("\x1b\\\n"), "{out:?}");
    }

    #[test]
    fn width_leaves_the_last_column_free() {
        assert_eq!(geometry(false).max_width(), 790);
    }
}
