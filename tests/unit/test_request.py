"""Validating a request and building the prepared call (``_request``), also against botocore."""

from __future__ import annotations

import base64
import json
from typing import Any

import botocore.session
import pytest

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


def test_function_name_empty() -> None:
    err = invalid(req(function_name=""))
    assert str(err) == "function name is 0 characters; it must be 1 to 256 characters"


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


def test_unknown_invocation_type() -> None:
    err = invalid(req(invocation_type="Sync"))
    assert str(err) == "invocation type must be one of RequestResponse, Event, DryRun; got 'Sync'"
    assert err.field == "invocation_type"


def test_unknown_log_type() -> None:
    err = invalid(req(log_type="Head"))
    assert str(err) == "log type must be one of None, Tail; got 'Head'"
    assert err.field == "log_type"


def test_tail_with_event() -> None:
    err = invalid(req(invocation_type="Event", log_type="Tail"))
    assert "log type Tail is only available for synchronous invocations" in str(err)
    assert err.field == "log_type"


def test_client_context_with_event() -> None:
    err = invalid(req(invocation_type="Event", client_context={"custom": {}}))
    assert "client context is only passed to synchronous invocations" in str(err)
    assert err.field == "client_context"


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
        ({"qualifier": "live"}, "qualifier", "InvokeAsync does not accept a qualifier"),
        ({"invocation_type": "DryRun"}, "invocation_type", "cannot be a DryRun"),
        ({"payload": None}, "payload", "InvokeAsync requires a payload (InvokeArgs); got None"),
    ],
)
def test_invoke_async_rejects(kwargs: dict[str, Any], field: str, message: str) -> None:
    kwargs.setdefault("payload", {"a": 1})
    err = invalid(req(invoke_async=True, **kwargs))
    assert message in str(err)
    assert err.field == field


def test_client_context_must_be_object() -> None:
    err = invalid(req(client_context=[1, 2]))
    assert str(err) == "client context must be a JSON object, got list"
    assert err.field == "client_context"


def test_client_context_not_serialisable() -> None:
    err = invalid(req(client_context={"custom": {"x": object()}}))
    assert str(err) == "client context is not JSON-serialisable: TypeError"
    assert err.field == "client_context"


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


def test_client_context_limit_applies_after_key_merge() -> None:
    added = len(b',"idempotency_key":""') + len(KEY)
    fits_alone = _context_of_raw_length(2685 - added + 1)
    prepare_call(req(client_context=fits_alone, idempotency_key_field=None), KEY)
    err = invalid(req(client_context=fits_alone))
    assert "client context is 3584 bytes after base64 encoding" in str(err)


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
