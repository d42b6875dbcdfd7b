"""An explanation gallery: one self-contained HTML page of an evaluation's samples, for people to look at.

``python -m evaluation gallery RECORDS --out DIR`` writes ``DIR/gallery.html``: one card per record with its
reference and query images (embedded as data URLs: no server, works offline), the true boxes (green, the masks'
boxes from ``data_prep.boxes``) and the predicted ones (red) drawn on the query, the reasoning, the answer against
the truth, the IoU of grounded rows and the judge's scores where the records have them. Records of ``--tools``
rows also show the inspection: the last zoom's box (blue) on the query, the crop the policy saw, the calls and
every turn, and the crop's IoU with the defect. Filters (right / wrong,
category, true answer) and a sort by IoU run in the page; ``#filter=wrong`` in the address sets the first filter.
The images come from the test parquet the records were made from (the run's ``run.json``, or ``--test-file``).
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from PIL import Image, ImageDraw

from data_prep.outputs import write_atomic
from evaluation.records import RUN_INFO
from rewards.parsing import parse_response

GALLERY: Final = "gallery.html"
TRUE_COLOUR, PREDICTED_COLOUR, ZOOM_COLOUR = (40, 200, 80), (230, 40, 40), (40, 90, 230)
JUDGE_KEYS: Final = ("tq", "conciseness", "relevance")
THUMBNAIL: Final = 224  # the longer side of an image on a card, in pixels


def _data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _scaled(image: Image.Image) -> tuple[Image.Image, float]:
    scale = THUMBNAIL / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.convert("RGB").resize(size, Image.Resampling.NEAREST if scale > 1 else Image.Resampling.BICUBIC), scale


def draw_query(
    data: bytes,
    true_boxes: Sequence[Sequence[float]],
    predicted: Sequence[Sequence[float]],
    zooms: Sequence[Sequence[float]] = (),
) -> str:
    """The query image scaled to the card, true boxes in green, predicted ones in red and zooms in blue, as a data
    URL."""
    with Image.open(io.BytesIO(data)) as source:
        image, scale = _scaled(source)
    draw = ImageDraw.Draw(image)
    for boxes, colour in ((true_boxes, TRUE_COLOUR), (predicted, PREDICTED_COLOUR), (zooms, ZOOM_COLOUR)):
        for box in boxes:
            draw.rectangle([value * scale for value in box], outline=colour, width=2)
    return _data_url(image)


def _reference(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as source:
        return _data_url(_scaled(source)[0])


def _zoom_box(record: Mapping[str, Any], data: bytes) -> list[float] | None:
    """The last zoom's box in the stored query's pixels (the tool records it in the frame it was given in)."""
    zoom = record.get("zoom")
    if not zoom:
        return None
    with Image.open(io.BytesIO(data)) as source:
        size = source.size
    (x1, y1, x2, y2), (width, height) = zoom["box"], zoom["size"]
    return [x1 * size[0] / width, y1 * size[1] / height, x2 * size[0] / width, y2 * size[1] / height]


def _crop(data: bytes, box: Sequence[float]) -> str:
    with Image.open(io.BytesIO(data)) as source:
        return _data_url(_scaled(source.convert("RGB").crop(tuple(round(v) for v in box)))[0])


def _inspection(record: Mapping[str, Any]) -> str:
    """Every turn of a tool-using record, with each call's result after the turn that made it."""
    calls = list(record.get("tool_calls") or [])
    parts = []
    for number, turn in enumerate(record.get("turns") or []):
        parts.append(f"[turn {number + 1}] {turn}")
        if number < len(calls):
            parts.append(f"[{calls[number]['name']}] {calls[number]['result']}")
    return "\n".join(parts)


def _card(record: Mapping[str, Any], images: Sequence[bytes]) -> str:
    parsed = parse_response(record["response"])
    think = parsed.think if parsed.format_ok else record["response"]
    right = record["predicted"] is not None and record["predicted"] == record["truth"]
    iou = record.get("iou", record.get("crop_iou"))
    references = "".join(f'<img alt="reference" src="{_reference(data)}">' for data in images[:-1])
    zoom = _zoom_box(record, images[-1])
    true_boxes = record.get("true_boxes") or record.get("defect_boxes") or []
    query = draw_query(images[-1], true_boxes, record.get("pred_boxes") or [], [zoom] if zoom else [])
    crop = f'<img alt="zoom crop" src="{_crop(images[-1], zoom)}">' if zoom else ""
    judge = " ".join(f"{key} {record[key]:.2f}" for key in JUDGE_KEYS if isinstance(record.get(key), int | float))
    facts = [
        f"<b>{'right' if right else 'wrong'}</b>: answered {html.escape(str(record['predicted']))}, "
        f"truth {html.escape(str(record['truth']))}",
        f"{html.escape(str(record['category']))}" + (f" · IoU {iou:.2f}" if iou is not None else ""),
    ] + ([html.escape(judge)] if judge else [])
    if "tool_calls" in record:
        names = ", ".join(call["name"] for call in record["tool_calls"]) or "none"
        facts.append(f"tool calls: {html.escape(names)}")
        think = _inspection(record)
    attributes = {
        "data-right": "right" if right else "wrong",
        "data-category": str(record["category"]),
        "data-truth": str(record["truth"]),
        "data-iou": f"{iou:.6f}" if iou is not None else "-1",
    }
    attrs = " ".join(f'{key}="{html.escape(value)}"' for key, value in attributes.items())
    return (
        f'<article class="card {"right" if right else "wrong"}" {attrs}>'
        f'<div class="images">{references}<img alt="query" src="{query}">{crop}</div>'
        f"<p>{'<br>'.join(facts)}</p><details><summary>reasoning</summary><pre>{html.escape(think or '')}</pre>"
        f"</details></article>"
    )


def _options(values: Sequence[str]) -> str:
    return "".join(f'<option value="{html.escape(v)}">{html.escape(v)}</option>' for v in sorted(set(values)))


_STYLE: Final = """
body{font-family:sans-serif;margin:16px;background:#f6f6f6}header{position:sticky;top:0;background:#f6f6f6;
padding:8px 0}.grid{display:flex;flex-wrap:wrap;gap:12px}.card{background:#fff;border:2px solid #ccc;
border-radius:6px;padding:8px;width:480px}.card.right{border-color:#3c3}.card.wrong{border-color:#d33}
.images img{margin:2px;vertical-align:top}pre{white-space:pre-wrap;font-size:12px}.hidden{display:none}
"""
_SCRIPT: Final = """
window.galleryErrors = [];
window.addEventListener('error', e => { window.galleryErrors.push(String(e.message));
  document.body.dataset.errors = window.galleryErrors.length; });
const cards = () => Array.from(document.querySelectorAll('article.card'));
function apply() {
  const right = document.getElementById('right').value, category = document.getElementById('category').value,
        truth = document.getElementById('truth').value;
  let shown = 0;
  for (const card of cards()) {
    const ok = (!right || card.dataset.right === right) && (!category || card.dataset.category === category)
      && (!truth || card.dataset.truth === truth);
    card.classList.toggle('hidden', !ok); shown += ok;
  }
  document.getElementById('count').textContent = shown;
  document.body.dataset.shown = shown;
}
function sortByIou() {
  const grid = document.getElementById('grid');
  cards().sort((a, b) => parseFloat(b.dataset.iou) - parseFloat(a.dataset.iou)).forEach(c => grid.appendChild(c));
}
document.addEventListener('DOMContentLoaded', () => {
  const wanted = new URLSearchParams(location.hash.slice(1)).get('filter');
  if (wanted) document.getElementById('right').value = wanted;
  for (const id of ['right', 'category', 'truth']) document.getElementById(id).addEventListener('change', apply);
  document.getElementById('sort').addEventListener('click', sortByIou);
  apply();
});
"""


def render_gallery(records: Sequence[Mapping[str, Any]], images: Sequence[Sequence[bytes]], title: str) -> str:
    """The page: ``images[i]`` are record ``i``'s images, references first and the query last."""
    cards = "".join(_card(record, row_images) for record, row_images in zip(records, images, strict=True))
    zooms = any("zoom" in record for record in records)
    legend = "green: true boxes, red: predicted" + (", blue: the last zoom" if zooms else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body data-errors="0"><header><h1>{html.escape(title)}</h1>
<label>answer <select id="right"><option value="">all</option><option value="right">right</option>
<option value="wrong">wrong</option></select></label>
<label>category <select id="category"><option value="">all</option>{_options([str(r["category"]) for r in records])}
</select></label>
<label>truth <select id="truth"><option value="">all</option>{_options([str(r["truth"]) for r in records])}</select>
</label> <button id="sort">sort by IoU</button> <span id="count">{len(records)}</span> of {len(records)} shown;
{legend}</header>
<main class="grid" id="grid">{cards}</main><script>{_SCRIPT}</script></body></html>
"""


def _test_file(records_path: Path, test_file: Path | None) -> Path:
    if test_file is not None:
        return test_file
    info_path = records_path.parent / RUN_INFO
    if not info_path.is_file():
        raise FileNotFoundError(f"no {RUN_INFO} beside {records_path}: pass --test-file (the parquet it evaluated)")
    return Path(json.loads(info_path.read_text())["test_file"])


def write_gallery(
    records: Sequence[Mapping[str, Any]], records_path: Path, out: Path, test_file: Path | None = None
) -> Path:
    """``out/gallery.html`` for ``records`` (read from ``records_path``), images from their test parquet."""
    import pyarrow.parquet as pq

    source = _test_file(records_path, test_file)
    if not source.is_file():
        raise FileNotFoundError(f"{source} (the records' test file) does not exist: pass --test-file")
    rows = pq.read_table(source, columns=["images"]).column("images").to_pylist()
    missing = [record["index"] for record in records if record["index"] >= len(rows)]
    if missing:
        raise ValueError(f"records {missing[:5]} point past the {len(rows)} rows of {source}: the wrong --test-file?")
    images = [[image["bytes"] for image in rows[record["index"]]] for record in records]
    title = f"{records_path.parent.name}: {len(records)} samples"
    return write_atomic(Path(out) / GALLERY, render_gallery(records, images, title))
