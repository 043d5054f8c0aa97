// temporal-lambda console: every value from the server is rendered with textContent.
"use strict";
const TOKEN = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
let current = null;

async function api(path, options = {}) {
  const headers = { "X-Console-Token": TOKEN };
  if (options.body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...options, headers, credentials: "same-origin" });
  const text = await response.text();
  let data = null;
  try { data = JSON.parse(text); } catch (e) { data = { error: text }; }
  if (!response.ok && !(data && data.outcome)) throw new Error(data.error || text);
  return data;
}

function row(tbody, cells) {
  const tr = document.createElement("tr");
  for (const value of cells) {
    const td = document.createElement("td");
    td.textContent = value;
    tr.appendChild(td);
  }
  tbody.appendChild(tr);
}

async function loadApis() {
  const q = $("api-search").value.trim();
  const apis = await api("/api/apis" + (q ? "?q=" + encodeURIComponent(q) : ""));
  const list = $("api-list");
  list.replaceChildren();
  for (const entry of apis) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.api = entry.name;
    button.textContent = entry.name + " ";
    const small = document.createElement("small");
    small.textContent = entry.api_version + " · " + entry.summary;
    button.appendChild(small);
    button.addEventListener("click", () => selectApi(entry.name));
    if (current === entry.name) button.classList.add("selected");
    li.appendChild(button);
    list.appendChild(li);
  }
  if (!apis.length) {
    const li = document.createElement("li");
    li.textContent = "no API matches";
    list.appendChild(li);
  }
}

function constraintText(c) {
  const parts = [];
  if ("min" in c || "max" in c) parts.push("length " + (c.min ?? 0) + ".." + (c.max ?? ""));
  if (c.enum) parts.push("one of " + c.enum.join(", "));
  if (c.pattern) parts.push("pattern " + c.pattern);
  if (c.sensitive) parts.push("sensitive");
  if (c.streaming) parts.push("streaming");
  return parts.join("; ");
}

async function selectApi(name) {
  const ref = await api("/api/describe/" + encodeURIComponent(name));
  current = ref.name;
  for (const b of document.querySelectorAll("#api-list button")) {
    b.classList.toggle("selected", b.dataset.api === current);
  }
  $("hint").hidden = true;
  $("reference").hidden = false;
  $("request-form").hidden = false;
  $("answer").hidden = true;
  $("ref-title").textContent = ref.name + " (" + ref.api_version + ")" + (ref.deprecated ? " — deprecated" : "");
  $("ref-endpoint").textContent = ref.method + " " + ref.path + " → " + ref.success_status;
  $("ref-summary").textContent = ref.summary + " In a workflow: " + ref.workflow_call;
  $("ref-doc-text").textContent = ref.documentation;
  const params = $("ref-params").tBodies[0];
  params.replaceChildren();
  for (const p of ref.parameters) {
    row(params, [p.name, p.location + (p.wire_name !== p.name ? " " + p.wire_name : ""), p.type, p.required ? "yes" : "no", constraintText(p.constraints)]);
  }
  const response = $("ref-response").tBodies[0];
  response.replaceChildren();
  for (const r of ref.response) row(response, [r.name, r.location + (r.wire_name !== r.name ? " " + r.wire_name : ""), r.type]);
  const errors = $("ref-errors").tBodies[0];
  errors.replaceChildren();
  for (const e of ref.errors) row(errors, [e.status ?? "", e.code, e.error_type, e.retryable ? "retried" : "not retried"]);
  const isAsync = ref.name === "InvokeAsync";
  for (const el of document.querySelectorAll(".sync-only")) el.hidden = isAsync;
  validateAll();
}

function validateJson(textarea, status, { optional }) {
  const text = textarea.value;
  if (!text.trim()) {
    textarea.classList.remove("invalid");
    status.classList.remove("invalid");
    status.textContent = optional ? "" : "empty: no payload is sent";
    return true;
  }
  try {
    JSON.parse(text);
    textarea.classList.remove("invalid");
    status.classList.remove("invalid");
    status.textContent = "valid JSON";
    return true;
  } catch (e) {
    textarea.classList.add("invalid");
    status.classList.add("invalid");
    status.textContent = "invalid JSON: " + e.message;
    return false;
  }
}

function validateAll() {
  const isAsync = current === "InvokeAsync";
  const payloadOk = validateJson($("f-payload"), $("payload-status"), { optional: false });
  const contextOk = isAsync || validateJson($("f-client-context"), $("client-context-status"), { optional: true });
  $("test-request").disabled = !(payloadOk && contextOk);
}

function formSettings() {
  const isAsync = current === "InvokeAsync";
  const settings = { function_name: $("f-function").value.trim(), payload: $("f-payload").value, invoke_async: isAsync };
  if (!isAsync) {
    settings.qualifier = $("f-qualifier").value;
    settings.invocation_type = $("f-invocation-type").value;
    settings.log_type = $("f-log-type").value;
    settings.tenant_id = $("f-tenant-id").value;
    settings.client_context = $("f-client-context").value;
  }
  return settings;
}

function show(id, text) {
  const el = $(id);
  el.hidden = text === null || text === undefined;
  if (!el.hidden) el.textContent = text;
  return !el.hidden;
}

function render(data) {
  const o = data.outcome;
  $("answer").hidden = false;
  const summary = $("answer-summary");
  const labels = { success: "Success", function_error: "Function error", service_error: "Service error", refused: "Refused before sending: nothing was sent", transport_error: "No answer" };
  let text = labels[o.kind] || o.kind;
  if (o.status_code !== null) text += " — HTTP " + o.status_code;
  if (o.elapsed_ms !== null) text += " in " + o.elapsed_ms.toFixed(1) + " ms";
  summary.textContent = text;
  summary.className = o.kind === "success" ? "success" : "failure";
  summary.dataset.kind = o.kind;
  $("answer-key").textContent = o.idempotency_key ? "idempotency key " + o.idempotency_key + " (" + (o.idempotency_key_source === "given" ? "given" : "derived for this try; a workflow derives it from its ids") + ")" : "";
  const headers = $("answer-headers").tBodies[0];
  headers.replaceChildren();
  for (const [name, value] of Object.entries(o.headers)) row(headers, [name, value]);
  const error = o.error;
  $("answer-error").hidden = !error;
  let log = o.result ? o.result.log_tail : null;
  if (error) {
    $("error-type").textContent = "type=" + error.type;
    $("error-message").textContent = error.message;
    $("error-retry").textContent = error.non_retryable
      ? "not retried (non_retryable)"
      : error.next_retry_delay_seconds !== null
        ? "retried after " + error.next_retry_delay_seconds + " s (next_retry_delay from Retry-After)"
        : "retried, after the retry policy's backoff";
    const details = error.details.length ? error.details[0] : {};
    $("error-details").textContent = JSON.stringify(details, null, 2);
    if (details && details.log_tail) log = details.log_tail;
  }
  $("log-title").hidden = !show("answer-log", log || null);
  $("payload-title").hidden = !show("answer-payload", o.result ? JSON.stringify(o.result.payload, null, 2) : null);
  $("snippet").textContent = data.snippet;
}

async function testRequest(event) {
  event.preventDefault();
  const button = $("test-request");
  button.disabled = true;
  button.textContent = "Sending…";
  try {
    render(await api("/api/invoke", { method: "POST", body: JSON.stringify(formSettings()) }));
  } catch (e) {
    $("answer").hidden = false;
    $("answer-summary").textContent = "The console could not run the request: " + e.message;
    $("answer-summary").className = "failure";
  } finally {
    button.textContent = "Test request";
    validateAll();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("api-search").addEventListener("input", loadApis);
  $("f-payload").addEventListener("input", validateAll);
  $("f-client-context").addEventListener("input", validateAll);
  $("request-form").addEventListener("submit", testRequest);
  $("copy-snippet").addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText($("snippet").textContent));
  loadApis();
});
