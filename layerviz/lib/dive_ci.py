"""dive v0.13.1's CI mode, reproduced: its three rules, the ``.dive-ci`` file that sets them,
and the report it prints, so ``manage.py analyze --ci`` can stand in for ``dive --ci`` in a
pipeline.

The figures the rules judge come from ``lib/dive.py``; the thresholds are read as dive's viper
reads its YAML file (yaml.v3's typing, then spf13/cast's text), and numbers are parsed and
printed with Go's rules (``lib/goformat.py``), so a file or a flag dive accepts or refuses is
accepted or refused here with the same words.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable

import yaml

from .dive import Analysis
from .goformat import (
    go_fixed,
    go_float,
    go_format_float,
    go_parse_float,
    go_parse_int,
    go_quote,
    human,
    parse_bytes,
)

RULES = ("lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent")
DEFAULT_RULES = {
    "lowestEfficiency": "0.9",
    "highestWastedBytes": "disabled",
    "highestUserWastedPercent": "0.1",
}


class CiConfigError(Exception):
    """A CI file dive refuses; the message is what dive prints after "ci configuration error: "."""


_YAML_WORDS = {
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), ("!!null", None)),
    **dict.fromkeys(("true", "True", "TRUE"), ("!!bool", "true")),
    **dict.fromkeys(("false", "False", "FALSE"), ("!!bool", "false")),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), ("!!float", "NaN")),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), ("!!float", "+Inf")),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), ("!!float", "-Inf")),
}
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def _yaml_plain(text: str) -> tuple[str, str | None]:
    """A plain YAML scalar typed as yaml.v3 types it (``resolve``): its tag, and the text
    viper's ``GetString`` (spf13/cast) turns the typed value back into (None for null)."""
    if text in _YAML_WORDS:
        return _YAML_WORDS[text]
    if text.startswith("."):
        with contextlib.suppress(ValueError):
            return "!!float", go_format_float(go_parse_float(text))
    elif text[:1] in ("+", "-") or "0" <= text[:1] <= "9":
        plain = text.replace("_", "")
        for signed in (True, False):
            number = go_parse_int(plain, signed=signed)
            if number is not None:
                return "!!int", str(number)
        if _YAML_FLOAT.fullmatch(plain):
            with contextlib.suppress(ValueError):
                return "!!float", go_format_float(go_parse_float(plain))
    # Anything else is a string; timestamps too, as yaml.v3 gives them to a map as text.
    return "!!str", text


def _viper_string(node: yaml.Node) -> str | None:
    if not isinstance(node, yaml.ScalarNode):
        return ""  # cast.ToString cannot convert a list or a map
    return _yaml_plain(node.value)[1] if node.style is None else node.value


def _duplicate_keys(node: yaml.Node, seen: set[int]) -> list[str]:
    """yaml.v3's check, mapping by mapping: a key written twice is an error."""
    if id(node) in seen or isinstance(node, yaml.ScalarNode):
        return []
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        return [error for child in node.value for error in _duplicate_keys(child, seen)]
    keys = [key for key, _ in node.value]
    errors = [
        f"line {later.start_mark.line + 1}: mapping key {go_quote(str(later.value))} "
        f"already defined at line {key.start_mark.line + 1}"
        for i, key in enumerate(keys)
        for later in keys[i + 1 :]
        if type(later) is type(key) and later.value == key.value
    ]
    if errors:
        return errors  # yaml.v3 stops at this mapping
    return [error for _, value in node.value for error in _duplicate_keys(value, seen)]


def _not_a_mapping(node: yaml.Node) -> str:
    """yaml.v3's error for a document that is not a mapping."""
    if isinstance(node, yaml.SequenceNode):
        what = "!!seq"
    else:
        assert isinstance(node, yaml.ScalarNode)  # no mapping comes here, nor any other node
        tag = _yaml_plain(node.value)[0] if node.style is None else "!!str"
        value = node.value if len(node.value) <= 10 else node.value[:7] + "..."
        what = f"{tag} `{value}`"
    line = node.start_mark.line + 1
    return f"line {line}: cannot unmarshal {what} into map[string]interface {{}}"


def _lowered(mapping: yaml.MappingNode) -> dict[str, yaml.Node]:
    # viper lowers every key; later spellings replace earlier ones.
    return {
        str(key.value).lower(): value
        for key, value in mapping.value
        if isinstance(key, yaml.ScalarNode)
    }


def read_ci_config(text: str) -> dict[str, str]:
    """The rules a ``.dive-ci`` file sets, read as dive's viper reads them.

    1. Only the first YAML document counts; it must be a mapping (or empty), with no key
       written twice in one mapping (yaml.v3's rules).
    2. Keys are compared without regard to case (when two spellings of one key are given dive
       picks one at random; here the last wins); a top-level ``rules.<name>`` key wins over
       ``<name>`` under ``rules``.
    3. A plain scalar is typed as YAML, then turned back into text: ``1.50`` reads as ``1.5``,
       ``1e6`` as ``1000000``, ``20_000_000`` as ``20000000``, ``.inf`` as ``+Inf``; a quoted
       one is taken as written; a list or a mapping reads as "".
    4. A null or missing rule is left out, so its default applies; but when ``rules`` is not a
       mapping it hides every rule, and each then reads as "" (misconfigured).
    """
    try:
        root = next(yaml.compose_all(text, Loader=yaml.SafeLoader), None)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark else ""
        raise CiConfigError(f"While parsing config: yaml: {where}{exc.problem}") from None
    except yaml.YAMLError as exc:
        raise CiConfigError(f"While parsing config: yaml: {exc}") from None
    if root is None or (isinstance(root, yaml.ScalarNode) and _viper_string(root) is None):
        return {}
    errors = [_not_a_mapping(root)] if not isinstance(root, yaml.MappingNode) else []
    errors = errors or _duplicate_keys(root, set())
    if errors:
        raise CiConfigError(
            "While parsing config: yaml: unmarshal errors:\n  " + "\n  ".join(errors)
        )

    assert isinstance(root, yaml.MappingNode)  # anything else was refused above
    top = _lowered(root)
    section = top.get("rules")
    found: dict[str, str] = {}
    for rule in RULES:
        flat = top.get(f"rules.{rule.lower()}")
        value = None if flat is None else _viper_string(flat)
        if value is None and section is not None:
            if isinstance(section, yaml.MappingNode):
                nested = _lowered(section).get(rule.lower())
                value = None if nested is None else _viper_string(nested)
            elif _viper_string(section) is not None:
                value = ""  # viper: a value where a mapping was expected shadows the key
        if value is not None:
            found[rule] = value
    return found


@dataclasses.dataclass
class RuleResult:
    key: str
    status: str  # PASS, FAIL, SKIP, MISCONFIGURED
    message: str


def evaluate(analysis: Analysis, rules: dict[str, str]) -> tuple[bool, list[RuleResult], bool]:
    """dive 0.13.1's ``CiEvaluator``: (passed, results sorted by rule name, misconfigured)."""
    results: dict[str, RuleResult] = {}
    misconfigured = False
    for key in RULES:
        value = rules[key]
        if value == "disabled":
            continue
        problem = _validate(key, value)
        if problem:
            results[key] = RuleResult(key, "MISCONFIGURED", problem)
            misconfigured = True
    if misconfigured:
        for key in RULES:
            message = "rule disabled" if rules[key] == "disabled" else "test"
            # dive prints this status padded, as "CONFIGURED   ".
            results.setdefault(key, RuleResult(key, "CONFIGURED   ", message))
        return False, [results[k] for k in sorted(results)], True
    passed = True
    for key in RULES:
        value = rules[key]
        if value == "disabled":
            results[key] = RuleResult(key, "SKIP", "rule disabled")
            continue
        failed, message = _check(key, value, analysis)
        passed &= not failed
        results[key] = RuleResult(key, "FAIL" if failed else "PASS", message)
    return passed, [results[k] for k in sorted(results)], False


def _validate(key: str, value: str) -> str:
    try:
        if key == "highestWastedBytes":
            parse_bytes(value)
            return ""
        number = go_parse_float(value)
    except ValueError as exc:
        return f"invalid config value ('{value}'): {exc}"
    if not 0 <= number <= 1:
        return f"{key} config value is outside allowed range (0-1), given '{value}'"
    return ""


def _check(key: str, value: str, analysis: Analysis) -> tuple[bool, str]:
    if key == "lowestEfficiency":
        threshold = go_parse_float(value)
        if threshold > analysis.score:
            return True, (
                f"image efficiency is too low (efficiency={go_float(analysis.score)} < threshold={go_float(threshold)})"
            )
        return False, ""
    if key == "highestWastedBytes":
        threshold = parse_bytes(value)
        if analysis.wasted > threshold:
            return (
                True,
                f"too many bytes wasted (wasted-bytes={analysis.wasted} > threshold={threshold})",
            )
        return False, ""
    threshold = go_parse_float(value)
    ratio = analysis.user_wasted_percent
    if threshold < ratio:  # False for NaN, as in Go
        return True, (
            "too many bytes wasted, relative to the user bytes added "
            f"(%-user-wasted-bytes={go_float(ratio)} > threshold={go_float(threshold)})"
        )
    return False, ""


def ci_report(
    analysis: Analysis,
    results: list[RuleResult],
    passed: bool,
    misconfigured: bool,
    show: Callable[[str], str],
) -> str:
    """The text dive prints in CI mode, after its "Analyzing image..." line, each path in it
    passed through ``show`` (``terminal.for_stream``: as it is, for dive's bytes, or escaped
    for a terminal)."""
    lines = [
        f"  efficiency: {go_fixed(analysis.score * 100)} %",
        f"  wastedBytes: {analysis.wasted} bytes ({human(analysis.wasted)})",
        f"  userWastedPercent: {go_fixed(analysis.user_wasted_percent * 100)} %",
        "Inefficient Files:",
        f"{'Count':>5}  {'Wasted Space':>12}  File Path",
    ]
    # A misconfigured run stops before the list is gathered, so dive shows "None" then.
    listed = [] if misconfigured else analysis.inefficiencies
    if not listed:
        lines.append("None")
    for r in listed:
        lines.append(f"{r.count:>5}  {human(r.cumulative):>12}  {show(r.path)}")
    lines.append("Results:")
    for result in results:
        if result.message:
            lines.append(f"  {result.status}: {result.key}: {result.message}")
        else:
            lines.append(f"  {result.status}: {result.key}")
    if misconfigured:
        lines.append("CI Misconfigured")
    else:
        tally = {s: sum(1 for r in results if r.status == s) for s in ("PASS", "FAIL", "SKIP")}
        status = "FAIL" if tally["FAIL"] else "PASS"
        lines.append(
            f"Result:{status} [Total:{len(results)}] [Passed:{tally['PASS']}] [Failed:{tally['FAIL']}] "
            f"[Warn:0] [Skipped:{tally['SKIP']}]"
        )
    return "\n".join(lines)
