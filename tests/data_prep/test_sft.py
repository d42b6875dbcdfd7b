"""SFT conversion: MMAD-style annotations and Q/A JSONL into verl's multi-turn SFT parquet, with leakage checks."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from data_prep.__main__ import main
from data_prep.build import BuildConfig, build
from data_prep.images import BadImageError
from data_prep.readers import read_dataset
from data_prep.sft import SFT_SCHEMA, LeakageError, SFTConfig, SFTError, convert

# Tests that check the warning catch it with pytest.warns; elsewhere it is expected and not the subject.
pytestmark = pytest.mark.filterwarnings("ignore:no leakage check was done")

DEFECT = {"Question": "Is there any defect in the object?", "Options": {"A": "Yes.", "B": "No."}, "type": "AD"}
OBJECT = {"Question": "What is the object?", "Options": {"A": "a bottle", "B": "a cable", "C": "a pill"}, "type": "OC"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def conversation(defective: bool) -> list[dict]:
    return [{**DEFECT, "Answer": "A" if defective else "B"}, {**OBJECT, "Answer": "A"}]


def defective(image: str) -> bool:
    return "/good/" not in image and "/Normal/" not in image


def visa_1cls(official: str) -> str:
    """``capsules/Data/Images/Anomaly/000.JPG`` -> ``capsules/test/bad/000.JPG`` (MMAD's VisA layout)."""
    category, _, _, folder, name = official.split("/")
    return f"{category}/test/{'bad' if folder == 'Anomaly' else 'good'}/{name}"


@pytest.fixture(scope="module")
def picks(small_roots: dict[str, Path]) -> dict[str, list[str]]:
    """A few test images of each dataset, as paths relative to their roots."""
    chosen = {}
    for dataset in small_roots:
        table = read_dataset(dataset, small_roots[dataset])
        test = table[table.split == "test"]
        chosen[dataset] = (
            sorted(test[test.label == "anomalous"].image)[:2] + sorted(test[test.label == "normal"].image)[:1]
        )
    return chosen


@pytest.fixture(scope="module")
def mmad(picks: dict[str, list[str]]) -> dict[str, dict]:
    """MMAD-style annotations for the picked images, with MMAD's extra keys, in MMAD's (unsorted) key order."""
    data = {}
    for dataset, prefix, layout in (("visa", "VisA", visa_1cls), ("mvtec_loco", "MVTec-LOCO", str)):
        for image in picks[dataset]:
            data[f"{prefix}/{layout(image)}"] = {"conversation": conversation(defective(image))}
    for image in picks["mvtec_ad"]:
        data[f"MVTec-AD/{image}"] = {
            "conversation": conversation(defective(image)),
            "mask_path": "rbg_mask/x.png",
            "similar_templates": ["MVTec-AD/bottle/train/good/000.png"],
            "random_templates": [],
        }
    return data


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def config(tmp_path: Path, roots: dict[str, Path], data: dict, **overrides) -> SFTConfig:
    mmad_file = write_json(tmp_path / "mmad.json", data)
    return SFTConfig(out=tmp_path / "out", mmad=(mmad_file,), roots=roots, **overrides)


@pytest.fixture(scope="module")
def eval_test(small_roots: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pair3c's test.parquet (LOCO test queries, validation/good references), as `iad-data build` writes it."""
    out = tmp_path_factory.mktemp("pair3c")
    return build(BuildConfig(protocol="pair3c", roots=small_roots, out=out, train_per_class=1)).files["test"]


def eval_queries(path: Path) -> list[str]:
    return [info["query_image"] for info in pq.read_table(path, columns=["extra_info"]).column(0).to_pylist()]


# ----------------------------------------------------------------------------------------------------------------
# MMAD rows


def test_one_row_per_image_with_its_whole_conversation(small_roots, picks, mmad, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="no leakage check"):
        result = convert(config(tmp_path, small_roots, mmad))
    table = pq.read_table(result.files["train"])
    assert table.schema.equals(SFT_SCHEMA) and table.num_rows == len(mmad) == result.rows == 9
    rows = table.to_pylist()
    # sorted by dataset, then image path relative to its root (VisA: the official layout)
    keys = [(row["extra_info"]["dataset"], row["extra_info"]["image"]) for row in rows]
    assert keys == sorted(keys) and [row["extra_info"]["index"] for row in rows] == list(range(9))
    for row in rows:
        info, messages = row["extra_info"], row["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"] * 2 and info["n_turns"] == 2
        assert messages[0]["content"] == "<image>\nIs there any defect in the object?\nOptions: (A) Yes. (B) No."
        assert messages[2]["content"] == "What is the object?\nOptions: (A) a bottle (B) a cable (C) a pill"
        assert sum(m["content"].count("<image>") for m in messages) == len(row["images"]) == 1
        assert [m["content"] for m in messages[1::2]] == ["A" if defective(info["image"]) else "B", "A"]
        assert info["question_types"] == ["AD", "OC"] and info["source"] == "mmad"
        root = small_roots[info["dataset"]]
        assert row["images"][0]["bytes"] == (root / info["image"]).read_bytes()
        assert info["image"] in picks[info["dataset"]] and info["image_paths"] == [info["image"]]
    visa = next(row["extra_info"] for row in rows if row["extra_info"]["dataset"] == "visa")
    assert visa["source_key"] == f"VisA/{visa_1cls(visa['image'])}" and "/Data/Images/" in visa["image"]


def test_visa_read_from_the_1cls_layout_keeps_the_official_name(small_roots, picks, tmp_path: Path) -> None:
    official = picks["visa"][0]
    one_class = tmp_path / "visa_1cls"
    (one_class / visa_1cls(official)).parent.mkdir(parents=True)
    shutil.copy(small_roots["visa"] / official, one_class / visa_1cls(official))
    data = {f"VisA/{visa_1cls(official)}": {"conversation": conversation(True)}}
    result = convert(config(tmp_path, {"visa": one_class}, data, exclude_eval=()))
    row = pq.read_table(result.files["train"]).to_pylist()[0]
    assert row["extra_info"]["image"] == official
    assert row["images"][0]["bytes"] == (one_class / visa_1cls(official)).read_bytes()


def test_same_inputs_give_identical_bytes(small_roots, mmad, tmp_path: Path) -> None:
    first = convert(config(tmp_path / "a", small_roots, mmad))
    reordered = dict(reversed(list(mmad.items())))  # key order of the input does not matter
    second = convert(config(tmp_path / "b", small_roots, reordered, workers=2))
    assert sha256(first.files["train"]) == sha256(second.files["train"])


def test_manifest_records_inputs_counts_and_sources(small_roots, mmad, tmp_path: Path) -> None:
    result = convert(config(tmp_path, small_roots, mmad))
    manifest = json.loads(result.files["manifest"].read_text())
    assert manifest["inputs"]["mmad"][0]["sha256"] == sha256(tmp_path / "mmad.json")
    assert manifest["files"]["train.parquet"] == {
        "rows": 9,
        "bytes": result.files["train"].stat().st_size,
        "sha256": sha256(result.files["train"]),
    }
    assert manifest["counts"]["rows"] == 9 and manifest["counts"]["turns"] == 18
    assert sum(manifest["counts"]["by_category"].values()) == 9
    assert manifest["skipped_by_reason"] == {} and manifest["leakage"]["checked_against"] == []
    assert any("no leakage check" in warning for warning in manifest["warnings"])
    path, digest = next(iter(manifest["sources"]["mvtec_ad"].items()))
    assert sha256(small_roots["mvtec_ad"] / path) == digest


def test_existing_output_is_refused_without_overwrite(small_roots, mmad, tmp_path: Path) -> None:
    convert(config(tmp_path, small_roots, mmad))
    with pytest.raises(FileExistsError, match="--overwrite"):
        convert(config(tmp_path, small_roots, mmad))
    convert(config(tmp_path, small_roots, mmad, overwrite=True))


def test_letter_text_answers(small_roots, mmad, tmp_path: Path) -> None:
    result = convert(config(tmp_path, small_roots, mmad, answer_style="letter-text"))
    row = pq.read_table(result.files["train"]).to_pylist()[0]
    assert row["messages"][3]["content"] == "A. a bottle"


def test_dataset_selection_counts_what_it_leaves_out(small_roots, mmad, tmp_path: Path) -> None:
    data = {**mmad, "GoodsAD/drink_can/test/good/000.jpg": {"conversation": conversation(False)}}
    roots = {name: small_roots[name] for name in ("mvtec_ad", "visa")}  # no LOCO root needed when it is left out
    result = convert(config(tmp_path, roots, data, datasets=("mvtec_ad", "visa")))
    assert result.rows == 6 and dict(result.excluded) == {"MVTec-LOCO": 3, "GoodsAD": 1}
    assert json.loads(result.files["manifest"].read_text())["excluded_by_dataset"] == {"GoodsAD": 1, "MVTec-LOCO": 3}


def test_missing_root_names_the_flag(small_roots, mmad, tmp_path: Path) -> None:
    with pytest.raises(SFTError, match="--root mvtec_loco=PATH"):
        convert(config(tmp_path, {"mvtec_ad": small_roots["mvtec_ad"], "visa": small_roots["visa"]}, mmad))


# ----------------------------------------------------------------------------------------------------------------
# Leakage


def test_rows_using_evaluation_images_are_an_error(small_roots, mmad, eval_test: Path, tmp_path: Path) -> None:
    leaked = sorted(set(eval_queries(eval_test)) & {key.partition("/")[2] for key in mmad})
    assert leaked  # the picked LOCO test images are pair3c test queries
    with pytest.raises(LeakageError, match="--drop-leaking") as error:
        convert(config(tmp_path, small_roots, mmad, exclude_eval=(eval_test,)))
    assert f"{len(leaked)} SFT rows" in str(error.value) and f"mvtec_loco/{leaked[0]}" in str(error.value)
    assert not (tmp_path / "out" / "train.parquet").exists()


def test_drop_leaking_drops_and_counts(small_roots, mmad, eval_test: Path, tmp_path: Path) -> None:
    leaked = set(eval_queries(eval_test)) & {key.partition("/")[2] for key in mmad}
    result = convert(config(tmp_path, small_roots, mmad, exclude_eval=(eval_test,), drop_leaking=True))
    assert result.rows == len(mmad) - len(leaked)
    manifest = json.loads(result.files["manifest"].read_text())
    assert manifest["leakage"]["dropped_rows"] == len(leaked) and manifest["inputs"]["exclude_eval"][0]["sha256"]
    images = {row["extra_info"]["image"] for row in pq.read_table(result.files["train"]).to_pylist()}
    assert not images & leaked


def test_a_file_not_written_by_build_is_refused(small_roots, mmad, tmp_path: Path) -> None:
    other = convert(config(tmp_path / "sft", small_roots, mmad)).files["train"]
    with pytest.raises(SFTError, match="extra_info.*iad-data build"):
        convert(config(tmp_path, small_roots, mmad, exclude_eval=(other,)))


# ----------------------------------------------------------------------------------------------------------------
# Malformed entries


def bad_entries(picks: dict[str, list[str]]) -> dict[str, tuple[str, object]]:
    """reason -> (key, value) of one malformed entry each."""
    good_key = f"MVTec-AD/{picks['mvtec_ad'][0]}"
    return {
        "no_conversation": (f"MVTec-AD/{picks['mvtec_ad'][1]}", {"mask_path": "x"}),
        "answer_not_in_options": (good_key, {"conversation": [{**DEFECT, "Answer": "C"}]}),
        "missing_image": ("MVTec-AD/bottle/test/good/999.png", {"conversation": conversation(False)}),
        "unknown_dataset": ("GoodsAD/drink_can/test/good/000.jpg", {"conversation": conversation(False)}),
        "not_a_dict": (f"MVTec-AD/{picks['mvtec_ad'][2]}", ["not", "a", "dict"]),
    }


@pytest.mark.parametrize("reason", ["no_conversation", "answer_not_in_options", "missing_image", "unknown_dataset"])
def test_malformed_entry_is_an_error_naming_key_and_problem(small_roots, picks, tmp_path: Path, reason: str) -> None:
    key, value = bad_entries(picks)[reason]
    with pytest.raises(SFTError, match="--skip-bad") as error:
        convert(config(tmp_path, small_roots, {key: value}))
    assert key in str(error.value) and reason in str(error.value)
    if reason == "missing_image":
        assert str(small_roots["mvtec_ad"] / "bottle/test/good/999.png") in str(error.value)
    assert not (tmp_path / "out").exists()


def test_visa_missing_image_names_both_layouts_tried(small_roots, tmp_path: Path) -> None:
    data = {"VisA/capsules/test/bad/999.JPG": {"conversation": conversation(True)}}
    with pytest.raises(SFTError) as error:
        convert(config(tmp_path, small_roots, data))
    assert "capsules/test/bad/999.JPG" in str(error.value)
    assert "capsules/Data/Images/Anomaly/999.JPG" in str(error.value)


def test_skip_bad_skips_and_counts_by_reason(small_roots, picks, mmad, tmp_path: Path) -> None:
    bad = bad_entries(picks)
    data = {**mmad, **dict(bad.values())}  # replaces 3 good MVTec AD entries, adds 2
    result = convert(config(tmp_path, small_roots, data, skip_bad=True))
    assert result.skipped_by_reason == dict.fromkeys(sorted(bad), 1) and result.rows == len(mmad) - 3
    manifest = json.loads(result.files["manifest"].read_text())
    assert manifest["skipped_by_reason"] == result.skipped_by_reason
    assert {entry["key"] for entry in manifest["skipped"]} == {key for key, _ in bad.values()}


def test_undecodable_image_stops_or_is_skipped(small_roots, picks, tmp_path: Path) -> None:
    root = tmp_path / "mvtec_ad"
    shutil.copytree(small_roots["mvtec_ad"], root)
    (root / picks["mvtec_ad"][0]).write_bytes(b"not a png")
    data = {f"MVTec-AD/{image}": {"conversation": conversation(True)} for image in picks["mvtec_ad"]}
    with pytest.raises(BadImageError, match="--skip-bad"):
        convert(config(tmp_path, {"mvtec_ad": root}, data))
    assert not (tmp_path / "out" / "train.parquet").exists()
    result = convert(config(tmp_path, {"mvtec_ad": root}, data, skip_bad=True))
    assert result.rows == 2 and result.skipped_by_reason == {"bad_image": 1}


# ----------------------------------------------------------------------------------------------------------------
# JSONL


def test_jsonl_rows(small_roots, picks, eval_test: Path, tmp_path: Path) -> None:
    mvtec, loco = small_roots["mvtec_ad"], small_roots["mvtec_loco"]
    outside = tmp_path / "elsewhere.png"
    shutil.copy(mvtec / picks["mvtec_ad"][0], outside)
    lines = [
        {"image": picks["mvtec_ad"][0], "question": "Describe the defect.", "answer": "A crack near the neck."},
        {"images": [str(loco / picks["mvtec_loco"][2]), str(outside)], "question": "Compare <image> with <image>.",
         "answer": "Same.", "dataset": "mvtec_loco", "category": "pushpins"},
        {"images": [str(outside), str(outside)], "question": "Same?", "answer": "Yes."},
    ]  # fmt: skip
    jsonl = tmp_path / "qa.jsonl"
    jsonl.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    with pytest.warns(UserWarning, match="2 rows have images under no --root"):
        result = convert(
            SFTConfig(
                out=tmp_path / "out", jsonl=(jsonl,), roots=small_roots, root_dir=mvtec, exclude_eval=(eval_test,)
            )
        )
    rows = pq.read_table(result.files["train"]).to_pylist()
    assert [row["extra_info"]["source_key"] for row in rows] == ["qa.jsonl:3", "qa.jsonl:1", "qa.jsonl:2"]
    unknown, single, pair = rows
    assert single["messages"] == [
        {"role": "user", "content": "<image>\nDescribe the defect."},
        {"role": "assistant", "content": "A crack near the neck."},
    ]
    assert single["images"][0]["bytes"] == (mvtec / picks["mvtec_ad"][0]).read_bytes()
    category = picks["mvtec_ad"][0].split("/")[0]
    assert (single["extra_info"]["dataset"], single["extra_info"]["category"]) == ("mvtec_ad", category)
    assert pair["messages"][0]["content"] == "Compare <image> with <image>." and len(pair["images"]) == 2
    assert pair["extra_info"]["image_paths"] == [picks["mvtec_loco"][2], str(outside)]
    assert unknown["messages"][0]["content"] == "<image><image>\nSame?" and unknown["extra_info"]["dataset"] is None
    assert json.loads(result.files["manifest"].read_text())["leakage"]["unchecked_rows"] == 2


def test_jsonl_leak_and_bad_lines(small_roots, eval_test: Path, tmp_path: Path) -> None:
    leaked = eval_queries(eval_test)[0]
    jsonl = tmp_path / "qa.jsonl"
    lines = [
        json.dumps({"image": leaked, "question": "Anything wrong?", "answer": "No.", "dataset": "mvtec_loco"}),
        "{not json",
        json.dumps({"image": leaked, "question": "Anything wrong?"}),
        json.dumps({"image": leaked, "question": "<image><image> two?", "answer": "x"}),
        json.dumps({"image": "pushpins/train/good/000.png", "question": "Anything wrong?", "answer": "No."}),
    ]
    jsonl.write_text("\n".join(lines) + "\n")
    common = {"jsonl": (jsonl,), "roots": small_roots, "root_dir": small_roots["mvtec_loco"]}
    with pytest.raises(SFTError, match="qa.jsonl:2.*bad_json.*3 bad entries"):
        convert(SFTConfig(out=tmp_path / "a", **common))
    with pytest.raises(LeakageError, match=f"1 SFT rows use 1 images.*mvtec_loco/{leaked}"):
        convert(SFTConfig(out=tmp_path / "b", skip_bad=True, exclude_eval=(eval_test,), **common))
    result = convert(
        SFTConfig(out=tmp_path / "c", skip_bad=True, exclude_eval=(eval_test,), drop_leaking=True, **common)
    )
    assert result.skipped_by_reason == {"bad_answer": 1, "bad_json": 1, "placeholder_in_text": 1}
    assert len(result.dropped_leaking) == 1 and result.rows == 1
    row = pq.read_table(result.files["train"]).to_pylist()[0]
    assert row["extra_info"]["image"] == "pushpins/train/good/000.png" and row["extra_info"]["category"] == "pushpins"


# ----------------------------------------------------------------------------------------------------------------
# Command line and verl


def test_cli(small_roots, mmad, tmp_path: Path, capsys) -> None:
    mmad_file = write_json(tmp_path / "mmad.json", mmad)
    roots = [f"--root={name}={path}" for name, path in small_roots.items()]
    args = ["sft", "--mmad", str(mmad_file), *roots, "--out", str(tmp_path / "out")]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "9 rows, 18 question/answer turns" in captured.out and "mvtec_ad/" in captured.out
    assert "iad-data sft: warning: no leakage check was done" in captured.err
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("iad-data sft: error:") and "--overwrite" in err and len(err.splitlines()) == 1
    write_json(mmad_file, {"MVTec-AD/bottle/test/good/999.png": {"conversation": conversation(False)}})
    assert main([*args, "--overwrite"]) == 2
    assert "missing_image" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_processor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Qwen2.5-VL policy folder, unprimed: only its tokenizer, chat template and processor are used."""
    from synthetic.tiny_models import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("models") / "tiny", prime_steps=0).policy


def test_verl_multiturn_sft_dataset_loads_rows(small_roots, picks, mmad, tiny_processor: Path, tmp_path: Path) -> None:
    import torch
    from omegaconf import OmegaConf
    from verl.utils import hf_processor, hf_tokenizer
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    pair = [str(small_roots["mvtec_loco"] / image) for image in picks["mvtec_loco"][:2]]
    jsonl = tmp_path / "qa.jsonl"
    jsonl.write_text(
        json.dumps({"images": pair, "question": "Reference: <image> Query: <image> Same?", "answer": "No."})
    )
    result = convert(replace(config(tmp_path, small_roots, mmad), jsonl=(jsonl,)))
    tokenizer = hf_tokenizer(str(tiny_processor))
    # the data keys of verl's sft_trainer_engine.yaml that MultiTurnSFTDataset reads
    data_config = OmegaConf.create(
        {"messages_key": "messages", "pad_mode": "no_padding", "max_length": 1024, "truncation": "error"}
    )
    dataset = MultiTurnSFTDataset(
        str(result.files["train"]), tokenizer, data_config, processor=hf_processor(str(tiny_processor))
    )
    assert len(dataset) == result.rows == len(mmad) + 1
    rows = pq.read_table(result.files["train"]).to_pylist()
    pair_index = next(i for i, row in enumerate(rows) if row["extra_info"]["source"] == "jsonl")
    for index in (0, pair_index, len(dataset) - 1):
        item = dataset[index]  # also runs verl's check that turn-by-turn tokens equal the whole conversation's
        grid = item["multi_modal_inputs"]["image_grid_thw"]
        assert grid.shape == (len(rows[index]["images"]), 3)
        assert item["multi_modal_inputs"]["pixel_values"].shape[0] == int(grid.prod(dim=1).sum())
        trained = tokenizer.decode(item["input_ids"][item["loss_mask"].bool()])
        answers = [message["content"] for message in rows[index]["messages"][1::2]]
        assert trained == "".join(f"{answer}<|im_end|>\n" for answer in answers)  # assistant turns only
        assert item["position_ids"].shape == (4, item["input_ids"].shape[0]) and torch.all(item["loss_mask"][:10] == 0)
