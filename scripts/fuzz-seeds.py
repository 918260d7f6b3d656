#!/usr/bin/env python3
"""Writes the seed inputs of each libFuzzer harness (tests/fuzz/) into
build/fuzz/seeds/<harness>/ from the starter-kit data, the sample app and
the test fixtures. `scripts/fuzz.sh merge` minimizes seeds and what fuzzing
found into the committed corpus (tests/fuzz/corpus/<harness>/).

  scripts/fuzz-seeds.py [STARTER_KIT_DATA]   (default /work/shared/starter-kit-data)"""
import glob
import hashlib
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
KIT = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/starter-kit-data"
SEP = b"\n--8<--\n"
OUT = os.path.join(ROOT, "build", "fuzz", "seeds")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def kit(rel):
    p = os.path.join(KIT, rel)
    return read(p) if os.path.exists(p) else None


def app(rel):
    return read(os.path.join(ROOT, rel))


def put(harness, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def parts(*ps):
    return SEP.join(p if isinstance(p, bytes) else p.encode() for p in ps)


def manifests():
    put("fuzz_manifest", parts(app("app/app.config.yaml"), b"", app("app/.env.example")))
    put("fuzz_manifest", parts(
        b"application:\n  runtimeManifest:\n    packages:\n      p:\n        inputs:\n"
        b"          A: $A\n        actions:\n          $include: ./inc.yaml\n",
        app("app/actions/ingestion/actions.config.yaml").replace(b"./webhook/index.lua", b"./actions/a.lua"),
        b"A=1\nexport B='two words'\nC=\"x\\ny\"\n# comment\n"))
    put("fuzz_manifest", parts(
        b"application:\n  runtimeManifest:\n    packages:\n      p:\n        actions:\n"
        b"          a: &x\n            function: actions/a.lua\n            runtime: lua\n"
        b"            web: raw\n            limits: {timeout: 1000, memory: 16, concurrency: 2}\n"
        b"          b:\n            <<: *x\n            runtime: nodejs:20\n            main: go\n"
        b"  events:\n    registrations:\n      r:\n        description: d\n"
        b"        events_of_interest:\n          - provider_metadata: backoffice\n"
        b"            event_codes: [be-observer.catalog_product_create]\n"
        b"        webhook_url: https://example.com/hook\n        delivery_type: batch\n"
        b"        retry: {schedule: [1s, 2m], max_age: 1h, jitter: 10}\n"
        b"        ordering: {key: data.sku}\n", b"", b""))
    for f in glob.glob(os.path.join(ROOT, "tests/e2e/fixtures/*/app.config.yaml")):
        put("fuzz_manifest", parts(read(f), b"", b""))
    put("fuzz_dotenv", parts(app("app/.env.example"), b"$COMMERCE_BASE_URL/${OAUTH_SCOPES}/$NOPE"))
    put("fuzz_dotenv", parts(b"export A=\"q\\\"uote\" # c\nB='s q'\nC=${A}x\n=bad\n1X=bad\nD\n",
                             b"${A}${B}$C ${unterminated"))


def onboarding():
    ev, pv = kit("events.json"), kit("providers.json")
    if ev and pv:
        put("fuzz_onboarding", parts(ev, pv))
    regs = kit("starter-kit-registrations.json")
    if regs and pv:
        put("fuzz_onboarding", parts(regs, pv))
    put("fuzz_onboarding", parts(app("app/onboarding/config/events.json"),
                                 app("app/onboarding/config/providers.json")))


def registrations():
    put("fuzz_registration", json.dumps({
        "description": "d", "events_of_interest": [
            {"provider_metadata": "backoffice", "event_codes": ["be-observer.catalog_product_create"]}],
        "runtime_action": "product-backoffice/consumer"}).encode())
    put("fuzz_registration", b"name: hook.one\n" + json.dumps({
        "events_of_interest": [{"provider_metadata": "commerce", "event_codes": [
            "com.adobe.commerce.observer.catalog_product_save_commit_after"]}],
        "webhook_url": "https://example.com/x?y=1", "delivery_type": "batch",
        "webhook_secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        "retry": {"schedule": ["1s", "PT2M"], "max_age": "1d", "jitter": 0},
        "ordering": {"key": "data.value.sku"}}).encode())


def cloudevents():
    data = {"uid": "u1", "event": "be-observer.catalog_product_create",
            "value": {"sku": "S", "name": "N", "price": 99.99, "description": "d"}}
    ev = {"specversion": "1.0", "id": "e1", "source": "backoffice",
          "type": "be-observer.catalog_product_create", "datacontenttype": "application/json",
          "time": "2024-06-12T16:31:43Z", "data": data}
    auth = b"authorization: Bearer fuzz-token-0123456789abcdef0123456789\n"
    put("fuzz_publish", auth + b"content-type: application/cloudevents+json\n\n" + json.dumps(ev).encode())
    b64 = dict(ev, id="e2")
    del b64["data"]
    b64["data_base64"] = "aGVsbG8="
    put("fuzz_publish", auth + b"content-type: application/cloudevents-batch+json\n\n" +
        json.dumps([ev, b64, dict(ev, id="e3", xext="v")]).encode())
    put("fuzz_publish", auth + b"ce-specversion: 1.0\nce-id: %41b\nce-source: backoffice\n"
        b"ce-type: be-observer.catalog_product_create\nce-time: 2024-01-01T00:00:00Z\n"
        b"content-type: application/json\n\n" + json.dumps(data).encode())
    put("fuzz_publish", auth + b"ce-specversion: 1.0\nce-id: b2\nce-source: backoffice\n"
        b"ce-type: be-observer.catalog_product_create\ncontent-type: application/octet-stream\n\n\x00\x01bin")
    evs = kit("events.json")
    if evs:
        for entity in json.loads(evs).values():
            for provider, codes in entity.items():
                for code, spec in list(codes.items())[:1]:
                    e = {"specversion": "1.0", "id": code, "source": provider, "type": code,
                         "data": spec.get("sampleEventTemplate", {})}
                    put("fuzz_publish", auth + b"content-type: application/cloudevents+json\n\n" +
                        json.dumps(e).encode())
                break


def webhook():
    body = json.dumps({"data": {"uid": "event_uid_1", "event": "be-observer.catalog_product_create",
                                "value": {"sku": "PRODUCT_SKU", "name": "Product SKU", "price": 1,
                                          "description": "Product SKU description"}}}).encode()
    put("fuzz_webhook", parts(b"content-type: application/json\n\n" + body))
    put("fuzz_webhook", parts(b"content-type: application/json\nx-webhook-token: fuzz-shared-token\n"
                              b"webhook-id: msg_1\nwebhook-timestamp: 1700000000\n"
                              b"webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v1,x\n\n" + body,
                              b"a=1&b=%41&c", b"/extra/path"))
    put("fuzz_webhook", parts(b"content-type: text/plain\n\nnot json"))
    put("fuzz_webhook", parts(b"content-type: application/x-www-form-urlencoded\n\nuid=1&event=x",
                              b"data=%7B%7D"))


def routes():
    auth = b"authorization: Bearer fuzz-token-0123456789abcdef0123456789\n"
    for line in [b"GET /healthz", b"GET /api/v1/journal/backoffice?since=0&limit=10",
                 b"GET /api/v1/journal/product-backoffice?seek=-PT2H",
                 b"GET /api/v1/journal/backoffice?latest=true",
                 b"GET /api/v1/events?provider=backoffice&limit=5&before=9",
                 b"GET /api/v1/traces?registration=product-backoffice&outcome=error&status=500&retried=true&limit=2",
                 b"GET /api/v1/deadletters?registration=r",
                 b"GET /api/v1/namespaces/_/activations?limit=2&skip=1&since=0&upto=99999999999999&docs=true&name=ingestion/webhook",
                 b"GET /api/v1/namespaces/evkit/actions/ingestion/webhook",
                 b"GET /api/v1/providers/backoffice/eventmetadata",
                 b"GET /api/v1/registrations/product-backoffice",
                 b"GET /api/v1/namespaces/_/state/some%2Fkey",
                 b"GET /events/123/providers", b"GET /metrics", b"GET /console/app.js",
                 b"GET /api/v1/web/evkit/ingestion/webhook.json/x?a=1",
                 b"DELETE /api/v1/registrations/x", b"BREW /%00/a//b"]:
        put("fuzz_route", line + b"\n" + auth)
    put("fuzz_route", b"GET /api/v1/events\nauthorization: Basic "
        b"ZnV6ei10b2tlbi0wMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OQ==\n")
    put("fuzz_route", b"GET /metrics\nauthorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJ0eXBlIjoiYWNjZXNzX3Rva2VuIn0.x\n")
    put("fuzz_route", b"GET /api/v1/events\ncookie: evkit_session=abc\nx-evkit-csrf: abc\n")


def signatures():
    put("fuzz_signature", parts(b"Bearer fuzz-token-0123456789abcdef0123456789",
                                b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                b"application/x-www-form-urlencoded",
                                b"grant_type=client_credentials&client_id=a%20b&client_secret=s&scope=x,y"))
    put("fuzz_signature", parts(b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0eXBlIjoiYWNjZXNzX3Rva2VuIiwiY3JlYXRlZF9hdCI6IjEiLCJleHBpcmVzX2luIjoiMiJ9.c2ln",
                                b"whsec_", b"multipart/form-data; boundary=XyZ",
                                b"--XyZ\r\nContent-Disposition: form-data; name=\"client_id\"\r\n\r\nabc\r\n--XyZ--\r\n"))
    put("fuzz_signature", parts(b'{"type":"access_token","created_at":"1","expires_in":"86400000"}', b"whsec_a2V5"))
    put("fuzz_signature", b'{"challenge":"3f1c6c1e-2d7b-4a57-9a7e-0d1c6f1d2b3a"}')
    put("fuzz_signature", b" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ")
    put("fuzz_signature", b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-future")


def schemas():
    data = json.dumps({"sku": "S", "name": "N", "price": 1.5, "description": "d"}).encode()
    for f in sorted(glob.glob(os.path.join(KIT, "schemas", "*.json")))[:6]:
        put("fuzz_schema", parts(read(f), data))
    for f in glob.glob(os.path.join(ROOT, "app/onboarding/config/schemas/*.json"))[:4]:
        put("fuzz_schema", parts(read(f), data))
    put("fuzz_schema", parts(json.dumps({
        "definitions": {"n": {"type": "integer", "multipleOf": 3, "minimum": 0, "exclusiveMaximum": 100}},
        "type": "object", "required": ["a"], "properties": {"a": {"$ref": "#/definitions/n"},
        "b": {"type": "array", "items": [{"const": 1}], "additionalItems": {"enum": [2, "x"]},
              "uniqueItems": True, "contains": {"type": "string"}, "minItems": 1, "maxItems": 5}},
        "patternProperties": {"^x-\\d+$": {"type": "string", "pattern": "^\\w{2,}$", "maxLength": 4}},
        "additionalProperties": False, "propertyNames": {"minLength": 1},
        "dependencies": {"a": ["b"]}, "if": {"properties": {"a": {"const": 3}}},
        "then": {"minProperties": 2}, "else": {"not": {"required": ["c"]}},
        "allOf": [True], "anyOf": [{}, False], "oneOf": [{"maxProperties": 9}]}).encode(),
        b'{"a": 3, "b": [1, 2, "x"], "x-1": "ab"}'))


def lua_json():
    for t in [b'{"a":[1,2.5,-0.0,1e-7,99.99,null,true,"\\u00e9\\ud83d\\ude00"],"b":{}}', b"[]", b'"s"',
              b"12345678901234567890", b'{"":[[[[{}]]]]}', b"[1e308, -1e-308, 0.1]"]:
        put("fuzz_lua_json", t)
    put("fuzz_lua_json", app("app/onboarding/config/events.json"))


def actionloop():
    put("fuzz_actionloop", b"\x07" + b'{"ok":true,"n":1}\n')
    put("fuzz_actionloop", b"\x03" + b'log line one\n{"error":"boom"}\ntrailing')
    put("fuzz_actionloop", b"\x01" + b'[1,2]\n{"a":1}\n\xff\xfe\n')


def filters():
    ev = json.dumps({"specversion": "1.0", "type": "be-observer.catalog_product_create", "source": "x",
                     "data": {"value": {"sku": "SKU-1", "price": 99.99, "tags": ["a", "b"], "name": "Bag"}}})
    for pat in [
        {"data": {"value": {"sku": [{"prefix": "SKU-"}], "price": [{"numeric": [">", 10, "<=", 100]}]}}},
        {"type": [{"suffix": "_create"}, {"anything-but": ["x", "y"]}], "data": {"value": {"tags": ["b"]}}},
        {"$or": [{"data": {"value": {"name": [{"equals-ignore-case": "BAG"}]}}},
                 {"data": {"value": {"missing": [{"exists": False}]}}}]},
        {"data": {"value": {"sku": [{"wildcard": "SKU-*"}, {"anything-but": {"prefix": "X"}}, None, True, 3]}}},
    ]:
        put("fuzz_filter", parts(json.dumps(pat), ev))


def crons():
    for expr, date in [("*/5 * * * *", "2026-12-06T10:00:00Z"), ("0 30 9 ? JAN-MAR MON-FRI", "2026-12-06"),
                       ("0 0 30 2 *", "2026-01-01T00:00:00.5+02:00"), ("15,45 1-5/2 * 1 sun,7", "1969-12-31T23:59:59Z")]:
        put("fuzz_cron", parts(expr, date))


def configs():
    put("fuzz_config", b"EVKIT_API_TOKENS=a,b c\nEVKIT_PUBLISH_RATE=3000/5s\nEVKIT_JOURNAL_RETENTION=P2D\n"
        b"EVKIT_TRACE_KEEP=100\nEVKIT_METRICS_AUTH=none\nEVKIT_WEBHOOK_ALLOW=127.0.0.0/8,::1\n"
        b"EVKIT_ACTION_HTTP_ALLOW=169.254.169.254\nEVKIT_BLOCKING_WAIT=2.5s\nEVKIT_HTTP_IDLE_TIMEOUT=PT30S\n")
    put("fuzz_config", b"EVKIT_STORE=nats\nEVKIT_STORE_URL=nats://127.0.0.1:4222,tls://h:1\nEVKIT_ASYNC_MAX=0\n"
        b"EVKIT_PUBLISH_RATE=off\nAIO_runtime_namespace=ns\n")


for fn in (configs, filters, crons, manifests, onboarding, registrations, cloudevents, webhook, routes, signatures,
           schemas, lua_json, actionloop):
    fn()
