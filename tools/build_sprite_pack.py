"""Build the object sprite pack shipped in cliposcope/assets/sprites from Debian's
openclipart-png (public domain).

    apt-get install openclipart-png && python tools/build_sprite_pack.py

Each object name maps to hand-picked drawings below: candidates were found by name in the
package, looked at on contact sheets, and only clear, correctly labelled drawings kept
(e.g. "bear" files that are teddy bears, "giraffe" that is a fish, "baseball bat" that is the
animal, "cow" that is an oil pump were dropped). Each drawing is cropped to its opaque
content, resized so its longest side is at most 256 px, and saved as RGBA PNG; manifest.json
records name, source file, licence and the opaque share of the bounding box.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SOURCE_ROOT = Path("/usr/share/openclipart/png")
DESTINATION = Path(__file__).resolve().parents[1] / "src" / "cliposcope" / "assets" / "sprites"
LONGEST_SIDE = 256
ALPHA_THRESHOLD = 128
LICENCE = "Public domain (Open Clip Art Library 0.18, Debian package openclipart-png)"

CURATED: dict[str, tuple[str, ...]] = {
    "person": (
        "people/a_boy_plays_soccer_01.png",
        "people/a_happy_boy_01.png",
        "people/blue_girl_dirk_struve_.png",
    ),
    "bicycle": (
        "transportation/vehicles/bicycle_01.png",
        "transportation/bicycle_philippe_colin_01.png",
    ),
    "car": (
        "transportation/car_jamin_ellis_.png",
        "transportation/old_car_lumen_design_st_r.png",
        "transportation/vehicles/car.png",
    ),
    "motorcycle": ("transportation/motorcycle_jarno_vasama_.png",),
    "airplane": (
        "transportation/vehicles/aircraft_jarno_vasamaa1.png",
        "transportation/vehicles/aircraft_jarno_vasamaa2.png",
        "transportation/vehicles/aircraft_jarno_vasamaa3.png",
    ),
    "bus": (
        "transportation/bus1_bw_jarno_vasamaa_01.png",
        "transportation/bus1_jarno_vasamaa_01.png",
        "transportation/bus2_jarno_vasamaa_01.png",
    ),
    "train": ("recreation/toys/kiddy_train_orlando_kara_.png",),
    "truck": (
        "transportation/truck_jarno_vasamaa1.png",
        "transportation/truck_jarno_vasamaa_.png",
        "transportation/small_truck_steffen_gluc_01.png",
    ),
    "boat": (
        "transportation/boating/boat_jarno_vasamaa1.png",
        "transportation/boating/boat_jarno_vasamaa_.png",
    ),
    "street sign": (
        "buildings/old_sign_ganson.png",
        "transportation/roadsigns/curvy_road_ahead_sign_01.png",
        "transportation/roadsigns/interstate_highway_sign_01.png",
    ),
    "stop sign": (
        "transportation/roadsigns/stop-sign-angled_01.png",
        "transportation/roadsigns/stop_sign_01.png",
    ),
    "bird": ("animals/birds/bird_of_peace_mauro_oliv_01.png",),
    "cat": (
        "animals/mammals/cartoon_cat_gerald_g._01.png",
        "animals/mammals/housecats/gatto_cat_architetto_fra_01.png",
        "animals/mammals/housecats/gatto_cat_architetto_fra_02.png",
    ),
    "dog": (
        "animals/mammals/dog_01_drawn_with_strai_01.png",
        "animals/mammals/dog_05_drawn_with_strai_01.png",
        "animals/mammals/dog_03_drawn_with_strai_01.png",
    ),
    "horse": ("animals/mammals/horses/horse_2_konstantin_r._01.png",),
    "sheep": ("animals/mammals/sheep-md-v0.1.png",),
    "dining table": (
        "buildings/furniture/small_square_table_01.png",
        "buildings/furniture/wooden_table_benji_park_01.png",
    ),
    "cell phone": (
        "office/slim_cell_phone_israel_c_01.png",
        "office/telephone/mobile.png",
        "office/telephone/mobile_phone_01.png",
    ),
    "elephant": (
        "animals/mammals/contour_elephant.png",
        "animals/mammals/elephant_01.png",
    ),
    "bear": ("animals/mammals/bears/bear_peterm_01.png",),
    "giraffe": ("animals/mammals/contour_giraffe.png",),
    "hat": (
        "people/clothing/adventurer_hat_nicu_bucu_01.png",
        "people/clothing/hats/hat_-_clothing_nicu_bucu_01.png",
        "people/clothing/hats/hat_-_clothing_nicu_bucu_03.png",
    ),
    "umbrella": (
        "tools/umbrella.png",
        "recreation/holiday/canada_umbrella_ganson.png",
    ),
    "shoe": (
        "people/clothing/tennis_shoe_jarno_vasama_.png",
        "people/clothing/shoe_print_01.png",
    ),
    "tie": ("people/clothing/tie_-_clothing_nicu_bucu_01.png",),
    "suitcase": ("transportation/little_tan_suitcase_jona_.png",),
    "baseball bat": (
        "recreation/sports/baseball_bat_bw_ganson.png",
        "recreation/sports/baseball_bat_ganson.png",
    ),
    "baseball glove": (
        "recreation/sports/baseball_glove_ganson.png",
        "recreation/sports/baseball_glove_bw_ganson.png",
    ),
    "tennis racket": ("recreation/sports/tennis_racket_01.png",),
    "wine glass": ("food/beverages/alcohol/wine_glass_christian_h._.png",),
    "hot dog": (
        "food/meats_and_eggs/hot_dog.png",
        "food/meats_and_eggs/hot_dog_juliane_krug_r.png",
    ),
    "teddy bear": (
        "recreation/toys/simple_teddy_bear_gerald_01.png",
        "recreation/toys/stylized_teddy_bear_gera_01.png",
        "recreation/toys/stylized_teddy_bear_wit_01.png",
    ),
    "hair brush": ("tools/scrub_brush_michael_moor_.png",),
    "surfboard": ("recreation/toys/surfboard_davek_01.png",),
    "bottle": (
        "tools/bottle_jean_victor_balin_.png",
        "food/beverages/baby_bottle_01.png",
    ),
    "plate": (
        "food/large_plate.png",
        "food/small_plate.png",
    ),
    "cup": ("office/cup_rollandin_francesco_.png",),
    "knife": ("tools/weapons/knife.png",),
    "bowl": (
        "food/bowl_chaspo_.png",
        "food/bowl_of_steaming_soup_01.png",
    ),
    "banana": ("food/fruit/banana.png",),
    "apple": (
        "food/apple_bitten_dan_gerhard_01.png",
        "food/apple_with_worm_dan_gerh_01.png",
    ),
    "sandwich": (
        "food/sandwich_one_jean-victor_01.png",
        "food/submarine_sandwich_01.png",
    ),
    "orange": (
        "food/fruit/orange.png",
        "food/fruit/orange_dave_pena_01.png",
        "food/fruit/orange_simple.png",
    ),
    "pizza": (
        "food/pizza_4_stagioni_archite_01.png",
        "food/pizza_cheese.png",
        "food/pizza_pepperoni.png",
    ),
    "cake": (
        "food/desserts/birthday_cake.png",
        "food/desserts/cake1_jarno_vasamaa_01.png",
        "food/desserts/cake_etienne_bersac_r.png",
    ),
    "tv": (
        "buildings/furniture/television_peterm_.png",
        "recreation/tv_01.png",
    ),
    "book": (
        "education/books/book_01.png",
        "education/books/closed_book_01.png",
        "education/books/old_book_lumen_design_st_01.png",
    ),
    "scissors": (
        "education/scissors.png",
        "office/scissors_forbici_franc_.png",
        "education/scissors_02.png",
    ),
    "toothbrush": ("tools/toothbrush_and_paste_ganson.png",),
    "sports ball": (
        "recreation/games/8_ball_jarno_vasamaa.png",
        "recreation/games/9_ball_jarno_vasamaa.png",
        "recreation/sports/8ball_nicu_buculei_01.png",
    ),
    "clock": (
        "signs_and_symbols/clocks/alarm_clock_mike_powers_.png",
        "signs_and_symbols/clocks/analog_clock_jonathan_di_01.png",
        "signs_and_symbols/clocks/clock01.png",
    ),
    "laptop": (
        "computer/etiquette_laptop_01.png",
        "computer/hardware/laptop.png",
        "computer/hardware/laptop_01.png",
    ),
    "keyboard": (
        "computer/hardware/computer_keyboard_01.png",
        "computer/hardware/keyboard.png",
    ),
    "mouse": (
        "computer/hardware/mouse.png",
        "computer/hardware/mouse_scroll_fco._andrad_01.png",
        "computer/hardware/mouse2.png",
    ),
}


def slug(name: str) -> str:
    return name.replace(" ", "-")


def prepare(path: Path) -> Image.Image:
    """Crop to the opaque content and shrink to LONGEST_SIDE (never enlarge)."""
    Image.MAX_IMAGE_PIXELS = None  # a few sources are huge; they are ours to read
    with Image.open(path) as source:
        image = source.convert("RGBA")
    alpha = np.asarray(image.getchannel("A"))
    rows, cols = np.nonzero(alpha >= ALPHA_THRESHOLD)
    if len(rows) == 0:
        raise ValueError(f"{path} has no opaque pixels")
    image = image.crop((cols.min(), rows.min(), cols.max() + 1, rows.max() + 1))
    scale = min(1.0, LONGEST_SIDE / max(image.size))
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.LANCZOS)
    return image


def build(source_root: Path, destination: Path) -> list[dict]:
    destination.mkdir(parents=True, exist_ok=True)
    for old in destination.glob("*.png"):
        old.unlink()
    manifest = []
    for name, files in CURATED.items():
        for index, relative in enumerate(files, start=1):
            image = prepare(source_root / relative)
            file_name = f"{slug(name)}_{index}.png"
            image.save(destination / file_name, optimize=True)
            opaque = float((np.asarray(image.getchannel("A")) >= ALPHA_THRESHOLD).mean())
            manifest.append(
                {
                    "name": name,
                    "file": file_name,
                    "source": f"openclipart-png:{relative}",
                    "licence": LICENCE,
                    "size": list(image.size),
                    "opaque_fraction": round(opaque, 4),
                }
            )
    (destination / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE_ROOT)
    parser.add_argument("--out", type=Path, default=DESTINATION)
    args = parser.parse_args()
    if not args.source.is_dir():
        print(
            f"error: {args.source} not found (hint: apt-get install openclipart-png)",
            file=sys.stderr,
        )
        return 2
    manifest = build(args.source, args.out)
    total = sum((args.out / m["file"]).stat().st_size for m in manifest)
    names = len({m["name"] for m in manifest})
    print(f"{len(manifest)} sprites for {names} object names, {total / 1e6:.2f} MB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
