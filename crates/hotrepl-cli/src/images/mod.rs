//! Images in the terminal: a value or `display()` whose MIME bundle holds image/png,
//! image/jpeg or image/svg+xml is drawn with the kitty graphics protocol, iTerm2's inline
//! images or sixel, whichever the terminal says it supports (asked once, the first time an
//! image is shown: see [`detect`]), scaled down to the terminal's width. Anywhere else it
//! is one line: `<image/png 640x480, 23 KB>`.

mod detect;
mod encode;

use std::io::{self, IsTerminal, Write};

use base64::Engine;
use hotrepl_config::ImageProtocol;
use hotrepl_proto::MimeBundle;
use image::RgbaImage;

pub use detect::Protocol;

/// The image kinds a bundle may carry, best first.
const MIME_TYPES: [&str; 3] = ["image/png", "image/jpeg", "image/svg+xml"];

/// An image from a MIME bundle, as its bytes.
pub struct Image {
    pub mime: &'static str,
    pub bytes: Vec<u8>,
}

impl Image {
    /// The best image in `bundle`, if it has one. PNG and JPEG come base64-encoded (as
    /// Jupyter sends them), SVG as text.
    pub fn from_bundle(bundle: &MimeBundle) -> Option<Image> {
        MIME_TYPES.iter().find_map(|&mime| {
            let text = bundle.get(mime)?.as_str()?;
            let bytes = if mime == "image/svg+xml" {
                text.as_bytes().to_vec()
            } else {
                let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                base64::engine::general_purpose::STANDARD.decode(compact).ok()?
            };
            Some(Image { mime, bytes })
        })
    }

    /// Width and height in pixels, read from the header (SVG: its declared size).
    fn dimensions(&self) -> Option<(u32, u32)> {
        if self.mime == "image/svg+xml" {
            let size = svg_tree(&self.bytes)?.size();
            return Some((size.width().ceil() as u32, size.height().ceil() as u32));
        }
        image::ImageReader::new(io::Cursor::new(&self.bytes))
            .with_guessed_format()
            .ok()?
            .into_dimensions()
            .ok()
    }

    /// The one line shown where the image cannot be drawn.
    pub fn placeholder(&self) -> String {
        let size = human_size(self.bytes.len());
        match self.dimensions() {
            Some((w, h)) => format!("<{} {w}x{h}, {size}>", self.mime),
            None => format!("<{} {size}, unreadable>", self.mime),
        }
    }

    /// The pixels, at most `max_width` wide (scaled down keeping the aspect ratio).
    fn pixels(&self, max_width: u32) -> Option<RgbaImage> {
        if self.mime == "image/svg+xml" {
            return rasterise_svg(&self.bytes, max_width);
        }
        let decoded = image::load_from_memory(&self.bytes).ok()?.into_rgba8();
        Some(fit_width(decoded, max_width))
    }
}

/// Draws images on this client's terminal; what the terminal supports is asked once.
pub struct Images {
    choice: ImageProtocol,
    /// The terminal's answer, once asked.
    detected: Option<detect::Terminal>,
}

impl Images {
    pub fn new(choice: ImageProtocol) -> Images {
        Images { choice, detected: None }
    }

    pub fn set_choice(&mut self, choice: ImageProtocol) {
        self.choice = choice;
    }

    /// Draws `image` on stdout; false if it cannot be drawn here (the caller shows the
    /// placeholder).
    pub fn draw(&mut self, image: &Image) -> bool {
        if !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) {
            return false;
        }
        let forced = match self.choice {
            ImageProtocol::None => return false,
            ImageProtocol::Auto => None,
            ImageProtocol::Kitty => Some(Protocol::Kitty),
            ImageProtocol::Iterm2 => Some(Protocol::Iterm2),
            ImageProtocol::Sixel => Some(Protocol::Sixel),
        };
        // Asked even when the protocol is forced: the answer also gives the cell size.
        let terminal = self.detected.get_or_insert_with(detect::ask);
        let Some(protocol) = forced.or(terminal.protocol) else {
            return false;
        };
        let geometry = encode::Geometry::of_terminal(terminal.cell);
        let Some(pixels) = image.pixels(geometry.max_width()) else {
            return false;
        };
        let original_png = (image.mime == "image/png" && pixels.dimensions() == image.dimensions().unwrap_or_default())
            .then_some(image.bytes.as_slice());
        let Some(out) = encode::draw(protocol, &pixels, original_png, &geometry) else {
            return false;
        };
        let mut stdout = io::stdout().lock();
        stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush()).is_ok()
    }
}

fn fit_width(image: RgbaImage, max_width: u32) -> RgbaImage {
    let (w, h) = image.dimensions();
    if w <= max_width || max_width == 0 {
        return image;
    }
    let height = ((h as u64 * max_width as u64) / w as u64).max(1) as u32;
    image::imageops::resize(&image, max_width, height, image::imageops::FilterType::Triangle)
}

fn svg_tree(bytes: &[u8]) -> Option<resvg::usvg::Tree> {
    let mut options = resvg::usvg::Options::default();
    // Fonts are loaded only for SVGs that have text to draw.
    if bytes.windows(5).any(|w| w == b"<text") {
        options.fontdb_mut().load_system_fonts();
    }
    resvg::usvg::Tree::from_data(bytes, &options).ok()
}

fn rasterise_svg(bytes: &[u8], max_width: u32) -> Option<RgbaImage> {
    let tree = svg_tree(bytes)?;
    let size = tree.size();
    let scale = match max_width {
        0 => 1.0,
        max => (max as f32 / size.width()).min(1.0),
    };
    let (w, h) = (
        (size.width() * scale).ceil() as u32,
        (size.height() * scale).ceil() as u32,
    );
    let mut pixmap = resvg::tiny_skia::Pixmap::new(w.max(1), h.max(1))?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    let rgba: Vec<u8> = pixmap
        .pixels()
        .iter()
        .flat_map(|p| {
            let c = p.demultiply();
            [c.red(), c.green(), c.blue(), c.alpha()]
        })
        .collect();
    RgbaImage::from_raw(pixmap.width(), pixmap.height(), rgba)
}

/// `812 B`, `23 KB`, `1.4 MB`.
fn human_size(bytes: usize) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{} KB", (bytes + 512) / 1024),
        _ => format!("{:.1} MB", bytes as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        RgbaImage::from_pixel(w, h, image::Rgba([200, 30, 30, 255]))
            .write_to(&mut io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    fn bundle(value: serde_json::Value) -> MimeBundle {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn the_best_image_is_picked_and_described() {
        let data = base64::engine::general_purpose::STANDARD.encode(png(640, 480));
        let image = Image::from_bundle(&bundle(json!({"text/plain": "<Figure>", "image/png": data}))).unwrap();
        assert_eq!(image.mime, "image/png");
        let size = human_size(image.bytes.len());
        assert_eq!(image.placeholder(), format!("<image/png 640x480, {size}>"));
        assert!(Image::from_bundle(&bundle(json!({"text/plain": "1"}))).is_none());
    }

    #[test]
    fn svg_is_rasterised_to_fit() {
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="200"><rect width="400" height="200" fill="blue"/></svg>"#;
        let image = Image::from_bundle(&bundle(json!({"image/svg+xml": svg}))).unwrap();
        assert_eq!(image.placeholder(), format!("<image/svg+xml 400x200, {} B>", svg.len()));
        let pixels = image.pixels(100).unwrap();
        assert_eq!(pixels.dimensions(), (100, 50));
        assert_eq!(pixels.get_pixel(50, 25).0, [0, 0, 255, 255]);
    }

    #[test]
    fn wide_images_are_scaled_down_only() {
        let image = Image {
            mime: "image/png",
            bytes: png(300, 100),
        };
        assert_eq!(image.pixels(150).unwrap().dimensions(), (150, 50));
        assert_eq!(image.pixels(1000).unwrap().dimensions(), (300, 100));
    }

    #[test]
    fn garbage_gets_a_placeholder_that_says_so() {
        let image = Image {
            mime: "image/jpeg",
            bytes: b"not a jpeg".to_vec(),
        };
        assert_eq!(image.placeholder(), "<image/jpeg 10 B, unreadable>");
        assert!(image.pixels(100).is_none());
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(23 * 1024 + 100), "23 KB");
        assert_eq!(human_size(3 * 1_048_576 / 2), "1.5 MB");
    }
}
