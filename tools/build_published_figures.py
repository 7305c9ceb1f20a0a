"""Build src/cliposcope/assets/paper/published-figures.csv from the transcription of the
paper's Tables 1-6 (shared/paper/published-figures.csv): the seven transcribed columns
unchanged, plus what cliposcope needs to set a number beside a measurement: the unit,
the probe, the data, the object count, the figure in result metrics, and the model spec
that row most probably measured (a labelled best guess; the paper names no architecture).

    python tools/build_published_figures.py ../shared/paper/published-figures.csv
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

OUT = Path(__file__).parent.parent / "src/cliposcope/assets/paper/published-figures.csv"
ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3}
# Paper model name -> (spec, how sure). The scripts default to ViT-B-32 weights.
SPECS = {
    "CLIP openAI": ("openclip:ViT-B-32/openai", "best guess: the scripts' default architecture"),
    "CLIP": ("openclip:ViT-B-32/openai", "best guess: Table 5 names no weights"),
    "CLIP LAION": ("openclip:ViT-B-32/laion2b_s34b_b79k", "best guess: ViT-B-32, LAION-2B"),
    "CLIP Datacomp": (
        "openclip:ViT-B-32/datacomp_xl_s13b_b90k",
        "best guess: ViT-B-32, DataComp-XL",
    ),
    "CLIP Roberta": (
        "openclip:xlm-roberta-base-ViT-B-32/laion5b_s13b_b90k",
        "best guess: the open_clip RoBERTa-text ViT-B-32",
    ),
    "SIGLIP": ("openclip:ViT-B-16-SigLIP/webli", "best guess: ViT-B-16 SigLIP"),
    "SBERT": ("st:all-mpnet-base-v2", "best guess: the sentence-transformers default model"),
    "NegCLIP": ("", "fine-tuned locally by its authors; no public spec"),
    "SugarCrepe": ("", "fine-tuned locally by its authors; no public spec"),
    "SimCSE": ("", "no cliposcope family loads SimCSE"),
}
DATA = {
    "ComCO": "comco",
    "COCO (real captions)": "coco-captions",
    "COCO images; COCO object names as text targets": "coco-images",
    "COCO images; DomainNet single-object images as targets": "coco-images",
    "COCO (captions rewritten by GPT-4o)": "coco-rewritten-captions",
}


def derived(row: dict) -> dict:
    table, metric = row["table"], row["metric"]
    name = re.sub(r"\s*\[\d+\]$", "", row["model_in_paper"])
    spec, note = SPECS[name]
    data = DATA[row["dataset"]]
    if metric.startswith("TOR"):
        probe = "tor" if data == "comco" else "tor-captions"
        data = "comco-names" if data == "comco" else data
        k = ORDINALS[re.search(r"accuracy, (\w+) object", metric).group(1)]
        figure = f"per_position_conditional.{k}"
    elif metric.startswith(("IOR", "I2TOR")):
        probe = "i2tor" if metric.startswith("I2TOR") else "ior"
        data = "comco-images" if data == "comco" else data
        role = re.search(r"accuracy, (large|small) object ?(\d)?", metric)
        label = "large" if role.group(1) == "large" else f"small {role.group(2)}"
        figure = f"per_role_among_truth.{label}"
    else:
        probe = "matching"
        data = "comco-images" if data == "comco" else data
        figure = "scenario_1.plain" if "First" in metric else "scenario_2.plain"
    # stated for Tables 1, 2 and 5; Tables 3 and 4 print four positions; Table 6 says nothing
    n = "" if table == "Table 6" else 4
    return {
        "unit": "percent",
        "probe": probe,
        "data": data,
        "n": n,
        "figure": figure,
        "spec": spec,
        "spec_note": note,
    }


def main(source: str) -> None:
    with open(source, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out = [row | derived(row) for row in rows]
    with open(OUT, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(out[0]))
        writer.writeheader()
        writer.writerows(out)
    print(f"wrote {len(out)} rows to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
