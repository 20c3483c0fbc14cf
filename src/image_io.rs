//! Image decoding (JPEG/PNG) to 8-bit RGB.
