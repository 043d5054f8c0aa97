from __future__ import annotations

import base64
import json
from typing import Any

import botocore.session
import pytest

from temporal_lambda._codes import (
    NON_RETRYABLE_ERROR_TYPES,
    RETRYABLE_CODES,
    SERVICE_ERROR_STATUS,
    UNMODELLED_ERROR_STATUS,
)
from temporal_lambda._errors import LambdaFunctionError, LambdaServiceError, LambdaValidationError
from temporal_lambda._request import PreparedCall, prepare_call, validate_idempotency_key
from temporal_lambda._response import classify_service_error, parse_response
from temporal_lambda._spec import (
    MAX_CLIENT_CONTEXT,
    MAX_EVENT_PAYLOAD,
    MAX_INVOKE_ASYNC_PAYLOAD,
    MAX_SYNC_PAYLOAD,
)
from temporal_lambda._types import (
    InvocationType,
    LambdaInvokeRequest,
    LambdaInvokeResult,
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


# --- parse_response ---------------------------------------------------------------------


def parse(status: int, headers: dict[str, str], body: bytes, **kwargs: Any) -> LambdaInvokeResult:
    return parse_response(req(**kwargs), KEY, status, headers, body)


def test_parse_200_json() -> None:
    result = parse(
        200,
        {
            "X-Amz-Executed-Version": "$LATEST",
            "x-amzn-RequestId": "rid-1",
            "Content-Type": "application/json",
        },
        b'{"ok": true, "n": [1, 2]}',
    )
    assert result == LambdaInvokeResult(
        status_code=200,
        idempotency_key=KEY,
        payload={"ok": True, "n": [1, 2]},
        payload_encoding="json",
        executed_version="$LATEST",
        request_id="rid-1",
    )


def test_parse_json_null() -> None:
    result = parse(200, {}, b"null")
    assert result.payload is None
    assert result.payload_encoding == "json"
    assert type(result.payload_encoding) is str


@pytest.mark.parametrize("body", [b"hello \xc3\xa9", b"NaN", b"{bad"])
def test_parse_text(body: bytes) -> None:
    result = parse(200, {}, body)
    assert result.payload == body.decode()
    assert result.payload_encoding == "text"


def test_parse_binary() -> None:
    result = parse(200, {}, b"\xff\x00\x01")
    assert result.payload == "/wAB"
    assert result.payload_encoding == "base64"


def test_parse_202_and_204() -> None:
    event = parse(202, {"X-AMZN-REQUESTID": "r2"}, b"", invocation_type="Event")
    assert event == LambdaInvokeResult(status_code=202, idempotency_key=KEY, request_id="r2")
    dry = parse(204, {}, b"", invocation_type="DryRun")
    assert dry.status_code == 204
    assert dry.payload is None
    assert dry.payload_encoding == "empty"


def test_parse_log_tail_and_durable_arn() -> None:
    log = base64.b64encode("START\nEND é\n".encode()).decode()
    bad_utf8 = base64.b64encode(b"ab\xff").decode()
    result = parse(
        200,
        {"x-amz-log-result": log, "X-Amz-Durable-Execution-Arn": "arn:durable"},
        b"1",
    )
    assert result.log_tail == "START\nEND é\n"
    assert result.durable_execution_arn == "arn:durable"
    assert parse(200, {"X-Amz-Log-Result": bad_utf8}, b"").log_tail == "ab\ufffd"


def _function_error(headers: dict[str, str], body: bytes, **kwargs: Any) -> LambdaFunctionError:
    with pytest.raises(LambdaFunctionError) as info:
        parse(200, headers, body, **kwargs)
    return info.value


def test_function_error_unhandled() -> None:
    doc = {
        "errorMessage": "boom",
        "errorType": "ValueError",
        "requestId": "doc-rid",
        "stackTrace": ['  File "/var/task/app.py", line 3, in handler\n'],
    }
    log = base64.b64encode(b"Traceback").decode()
    err = _function_error(
        {
            "X-Amz-Function-Error": "Unhandled",
            "x-amzn-RequestId": "hdr-rid",
            "X-Amz-Executed-Version": "3",
            "X-Amz-Log-Result": log,
        },
        json.dumps(doc).encode(),
    )
    assert err.error_type == "ValueError"
    assert err.retryable is True
    assert str(err) == "boom"
    assert err.info.stack_trace == ['  File "/var/task/app.py", line 3, in handler\n']
    assert err.info.function_error == "Unhandled"
    assert err.info.request_id == "hdr-rid"
    assert err.info.executed_version == "3"
    assert err.info.log_tail == "Traceback"


def test_function_error_handled_request_id_from_doc() -> None:
    body = b'{"errorMessage":"bad input","errorType":"InputError","requestId":"doc-rid"}'
    err = _function_error({"x-amz-function-error": "Handled"}, body)
    assert err.info.function_error == "Handled"
    assert err.info.request_id == "doc-rid"
    assert err.info.stack_trace == []
    assert err.error_type == "InputError"


def test_function_error_sandbox_timeout() -> None:
    body = b'{"errorMessage":"2024-01-01T00:00:00Z abc Task timed out after 3.00 seconds",'
    body += b'"errorType":"Sandbox.Timedout"}'
    err = _function_error({"X-Amz-Function-Error": "Unhandled"}, body)
    assert err.error_type == "Sandbox.Timedout"
    assert str(err) == "2024-01-01T00:00:00Z abc Task timed out after 3.00 seconds"
    assert err.info.stack_trace == []


def test_function_error_non_json_body() -> None:
    err = _function_error({"X-Amz-Function-Error": "Unhandled"}, b"Internal crash")
    assert err.error_type == "UnknownFunctionError"
    assert str(err) == "Internal crash"


def test_function_error_missing_fields() -> None:
    err = _function_error({"X-Amz-Function-Error": "Unhandled"}, b'{"foo": 1}')
    assert err.error_type == "UnknownFunctionError"
    assert str(err) == '{"foo": 1}'
    err = _function_error({"X-Amz-Function-Error": "Unhandled"}, b"")
    assert str(err) == "function failed (Unhandled) with an empty error document"


def test_function_error_odd_stack_trace() -> None:
    body = b'{"errorType":"E","errorMessage":"m","stackTrace":[["app.py",3,"h","x"],"s"]}'
    err = _function_error({"X-Amz-Function-Error": "Unhandled"}, body)
    assert err.info.stack_trace == ['["app.py", 3, "h", "x"]', "s"]


def test_function_error_non_retryable_type() -> None:
    body = b'{"errorType":"InputError","errorMessage":"m"}'
    err = _function_error(
        {"X-Amz-Function-Error": "Unhandled"},
        body,
        non_retryable_function_errors=["InputError"],
    )
    assert err.retryable is False
    err = _function_error(
        {"X-Amz-Function-Error": "Unhandled"},
        body,
        non_retryable_function_errors=["OtherError"],
    )
    assert err.retryable is True


def test_function_error_returned_when_not_raising() -> None:
    body = b'{"errorType":"ValueError","errorMessage":"m"}'
    result = parse(
        200,
        {"X-Amz-Function-Error": "Unhandled", "x-amzn-RequestId": "r"},
        body,
        raise_on_function_error=False,
    )
    assert result == LambdaInvokeResult(
        status_code=200,
        idempotency_key=KEY,
        payload={"errorType": "ValueError", "errorMessage": "m"},
        payload_encoding="json",
        request_id="r",
        function_error="Unhandled",
    )


def test_parse_non_2xx_raises_service_error() -> None:
    with pytest.raises(LambdaServiceError) as info:
        parse(404, {"x-amzn-ErrorType": "ResourceNotFoundException"}, b'{"Message":"nope"}')
    assert info.value.error_type == "Lambda.ResourceNotFoundException"
    assert str(info.value) == "nope"


# --- classify_service_error -------------------------------------------------------------

_RETRYABLE_EXPECTED = {
    "TooManyRequestsException",
    "ServiceException",
    "ResourceConflictException",
    "SnapStartNotReadyException",
    "EFSMountConnectivityException",
    "EFSMountTimeoutException",
    "S3FilesMountConnectivityException",
    "S3FilesMountTimeoutException",
    "SnapStartTimeoutException",
}


@pytest.mark.parametrize(
    ("code", "status"), sorted({**SERVICE_ERROR_STATUS, **UNMODELLED_ERROR_STATUS}.items())
)
def test_every_known_code(code: str, status: int) -> None:
    body = json.dumps({"Type": "User", "message": f"{code} happened"}).encode()
    err = classify_service_error(status, {"X-Amzn-ErrorType": code, "x-amzn-RequestId": "r"}, body)
    expected_code = (
        "RequestTooLargeException"
        if code in {"SerializedRequestEntityTooLargeException", "RequestEntityTooLargeException"}
        else code
    )
    retryable = status >= 500 or code in _RETRYABLE_EXPECTED
    assert err.code == expected_code
    assert err.error_type == f"Lambda.{expected_code}"
    assert err.status_code == status
    assert err.retryable is retryable
    assert err.request_id == "r"
    assert err.error_kind == "User"
    assert str(err) == f"{code} happened"
    assert (f"Lambda.{expected_code}" in NON_RETRYABLE_ERROR_TYPES) is (not retryable)


def test_modelled_statuses_match_botocore() -> None:
    model = botocore.session.get_session().get_service_model("lambda")
    modelled: dict[str, int] = {}
    for op in ("Invoke", "InvokeAsync"):
        for shape in model.operation_model(op).error_shapes:
            modelled[shape.name] = shape.metadata["error"]["httpStatusCode"]
    known = {**UNMODELLED_ERROR_STATUS, **SERVICE_ERROR_STATUS}
    # Every code the installed model lists is one we know, with the same status (botocore
    # releases move codes from "seen on the wire" into the model, never the other way).
    assert {code: known.get(code) for code in modelled} == modelled
    assert set(SERVICE_ERROR_STATUS) <= set(modelled)


def test_non_retryable_types_constant() -> None:
    assert NON_RETRYABLE_ERROR_TYPES[-1] == "Lambda.ValidationError"
    assert "Lambda.ResourceNotFoundException" in NON_RETRYABLE_ERROR_TYPES
    assert "Lambda.TooManyRequestsException" not in NON_RETRYABLE_ERROR_TYPES
    assert "Lambda.SerializedRequestEntityTooLargeException" not in NON_RETRYABLE_ERROR_TYPES
    assert len(NON_RETRYABLE_ERROR_TYPES) == 25
    expected_retryable = {
        "EC2ThrottledException",
        "ResourceConflictException",
        "ResourceNotReadyException",
        "ServiceException",
        "SnapStartNotReadyException",
        "TooManyRequestsException",
    }
    assert expected_retryable == RETRYABLE_CODES


def test_throttle_with_retry_after() -> None:
    body = b'{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User",'
    body += b'"message":"Rate Exceeded."}'
    err = classify_service_error(
        429,
        {"x-amzn-errortype": "TooManyRequestsException", "Retry-After": "3"},
        body,
    )
    assert err.retry_after == 3.0
    assert err.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert err.error_kind == "User"
    assert err.retryable is True
    assert str(err) == "Rate Exceeded."
    assert err.details() == {
        "code": "TooManyRequestsException",
        "status_code": 429,
        "request_id": None,
        "reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
        "retry_after": 3.0,
        "kind": "User",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.5", 1.5), (" 10 ", 10.0), ("0", 0.0), ("soon", None), ("-1", None), ("inf", None)],
)
def test_retry_after_values(value: str, expected: float | None) -> None:
    assert classify_service_error(429, {"retry-after": value}, b"").retry_after == expected


def test_429_without_code() -> None:
    err = classify_service_error(429, {}, b"")
    assert err.code == "Unknown"
    assert err.error_type == "Lambda.Unknown"
    assert err.retryable is True
    assert str(err) == "HTTP 429"


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (418, "TeapotException", False),
        (599, "NewServerException", True),
        (503, None, True),
        (400, None, False),
        (408, None, True),
        (409, "NewConflictException", False),
        (502, "BrandNewVpcException", True),
        (302, None, False),
    ],
)
def test_unknown_codes_by_status(status: int, code: str | None, retryable: bool) -> None:
    headers = {"x-amzn-ErrorType": code} if code else {}
    err = classify_service_error(status, headers, b"")
    assert err.code == (code or "Unknown")
    assert err.retryable is retryable
    assert err.status_code == status


def test_code_from_header_with_colon() -> None:
    err = classify_service_error(
        404,
        {"X-Amzn-Errortype": "ResourceNotFoundException:http://internal.amazon.com/coral/"},
        b'{"Type":"User","Message":"Function not found: arn:x"}',
    )
    assert err.code == "ResourceNotFoundException"
    assert str(err) == "Function not found: arn:x"


def test_header_wins_over_body() -> None:
    err = classify_service_error(
        409, {"x-amzn-ErrorType": "ResourceConflictException"}, b'{"code":"Other"}'
    )
    assert err.code == "ResourceConflictException"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"code":"ResourceNotFoundException"}', "ResourceNotFoundException"),
        (b'{"Code":"InvalidParameterValueException"}', "InvalidParameterValueException"),
        (
            b'{"__type":"com.amazon.coral.service#UnrecognizedClientException"}',
            "UnrecognizedClientException",
        ),
        (b'{"__type":"ns#AccessDeniedException:extra"}', "AccessDeniedException"),
        (b'{"code":"A","__type":"B"}', "A"),
    ],
)
def test_code_from_body(body: bytes, code: str) -> None:
    assert classify_service_error(403, {}, body).code == code


def test_message_from_message_and_raw_body() -> None:
    assert str(classify_service_error(500, {}, b'{"Message":"Big M"}')) == "Big M"
    assert str(classify_service_error(500, {}, b'{"message":"m","Message":"M"}')) == "m"
    err = classify_service_error(502, {}, b"<html>Bad Gateway</html>")
    assert str(err) == "<html>Bad Gateway</html>"
    assert err.code == "Unknown"
    assert err.retryable is True
    assert str(classify_service_error(502, {}, b"")) == "HTTP 502"
    assert str(classify_service_error(500, {}, b"[1]")) == "[1]"


def test_413_real_wire_spelling() -> None:
    err = classify_service_error(
        413,
        {"x-amzn-ErrorType": "RequestEntityTooLargeException"},
        b'{"message":"Request must be smaller than 6291456 bytes for the InvokeFunction'
        b' operation"}',
    )
    assert err.code == "RequestTooLargeException"
    assert err.error_type == "Lambda.RequestTooLargeException"
    assert err.retryable is False
