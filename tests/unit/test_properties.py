"""Property tests: bad input gets a clear, non-retryable error before anything is sent.

Three levels, each stricter about "nothing was sent":

1. ``prepare_call`` alone (pure, many generated examples): function names generated from the
   botocore model's pattern and just outside it, qualifiers, client contexts around the 3,583
   byte edge, payloads around 6 MB / 1 MB / 256 KB, values that are not JSON, unknown enums.
2. The invoke activity (``ActivityEnvironment``) with a real client talking over a real socket
   to ``LocalLambda``: the ``ApplicationError`` is typed and non-retryable, and the emulator saw
   no HTTP request at all (its invocation log, and a count of every request it served).
3. A workflow on a real (time-skipping) Temporal server that catches the error by type.

Expected values are computed independently of the package: limits and patterns from the
botocore service model and the AWS documentation, JSON sizes by hand, regions from botocore's
partition data.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import math
import re
import string
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import botocore.loaders
import botocore.session
import pytest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from temporal_lambda import LambdaInvokeRequest, LambdaPlugin
from temporal_lambda._activity import LambdaActivities
from temporal_lambda._client import LambdaClient
from temporal_lambda._errors import LambdaValidationError
from temporal_lambda._request import prepare_call
from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.property_workflows import BadCall, CatchValidationErrorWorkflow, Caught

# -- the specification, from the botocore model and the AWS documentation -------------------------

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


# -- strategies -----------------------------------------------------------------------------------

NAME_CHARS = string.ascii_letters + string.digits + "-_."
ALIAS_CHARS = string.ascii_letters + string.digits + "-_"
SPECIAL_QUALIFIERS = ("$LATEST", "$LATEST.PUBLISHED")

# Names of dots only match the model's pattern but are refused on purpose (path segments an
# HTTP client would resolve; see test_dot_segment_names_are_rejected).
bare_names = st.text(NAME_CHARS, min_size=1, max_size=MAX_BARE_NAME).filter(
    lambda s: s.strip(".") != ""
)
aliases = st.text(ALIAS_CHARS, min_size=1, max_size=64)
versions = st.integers(1, 10**9).map(str)
name_qualifiers = st.sampled_from(SPECIAL_QUALIFIERS) | versions | aliases
optional_name_qualifiers = st.none() | name_qualifiers
accounts = st.text(string.digits, min_size=12, max_size=12)
# Any character but UTF-8-unencodable surrogates: quotes, backslashes, controls, astral planes.
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


# Bare names that no other part of the pattern can claim (not region-shaped, not an account,
# not "function"), so the name and qualifier the pattern finds are the ones we built.
unambiguous_bare = st.text(NAME_CHARS, min_size=0, max_size=MAX_BARE_NAME - 1).map(
    lambda s: "F" + s
)


# -- 1. prepare_call: function names --------------------------------------------------------------


@given(name=function_names())
def test_names_from_the_model_pattern_are_accepted_and_round_trip(name: Name) -> None:
    assert MODEL_NAME_RE.fullmatch(name.text), "generator sanity: the model accepts it"
    call = prepare_call(LambdaInvokeRequest(name.text), KEY)
    segment = expected_path_segment(name.text)
    assert call.path == f"{INVOKE_PREFIX}{segment}{INVOKE_SUFFIX}"
    assert urllib.parse.unquote(call.path[len(INVOKE_PREFIX) : -len(INVOKE_SUFFIX)]) == name.text
    assert call.query == ""
    assert call.function_name == name.text
    assert call.api == "Invoke"
    assert call.headers["X-Amz-Invocation-Type"] == "RequestResponse"

    legacy = prepare_call(LambdaInvokeRequest(name.text, {"a": 1}, invoke_async=True), KEY)
    assert legacy.path == f"{ASYNC_PREFIX}{segment}{ASYNC_SUFFIX}"
    assert legacy.api == "InvokeAsync"


@given(name=function_names(bare=unambiguous_bare, qualifier=name_qualifiers), other=aliases)
def test_qualifier_in_the_name_must_agree_with_the_qualifier_parameter(
    name: Name, other: str
) -> None:
    assert name.qualifier is not None
    call = prepare_call(LambdaInvokeRequest(name.text, qualifier=name.qualifier), KEY)
    assert call.query == f"Qualifier={expected_path_segment(name.qualifier)}"
    assume(other != name.qualifier)
    message = rejected(LambdaInvokeRequest(name.text, qualifier=other), "qualifier")
    assert message == (
        f"qualifier {other!r} conflicts with the qualifier {name.qualifier!r} in the function name"
    )


@given(
    name=function_names(
        bare=st.text(NAME_CHARS, min_size=MAX_BARE_NAME + 1, max_size=120).filter(
            lambda s: not REGION_SHAPED.fullmatch(s)
        )
    )
)
def test_bare_name_of_65_characters_or_more_is_rejected_in_every_form(name: Name) -> None:
    assert len(name.text) <= MAX_NAME
    message = rejected(LambdaInvokeRequest(name.text), "function_name")
    assert message == (
        f"function name part is {len(name.bare)} characters; "
        f"a function name is at most {MAX_BARE_NAME} characters"
    )


@given(
    text=st.text(NAME_CHARS, min_size=MAX_NAME + 1, max_size=400)
    | st.builds(
        lambda name, length: name.text + ":" + "a" * max(1, length - len(name.text) - 1),
        function_names(qualifier=st.none()),
        st.integers(MAX_NAME + 1, 400),
    )
)
def test_names_longer_than_256_are_rejected(text: str) -> None:
    assert len(text) > MAX_NAME
    message = rejected(LambdaInvokeRequest(text), "function_name")
    assert message == f"function name is {len(text)} characters; it must be 1 to 256 characters"


def test_empty_and_non_string_names_are_rejected() -> None:
    assert rejected(LambdaInvokeRequest(""), "function_name") == (
        "function name is 0 characters; it must be 1 to 256 characters"
    )
    for value, type_name in [(None, "NoneType"), (123, "int"), (b"echo", "bytes")]:
        message = rejected(LambdaInvokeRequest(value), "function_name")  # type: ignore[arg-type]
        assert message == f"function name must be a string, got {type_name}"


@given(name=function_names(), char=forbidden_name_chars, data=st.data())
def test_a_forbidden_character_in_the_name_is_rejected(
    name: Name, char: str, data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(name.bare)), label="position")
    bare = name.bare[:at] + char + name.bare[at:]
    text = name.prefix + bare + ("" if name.qualifier is None else f":{name.qualifier}")
    assume(not MODEL_NAME_RE.fullmatch(text))
    assert rejected(LambdaInvokeRequest(text), "function_name") == NAME_PATTERN_MESSAGE


bad_name_qualifiers = st.sampled_from(
    ["", "$", "$latest", "$LATEST.", "$LATEST.published", "$LATESTS", "LATEST$", "1.0", "v 1"]
) | st.builds(
    lambda a, c, b: a + c + b,
    st.text(ALIAS_CHARS, max_size=8),
    st.characters(exclude_characters=ALIAS_CHARS + ":"),
    st.text(ALIAS_CHARS, max_size=8),
)


@given(name=function_names(bare=unambiguous_bare, qualifier=bad_name_qualifiers))
def test_a_bad_qualifier_suffix_is_rejected(name: Name) -> None:
    assume(not MODEL_NAME_RE.fullmatch(name.text))
    assert rejected(LambdaInvokeRequest(name.text), "function_name") == NAME_PATTERN_MESSAGE


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


@given(name=function_names(qualifier=st.none() | name_qualifiers), data=st.data())
def test_a_malformed_arn_is_rejected(name: Name, data: st.DataObject) -> None:
    partition, region = data.draw(st.sampled_from(PARTITION_REGIONS), label="region")
    parts = {
        "arn": "arn",
        "partition": partition,
        "service": "lambda",
        "region": region,
        "account": "123456789012",
        "resource": "function",
    }
    which = data.draw(st.sampled_from([*_ARN_CORRUPTIONS, "extra-segments"]), label="corrupt")
    suffix = "" if name.qualifier is None else f":{name.qualifier}"
    if which == "extra-segments":
        suffix += f":{data.draw(aliases)}:{data.draw(aliases)}"
    else:
        parts[which] = data.draw(_ARN_CORRUPTIONS[which], label=which)
    text = ":".join(parts.values()) + ":" + name.bare + suffix
    assume(len(text) <= MAX_NAME and not MODEL_NAME_RE.fullmatch(text))
    assert rejected(LambdaInvokeRequest(text), "function_name") == NAME_PATTERN_MESSAGE


# -- 1. prepare_call: qualifiers ------------------------------------------------------------------


@given(
    qualifier=st.sampled_from(SPECIAL_QUALIFIERS)
    | st.text(ALIAS_CHARS + "$", min_size=1, max_size=MAX_QUALIFIER),
    name=unambiguous_bare,
)
def test_valid_qualifiers_are_accepted(qualifier: str, name: str) -> None:
    assert MODEL_QUALIFIER_RE.fullmatch(qualifier)
    call = prepare_call(LambdaInvokeRequest(name, qualifier=qualifier), KEY)
    assert call.query == f"Qualifier={expected_path_segment(qualifier)}"
    assert urllib.parse.parse_qs(call.query) == {"Qualifier": [qualifier]}
    assert call.path == f"{INVOKE_PREFIX}{name}{INVOKE_SUFFIX}"


@given(qualifier=st.just("") | st.text(ALIAS_CHARS + "$", min_size=129, max_size=300))
def test_qualifiers_of_bad_length_are_rejected(qualifier: str) -> None:
    message = rejected(LambdaInvokeRequest("echo", qualifier=qualifier), "qualifier")
    assert message == f"qualifier is {len(qualifier)} characters; it must be 1 to 128 characters"


@given(
    head=st.text(ALIAS_CHARS + "$", max_size=60),
    char=st.characters(exclude_characters=ALIAS_CHARS + "$"),
    tail=st.text(ALIAS_CHARS + "$", max_size=60),
)
def test_qualifiers_with_a_forbidden_character_are_rejected(
    head: str, char: str, tail: str
) -> None:
    qualifier = head + char + tail
    assume(not MODEL_QUALIFIER_RE.fullmatch(qualifier))
    message = rejected(LambdaInvokeRequest("echo", qualifier=qualifier), "qualifier")
    assert message == QUALIFIER_PATTERN_MESSAGE


def test_invoke_async_takes_no_qualifier_parameter() -> None:
    request = LambdaInvokeRequest("echo", {"a": 1}, qualifier="live", invoke_async=True)
    assert rejected(request, "qualifier") == (
        "InvokeAsync does not accept a qualifier (put it in the function name instead)"
    )


# -- 1. prepare_call: client context around 3,583 bytes -------------------------------------------

# base64 grows in steps of 4: 2,685 raw bytes are 3,580 encoded (fits), 2,686 are 3,584.
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


@given(
    raw_size=st.integers(CONTEXT_RAW_EDGE - 5, CONTEXT_RAW_EDGE + 6),
    extra=spice,
    shape=st.sampled_from(["custom", "custom-with-own-key", "env", "client"]),
    mode=st.sampled_from(["RequestResponse", "DryRun", "RequestResponse-no-key-field"]),
)
def test_client_context_is_accepted_iff_base64_fits_in_3583_bytes(
    raw_size: int, extra: str, shape: str, mode: str
) -> None:
    key_field = None if mode.endswith("no-key-field") else KEY_FIELD
    invocation_type = mode.removesuffix("-no-key-field")
    injects = invocation_type == "RequestResponse" and key_field is not None
    base = len(compact(_context_sent(_context_shape(shape, ""), injects)))
    filler = extra + "x" * (raw_size - base - (json_string_size(extra) - 2))
    context = _context_shape(shape, filler)
    sent = _context_sent(context, injects)
    raw = compact(sent)
    assert len(raw) == raw_size, "construction sanity"
    encoded_size = len(base64.b64encode(raw))
    assert encoded_size == 4 * math.ceil(raw_size / 3)
    assert abs(encoded_size - MAX_CLIENT_CONTEXT) <= 8

    request = LambdaInvokeRequest(
        "echo",
        {"a": 1},
        invocation_type=invocation_type,
        client_context=context,
        idempotency_key_field=key_field,
    )
    if encoded_size <= MAX_CLIENT_CONTEXT:
        call = prepare_call(request, KEY)
        header = call.headers["X-Amz-Client-Context"]
        assert len(header) == encoded_size
        assert json.loads(base64.b64decode(header)) == sent
    else:
        assert rejected(request, "client_context") == (
            f"client context is {encoded_size} bytes after base64 encoding; "
            f"at most {MAX_CLIENT_CONTEXT} are allowed"
        )


def test_client_context_exact_edge_with_the_injected_key() -> None:
    # {"custom":{"note":"…","idempotency_key":"prop-key-0123456789"}}: the key alone adds 39
    # bytes, so a context that fits without it no longer fits with it.
    overhead = len(compact({"custom": {"note": "", KEY_FIELD: KEY}}))
    fits = {"custom": {"note": "x" * (CONTEXT_RAW_EDGE - overhead)}}
    too_big = {"custom": {"note": "x" * (CONTEXT_RAW_EDGE - overhead + 1)}}
    header = prepare_call(LambdaInvokeRequest("echo", client_context=fits), KEY).headers
    assert len(header["X-Amz-Client-Context"]) == 3580
    assert rejected(LambdaInvokeRequest("echo", client_context=too_big), "client_context") == (
        "client context is 3584 bytes after base64 encoding; at most 3583 are allowed"
    )
    # The same context without the key fits with room to spare.
    no_key = LambdaInvokeRequest("echo", client_context=too_big, idempotency_key_field=None)
    assert len(prepare_call(no_key, KEY).headers["X-Amz-Client-Context"]) == 3528


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"custom": {"x": {1, 2}}}, "client context is not JSON-serialisable: TypeError"),
        ({"custom": {"x": float("nan")}}, "client context is not JSON-serialisable: ValueError"),
        ({(1, 2): "tuple key"}, "client context is not JSON-serialisable: TypeError"),
        (
            {"custom": {"x": "\udc80"}},
            "client context is not JSON-serialisable: UnicodeEncodeError",
        ),
        (["not", "an", "object"], "client context must be a JSON object, got list"),
        ("e30=", "client context must be a JSON object, got str"),
        (
            {"custom": ["a"]},
            "client context 'custom' must be a JSON object to carry the idempotency key, got list",
        ),
    ],
)
def test_client_context_that_cannot_be_sent_is_rejected(context: Any, message: str) -> None:
    request = LambdaInvokeRequest("echo", client_context=context)
    assert rejected(request, "client_context") == message


def test_client_context_with_event_is_rejected() -> None:
    request = LambdaInvokeRequest("echo", invocation_type="Event", client_context={"custom": {}})
    assert rejected(request, "client_context") == (
        "client context is only passed to synchronous invocations, not Event"
    )


# -- 1. prepare_call: payloads around 6 MB / 1 MB / 256 KB ----------------------------------------


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


@settings(max_examples=10, deadline=None)
@given(
    delta=st.integers(-2, 2),
    extra=spice,
    shape=st.sampled_from(["string", "object", "object-with-own-key", "object-no-key-field"]),
)
@pytest.mark.parametrize("api", list(LIMITS))
def test_payload_is_accepted_iff_the_body_fits_the_limit(
    api: str, delta: int, extra: str, shape: str
) -> None:
    limit, label = LIMITS[api]
    size = limit + delta
    base = len(compact(_payload_sent(api, shape, _payload_shape(shape, ""))))
    filler = extra + "x" * (size - base - (json_string_size(extra) - 2))
    payload = _payload_shape(shape, filler)
    sent = _payload_sent(api, shape, payload)
    request = LambdaInvokeRequest(
        "echo",
        payload,
        invocation_type="RequestResponse" if api == "InvokeAsync" else api,
        invoke_async=api == "InvokeAsync",
        idempotency_key_field=None if shape == "object-no-key-field" else KEY_FIELD,
    )
    if size <= limit:
        call = prepare_call(request, KEY)
        assert len(call.body) == size
        assert json.loads(call.body) == sent
    else:
        assert (
            rejected(request, "payload")
            == f"payload is {size} bytes; {label} accept at most {limit}"
        )


def test_event_object_that_the_key_pushes_over_1_mb_is_rejected() -> None:
    limit, _ = LIMITS["Event"]
    payload = {"data": "x" * (limit - len(compact({"data": ""})))}
    assert len(compact(payload)) == limit
    added = len(compact({KEY_FIELD: KEY})) - 1  # ,"idempotency_key":"prop-key-0123456789"
    request = LambdaInvokeRequest("echo", payload, invocation_type="Event")
    assert rejected(request, "payload") == (
        f"payload is {limit + added} bytes; Event invocations accept at most {limit}"
    )
    as_is = LambdaInvokeRequest(
        "echo", payload, invocation_type="Event", idempotency_key_field=None
    )
    assert len(prepare_call(as_is, KEY).body) == limit


# -- 1. prepare_call: payloads that are not JSON --------------------------------------------------


def _circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


# (value, the exception json.dumps/UTF-8 encoding raises for it)
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


@given(
    bad=payloads_with_one_bad_value(),
    api=st.sampled_from(["RequestResponse", "Event", "DryRun", "InvokeAsync"]),
)
def test_payload_that_is_not_json_is_rejected(bad: tuple[Any, str], api: str) -> None:
    payload, error = bad
    request = LambdaInvokeRequest(
        "echo",
        payload,
        invocation_type="RequestResponse" if api == "InvokeAsync" else api,
        invoke_async=api == "InvokeAsync",
    )
    assert rejected(request, "payload") == f"payload is not JSON-serialisable: {error}"


def _nested(depth: int) -> Any:
    value: Any = None
    for _ in range(depth):
        value = [value]
    return value


def test_deeply_nested_payload_is_a_validation_error() -> None:
    assert rejected(LambdaInvokeRequest("echo", _nested(100_000)), "payload") == (
        "payload is not JSON-serialisable: RecursionError"
    )


def test_deeply_nested_client_context_is_a_validation_error() -> None:
    request = LambdaInvokeRequest("echo", {}, client_context={"custom": {"a": _nested(100_000)}})
    assert rejected(request, "client_context") == (
        "client context is not JSON-serialisable: RecursionError"
    )


@pytest.mark.parametrize("name", [".", "..", "...", "123456789012:function:.."])
def test_dot_segment_names_are_rejected(name: str) -> None:
    message = rejected(LambdaInvokeRequest(name, {}), "function_name")
    assert message == f"function name {name.rsplit(':', 1)[-1]!r} is not a function name"


def test_qualifier_in_name_has_the_qualifier_length_limit() -> None:
    call = prepare_call(LambdaInvokeRequest("echo:" + "a" * 128, {}), KEY)
    assert call.path == "/2015-03-31/functions/echo%3A" + "a" * 128 + "/invocations"
    assert rejected(LambdaInvokeRequest("echo:" + "a" * 129, {}), "function_name") == (
        "qualifier in the function name is 129 characters; a qualifier is at most 128 characters"
    )


# -- 1. prepare_call: unknown enum values ---------------------------------------------------------


@given(
    value=st.text().filter(lambda s: s not in INVOCATION_TYPES)
    | st.sampled_from(["Sideways", "event", "EVENT", "Event ", "REQUEST_RESPONSE", "dryrun"])
    | st.integers()
    | st.none()
    | st.booleans(),
    invoke_async=st.booleans(),
)
def test_unknown_invocation_type_is_rejected(value: Any, invoke_async: bool) -> None:
    request = LambdaInvokeRequest(
        "echo", {"a": 1}, invocation_type=value, invoke_async=invoke_async
    )
    assert rejected(request, "invocation_type") == (
        f"invocation type must be one of RequestResponse, Event, DryRun; got {value!r}"
    )


@given(
    value=st.text().filter(lambda s: s not in LOG_TYPES)
    | st.sampled_from(["tail", "TAIL", "Verbose", "none", "NONE", "Tail\n"])
    | st.integers()
    | st.booleans(),
    invocation_type=st.sampled_from(sorted(INVOCATION_TYPES)),
)
def test_unknown_log_type_is_rejected(value: Any, invocation_type: str) -> None:
    request = LambdaInvokeRequest("echo", {"a": 1}, invocation_type=invocation_type, log_type=value)
    assert rejected(request, "log_type") == f"log type must be one of None, Tail; got {value!r}"


def test_tail_log_with_event_is_rejected() -> None:
    request = LambdaInvokeRequest("echo", {"a": 1}, invocation_type="Event", log_type="Tail")
    assert rejected(request, "log_type") == (
        "log type Tail is only available for synchronous invocations, not Event"
    )


# -- 2. through the activity, over a real socket --------------------------------------------------


def echo(event: Any, context: LambdaContext) -> Any:
    return event


@dataclass
class Emulator:
    lam: LocalLambda

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Every HTTP request the emulator served, whatever its path (``lam.invocations`` only
        logs requests that reached an invoke route)."""
        return [(r.method, r.path) for r in self.lam.requests()]


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    lam = LocalLambda(credentials=("testing", "testing"))
    lam.register("echo", echo)
    lam.publish_version("echo")
    lam.create_alias("echo", "live", "1")
    async with lam:
        yield Emulator(lam)


def activity_env() -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, start_to_close_timeout=timedelta(minutes=1), heartbeat_timeout=None
    )
    return env


async def run_activity(emulator: Emulator, request: LambdaInvokeRequest) -> Any:
    client = LambdaClient(
        region="us-east-1",
        endpoint_url=emulator.lam.endpoint_url,
        credentials=Credentials("testing", "testing"),
    )
    try:
        return await activity_env().run(LambdaActivities(client).invoke, request)
    finally:
        await client.aclose()


def _string_of_size(size: int) -> str:
    return "x" * (size - 2)


# With the key injected: {"custom":{"note":"xx…","idempotency_key":"prop-key-0123456789"}}
# is 2,686 bytes, 3,584 in base64.
_CONTEXT_3584 = {"custom": {"note": "x" * (CONTEXT_RAW_EDGE + 1 - 62)}}

# (id, request, field, message)
ACTIVITY_CASES: list[tuple[str, LambdaInvokeRequest, str, str]] = [
    (
        "name-with-space-and-bang",
        LambdaInvokeRequest("bad name!"),
        "function_name",
        NAME_PATTERN_MESSAGE,
    ),
    ("name-unicode", LambdaInvokeRequest("fünction"), "function_name", NAME_PATTERN_MESSAGE),
    ("name-newline", LambdaInvokeRequest("echo\n"), "function_name", NAME_PATTERN_MESSAGE),
    (
        "name-65",
        LambdaInvokeRequest("f" * 65),
        "function_name",
        "function name part is 65 characters; a function name is at most 64 characters",
    ),
    (
        "name-257",
        LambdaInvokeRequest("f" * 257),
        "function_name",
        "function name is 257 characters; it must be 1 to 256 characters",
    ),
    (
        "name-empty",
        LambdaInvokeRequest(""),
        "function_name",
        "function name is 0 characters; it must be 1 to 256 characters",
    ),
    (
        "arn-11-digit-account",
        LambdaInvokeRequest("arn:aws:lambda:us-east-1:12345678901:function:echo"),
        "function_name",
        NAME_PATTERN_MESSAGE,
    ),
    (
        "name-bad-qualifier-suffix",
        LambdaInvokeRequest("echo:1.0"),
        "function_name",
        NAME_PATTERN_MESSAGE,
    ),
    (
        "qualifier-space",
        LambdaInvokeRequest("echo", qualifier="v 1"),
        "qualifier",
        QUALIFIER_PATTERN_MESSAGE,
    ),
    (
        "qualifier-129",
        LambdaInvokeRequest("echo", qualifier="q" * 129),
        "qualifier",
        "qualifier is 129 characters; it must be 1 to 128 characters",
    ),
    (
        "qualifier-conflict",
        LambdaInvokeRequest("echo:live", qualifier="1"),
        "qualifier",
        "qualifier '1' conflicts with the qualifier 'live' in the function name",
    ),
    (
        "client-context-3584",
        LambdaInvokeRequest("echo", client_context=_CONTEXT_3584, idempotency_key=KEY),
        "client_context",
        "client context is 3584 bytes after base64 encoding; at most 3583 are allowed",
    ),
    (
        "client-context-set",
        LambdaInvokeRequest("echo", client_context={"custom": {"s": {1}}}),
        "client_context",
        "client context is not JSON-serialisable: TypeError",
    ),
    (
        "payload-6MB+1",
        LambdaInvokeRequest("echo", _string_of_size(6_291_457)),
        "payload",
        "payload is 6291457 bytes; RequestResponse invocations accept at most 6291456",
    ),
    (
        "dry-run-6MB+1",
        LambdaInvokeRequest("echo", _string_of_size(6_291_457), invocation_type="DryRun"),
        "payload",
        "payload is 6291457 bytes; DryRun invocations accept at most 6291456",
    ),
    (
        "event-1MB+1",
        LambdaInvokeRequest("echo", _string_of_size(1_048_577), invocation_type="Event"),
        "payload",
        "payload is 1048577 bytes; Event invocations accept at most 1048576",
    ),
    (
        "event-1MB-object-plus-key",
        LambdaInvokeRequest(
            "echo",
            {"data": "x" * (1_048_576 - 11)},
            invocation_type="Event",
            idempotency_key=KEY,
        ),
        "payload",
        "payload is 1048616 bytes; Event invocations accept at most 1048576",
    ),
    (
        "invoke-async-256KB+1",
        LambdaInvokeRequest("echo", _string_of_size(262_145), invoke_async=True),
        "payload",
        "payload is 262145 bytes; InvokeAsync calls accept at most 262144",
    ),
    (
        "payload-set",
        LambdaInvokeRequest("echo", {"ids": {1, 2}}),
        "payload",
        "payload is not JSON-serialisable: TypeError",
    ),
    (
        "payload-bytes",
        LambdaInvokeRequest("echo", b"\x00\x01"),
        "payload",
        "payload is not JSON-serialisable: TypeError",
    ),
    (
        "payload-object",
        LambdaInvokeRequest("echo", object()),
        "payload",
        "payload is not JSON-serialisable: TypeError",
    ),
    (
        "payload-tuple-key",
        LambdaInvokeRequest("echo", {(1, 2): "a"}),
        "payload",
        "payload is not JSON-serialisable: TypeError",
    ),
    (
        "payload-nan",
        LambdaInvokeRequest("echo", {"x": math.nan}),
        "payload",
        "payload is not JSON-serialisable: ValueError",
    ),
    (
        "payload-inf",
        LambdaInvokeRequest("echo", [math.inf]),
        "payload",
        "payload is not JSON-serialisable: ValueError",
    ),
    (
        "payload-surrogate",
        LambdaInvokeRequest("echo", "\ud800", invocation_type="Event"),
        "payload",
        "payload is not JSON-serialisable: UnicodeEncodeError",
    ),
    (
        "invocation-type-sideways",
        LambdaInvokeRequest("echo", invocation_type="Sideways"),
        "invocation_type",
        "invocation type must be one of RequestResponse, Event, DryRun; got 'Sideways'",
    ),
    (
        "log-type-lowercase",
        LambdaInvokeRequest("echo", log_type="tail"),
        "log_type",
        "log type must be one of None, Tail; got 'tail'",
    ),
    (
        "tail-with-event",
        LambdaInvokeRequest("echo", {"a": 1}, invocation_type="Event", log_type="Tail"),
        "log_type",
        "log type Tail is only available for synchronous invocations, not Event",
    ),
    (
        "event-with-client-context",
        LambdaInvokeRequest("echo", invocation_type="Event", client_context={"custom": {}}),
        "client_context",
        "client context is only passed to synchronous invocations, not Event",
    ),
    (
        "invoke-async-client-context",
        LambdaInvokeRequest("echo", {"a": 1}, invoke_async=True, client_context={"custom": {}}),
        "client_context",
        "InvokeAsync does not accept a client context",
    ),
]


async def assert_rejected_by_activity(
    emulator: Emulator, request: LambdaInvokeRequest, field: str, message: str
) -> None:
    with pytest.raises(ApplicationError) as caught:
        await run_activity(emulator, request)
    error = caught.value
    assert error.type == VALIDATION
    assert error.non_retryable is True
    assert error.message == message
    assert error.details == ({"field": field},)
    assert error.next_retry_delay is None
    # Raised from None so Temporal does not encode the message twice; kept as the context.
    assert error.__cause__ is None
    assert isinstance(error.__context__, LambdaValidationError)
    assert emulator.lam.invocations == []
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("request_", "field", "message"),
    [pytest.param(r, f, m, id=i) for i, r, f, m in ACTIVITY_CASES],
)
async def test_activity_rejects_bad_input_before_sending(
    emulator: Emulator, request_: LambdaInvokeRequest, field: str, message: str
) -> None:
    await assert_rejected_by_activity(emulator, request_, field, message)


async def test_activity_control_a_good_request_is_sent_and_logged(emulator: Emulator) -> None:
    """The control for the tests above: what is sent does show up in both logs."""
    result = await run_activity(emulator, LambdaInvokeRequest("echo:live", {"n": 1}))
    assert result.status_code == 200
    assert result.payload == {"n": 1}
    assert result.executed_version == "1"
    assert [(r.function, r.qualifier) for r in emulator.lam.invocations] == [("echo", "live")]
    assert emulator.requests == [("POST", "/2015-03-31/functions/echo%3Alive/invocations")]


# Generated bad requests through the activity: names, qualifiers, payloads and enums.
bad_requests: st.SearchStrategy[tuple[LambdaInvokeRequest, str]] = st.one_of(
    st.builds(
        lambda name, char: (LambdaInvokeRequest(name + char), "function_name"),
        unambiguous_bare,
        forbidden_name_chars.filter(lambda c: c != "$"),
    ),
    st.builds(
        lambda q: (LambdaInvokeRequest("echo", qualifier=q), "qualifier"),
        st.text(ALIAS_CHARS, min_size=1, max_size=5).map(lambda s: s + "."),
    ),
    payloads_with_one_bad_value().map(lambda bad: (LambdaInvokeRequest("echo", bad[0]), "payload")),
    st.text(min_size=1)
    .filter(lambda s: s not in INVOCATION_TYPES)
    .map(lambda t: (LambdaInvokeRequest("echo", invocation_type=t), "invocation_type")),
    st.text(min_size=1)
    .filter(lambda s: s not in LOG_TYPES)
    .map(lambda t: (LambdaInvokeRequest("echo", log_type=t), "log_type")),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(bad=bad_requests)
async def test_activity_rejects_generated_bad_input_before_sending(
    emulator: Emulator, bad: tuple[LambdaInvokeRequest, str]
) -> None:
    request, field = bad
    with pytest.raises(ApplicationError) as caught:
        await run_activity(emulator, request)
    error = caught.value
    assert (error.type, error.non_retryable, error.details) == (
        VALIDATION,
        True,
        ({"field": field},),
    )
    assert emulator.lam.invocations == []
    assert emulator.requests == []


# -- 3. through a real Temporal server: the workflow catches the error by type --------------------

# (id, call, field, message)
WORKFLOW_CASES: list[tuple[str, BadCall, str, str]] = [
    ("bad-name", BadCall("bad name!", {"n": 1}), "function_name", NAME_PATTERN_MESSAGE),
    ("bad-qualifier-suffix", BadCall("echo:1.0", {"n": 1}), "function_name", NAME_PATTERN_MESSAGE),
    (
        "bad-qualifier",
        BadCall("echo", {"n": 1}, {"qualifier": "v 1"}),
        "qualifier",
        QUALIFIER_PATTERN_MESSAGE,
    ),
    (
        "oversized-client-context",
        BadCall("echo", {"n": 1}, {"client_context": _CONTEXT_3584, "idempotency_key": KEY}),
        "client_context",
        "client context is 3584 bytes after base64 encoding; at most 3583 are allowed",
    ),
    (
        "invocation-type-sideways",
        BadCall("echo", {"n": 1}, {"invocation_type": "Sideways"}),
        "invocation_type",
        "invocation type must be one of RequestResponse, Event, DryRun; got 'Sideways'",
    ),
    (
        "log-type-verbose",
        BadCall("echo", {"n": 1}, {"log_type": "Verbose"}),
        "log_type",
        "log type must be one of None, Tail; got 'Verbose'",
    ),
    (
        "tail-with-event",
        BadCall("echo", {"n": 1}, {"invocation_type": "Event", "log_type": "Tail"}),
        "log_type",
        "log type Tail is only available for synchronous invocations, not Event",
    ),
    # A NaN payload no longer reaches the activity: invoke_lambda refuses it in the workflow
    # (tests/e2e/test_size_edges.py::test_bad_request_refused_in_the_workflow[nan-...]).
    (
        "invoke-async-256KB+1",
        BadCall("echo", _string_of_size(262_145), {"invoke_async": True}),
        "payload",
        "payload is 262145 bytes; InvokeAsync calls accept at most 262144",
    ),
]


async def test_workflow_catches_validation_errors_by_type(
    time_skipping_env: WorkflowEnvironment, emulator: Emulator, task_queue: str
) -> None:
    env = time_skipping_env
    plugin = LambdaPlugin(
        client=LambdaClient(
            region="us-east-1",
            endpoint_url=emulator.lam.endpoint_url,
            credentials=Credentials("testing", "testing"),
        )
    )

    async def run_case(call: BadCall) -> tuple[Caught, list[Any]]:
        handle = await env.client.start_workflow(
            CatchValidationErrorWorkflow.run,
            call,
            id=f"prop-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(minutes=30),
        )
        caught: Caught = await handle.result()
        history = await handle.fetch_history()
        return caught, list(history.events)

    # Real time: with time skipping a loaded machine can let the server skip past an
    # activity timeout while a failure is being reported, and that would be a second attempt
    # for a reason unrelated to the one this test checks.
    with env.auto_time_skipping_disabled():
        async with Worker(
            env.client,
            task_queue=task_queue,
            workflows=[CatchValidationErrorWorkflow],
            plugins=[plugin],
        ):
            outcomes = await asyncio.gather(*(run_case(call) for _, call, _, _ in WORKFLOW_CASES))

    for (case_id, _, field, message), (caught, events) in zip(
        WORKFLOW_CASES, outcomes, strict=True
    ):
        assert caught == Caught(
            error_class="ActivityError",
            cause_class="ApplicationError",
            type=VALIDATION,
            message=message,
            non_retryable=True,
            details=[{"field": field}],
            retry_state="NON_RETRYABLE_FAILURE",
        ), case_id
        started = [
            e.activity_task_started_event_attributes.attempt
            for e in events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        ]
        failed = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED]
        assert (started, len(failed)) == ([1], 1), case_id
        assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, case_id
    assert emulator.lam.invocations == []
    assert emulator.requests == []
