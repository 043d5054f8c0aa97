"""Validating a request and building the prepared call (``_request``), also against botocore."""

from __future__ import annotations

import base64
import json
import math
import urllib.parse
from typing import Any

import botocore.loaders
import botocore.session
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from temporal_lambda._errors import LambdaValidationError
from temporal_lambda._request import PreparedCall, prepare_call, validate_idempotency_key
from temporal_lambda._spec import (
    MAX_CLIENT_CONTEXT,
    MAX_EVENT_PAYLOAD,
    MAX_INVOKE_ASYNC_PAYLOAD,
    MAX_SYNC_PAYLOAD,
)
from temporal_lambda._types import (
    InvocationType,
    LambdaInvokeRequest,
    LogType,
)
from tests.support.request_oracle import (
    _ARN_CORRUPTIONS,
    ALIAS_CHARS,
    ASYNC_PREFIX,
    ASYNC_SUFFIX,
    CONTEXT_RAW_EDGE,
    INVOCATION_TYPES,
    INVOKE_PREFIX,
    INVOKE_SUFFIX,
    KEY_FIELD,
    LIMITS,
    LOG_TYPES,
    MAX_BARE_NAME,
    MAX_NAME,
    MAX_QUALIFIER,
    MODEL_NAME_RE,
    MODEL_QUALIFIER_RE,
    NAME_CHARS,
    NAME_PATTERN_MESSAGE,
    PARTITION_REGIONS,
    QUALIFIER_PATTERN_MESSAGE,
    REGION_SHAPED,
    SPECIAL_QUALIFIERS,
    Name,
    _context_sent,
    _context_shape,
    _nested,
    _payload_sent,
    _payload_shape,
    aliases,
    bad_name_qualifiers,
    compact,
    expected_path_segment,
    forbidden_name_chars,
    function_names,
    json_string_size,
    name_qualifiers,
    payloads_with_one_bad_value,
    rejected,
    spice,
    unambiguous_bare,
)
from tests.support.request_oracle import (
    KEY as PROP_KEY,
)
from tests.support.request_oracle import (
    MAX_CLIENT_CONTEXT as DOC_MAX_CLIENT_CONTEXT,
)

KEY = "wf-1_act-2"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:my-fn"
ARN_PATH = "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn"


def b64json(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.b64encode(raw).decode()


def unb64json(value: str) -> Any:
    return json.loads(base64.b64decode(value))


def req(**kwargs: Any) -> LambdaInvokeRequest:
    kwargs.setdefault("function_name", "my-fn")
    return LambdaInvokeRequest(**kwargs)


def invalid(request: LambdaInvokeRequest, key: str = KEY) -> LambdaValidationError:
    with pytest.raises(LambdaValidationError) as info:
        prepare_call(request, key)
    err = info.value
    assert err.retryable is False
    assert err.error_type == "Lambda.ValidationError"
    return err


# --- request building -------------------------------------------------------------------


def test_request_response_default() -> None:
    call = prepare_call(req(payload={"order": 42}), KEY)
    assert call == PreparedCall(
        method="POST",
        path="/2015-03-31/functions/my-fn/invocations",
        query="",
        headers={
            "X-Amz-Invocation-Type": "RequestResponse",
            "X-Amz-Client-Context": b64json({"custom": {"idempotency_key": KEY}}),
        },
        body=b'{"order":42}',
        api="Invoke",
        function_name="my-fn",
    )


def test_event_call() -> None:
    call = prepare_call(req(payload={"a": 1}, invocation_type=InvocationType.EVENT), KEY)
    assert call.headers == {"X-Amz-Invocation-Type": "Event"}
    assert call.body == b'{"a":1,"idempotency_key":"wf-1_act-2"}'
    assert call.path == "/2015-03-31/functions/my-fn/invocations"
    assert call.api == "Invoke"


def test_dry_run_call_has_no_key() -> None:
    call = prepare_call(req(payload={"a": 1}, invocation_type="DryRun"), KEY)
    assert call.headers == {"X-Amz-Invocation-Type": "DryRun"}
    assert call.body == b'{"a":1}'


def test_invocation_type_from_string() -> None:
    call = prepare_call(req(invocation_type="Event", idempotency_key_field=None), KEY)
    assert call.headers == {"X-Amz-Invocation-Type": "Event"}
    assert call.body == b""


def test_payload_none_is_empty_body() -> None:
    call = prepare_call(req(idempotency_key_field=None), KEY)
    assert call.body == b""
    assert call.headers == {"X-Amz-Invocation-Type": "RequestResponse"}


def test_payload_unicode_not_escaped() -> None:
    call = prepare_call(req(payload={"name": "Zoë"}, idempotency_key_field=None), KEY)
    assert call.body == '{"name":"Zoë"}'.encode()


@pytest.mark.parametrize(
    ("qualifier", "query"),
    [
        ("live", "Qualifier=live"),
        ("7", "Qualifier=7"),
        ("$LATEST", "Qualifier=%24LATEST"),
        ("$LATEST.PUBLISHED", "Qualifier=%24LATEST.PUBLISHED"),
    ],
)
def test_qualifier_query(qualifier: str, query: str) -> None:
    assert prepare_call(req(qualifier=qualifier), KEY).query == query


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("my-fn", "my-fn"),
        ("my_fn.v2", "my_fn.v2"),
        ("my-fn:alias", "my-fn%3Aalias"),
        ("my-fn:$LATEST", "my-fn%3A%24LATEST"),
        ("123456789012:function:my-fn", "123456789012%3Afunction%3Amy-fn"),
        (ARN, ARN_PATH),
        (ARN + ":live", ARN_PATH + "%3Alive"),
        (ARN + ":12", ARN_PATH + "%3A12"),
        (
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:my-fn",
            "arn%3Aaws-cn%3Alambda%3Acn-north-1%3A123456789012%3Afunction%3Amy-fn",
        ),
        (
            "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:my-fn:prod",
            "arn%3Aaws-us-gov%3Alambda%3Aus-gov-west-1%3A123456789012%3Afunction%3Amy-fn%3Aprod",
        ),
    ],
)
def test_function_name_forms(name: str, quoted: str) -> None:
    call = prepare_call(req(function_name=name), KEY)
    assert call.path == f"/2015-03-31/functions/{quoted}/invocations"
    assert call.function_name == name


def test_qualifier_same_as_in_name_is_allowed() -> None:
    call = prepare_call(req(function_name="my-fn:live", qualifier="live"), KEY)
    assert call.query == "Qualifier=live"
    assert call.path == "/2015-03-31/functions/my-fn%3Alive/invocations"


@pytest.mark.parametrize("log_type", [LogType.TAIL, "Tail"])
def test_log_type_tail(log_type: Any) -> None:
    call = prepare_call(req(log_type=log_type, idempotency_key_field=None), KEY)
    assert call.headers == {"X-Amz-Invocation-Type": "RequestResponse", "X-Amz-Log-Type": "Tail"}


def test_log_type_none_with_event() -> None:
    call = prepare_call(req(invocation_type="Event", log_type=LogType.NONE), KEY)
    assert call.headers == {"X-Amz-Invocation-Type": "Event", "X-Amz-Log-Type": "None"}


def test_client_context_encoding_without_key() -> None:
    context = {"client": {"app": "x"}, "custom": {"a": "é"}, "env": {"k": 1}}
    call = prepare_call(req(client_context=context, idempotency_key_field=None), KEY)
    assert call.headers["X-Amz-Client-Context"] == b64json(context)
    assert base64.b64decode(call.headers["X-Amz-Client-Context"]) == (
        '{"client":{"app":"x"},"custom":{"a":"é"},"env":{"k":1}}'.encode()
    )


def test_tenant_and_durable_headers() -> None:
    call = prepare_call(
        req(
            tenant_id="tenant a/b=c+d@e:f.g-h",
            durable_execution_name="order-42_x",
            idempotency_key_field=None,
        ),
        KEY,
    )
    assert call.headers == {
        "X-Amz-Invocation-Type": "RequestResponse",
        "X-Amz-Tenant-Id": "tenant a/b=c+d@e:f.g-h",
        "X-Amz-Durable-Execution-Name": "order-42_x",
    }


def test_invoke_async_call() -> None:
    call = prepare_call(req(function_name=ARN + ":live", payload={"a": 1}, invoke_async=True), KEY)
    assert call == PreparedCall(
        method="POST",
        path=f"/2014-11-13/functions/{ARN_PATH}%3Alive/invoke-async",
        query="",
        headers={},
        body=b'{"a":1,"idempotency_key":"wf-1_act-2"}',
        api="InvokeAsync",
        function_name=ARN + ":live",
    )


def test_invoke_async_with_event_type_is_fine() -> None:
    call = prepare_call(req(payload=[1], invoke_async=True, invocation_type="Event"), KEY)
    assert call.body == b"[1]"
    assert call.headers == {}


# --- key delivery -----------------------------------------------------------------------


def test_sync_key_merged_into_client_context() -> None:
    context = {"custom": {"user": "u1"}, "env": {"e": "1"}}
    call = prepare_call(req(client_context=context, idempotency_key_field="idem"), KEY)
    assert unb64json(call.headers["X-Amz-Client-Context"]) == {
        "custom": {"user": "u1", "idem": KEY},
        "env": {"e": "1"},
    }
    assert context == {"custom": {"user": "u1"}, "env": {"e": "1"}}


def test_sync_key_creates_custom() -> None:
    call = prepare_call(req(client_context={"env": {"e": "1"}}), KEY)
    assert unb64json(call.headers["X-Amz-Client-Context"]) == {
        "env": {"e": "1"},
        "custom": {"idempotency_key": KEY},
    }


def test_sync_existing_custom_field_not_overwritten() -> None:
    call = prepare_call(req(client_context={"custom": {"idempotency_key": "mine"}}), KEY)
    assert unb64json(call.headers["X-Amz-Client-Context"]) == {
        "custom": {"idempotency_key": "mine"}
    }


def test_sync_custom_not_object_is_rejected() -> None:
    err = invalid(req(client_context={"custom": [1]}))
    assert "client context 'custom' must be a JSON object" in str(err)
    assert err.field == "client_context"


def test_event_dict_payload_gets_key_in_copy() -> None:
    payload = {"order": 42}
    call = prepare_call(
        req(payload=payload, invocation_type="Event", idempotency_key_field="k"), KEY
    )
    assert json.loads(call.body) == {"order": 42, "k": KEY}
    assert payload == {"order": 42}


@pytest.mark.parametrize(
    ("payload", "expected"), [([1, 2], b"[1,2]"), ("text", b'"text"'), (5, b"5"), (None, b"")]
)
def test_event_non_dict_payload_unchanged(payload: Any, expected: bytes) -> None:
    call = prepare_call(req(payload=payload, invocation_type="Event"), KEY)
    assert call.body == expected


def test_event_existing_field_not_overwritten() -> None:
    call = prepare_call(
        req(payload={"idempotency_key": "mine"}, invocation_type="Event"),
        KEY,
    )
    assert call.body == b'{"idempotency_key":"mine"}'


def test_field_none_delivers_nothing() -> None:
    sync = prepare_call(req(payload={"a": 1}, idempotency_key_field=None), KEY)
    assert "X-Amz-Client-Context" not in sync.headers
    event = prepare_call(
        req(payload={"a": 1}, invocation_type="Event", idempotency_key_field=None), KEY
    )
    assert event.body == b'{"a":1}'
    old = prepare_call(req(payload={"a": 1}, invoke_async=True, idempotency_key_field=None), KEY)
    assert old.body == b'{"a":1}'


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["a", "A-z_09", "k" * 64])
def test_idempotency_key_ok(key: str) -> None:
    validate_idempotency_key(key)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "idempotency key is 0 characters; it must be 1 to 64 characters"),
        ("k" * 65, "idempotency key is 65 characters; it must be 1 to 64 characters"),
        ("a b", "idempotency key may contain only the characters [A-Za-z0-9_-]"),
        ("a:b", "idempotency key may contain only the characters [A-Za-z0-9_-]"),
        ("é", "idempotency key may contain only the characters [A-Za-z0-9_-]"),
    ],
)
def test_idempotency_key_invalid(key: str, message: str) -> None:
    with pytest.raises(LambdaValidationError) as info:
        validate_idempotency_key(key)
    assert str(info.value) == message
    assert info.value.field == "idempotency_key"
    err = invalid(req(), key)
    assert str(err) == message


def test_idempotency_field_empty() -> None:
    err = invalid(req(idempotency_key_field=""))
    assert err.field == "idempotency_key_field"


def test_function_name_bare_64_ok_65_fails() -> None:
    prepare_call(req(function_name="f" * 64), KEY)
    prepare_call(req(function_name=f"{ARN[:-5]}{'f' * 64}:live"), KEY)
    err = invalid(req(function_name="f" * 65))
    assert "function name part is 65 characters; a function name is at most 64" in str(err)
    assert err.field == "function_name"
    err = invalid(req(function_name=f"123456789012:function:{'f' * 65}"))
    assert "function name part is 65 characters" in str(err)


def test_function_name_overall_256_ok_257_fails() -> None:
    # Only a long partition name (the pattern allows aws[a-zA-Z-]*) reaches 256 characters
    # with valid parts: bare name <= 64 and qualifier <= 128 keep everything else shorter.
    def arn(length: int) -> str:
        rest = ":lambda:us-east-1:123456789012:function:my-fn:live"
        return "arn:aws-" + "x" * (length - len("arn:aws-") - len(rest)) + rest

    assert len(arn(256)) == 256
    prepare_call(req(function_name=arn(256)), KEY)
    err = invalid(req(function_name=arn(257)))
    assert str(err) == "function name is 257 characters; it must be 1 to 256 characters"
    assert err.field == "function_name"


@pytest.mark.parametrize(
    "name",
    [
        "my fn",
        "my/fn",
        "arn:aws:s3:::bucket",
        "arn:aws:lambda:us-east-1:123:function:my-fn",
        "my-fn:al/ias",
        "my-fn:$LATEST.OTHER",
        "a:b:c",
        "my-fné",
    ],
)
def test_function_name_pattern(name: str) -> None:
    err = invalid(req(function_name=name))
    assert "function name must be a function name" in str(err)
    assert err.field == "function_name"


def test_qualifier_length_edges() -> None:
    assert prepare_call(req(qualifier="q" * 128), KEY).query == "Qualifier=" + "q" * 128
    err = invalid(req(qualifier="q" * 129))
    assert str(err) == "qualifier is 129 characters; it must be 1 to 128 characters"
    assert err.field == "qualifier"
    err = invalid(req(qualifier=""))
    assert str(err) == "qualifier is 0 characters; it must be 1 to 128 characters"


@pytest.mark.parametrize("qualifier", ["a b", "v.1", "al/ias"])
def test_qualifier_pattern(qualifier: str) -> None:
    err = invalid(req(qualifier=qualifier))
    assert "qualifier must be $LATEST" in str(err)
    assert err.field == "qualifier"


def test_qualifier_conflicts_with_name() -> None:
    err = invalid(req(function_name=ARN + ":live", qualifier="blue"))
    assert str(err) == "qualifier 'blue' conflicts with the qualifier 'live' in the function name"
    assert err.field == "qualifier"


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"log_type": "None"}, "log_type", "InvokeAsync does not accept a log type"),
        ({"client_context": {}}, "client_context", "InvokeAsync does not accept a client context"),
        ({"tenant_id": "t"}, "tenant_id", "InvokeAsync does not accept a tenant id"),
        (
            {"durable_execution_name": "d"},
            "durable_execution_name",
            "InvokeAsync does not accept a durable execution name",
        ),
        (
            {"qualifier": "live"},
            "qualifier",
            "InvokeAsync does not accept a qualifier (put it in the function name instead)",
        ),
        ({"invocation_type": "DryRun"}, "invocation_type", "cannot be a DryRun"),
        ({"payload": None}, "payload", "InvokeAsync requires a payload (InvokeArgs); got None"),
    ],
)
def test_invoke_async_rejects(kwargs: dict[str, Any], field: str, message: str) -> None:
    kwargs.setdefault("payload", {"a": 1})
    err = invalid(req(invoke_async=True, **kwargs))
    assert message in str(err)
    assert err.field == field


def _context_of_raw_length(raw_length: int) -> dict[str, Any]:
    overhead = len(b'{"custom":{"k":""}}')
    context = {"custom": {"k": "x" * (raw_length - overhead)}}
    assert len(json.dumps(context, separators=(",", ":"))) == raw_length
    return context


def test_client_context_size_edges() -> None:
    # base64 lengths are multiples of 4: 2685 raw bytes -> 3580 (the largest allowed),
    # 2686 -> 3584 (the smallest rejected).
    ok = _context_of_raw_length(2685)
    call = prepare_call(req(client_context=ok, idempotency_key_field=None), KEY)
    assert len(call.headers["X-Amz-Client-Context"]) == 3580 <= MAX_CLIENT_CONTEXT
    err = invalid(req(client_context=_context_of_raw_length(2686), idempotency_key_field=None))
    assert str(err) == (
        "client context is 3584 bytes after base64 encoding; at most 3583 are allowed"
    )
    assert err.field == "client_context"


def test_tenant_id_edges() -> None:
    prepare_call(req(tenant_id="t" * 256), KEY)
    err = invalid(req(tenant_id="t" * 257))
    assert str(err) == "tenant id is 257 characters; it must be 1 to 256 characters"
    assert err.field == "tenant_id"
    err = invalid(req(tenant_id=""))
    assert err.field == "tenant_id"
    err = invalid(req(tenant_id="a#b"))
    assert "tenant id may contain only" in str(err)
    assert err.field == "tenant_id"


def test_durable_name_edges() -> None:
    prepare_call(req(durable_execution_name="d" * 64), KEY)
    err = invalid(req(durable_execution_name="d" * 65))
    assert str(err) == "durable execution name is 65 characters; it must be 1 to 64 characters"
    assert err.field == "durable_execution_name"
    err = invalid(req(durable_execution_name="a.b"))
    assert "durable execution name may contain only" in str(err)
    assert err.field == "durable_execution_name"


@pytest.mark.parametrize("payload", [{"x": object()}, {"x": float("nan")}, {1j: 2}])
def test_payload_not_serialisable(payload: Any) -> None:
    err = invalid(req(payload=payload))
    assert str(err).startswith("payload is not JSON-serialisable: ")
    assert err.field == "payload"


def _string_payload(body_length: int) -> str:
    return "a" * (body_length - 2)


@pytest.mark.parametrize("invocation_type", ["RequestResponse", "DryRun"])
def test_sync_payload_size_edges(invocation_type: str) -> None:
    request = req(invocation_type=invocation_type, payload=_string_payload(MAX_SYNC_PAYLOAD))
    assert len(prepare_call(request, KEY).body) == 6_291_456
    err = invalid(
        req(invocation_type=invocation_type, payload=_string_payload(MAX_SYNC_PAYLOAD + 1))
    )
    assert str(err) == (
        f"payload is 6291457 bytes; {invocation_type} invocations accept at most 6291456"
    )
    assert err.field == "payload"


def test_event_payload_size_edges() -> None:
    request = req(invocation_type="Event", payload=_string_payload(MAX_EVENT_PAYLOAD))
    assert len(prepare_call(request, KEY).body) == 1_048_576
    err = invalid(req(invocation_type="Event", payload=_string_payload(MAX_EVENT_PAYLOAD + 1)))
    assert str(err) == "payload is 1048577 bytes; Event invocations accept at most 1048576"


def test_event_size_counts_injected_key() -> None:
    overhead = len(b'{"p":"","idempotency_key":""}') + len(KEY)
    payload = {"p": "a" * (MAX_EVENT_PAYLOAD - overhead)}
    assert len(prepare_call(req(invocation_type="Event", payload=payload), KEY).body) == (
        MAX_EVENT_PAYLOAD
    )
    payload = {"p": "a" * (MAX_EVENT_PAYLOAD - overhead + 1)}
    err = invalid(req(invocation_type="Event", payload=payload))
    assert str(err) == "payload is 1048577 bytes; Event invocations accept at most 1048576"


def test_invoke_async_payload_size_edges() -> None:
    request = req(invoke_async=True, payload=_string_payload(MAX_INVOKE_ASYNC_PAYLOAD))
    assert len(prepare_call(request, KEY).body) == 262_144
    err = invalid(req(invoke_async=True, payload=_string_payload(MAX_INVOKE_ASYNC_PAYLOAD + 1)))
    assert str(err) == "payload is 262145 bytes; InvokeAsync calls accept at most 262144"
    assert err.field == "payload"


def test_validation_message_has_no_payload_content() -> None:
    err = invalid(req(payload="secret-" + "a" * MAX_SYNC_PAYLOAD))
    assert "secret" not in str(err)


# --- botocore equivalence ---------------------------------------------------------------


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


@pytest.fixture(scope="module")
def boto_lambda() -> Any:
    client = botocore.session.get_session().create_client(
        "lambda", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )

    def capture(request: Any, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send.lambda", capture)
    return client


def _botocore_request(client: Any, method: str, params: dict[str, Any]) -> Any:
    with pytest.raises(_Captured) as info:
        getattr(client, method)(**params)
    return info.value.request


def _amz_headers(headers: Any) -> dict[str, str]:
    out = {}
    for name, value in headers.items():
        if name.lower().startswith("x-amz-") and name.lower() != "x-amz-date":
            out[name] = value.decode() if isinstance(value, bytes) else value
    return out


@pytest.mark.parametrize(
    "request_",
    [
        req(payload={"a": [1, "é"]}),
        req(function_name=ARN, qualifier="$LATEST", log_type="Tail", payload=[1]),
        req(
            function_name="arn:aws-cn:lambda:cn-north-1:123456789012:function:my-fn:v1",
            client_context={"env": {"x": "y"}},
            tenant_id="tenant a/b",
            durable_execution_name="dn-1",
        ),
        req(function_name="123456789012:function:my-fn", invocation_type="Event", payload={}),
        req(function_name="my-fn:$LATEST.PUBLISHED", invocation_type="DryRun"),
        req(function_name="my-fn", qualifier="$LATEST.PUBLISHED", payload="x"),
    ],
)
def test_invoke_matches_botocore(boto_lambda: Any, request_: LambdaInvokeRequest) -> None:
    call = prepare_call(request_, KEY)
    params: dict[str, Any] = {
        "FunctionName": request_.function_name,
        "InvocationType": call.headers["X-Amz-Invocation-Type"],
        "Payload": call.body,
    }
    optional = {
        "Qualifier": request_.qualifier,
        "LogType": call.headers.get("X-Amz-Log-Type"),
        "ClientContext": call.headers.get("X-Amz-Client-Context"),
        "TenantId": request_.tenant_id,
        "DurableExecutionName": request_.durable_execution_name,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    sent = _botocore_request(boto_lambda, "invoke", params)
    expected_url = "https://lambda.us-east-1.amazonaws.com" + call.path
    if call.query:
        expected_url += "?" + call.query
    assert sent.url == expected_url
    assert sent.method == call.method
    assert _amz_headers(sent.headers) == call.headers
    assert (sent.body or b"") == call.body
    assert "Content-Type" not in sent.headers


@pytest.mark.parametrize("name", ["my-fn", ARN + ":live", "123456789012:function:f"])
def test_invoke_async_matches_botocore(boto_lambda: Any, name: str) -> None:
    call = prepare_call(req(function_name=name, invoke_async=True, payload={"k": 1}), KEY)
    sent = _botocore_request(
        boto_lambda, "invoke_async", {"FunctionName": name, "InvokeArgs": call.body}
    )
    assert sent.url == "https://lambda.us-east-1.amazonaws.com" + call.path
    assert _amz_headers(sent.headers) == call.headers == {}
    assert sent.body == call.body


# --- properties: generated requests against the oracle (tests/support/request_oracle) -------


@given(name=function_names())
def test_names_from_the_model_pattern_are_accepted_and_round_trip(name: Name) -> None:
    assert MODEL_NAME_RE.fullmatch(name.text), "generator sanity: the model accepts it"
    call = prepare_call(LambdaInvokeRequest(name.text), PROP_KEY)
    segment = expected_path_segment(name.text)
    assert call.path == f"{INVOKE_PREFIX}{segment}{INVOKE_SUFFIX}"
    assert urllib.parse.unquote(call.path[len(INVOKE_PREFIX) : -len(INVOKE_SUFFIX)]) == name.text
    assert call.query == ""
    assert call.function_name == name.text
    assert call.api == "Invoke"
    assert call.headers["X-Amz-Invocation-Type"] == "RequestResponse"

    legacy = prepare_call(LambdaInvokeRequest(name.text, {"a": 1}, invoke_async=True), PROP_KEY)
    assert legacy.path == f"{ASYNC_PREFIX}{segment}{ASYNC_SUFFIX}"
    assert legacy.api == "InvokeAsync"


@given(name=function_names(bare=unambiguous_bare, qualifier=name_qualifiers), other=aliases)
def test_qualifier_in_the_name_must_agree_with_the_qualifier_parameter(
    name: Name, other: str
) -> None:
    assert name.qualifier is not None
    call = prepare_call(LambdaInvokeRequest(name.text, qualifier=name.qualifier), PROP_KEY)
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


@given(name=function_names(bare=unambiguous_bare, qualifier=bad_name_qualifiers))
def test_a_bad_qualifier_suffix_is_rejected(name: Name) -> None:
    assume(not MODEL_NAME_RE.fullmatch(name.text))
    assert rejected(LambdaInvokeRequest(name.text), "function_name") == NAME_PATTERN_MESSAGE


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


@given(
    qualifier=st.sampled_from(SPECIAL_QUALIFIERS)
    | st.text(ALIAS_CHARS + "$", min_size=1, max_size=MAX_QUALIFIER),
    name=unambiguous_bare,
)
def test_valid_qualifiers_are_accepted(qualifier: str, name: str) -> None:
    assert MODEL_QUALIFIER_RE.fullmatch(qualifier)
    call = prepare_call(LambdaInvokeRequest(name, qualifier=qualifier), PROP_KEY)
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
    assert abs(encoded_size - DOC_MAX_CLIENT_CONTEXT) <= 8

    request = LambdaInvokeRequest(
        "echo",
        {"a": 1},
        invocation_type=invocation_type,
        client_context=context,
        idempotency_key_field=key_field,
    )
    if encoded_size <= DOC_MAX_CLIENT_CONTEXT:
        call = prepare_call(request, PROP_KEY)
        header = call.headers["X-Amz-Client-Context"]
        assert len(header) == encoded_size
        assert json.loads(base64.b64decode(header)) == sent
    else:
        assert rejected(request, "client_context") == (
            f"client context is {encoded_size} bytes after base64 encoding; "
            f"at most {DOC_MAX_CLIENT_CONTEXT} are allowed"
        )


def test_client_context_exact_edge_with_the_injected_key() -> None:
    # {"custom":{"note":"…","idempotency_key":"prop-key-0123456789"}}: the key alone adds 39
    # bytes, so a context that fits without it no longer fits with it.
    overhead = len(compact({"custom": {"note": "", KEY_FIELD: PROP_KEY}}))
    fits = {"custom": {"note": "x" * (CONTEXT_RAW_EDGE - overhead)}}
    too_big = {"custom": {"note": "x" * (CONTEXT_RAW_EDGE - overhead + 1)}}
    header = prepare_call(LambdaInvokeRequest("echo", client_context=fits), PROP_KEY).headers
    assert len(header["X-Amz-Client-Context"]) == 3580
    assert rejected(LambdaInvokeRequest("echo", client_context=too_big), "client_context") == (
        "client context is 3584 bytes after base64 encoding; at most 3583 are allowed"
    )
    # The same context without the key fits with room to spare.
    no_key = LambdaInvokeRequest("echo", client_context=too_big, idempotency_key_field=None)
    assert len(prepare_call(no_key, PROP_KEY).headers["X-Amz-Client-Context"]) == 3528


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
        call = prepare_call(request, PROP_KEY)
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
    added = len(compact({KEY_FIELD: PROP_KEY})) - 1  # ,"idempotency_key":"prop-key-0123456789"
    request = LambdaInvokeRequest("echo", payload, invocation_type="Event")
    assert rejected(request, "payload") == (
        f"payload is {limit + added} bytes; Event invocations accept at most {limit}"
    )
    as_is = LambdaInvokeRequest(
        "echo", payload, invocation_type="Event", idempotency_key_field=None
    )
    assert len(prepare_call(as_is, PROP_KEY).body) == limit


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
    call = prepare_call(LambdaInvokeRequest("echo:" + "a" * 128, {}), PROP_KEY)
    assert call.path == "/2015-03-31/functions/echo%3A" + "a" * 128 + "/invocations"
    assert rejected(LambdaInvokeRequest("echo:" + "a" * 129, {}), "function_name") == (
        "qualifier in the function name is 129 characters; a qualifier is at most 128 characters"
    )


@given(
    value=st.text().filter(lambda s: s not in INVOCATION_TYPES)
    | st.sampled_from(["Sideways", "event", "EVENT", "Event ", "REQUEST_RESPONSE", "dryrun"])
    | st.integers()
    | st.none()
    | st.booleans(),
    invoke_async=st.booleans(),
)
@example(value="Sync", invoke_async=False)
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
@example(value="Head", invocation_type="RequestResponse")
def test_unknown_log_type_is_rejected(value: Any, invocation_type: str) -> None:
    request = LambdaInvokeRequest("echo", {"a": 1}, invocation_type=invocation_type, log_type=value)
    assert rejected(request, "log_type") == f"log type must be one of None, Tail; got {value!r}"


def test_tail_log_with_event_is_rejected() -> None:
    request = LambdaInvokeRequest("echo", {"a": 1}, invocation_type="Event", log_type="Tail")
    assert rejected(request, "log_type") == (
        "log type Tail is only available for synchronous invocations, not Event"
    )
