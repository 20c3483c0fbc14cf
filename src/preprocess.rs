//! Letterbox preprocessing identical in effect to Ultralytics.
