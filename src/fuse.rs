//! BatchNorm folding.
