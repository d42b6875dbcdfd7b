"""Prompt texts, answer options and answer vocabularies of the three protocols: the single source of truth.

``rewards/`` and the evaluator import the vocabularies from here, so what a prompt asks for, what a reward
accepts and what the evaluator counts can never disagree. Texts quote the papers (``docs/ARCHITECTURE.md``) where
they give them; where a paper does not, the text here is ours and says so.

Every prompt is one user turn whose content carries one ``<image>`` placeholder per image, references first and
the query last, which is the order of the row's ``images`` list.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from data_prep.catalog import LOCO_ANOMALY_KINDS

IMAGE_PLACEHOLDER: Final = "<image>"
THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE = "<think>", "</think>", "<answer>", "</answer>"

PAIR_BINARY: Final = "pair-binary"
SINGLE_AB: Final = "single-ab"
PAIR3C: Final = "pair3c"
MMAD: Final = "mmad"


@dataclass(frozen=True)
class AnswerOption:
    """One answer a protocol accepts: ``key`` is what the ground truth stores and ``<answer>`` should hold."""

    key: str
    text: str  # the option's words, e.g. "defect"; equal to ``key`` for yes/no
    classes: tuple[str, ...]  # the sample classes it is the right answer for (see ``sample_class``)


@dataclass(frozen=True)
class PromptSpec:
    """How one protocol asks and what it accepts as an answer."""

    protocol: str
    source: str
    template: str  # str.format fields: {object}, and {options} / {format} where present
    options: tuple[AnswerOption, ...]
    lettered: bool  # options are shown as (A) ..., and answered with the letter

    @property
    def answer_keys(self) -> tuple[str, ...]:
        return tuple(option.key for option in self.options)

    def option_for_class(self, sample_class: str) -> AnswerOption:
        for option in self.options:
            if sample_class in option.classes:
                return option
        raise ValueError(f"{self.protocol} has no answer for sample class {sample_class!r}")

    def options_text(self) -> str:
        return " ".join(f"({option.key}) {option.text}" for option in self.options)


# LAD-Reasoner, Sec. 3.2: "we set the prompt directly: Can you find any anomaly in the query image compared to the
# reference?" and Sec. 3.3: "<think> think process </think><answer> yes or no </answer>". The sentence asking for
# that format is ours: the paper gives the template, not the words that introduce it.
LAD_REASONER_PROMPT: Final = PromptSpec(
    protocol=PAIR_BINARY,
    source="LAD-Reasoner (arXiv:2504.12749), Sec. 3.2-3.3",
    template=(
        "Can you find any anomaly in the query image compared to the reference?\n"
        "Output the thinking process in <think> </think> and the final answer in <answer> </answer> tags, "
        "i.e., <think> think process </think><answer> yes or no </answer>."
    ),
    options=(
        AnswerOption("yes", "yes", ("anomalous",)),
        AnswerOption("no", "no", ("normal",)),
    ),
    lettered=False,
)

# LR-IAD, Sec. III-D, verbatim (including its "a {object}").
LR_IAD_PROMPT: Final = PromptSpec(
    protocol=SINGLE_AB,
    source="LR-IAD, Sec. III-D",
    template=(
        "This is an image containing a {object}. Analyze the given image and determine if there is any defect in "
        "the object.\n"
        "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.\n"
        "Options: {options}.\n"
        "The output answer format should be as follows:\n"
        "<think></think> <answer>A or B</answer>\n"
        "Please strictly follow the format."
    ),
    options=(
        AnswerOption("A", "defect", ("anomalous",)),
        AnswerOption("B", "normal", ("normal",)),
    ),
    lettered=True,
)

# FAD-TQ describes "a reference-test image pair and a multiple-choice question" with the answers good /
# structural / logical but prints no prompt; this text is ours, in LR-IAD's option style.
FAD_TQ_PROMPT: Final = PromptSpec(
    protocol=PAIR3C,
    source="FAD-TQ (MVTec-LOCO-AD-Pair3C), Sec. 2.2; wording ours",
    template=(
        "The reference image shows a normal {object}. Compare the query image with the reference and decide "
        "whether the query is normal, has a structural anomaly (e.g., a scratch, dent, crack or broken part) or "
        "a logical anomaly (e.g., a wrong count, colour, arrangement or a missing or extra component).\n"
        "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.\n"
        "Options: {options}.\n"
        "The output answer format should be as follows:\n"
        "<think></think> <answer>A, B or C</answer>\n"
        "Please strictly follow the format."
    ),
    options=(
        AnswerOption("A", "good", ("normal",)),
        AnswerOption("B", "structural anomaly", ("structural",)),
        AnswerOption("C", "logical anomaly", ("logical",)),
    ),
    lettered=True,
)

# MMAD (jam-cc/MMAD): a question of its own per row, with two to five options; the row's prompt is rendered by
# ``render_mmad_prompt`` below and ``template`` is unused. Options are only letters (their texts differ per row, in
# ``extra_info.options``), so an answer names an option by its letter alone.
MMAD_PROMPT: Final = PromptSpec(
    protocol=MMAD,
    source="MMAD (jam-cc/MMAD), evaluation/examples/Transformers/qwen2_5_vl_query.py and GPT4/gpt4v.py",
    template="",
    options=tuple(AnswerOption(letter, "", ()) for letter in "ABCDE"),
    lettered=True,
)

PROMPTS: Final = MappingProxyType(
    {spec.protocol: spec for spec in (LAD_REASONER_PROMPT, LR_IAD_PROMPT, FAD_TQ_PROMPT, MMAD_PROMPT)}
)
PROTOCOLS: Final = tuple(PROMPTS)
PAPER_PROTOCOLS: Final = (PAIR_BINARY, SINGLE_AB, PAIR3C)  # the three papers' own, each with its template

# The class a sample is answered as: pair3c distinguishes the two LOCO anomaly kinds, the others do not.
ANOMALY_KIND_BY_LOCO_CLASS: Final = MappingProxyType(
    {kind: kind.removesuffix("_anomalies") for kind in LOCO_ANOMALY_KINDS}
)


def object_name(category: str) -> str:
    """The words for a category in a prompt: ``metal_nut`` -> ``metal nut``, ``pcb3`` -> ``pcb``."""
    return re.sub(r"\d+$", "", category).replace("_", " ").strip()


def sample_class(protocol: str, label: str, anomaly_kind: str | None) -> str:
    """``normal``/``anomalous`` for the binary protocols; ``normal``/``structural``/``logical`` for pair3c."""
    if label == "normal":
        return "normal"
    if protocol != PAIR3C:
        return "anomalous"
    if anomaly_kind not in ("structural", "logical"):
        raise ValueError(f"pair3c needs a LOCO anomaly kind (structural or logical), got {anomaly_kind!r}")
    return anomaly_kind


def role_prefix(n_references: int) -> str:
    """Image placeholders with their roles; references first, the query last (the order of ``images``)."""
    if n_references == 0:
        return IMAGE_PLACEHOLDER + "\n"
    if n_references == 1:
        return f"Reference image: {IMAGE_PLACEHOLDER}\nQuery image: {IMAGE_PLACEHOLDER}\n"
    references = "".join(f"Reference image {i + 1}: {IMAGE_PLACEHOLDER}\n" for i in range(n_references))
    return f"{references}Query image: {IMAGE_PLACEHOLDER}\n"


# ``iad-data build --grounding`` (ours): where the defect is, in the form Qwen2.5-VL was trained to ground in
# (``bbox_2d``, absolute pixels of the image as the model sees it), inside the answer, one line.
GROUNDING_INSTRUCTION: Final = (
    "\nIf the query image has a defect, also give its location inside the answer, after the option, on one line "
    'as JSON with absolute pixel coordinates of the query image: {"bbox_2d": [x1, y1, x2, y2]}.'
)


def render_prompt(protocol: str, category: str, n_references: int, *, grounding: bool = False) -> str:
    """The user turn's text for one row of ``protocol`` (``grounding``: asking for the defect's box too)."""
    spec = PROMPTS[protocol]
    question = spec.template.format(object=object_name(category), options=spec.options_text())
    return role_prefix(n_references) + question + (GROUNDING_INSTRUCTION if grounding else "")


# MMAD's query, verbatim from its Qwen2.5-VL example (qwen2_5_vl_query.py with gpt4v.py's instruction and
# question format): the content parts the official script sends, joined as Qwen2.5-VL's chat template joins them
# (no separator). The script's question is "{Question} \n" + one "X. text\n" line per option (its
# parse_conversation is called with add_question_id=False, so without "Question 1: ").
MMAD_INSTRUCTION: Final = (
    "\nYou are an industrial inspector who checks products by images. You should judge whether there is a defect "
    "in the query image and answer the questions about it.\nAnswer with the option's letter from the given choices "
    "directly.\n"
)
MMAD_DIRECTLY: Final = "Answer with the option's letter from the given choices directly! "
MMAD_DOMAIN_KNOWLEDGE: Final = (
    "Following is the domain knowledge which contains some type of defect and the normal object characteristics: \n "
)
MMAD_TEMPLATES: Final = (
    "Following is/are {k} image of normal sample, which can be used as a template to compare the image being queried."
)
MMAD_QUERY: Final = "Following is the query image: "
MMAD_QUESTIONS: Final = "Following is the question list: "
# ``--mmad-prompt r1`` (ours, for training with the papers' format reward): the official text with its two
# "answer directly" sentences replaced by LR-IAD's think/answer instruction.
MMAD_R1_FORMAT: Final = (
    "\nOutput the thinking process in <think> </think> and final answer in <answer> </answer> tags.\n"
    "The output answer format should be as follows:\n<think></think> <answer>the option's letter</answer>\n"
    "Please strictly follow the format."
)
MMAD_PROMPT_STYLES: Final = ("official", "r1")


def mmad_question_text(question: str, options: tuple[tuple[str, str], ...]) -> str:
    """One MMAD question as the official script writes it: the question, then one ``X. text`` line per option."""
    return f"{question} \n" + "".join(f"{letter}. {text}\n" for letter, text in options)


def render_mmad_prompt(
    question: str,
    options: tuple[tuple[str, str], ...],
    n_templates: int,
    *,
    domain_knowledge: str | None = None,
    style: str = "official",
    grounding: bool = False,
) -> str:
    """The user turn of one MMAD row: ``n_templates`` normal images, then the query (``<image>`` each)."""
    if style not in MMAD_PROMPT_STYLES:
        raise ValueError(f"unknown MMAD prompt style {style!r}; valid: {', '.join(MMAD_PROMPT_STYLES)}")
    if style == "official":
        parts = [MMAD_INSTRUCTION, MMAD_DIRECTLY]
    else:
        parts = [MMAD_INSTRUCTION.replace("Answer with the option's letter from the given choices directly.\n", "")]
    if domain_knowledge:
        parts.append(MMAD_DOMAIN_KNOWLEDGE + domain_knowledge)
    if n_templates:
        parts.append(MMAD_TEMPLATES.format(k=n_templates) + IMAGE_PLACEHOLDER * n_templates)
    parts += [MMAD_QUERY, IMAGE_PLACEHOLDER, MMAD_QUESTIONS, mmad_question_text(question, options)]
    if style == "r1":
        parts.append(MMAD_R1_FORMAT)
    if grounding:
        parts.append(GROUNDING_INSTRUCTION)
    return "".join(parts)


# ``iad-data build --tools`` (ours, after AgentIAD): the two inspection tools, as OpenAI function schemas (what verl's
# tool registry validates and agent_tools implements), and the system turn that offers them to the policy.
TOOL_CALL_BUDGET: Final = 4  # calls per inspection, both tools together: the tools refuse, the reward penalises past it
ZOOM_SCHEMA: Final = MappingProxyType(
    {
        "type": "function",
        "function": {
            "name": "zoom",
            "description": (
                "Look closer: crop the query image to a box (pixels of the query image) and see it enlarged."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "bbox_2d": {
                        "type": "array",
                        "items": {"type": "number"},
                        "description": "[x1, y1, x2, y2] in pixels of the query image",
                    }
                },
                "required": ["bbox_2d"],
            },
        },
    }
)
REFERENCE_SCHEMA: Final = MappingProxyType(
    {
        "type": "function",
        "function": {
            "name": "reference",
            "description": "See one more normal (defect-free) image of the same product, to compare with.",
            "parameters": {"type": "object", "properties": {}, "required": []},
        },
    }
)
INSPECTION_TOOLS: Final = (ZOOM_SCHEMA, REFERENCE_SCHEMA)
TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"


def tools_system_prompt() -> str:
    """The system turn of a ``--tools`` row: Qwen2.5's own tool-use text (what its hermes-style chat templates render
    for ``tools=``; Qwen2.5-VL's template renders no tools, so the row carries it), then the inspection's rules."""
    signatures = "\n".join(json.dumps(plain(schema), ensure_ascii=False) for schema in INSPECTION_TOOLS)
    return (
        "You are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query."
        f"\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{signatures}\n"
        "</tools>\n\nFor each function call, return a json object with function name and arguments within "
        f"{TOOL_CALL_OPEN}{TOOL_CALL_CLOSE} XML tags:\n{TOOL_CALL_OPEN}\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n'
        f"{TOOL_CALL_CLOSE}\n\n"
        f"Inspect before you answer: zoom into a region of the query image that may hold a defect, or ask for a "
        f"normal reference, at most {TOOL_CALL_BUDGET} calls in all. Give the final answer in a turn of its own, "
        "without a tool call."
    )


def plain(value: object) -> object:
    """A schema's mappings as plain dicts (for JSON and YAML)."""
    if isinstance(value, MappingProxyType | dict):
        return {key: plain(item) for key, item in value.items()}
    return value
