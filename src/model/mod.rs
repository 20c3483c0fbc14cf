//! The YOLOv8 float model: architecture from tensor shapes, float forward.
