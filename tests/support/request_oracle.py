"""Lambda's request rules computed apart from the package (botocore's model, AWS docs), and
Hypothesis strategies built from them: the oracle of the request-validation properties.
"""

from __future__ import annotations

import json
import math
import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import botocore.loaders
import botocore.session
import pytest
from hypothesis import strategies as st

from temporal_lambda import LambdaInvokeRequest
from temporal_lambda._errors import LambdaValidationError
from temporal_lambda._request import prepare_call

_INVOKE = botocore.session.get_session().get_service_model("lambda").operation_model("Invoke")
_MEMBERS = _INVOKE.input_shape.members
MODEL_NAME_RE = re.compile(_MEMBERS["FunctionName"].metadata["pattern"], re.ASCII)
MODEL_QUALIFIER_RE = re.compile(_MEMBERS["Qualifier"].metadata["pattern"], re.ASCII)
MAX_NAME = _MEMBERS["FunctionName"].metadata["max"]
MAX_QUALIFIER = _MEMBERS["Qualifier"].metadata["max"]
INVOCATION_TYPES = frozenset(_MEMBERS["InvocationType"].enum)
LOG_TYPES = frozenset(_MEMBERS["LogType"].enum)
MAX_BARE_NAME = 64  # "If you specify only the function name, it is limited to 64 characters"
MAX_CLIENT_CONTEXT = 3583  # "Up to 3,583 bytes of base64-encoded data"
LIMITS = {  # request body limits, and how the error message names the call
    "RequestResponse": (6 * 1024 * 1024, "RequestResponse invocations"),
    "DryRun": (6 * 1024 * 1024, "DryRun invocations"),
    "Event": (1024 * 1024, "Event invocations"),
    "InvokeAsync": (256 * 1024, "InvokeAsync calls"),
}


_PARTITIONS = botocore.loaders.create_loader().load_data("partitions")["partitions"]
PARTITION_REGIONS = sorted(
    (partition["id"], region)
    for partition in _PARTITIONS
    for region in partition["regions"]
    if not region.endswith("-global")
)


REGION_SHAPED = re.compile(r"(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d", re.ASCII)
KEY = "prop-key-0123456789"
KEY_FIELD = "idempotency_key"
VALIDATION = "Lambda.ValidationError"
NAME_PATTERN_MESSAGE = (
    "function name must be a function name, a name with a qualifier, a partial ARN "
    "(123456789012:function:name) or a full ARN "
    "(arn:aws:lambda:region:123456789012:function:name[:qualifier])"
)


QUALIFIER_PATTERN_MESSAGE = (
    "qualifier must be $LATEST, $LATEST.PUBLISHED, a version number or an alias of [a-zA-Z0-9-_$]"
)


INVOKE_PREFIX, INVOKE_SUFFIX = "/2015-03-31/functions/", "/invocations"
ASYNC_PREFIX, ASYNC_SUFFIX = "/2014-11-13/functions/", "/invoke-async"


def expected_path_segment(name: str) -> str:
    """Percent-encoding of a valid name: only ``:`` and ``$`` are not unreserved characters."""
    return name.replace(":", "%3A").replace("$", "%24")


_TWO_CHAR_ESCAPES = frozenset('"\\\b\f\n\r\t')


def json_string_size(text: str) -> int:
    """Bytes of ``text`` as a compact UTF-8 JSON string (quotes included), counted by hand."""
    size = 2
    for char in text:
        if char in _TWO_CHAR_ESCAPES:
            size += 2
        elif ord(char) < 0x20:
            size += 6
        else:
            size += len(char.encode("utf-8"))
    return size


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def rejected(request: LambdaInvokeRequest, field: str, key: str = KEY) -> str:
    """Assert ``prepare_call`` rejects ``request`` as bad ``field``; return the message."""
    with pytest.raises(LambdaValidationError) as caught:
        prepare_call(request, key)
    error = caught.value
    assert type(error) is LambdaValidationError
    assert error.field == field
    assert error.retryable is False
    assert error.error_type == VALIDATION
    assert error.details() == {"field": field}
    return str(error)


NAME_CHARS = string.ascii_letters + string.digits + "-_."
ALIAS_CHARS = string.ascii_letters + string.digits + "-_"
SPECIAL_QUALIFIERS = ("$LATEST", "$LATEST.PUBLISHED")
bare_names = st.text(NAME_CHARS, min_size=1, max_size=MAX_BARE_NAME).filter(
    lambda s: s.strip(".") != ""
)


aliases = st.text(ALIAS_CHARS, min_size=1, max_size=64)
versions = st.integers(1, 10**9).map(str)
name_qualifiers = st.sampled_from(SPECIAL_QUALIFIERS) | versions | aliases
optional_name_qualifiers = st.none() | name_qualifiers
accounts = st.text(string.digits, min_size=12, max_size=12)
spice = st.text(st.characters(codec="utf-8"), max_size=8)
forbidden_name_chars = st.sampled_from(
    [
        " ",
        "!",
        "/",
        "\n",
        "\t",
        "\x00",
        "\u00e9",
        "\u0663",
        "\uff41",
        "\u212a",
        "$",
        "%",
        "#",
        "?",
        "@",
        "*",
        "~",
    ]
) | st.characters(exclude_characters=NAME_CHARS + ":")


@dataclass(frozen=True)
class Name:
    text: str
    prefix: str
    bare: str
    qualifier: str | None


@st.composite
def function_names(
    draw: st.DrawFn,
    bare: st.SearchStrategy[str] = bare_names,
    qualifier: st.SearchStrategy[str | None] = optional_name_qualifiers,
) -> Name:
    """A name, partial ARN or full ARN (any partition and region), with or without qualifier."""
    form = draw(st.sampled_from(["name", "partial", "arn"]))
    if form == "name":
        prefix = ""
    elif form == "partial":
        prefix = f"{draw(accounts)}:function:"
    else:
        partition, region = draw(st.sampled_from(PARTITION_REGIONS))
        prefix = f"arn:{partition}:lambda:{region}:{draw(accounts)}:function:"
    bare_name = draw(bare)
    qual = draw(qualifier)
    text = prefix + bare_name + ("" if qual is None else f":{qual}")
    return Name(text, prefix, bare_name, qual)


unambiguous_bare = st.text(NAME_CHARS, min_size=0, max_size=MAX_BARE_NAME - 1).map(
    lambda s: "F" + s
)


bad_name_qualifiers = st.sampled_from(
    ["", "$", "$latest", "$LATEST.", "$LATEST.published", "$LATESTS", "LATEST$", "1.0", "v 1"]
) | st.builds(
    lambda a, c, b: a + c + b,
    st.text(ALIAS_CHARS, max_size=8),
    st.characters(exclude_characters=ALIAS_CHARS + ":"),
    st.text(ALIAS_CHARS, max_size=8),
)


_ARN_CORRUPTIONS: dict[str, st.SearchStrategy[str]] = {
    "arn": st.sampled_from(["ARN", "arm", "urn", "arn "]),
    "partition": st.sampled_from(["azure", "AWS", "Aws", "aws_cn", "gcp", "aws cn"]),
    "service": st.sampled_from(["s3", "Lambda", "lambdas", "iam", ""]),
    "region": st.sampled_from(
        ["US-EAST-1", "us-east", "us-east-10", "useast1", "us_east_1", "u-east-1", "us-east-1a"]
    ),
    "account": st.text(string.digits, min_size=1, max_size=11)
    | st.text(string.digits, min_size=13, max_size=16)
    | st.just("12345678901a"),
    "resource": st.sampled_from(["functions", "Function", "layer", "func", ""]),
}


CONTEXT_RAW_EDGE = MAX_CLIENT_CONTEXT // 4 * 3


def _context_shape(shape: str, filler: str) -> dict[str, Any]:
    if shape == "custom":
        return {"custom": {"note": filler}}
    if shape == "custom-with-own-key":
        return {"custom": {KEY_FIELD: "callers-own", "note": filler}}
    if shape == "env":
        return {"env": {"locale": "en-GB", "note": filler}}
    return {"client": {"installation_id": filler}, "custom": {"tier": "gold"}}


def _context_sent(context: dict[str, Any], injects: bool) -> dict[str, Any]:
    """The client context the function must receive: the key added unless already there."""
    custom = context.get("custom") or {}
    if not injects or KEY_FIELD in custom:
        return context
    return {**context, "custom": {**custom, KEY_FIELD: KEY}}


def _payload_shape(shape: str, filler: str) -> Any:
    if shape == "string":
        return filler
    if shape == "object-with-own-key":
        return {KEY_FIELD: "callers-own", "data": filler}
    return {"data": filler}


def _payload_sent(api: str, shape: str, payload: Any) -> Any:
    """The body the function must receive: Event/InvokeAsync objects gain the key."""
    if api in ("Event", "InvokeAsync") and shape == "object":
        return {**payload, KEY_FIELD: KEY}
    return payload


def _circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


bad_json_leaves: st.SearchStrategy[tuple[Any, str]] = st.one_of(
    st.sets(st.integers(), max_size=3).map(lambda v: (v, "TypeError")),
    st.frozensets(st.text(max_size=3), max_size=3).map(lambda v: (v, "TypeError")),
    st.binary(max_size=8).map(lambda v: (v, "TypeError")),
    st.binary(max_size=8).map(lambda v: (bytearray(v), "TypeError")),
    st.builds(object).map(lambda v: (v, "TypeError")),
    st.complex_numbers(allow_nan=False, allow_infinity=False).map(lambda v: (v, "TypeError")),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda v: (Decimal(v), "TypeError")),
    st.just(datetime(2026, 1, 1, tzinfo=UTC)).map(lambda v: (v, "TypeError")),
    st.dictionaries(st.tuples(st.integers()), st.integers(), min_size=1, max_size=2).map(
        lambda v: (v, "TypeError")
    ),
    st.sampled_from([math.nan, math.inf, -math.inf]).map(lambda v: (v, "ValueError")),
    st.sampled_from([math.nan, math.inf]).map(lambda v: ({v: 1}, "ValueError")),
    st.integers(10**4300, 10**4400).map(lambda v: (v, "ValueError")),  # int -> str digit cap
    st.builds(_circular).map(lambda v: (v, "ValueError")),
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3).map(
        lambda v: (f"lone surrogate {v}", "UnicodeEncodeError")
    ),
)


good_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8"), max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=5,
)


@st.composite
def payloads_with_one_bad_value(draw: st.DrawFn) -> tuple[Any, str]:
    """A JSON document with exactly one value somewhere inside that JSON cannot carry."""
    value, error = draw(bad_json_leaves)
    for wrapper in draw(st.lists(st.sampled_from(["list", "dict", "tuple"]), max_size=4)):
        sibling = draw(good_json)
        if wrapper == "list":
            value = [sibling, value] if draw(st.booleans()) else [value, sibling]
        elif wrapper == "tuple":
            value = (value, sibling)
        else:
            value = {"ok": sibling, "bad": value}
    return value, error


def _nested(depth: int) -> Any:
    value: Any = None
    for _ in range(depth):
        value = [value]
    return value
