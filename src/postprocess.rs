//! Confidence filter, class-aware NMS and box rescaling identical to Ultralytics predict.
