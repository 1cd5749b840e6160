"""Every extraction rule on answer strings models really wrote.

The strings are copied verbatim (long replies: their opening and ending, joined by " ... ")
from GPT-4o's published MMMU-Pro outputs (MMMU-Benchmark/MMMU, ``mmmu-pro/output/*.jsonl``,
Apache-2.0), with the row id they come from; the expected letter is the one the reply
states (not the gold answer).
"""
from __future__ import annotations

import pytest

from leakaudit.answers.extract import REFUSAL, UNMATCHED, extract_choice, strip_latex
from leakaudit.data.schema import Sample

TEN = Sample(id="x", benchmark="mmmu_pro", question="q", options=[f"option text {i}" for i in range(10)], answer="A")


@pytest.mark.parametrize(
    "source, text, letter, method",
    [
        # standard(10 options) direct
        ("validation_Design_19", "H", "H", "letter-only"),
        ("validation_Sociology_29", "I.", "I", "letter-only"),
        ("test_History_1", "B. The spread of pathogens across the Silk Road", "B", "first-char"),
        ("test_History_134", "J. A dramatic increase in migration", "J", "first-char"),  # not the article "A"
        ("validation_Sociology_8", "J. Cannot be determined without more information", "J", "first-char"),  # an option, not a refusal
        ("test_Architecture_and_Engineering_86", "The correct answer is B. X = 1508.08 m, Y = 1583.54 m", "B", "the-answer-is"),
        ("validation_Energy_and_Power_2", "The answer is **J. 0.67,0.32**.", "J", "the-answer-is"),
        ("validation_Finance_27", "Nominal Rate = 2.5% + 8% = 10.5%\n\nThe correct option is F. 10.5%.", "F", "the-answer-is"),
        ("test_Accounting_34", "The missing amount for Company D is option **E. $1,125,325**.", "E", "option"),
        # chain of thought: the final answer wins over the options discussed before it
        ("test_History_1 (cot)",
         "2. **Evaluating the Options**:\n   - **A. Political instability leading to population decline**: This is a plausible "
         "explanation ... bination of political factors and possible external pressures leading to declines in stability and "
         "resources.\n\nAnswer: A", "A", "answer-colon"),
        ("validation_Economics_12", "Net exports = Exports - Imports = 50 - 40 = 10 billion\n\nThe correct answer is:\n\nAnswer: G", "G", "answer-colon"),
        ("test_Public_Health_239", "Difference in proportions (School A - School C):\n\\[\n0.8136 - 0.9008 = -0.0872\n\\]\n\n"
                                   "The closest option is \\( (J) -0.086 \\).\n\nAnswer: J", "J", "answer-colon"),
        # LaTeX
        ("test_Energy_and_Power_152", "correcting misinterpretations of placed contents in problems.\n\nAnswer: \\( \\boxed{B} \\)", "B", "boxed"),
        ("test_Electronics_116", "\\approx 442 - j180\n\\]\n\nTherefore, the correct answer is \\( \\boxed{B} \\).", "B", "boxed"),
        ("standard cot", "\\[\n\\text{Answer: D}\n\\]", "D", "answer-colon"),
        ("vision cot", "Answer: \\( \\text{C} \\)", "C", "answer-colon"),
        # the last option named, not the first "(C)"
        ("validation_Agriculture_9", "(C) High relative humidity \n(G) When free water has splashed up onto the underside of the leaf \n\n"
                                     "Answer: Both (C) and (G) can be considered correct, but if only one must be selected, let's choose (G) "
                                     "as it directly mentions the presence of moisture on the leaf which is key for mildew.", "G", "paren"),
    ],
)
def test_rules_on_published_answers(source, text, letter, method):
    assert extract_choice(text, TEN) == (letter, method), source


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, I can't help with that.",
        "I'm sorry, I can't determine the answer based on the image.",
        "I'm unable to determine the answer based on the image alone.",
        "I can't analyze the specific image, but if you describe the components and configuration of the circuits, "
        "I can help you determine the expressions for \\( v(t) \\) for each case.",
        "I don't know who this is.",
    ],
)
def test_refusals_are_unanswered(text):
    assert extract_choice(text, TEN) == (None, REFUSAL)


def test_no_rule_no_answer():
    assert extract_choice("b. C  \nd. B  \nf. H  \nh. G", TEN) == (None, UNMATCHED)  # several letters, no statement
    assert extract_choice("No entiendo la imagen.", TEN) == (None, UNMATCHED)


def test_strip_latex_keeps_the_content():
    assert strip_latex("Answer: \\( \\boxed{\\text{B}} \\)").split() == ["Answer:", "B"]
