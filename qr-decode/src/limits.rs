//! Input limits and safe image loading.
//!
//! Uploaded photos are untrusted. Two cheap checks run before any pixel is
//! decoded: the byte size of the upload, and the dimensions declared in the
//! image header (a few hundred bytes of PNG/JPEG/WebP can claim a
//! 100 000 × 100 000 canvas — a "decompression bomb"). Only when both pass is
//! the image decoded, with `image::Limits` set as a second line of defence.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader};

use super::QrError;

/// Limits applied to an uploaded image before and while decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted upload, in bytes. Default 15 MiB.
    pub max_bytes: usize,
    /// Largest accepted `width * height`, from the header. Default 40 Mpx.
    pub max_pixels: u64,
    /// Largest accepted width or height, from the header. Default 12 000.
    pub max_dimension: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_bytes: 15 * 1024 * 1024,
            max_pixels: 40_000_000,
            max_dimension: 12_000,
        }
    }
}

/// Maps an `image` error to the module's error type.
fn map_image_error(err: ImageError) -> QrError {
    match err {
        ImageError::Unsupported(_) => QrError::UnsupportedFormat,
        // Limits are checked from the header before decoding, so reaching
        // this means the decoder needed more memory than the pixel budget
        // implies; treat it as a malformed file rather than a bomb.
        ImageError::Limits(e) => QrError::Corrupt(format!("decoder limit: {e}")),
        other => QrError::Corrupt(other.to_string()),
    }
}

/// Decodes `data` into a grey image, enforcing `limits` and honouring EXIF
/// orientation.
///
/// Order matters: the byte size is checked first, then the format is
/// sniffed from the magic bytes, then the header dimensions are checked, and
/// only then are pixels decoded.
pub(crate) fn load_luma(data: &[u8], limits: &DecodeLimits) -> Result<image::GrayImage, QrError> {
    let (reader, _) = open(data, limits)?;
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);

    // Second line of defence: the decoder itself may not allocate more than
    // the decoded RGBA16 frame would need (plus slack for internal buffers).
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_dimension);
    decoder_limits.max_image_height = Some(limits.max_dimension);
    decoder_limits.max_alloc = Some(pixels.saturating_mul(8).saturating_add(64 * 1024 * 1024));
    decoder
        .set_limits(decoder_limits)
        .map_err(map_image_error)?;

    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(img.into_luma8())
}

/// Checks an upload is a supported, complete, not-too-large image from its bytes and header
/// alone (no pixel decoding): what a photo kept as evidence must pass. Returns its MIME type.
pub(crate) fn probe(data: &[u8], limits: &DecodeLimits) -> Result<&'static str, QrError> {
    let (_, format) = open(data, limits)?;
    Ok(match format {
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Png => "image/png",
        ImageFormat::WebP => "image/webp",
        _ => return Err(QrError::UnsupportedFormat),
    })
}

/// A reader positioned at the start of an image, with its sniffed format.
type Opened<'a> = (ImageReader<Cursor<&'a [u8]>>, ImageFormat);

/// Size, format, completeness and header dimensions, in that order, before any pixel work.
fn open<'a>(data: &'a [u8], limits: &DecodeLimits) -> Result<Opened<'a>, QrError> {
    if data.len() > limits.max_bytes {
        return Err(QrError::TooLarge {
            size: data.len(),
            max: limits.max_bytes,
        });
    }
    if data.is_empty() {
        return Err(QrError::Corrupt("empty input".into()));
    }

    let reader = ImageReader::new(Cursor::new(data))
        .with_guessed_format()
        .map_err(|e| QrError::Corrupt(e.to_string()))?;
    if reader.format().is_none() {
        return Err(QrError::UnsupportedFormat);
    }

    if reader.format() == Some(ImageFormat::Jpeg) && !jpeg_has_end_marker(data) {
        // The JPEG decoder pads a truncated scan with grey instead of
        // failing; an upload cut off in transit should be reported.
        return Err(QrError::Corrupt(
            "truncated JPEG (no end-of-image marker)".into(),
        ));
    }

    let format = reader.format().ok_or(QrError::UnsupportedFormat)?;
    // Dimensions from the header only; the reader is re-created for decoding.
    let (width, height) = ImageReader::with_format(Cursor::new(data), format)
        .into_dimensions()
        .map_err(map_image_error)?;
    let pixels = u64::from(width) * u64::from(height);
    if width > limits.max_dimension || height > limits.max_dimension || pixels > limits.max_pixels {
        return Err(QrError::TooManyPixels {
            width,
            height,
            max: limits.max_pixels,
        });
    }
    if width == 0 || height == 0 {
        return Err(QrError::Corrupt("image has zero width or height".into()));
    }
    Ok((reader, format))
}

/// True if a JPEG has an end-of-image marker (`FF D9`) after its first
/// start-of-scan. Header segments are skipped by their length fields, so an
/// EXIF thumbnail's own end marker does not count; inside entropy-coded data
/// every `FF` byte is stuffed, so `FF D9` cannot occur there by accident.
fn jpeg_has_end_marker(data: &[u8]) -> bool {
    let mut i = 2; // after SOI
    while i + 4 <= data.len() {
        if data[i] != 0xff {
            return false;
        }
        let marker = data[i + 1];
        match marker {
            0xff => {
                i += 1; // fill byte
                continue;
            }
            0xd8 | 0x01 | 0xd0..=0xd7 => {
                i += 2;
                continue;
            }
            0xd9 => return false, // EOI before any scan
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
        if marker == 0xda {
            let scan = i + 2 + len;
            return data
                .get(scan..)
                .is_some_and(|rest| rest.windows(2).any(|w| w == [0xff, 0xd9]));
        }
        i += 2 + len;
    }
    false
}
