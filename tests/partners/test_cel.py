"""The one CEL module: bounds before compiling, a parser panic as a located error, the
run-time budget, positions in YAML scalars."""

from __future__ import annotations

import cel
import pytest

from connector.partners.cel import (
    CelError,
    CelLimits,
    OverBudget,
    check_bounds,
    compile_expression,
    position_in_scalar,
)

PAIRS = ("partner.certification_names.exists(a, partner.certification_names.exists(b, "
         "a == b + '-renewed'))")


def test_a_parser_panic_is_a_cel_error_not_a_crash() -> None:
    """With the bounds lifted, a syntax error past column 65,535 panics the CEL parser (a
    BaseException): it comes back as a CelError, located at the expression."""
    text = "x == " + "1 + " * 16500 + ")"
    lifted = CelLimits(max_length=10**6, max_depth=10**6, max_cost=10**18)
    with pytest.raises(CelError) as info:
        compile_expression(text, variables=["x"], limits=lifted)
    assert info.value.line == 1 and info.value.column == 1
    assert "\n" not in str(info.value)


def test_the_bounds_refuse_the_same_expression_before_the_parser_sees_it() -> None:
    """With the default limits the same text is refused for its length, where it crosses."""
    text = "x == " + "1 + " * 16500 + ")"
    with pytest.raises(CelError, match="characters long") as info:
        check_bounds(text)
    assert (info.value.line, info.value.column) == (1, 4097)


def test_an_evaluation_over_its_budget_is_refused_before_it_starts() -> None:
    """The expression's ranges are unknown at load; at run time the longest bound list
    stands for them: two certifications evaluate, 2,000 are refused (OverBudget)."""
    expr = compile_expression(PAIRS, variables=["partner"])
    assert not expr.bounded
    small = {"certification_names": ["a", "b"]}
    assert expr.run(cel.Context({"partner": small}), [small]) is False
    big = {"certification_names": [f"c{i}" for i in range(2000)]}
    with pytest.raises(OverBudget, match="over its evaluation budget"):
        expr.run(cel.Context({"partner": big}), [big])


def test_literal_ranges_are_costed_from_the_text() -> None:
    """A comprehension over a list literal has a known range: no run-time check needed."""
    expr = compile_expression("[1, 2, 3].all(x, x > 0)", variables=[])
    assert expr.bounded and expr.shape.ranges == (3,)


@pytest.mark.parametrize(("yaml_text", "value", "expect"), [
    ("    when: \"a && b +\"\n", "a && b +", (1, 20)),
    ("    when: a && b +\n", "a && b +", (1, 19)),
    ("    when: >\n      a &&\n      b +\n", "a && b +\n", (3, 10)),
    ("    when: |\n      a &&\n        b +\n", "a &&\n  b +\n", (3, 12)),
])
def test_a_position_in_the_expression_is_found_in_the_file(
    yaml_text: str, value: str, expect: tuple[int, int]
) -> None:
    """Plain, quoted, folded and literal scalars: the column just after `+`."""
    offset = value.index("+") + 1
    line = value.count("\n", 0, offset) + 1
    col = offset - (value.rfind("\n", 0, offset) + 1) + 1
    assert position_in_scalar(yaml_text, 1, 11, value, line, col) == expect
