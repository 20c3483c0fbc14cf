//! COCO evaluation: datasets, a pycocotools-exact bbox evaluator, reports and plots.
