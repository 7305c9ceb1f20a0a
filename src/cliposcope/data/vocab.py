"""Object vocabularies: the paper's lists as data, plus user files.

A vocabulary's order matters: the paper's query set is ``combinations(names, n)`` in list
order, so position k always holds the name with the lower index. ``COMCO_NAMES`` keeps the
order of the published scripts for that reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cliposcope.errors import CliposcopeError, read_json, read_utf8

# The 90 object names of the paper's ComCO scripts, in their order: COCO's 80 classes
# without "sports ball", plus the eleven categories COCO defined but never annotated.
COMCO_NAMES: tuple[str, ...] = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "street sign",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "dining table",
    "cell phone",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "hat",
    "backpack",
    "umbrella",
    "shoe",
    "eye glasses",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "kite",
    "baseball bat",
    "baseball glove",
    "tennis racket",
    "wine glass",
    "hot dog",
    "potted plant",
    "teddy bear",
    "hair drier",
    "hair brush",
    "skateboard",
    "surfboard",
    "bottle",
    "plate",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "bed",
    "mirror",
    "window",
    "desk",
    "toilet",
    "door",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "blender",
    "book",
    "clock",
    "vase",
    "scissors",
    "toothbrush",
)

# The 80 COCO object categories, in the official category-id order.
COCO_CLASSES: tuple[str, ...] = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
)

# COCO's category ids: the 91 names of the 2014 paper, id = position + 1. The 80 annotated
# categories keep these ids in the released files (12 street sign, 26 hat, ... never used).
COCO_ID_NAMES: tuple[str, ...] = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "street sign",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "hat",
    "backpack",
    "umbrella",
    "shoe",
    "eye glasses",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "plate",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "mirror",
    "dining table",
    "window",
    "desk",
    "toilet",
    "door",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "blender",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
    "hair brush",
)

# SimCO: 18 simple shapes and 30 colour names, as in the paper's SimCO scripts.
SIMCO_SHAPES: tuple[str, ...] = (
    "cube",
    "sphere",
    "cylinder",
    "mug",
    "pentagon",
    "heart",
    "cone",
    "pyramid",
    "diamond",
    "moon",
    "cross",
    "snowflake",
    "leaf",
    "arrow",
    "star",
    "torus",
    "pot",
    "cap",
)
SIMCO_COLOURS: tuple[str, ...] = (
    "red",
    "blue",
    "green",
    "yellow",
    "orange",
    "purple",
    "pink",
    "brown",
    "black",
    "white",
    "gray",
    "cyan",
    "magenta",
    "maroon",
    "olive",
    "navy",
    "teal",
    "lime",
    "indigo",
    "violet",
    "gold",
    "silver",
    "coral",
    "salmon",
    "turquoise",
    "beige",
    "lavender",
    "crimson",
    "aqua",
    "chartreuse",
)

# Everyday objects by real-world size (DomainNet-style buckets):
# small = fits in a school bag, medium = up to a car, large = bigger than a car.
SIZE_SMALL: tuple[str, ...] = (
    "apple",
    "banana",
    "key",
    "spoon",
    "fork",
    "pencil",
    "cup",
    "mug",
    "watch",
    "ring",
    "coin",
    "bee",
    "butterfly",
    "mouse",
    "phone",
    "wallet",
    "toothbrush",
    "scissors",
    "lipstick",
    "strawberry",
    "lemon",
    "egg",
    "button",
    "candle",
    "calculator",
    "stapler",
    "eraser",
    "feather",
    "snail",
    "frog",
    "lollipop",
    "donut",
    "cookie",
    "remote control",
    "light bulb",
    "paintbrush",
)
SIZE_MEDIUM: tuple[str, ...] = (
    "chair",
    "table",
    "bicycle",
    "dog",
    "sheep",
    "guitar",
    "piano",
    "sofa",
    "bed",
    "door",
    "refrigerator",
    "washing machine",
    "television",
    "ladder",
    "motorcycle",
    "horse",
    "cow",
    "deer",
    "kangaroo",
    "bathtub",
    "desk",
    "wardrobe",
    "cello",
    "drum kit",
    "canoe",
    "lawn mower",
    "wheelbarrow",
    "tiger",
    "penguin",
    "bookshelf",
    "stove",
    "armchair",
)
SIZE_LARGE: tuple[str, ...] = (
    "house",
    "bus",
    "train",
    "airplane",
    "ship",
    "bridge",
    "mountain",
    "castle",
    "church",
    "skyscraper",
    "whale",
    "elephant",
    "giraffe",
    "truck",
    "tractor",
    "helicopter",
    "barn",
    "windmill",
    "lighthouse",
    "submarine",
    "tree",
    "stadium",
    "tower",
    "dinosaur",
    "hot air balloon",
    "fire truck",
    "school bus",
    "cruise ship",
    "pyramid",
    "volcano",
    "waterfall",
    "tent",
)

BUILTIN: dict[str, tuple[str, ...]] = {
    "comco": COMCO_NAMES,
    "coco": COCO_CLASSES,
    "simco-shapes": SIMCO_SHAPES,
    "simco-colours": SIMCO_COLOURS,
    "size-small": SIZE_SMALL,
    "size-medium": SIZE_MEDIUM,
    "size-large": SIZE_LARGE,
}


@dataclass(frozen=True)
class Vocabulary:
    name: str
    words: tuple[str, ...]

    def __post_init__(self):
        check_words(self.words, self.name)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def fingerprint(self) -> str:
        """sha256 of the words in order: two vocabularies with equal prints are the same."""
        return hashlib.sha256(json.dumps(list(self.words)).encode()).hexdigest()

    def index(self, word: str) -> int:
        try:
            return self.words.index(word)
        except ValueError:
            raise CliposcopeError(
                f"unknown object name {word!r} in vocabulary {self.name}",
                hint="the names are: " + ", ".join(self.words[:12]) + ", ...",
            ) from None


def check_words(words: tuple[str, ...], source: str) -> None:
    if len(words) < 2:
        raise CliposcopeError(
            f"vocabulary {source} has {len(words)} name(s)", hint="give at least two object names"
        )
    seen: set[str] = set()
    for word in words:
        if not isinstance(word, str) or not word.strip() or word != word.strip():
            raise CliposcopeError(
                f"vocabulary {source} holds an invalid name {word!r}",
                hint="names are non-empty and have no leading or trailing spaces",
            )
        if word in seen:
            raise CliposcopeError(
                f"vocabulary {source} lists {word!r} twice", hint="each name once"
            )
        seen.add(word)


def load_vocabulary(name_or_path: str) -> Vocabulary:
    """A built-in list by name (comco, coco, simco-shapes, toy, ...) or a file of names.

    A file holds one name per line (blank lines and lines starting with # are skipped) or
    a JSON list of strings.
    """
    if name_or_path in BUILTIN:
        return Vocabulary(name_or_path, BUILTIN[name_or_path])
    if name_or_path == "toy":  # the names toy:default was trained on
        from cliposcope.encoders.toy import default_names

        return Vocabulary("toy", default_names())
    path = Path(name_or_path)
    if not path.is_file():
        raise CliposcopeError(
            f"unknown vocabulary {name_or_path!r}",
            hint=f"built-in: {', '.join(BUILTIN)}, toy; or a file with one name per line",
        )
    if path.suffix == ".json":
        words = read_json(path, hint="a JSON list")
        if not isinstance(words, list):
            raise CliposcopeError(
                f"{path} holds {type(words).__name__}", hint="a JSON list of names"
            )
    else:
        text = read_utf8(path, hint="one object name per line, or a JSON list")
        words = [line.strip() for line in text.splitlines()]
        words = [w for w in words if w and not w.startswith("#")]
    return Vocabulary(str(path), tuple(words))
