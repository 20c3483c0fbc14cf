//! The 80 COCO detection classes in Ultralytics' class order with their COCO category ids
//! (the "coco80 → coco91" map), taken from the category list of `instances_val2017.json`
//! sorted by id. Guarantee: index `i` is class `i` of a COCO-trained YOLO model.

/// `(COCO category id, name)` for class index 0..80.
pub const COCO80: [(u64, &str); 80] = [
    (1, "person"),
    (2, "bicycle"),
    (3, "car"),
    (4, "motorcycle"),
    (5, "airplane"),
    (6, "bus"),
    (7, "train"),
    (8, "truck"),
    (9, "boat"),
    (10, "traffic light"),
    (11, "fire hydrant"),
    (13, "stop sign"),
    (14, "parking meter"),
    (15, "bench"),
    (16, "bird"),
    (17, "cat"),
    (18, "dog"),
    (19, "horse"),
    (20, "sheep"),
    (21, "cow"),
    (22, "elephant"),
    (23, "bear"),
    (24, "zebra"),
    (25, "giraffe"),
    (27, "backpack"),
    (28, "umbrella"),
    (31, "handbag"),
    (32, "tie"),
    (33, "suitcase"),
    (34, "frisbee"),
    (35, "skis"),
    (36, "snowboard"),
    (37, "sports ball"),
    (38, "kite"),
    (39, "baseball bat"),
    (40, "baseball glove"),
    (41, "skateboard"),
    (42, "surfboard"),
    (43, "tennis racket"),
    (44, "bottle"),
    (46, "wine glass"),
    (47, "cup"),
    (48, "fork"),
    (49, "knife"),
    (50, "spoon"),
    (51, "bowl"),
    (52, "banana"),
    (53, "apple"),
    (54, "sandwich"),
    (55, "orange"),
    (56, "broccoli"),
    (57, "carrot"),
    (58, "hot dog"),
    (59, "pizza"),
    (60, "donut"),
    (61, "cake"),
    (62, "chair"),
    (63, "couch"),
    (64, "potted plant"),
    (65, "bed"),
    (67, "dining table"),
    (70, "toilet"),
    (72, "tv"),
    (73, "laptop"),
    (74, "mouse"),
    (75, "remote"),
    (76, "keyboard"),
    (77, "cell phone"),
    (78, "microwave"),
    (79, "oven"),
    (80, "toaster"),
    (81, "sink"),
    (82, "refrigerator"),
    (84, "book"),
    (85, "clock"),
    (86, "vase"),
    (87, "scissors"),
    (88, "teddy bear"),
    (89, "hair drier"),
    (90, "toothbrush"),
];

/// COCO category id of YOLO class `class` (None past 79).
pub fn coco80_to_coco91(class: usize) -> Option<u64> {
    COCO80.get(class).map(|c| c.0)
}

/// YOLO class index of COCO category `id`.
pub fn coco91_to_coco80(id: u64) -> Option<usize> {
    COCO80.iter().position(|c| c.0 == id)
}

/// The 80 class names in class order.
pub fn coco80_names() -> Vec<String> {
    COCO80.iter().map(|c| c.1.to_string()).collect()
}

/// True when `names` are exactly the 80 COCO classes in Ultralytics' order.
pub fn is_coco80(names: &[String]) -> bool {
    names.len() == 80 && names.iter().zip(COCO80.iter()).all(|(a, b)| a == b.1)
}
