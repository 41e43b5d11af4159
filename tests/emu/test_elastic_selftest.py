#!/usr/bin/env python3
"""Self-test of tests/emu/elastic.py with http.client and raw sockets only.

    python3 tests/emu/test_elastic_selftest.py [-k SUBSTRING]

Prints "ok N - name (s)" / "not ok N - name" and ends with "N passed, N failed";
exits 1 on any failure.  Loopback only; every wait is bounded.
"""
import base64
import datetime
import gzip
import http.client
import json
import os
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from elastic import Elastic, filter_path, java_hashset_order  # noqa: E402
from receivers import Response, make_tls_files  # noqa: E402

TESTS = []
TMP = tempfile.mkdtemp(prefix="es-selftest-")
NDJSON = {"Content-Type": "application/x-ndjson"}
ALL = ("6.8.23", "7.17.9", "8.13.0", "opensearch-1.3.14", "opensearch-2.11.0")


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError(f"{msg + ': ' if msg else ''}{a!r} != {b!r}")


class Answer:
    def __init__(self, status, headers, body, conn):
        self.status, self.headers, self.body, self.conn = status, headers, body, conn

    def header(self, name):
        v = self.headers.get(name.lower())
        return v[0] if v else None

    def json(self):
        return json.loads(self.body)


def call(es, method, path, body=None, headers=None, conn=None, context=None, timeout=5.0, keep=False):
    """One request; headers of the answer as {lower name: [values]}."""
    if conn is None:
        if es.tls:
            conn = http.client.HTTPSConnection("127.0.0.1", es.port, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", es.port, timeout=timeout)
    h = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    hdrs = {}
    for k, v in r.getheaders():
        hdrs.setdefault(k.lower(), []).append(v)
    if not keep:
        conn.close()
    return Answer(r.status, hdrs, data, conn)


def nd(*objs):
    """NDJSON body: dicts are JSON-encoded, str/bytes lines are taken as they are."""
    out = []
    for o in objs:
        if isinstance(o, bytes):
            out.append(o)
        elif isinstance(o, str):
            out.append(o.encode())
        else:
            out.append(json.dumps(o, separators=(",", ":")).encode())
    return b"\n".join(out) + b"\n"


def bulk(es, body, path="/_bulk", headers=None, **kw):
    h = dict(NDJSON)
    h.update(headers or {})
    return call(es, "POST", path, body, h, **kw)


def envelope(a):
    """(status, type, reason) of an ES error envelope answer."""
    j = a.json()
    e = j["error"]
    eq(j["status"], a.status, "envelope status")
    eq(e["root_cause"][0]["type"], e["type"], "root_cause type")
    return a.status, e["type"], e["reason"]


def items(a):
    j = a.json()
    return [(op, it) for entry in j["items"] for op, it in entry.items()]


# --------------------------------------------------------------------------- root info

@test
def root_info_each_flavor():
    expect = {
        "6.8.23": ("4f67856", "7.7.3", "5.6.0", "5.0.0", False, False),
        "7.17.9": ("ef48222227ee6b9e70e502f0f0daa52435ee634d", "8.11.1", "6.8.0", "6.0.0-beta1", False, True),
        "8.13.0": ("09df99393193b2c53d92899662a8b8b3c55b45cd", "9.10.0", "7.17.0", "7.0.0", False, True),
        "opensearch-1.3.14": ("21940d8239b50285ef7f98a1762ef281a5b1c7ee", "8.10.1", "6.8.0", "6.0.0-beta1",
                              True, False),
        "opensearch-2.11.0": ("4dcad6dd1fd45b6bd91f041a041829c8687278fa", "9.7.0", "7.10.0", "7.0.0", True, False),
    }
    for fl, (bhash, lucene, wire, idx, is_os, product) in expect.items():
        with Elastic(fl) as es:
            a = call(es, "GET", "/")
            eq(a.status, 200, fl)
            check(a.body.startswith(b"{\n  \"name\" : ") and a.body.endswith(b"}\n"), f"{fl}: pretty like ES")
            j = a.json()
            v = j["version"]
            eq(v["number"], fl.split("-")[-1], fl)
            eq(v["build_hash"], bhash, fl)
            eq(v["lucene_version"], lucene, fl)
            eq(v["minimum_wire_compatibility_version"], wire, fl)
            eq(v["minimum_index_compatibility_version"], idx, fl)
            eq(list(j), ["name", "cluster_name", "cluster_uuid", "version", "tagline"], fl)
            if is_os:
                eq(list(v)[:2], ["distribution", "number"], fl)
                eq(v["distribution"], "opensearch", fl)
                check("build_flavor" not in v, fl)
                eq(j["tagline"], "The OpenSearch Project: https://opensearch.org/", fl)
            else:
                check("distribution" not in v, fl)
                eq(v["build_flavor"], "default", fl)
                eq(j["tagline"], "You Know, for Search", fl)
            eq(a.header("X-elastic-product"), "Elasticsearch" if product else None, fl)
            eq(a.header("content-type"), "application/json; charset=UTF-8", fl)
            h = call(es, "HEAD", "/")
            eq((h.status, h.body), (200, b""), fl)


# --------------------------------------------------------------------------- _type rules

@test
def es6_type_is_mandatory():
    with Elastic("6.8.23") as es:
        a = bulk(es, nd({"index": {"_index": "ev"}}, {"a": 1}, {"delete": {"_index": "ev", "_id": "x"}},
                        {"index": {"_index": "ev", "_type": "events"}}, {"a": 2}))
        eq(envelope(a), (400, "action_request_validation_exception",
                         "Validation Failed: 1: type is missing;2: type is missing;"))
        eq(es.doc_count(), 0, "nothing applied")
        # the type may come from the URL
        a = bulk(es, nd({"index": {"_id": "1"}}, {"a": 1}), path="/ev/events/_bulk")
        eq(a.status, 200)
        [(op, it)] = items(a)
        eq((op, it["_index"], it["_type"], it["_id"], it["status"], it["result"]),
           ("index", "ev", "events", "1", 201, "created"))
        eq(a.header("Warning"), None, "6.x does not deprecate types")


@test
def es6_one_mapping_type_per_index():
    with Elastic("6.8.23") as es:
        a = bulk(es, nd({"index": {"_index": "ev", "_type": "events", "_id": "1"}}, {"a": 1},
                        {"index": {"_index": "ev", "_type": "other", "_id": "2"}}, {"a": 2},
                        {"index": {"_index": "ev", "_type": "_doc", "_id": "3"}}, {"a": 3}))
        eq(a.status, 200)
        j = a.json()
        eq(j["errors"], True)
        got = items(a)
        eq(got[0][1]["status"], 201)
        eq(got[1][1]["status"], 400)
        eq(got[1][1]["_type"], "other")
        eq(got[1][1]["error"], {"type": "illegal_argument_exception",
                                "reason": "Rejecting mapping update to [ev] as the final mapping would have more "
                                          "than 1 type: [other, events]"})
        eq((got[2][1]["status"], got[2][1]["_type"]), (201, "events"), "_doc stands for the existing type")
        eq(sorted(d["_id"] for d in es.docs("ev")), ["1", "3"])
        eq(es.indices()["ev"]["type"], "events")
        # conflicts name the type in 6.x
        a = bulk(es, nd({"create": {"_index": "ev", "_type": "events", "_id": "1"}}, {"a": 9}))
        eq(items(a)[0][1]["error"]["reason"],
           "[events][1]: version conflict, document already exists (current version [1])")


@test
def java_hashset_order_matches_reports():
    # "more than 1 type: [x, y]" lists as printed by real clusters (see the elastic.py docstring)
    for pair in (["upstream", "downstream"], ["tweet", "user"], ["line", "scene"], ["Ticket", "User"],
                 ["_doc", "doc"], ["_doc", "mytype"], ["_doc", "UPDATE"]):
        eq(java_hashset_order(pair), pair)
        eq(java_hashset_order(pair[::-1]), pair)
    eq(java_hashset_order(["\\", "/", "*", "?", '"', "<", ">", "|", " ", ","]),
       [" ", '"', "*", "\\", "<", "|", ",", ">", "/", "?"])


@test
def es7_types_deprecated_custom_type_accepted():
    with Elastic("7.17.9") as es:
        a = bulk(es, nd({"index": {"_index": "heapster-2024.01.01", "_type": "events", "_id": "1"}}, {"a": 1},
                        {"index": {"_index": "heapster-2024.01.01", "_type": "events", "_id": "2"}}, {"a": 2}))
        eq(a.status, 200)
        eq(a.json()["errors"], False)
        eq(a.headers.get("warning"), ['299 Elasticsearch-7.17.9-ef48222227ee6b9e70e502f0f0daa52435ee634d '
                                      '"[types removal] Specifying types in bulk requests is deprecated."'],
           "one deprecation warning per request")
        eq([it["_type"] for _, it in items(a)], ["events", "events"])
        eq(es.indices()["heapster-2024.01.01"]["type"], "events")
        # no _type: no warning, "_doc" resolves to the existing type
        a = bulk(es, nd({"index": {"_index": "heapster-2024.01.01", "_id": "3"}}, {"a": 3}))
        eq(a.headers.get("warning"), None)
        eq(items(a)[0][1]["status"], 201)
        # another custom type is refused per item
        a = bulk(es, nd({"index": {"_index": "heapster-2024.01.01", "_type": "other", "_id": "4"}}, {"a": 4}))
        eq(items(a)[0][1]["error"]["reason"], "Rejecting mapping update to [heapster-2024.01.01] as the final "
                                              "mapping would have more than 1 type: [other, events]")
        # an index created with a mapping has type _doc: a custom type is refused (elasticsearch#54483)
        a = call(es, "PUT", "/mapped", {"mappings": {"properties": {"a": {"type": "long"}}}})
        eq(a.status, 200)
        a = bulk(es, nd({"index": {"_index": "mapped", "_type": "UPDATE", "_id": "1"}}, {"a": 1},
                        {"index": {"_index": "fresh", "_id": "1"}}, {"a": 1}))
        got = items(a)
        eq(got[0][1]["error"]["reason"], "Rejecting mapping update to [mapped] as the final mapping would have "
                                         "more than 1 type: [_doc, UPDATE]")
        eq((got[1][1]["_type"], got[1][1]["status"]), ("_doc", 201))


@test
def es8_and_opensearch2_reject_type():
    for fl in ("8.13.0", "opensearch-2.11.0"):
        with Elastic(fl) as es:
            a = bulk(es, nd({"index": {"_index": "ev", "_id": "1"}}, {"a": 1},
                            {"index": {"_index": "ev", "_type": "_doc", "_id": "2"}}, {"a": 2}))
            eq(envelope(a), (400, "illegal_argument_exception",
                             "Action/metadata line [3] contains an unknown parameter [_type]"), fl)
            eq(es.doc_count(), 0, f"{fl}: whole request refused")
            a = bulk(es, nd({"index": {"_index": "ev", "_id": "1"}}, {"a": 1}))
            [(op, it)] = items(a)
            check("_type" not in it, f"{fl}: no _type in items")
            eq(list(it), ["_index", "_id", "_version", "result", "_shards", "_seq_no", "_primary_term", "status"],
               fl)
            eq(call(es, "POST", "/ev/events/_bulk", nd({"index": {}}, {"a": 1}), NDJSON).status, 400,
               f"{fl}: no typed bulk route")
    with Elastic("8.13.0") as es:      # REST API compatibility with 7
        compat = {"Content-Type": "application/vnd.elasticsearch+x-ndjson;compatible-with=7",
                  "Accept": "application/vnd.elasticsearch+json;compatible-with=7"}
        a = bulk(es, nd({"index": {"_index": "ev", "_type": "_doc", "_id": "1"}}, {"a": 1}), headers=compat)
        eq(a.status, 200)
        eq(items(a)[0][1]["_type"], "_doc")
        eq(a.header("content-type"), "application/vnd.elasticsearch+json;compatible-with=7")
        check(a.header("warning") and "types removal" in a.header("warning"))
        a = bulk(es, nd({"index": {"_index": "ev"}}, {"a": 1}),
                 headers={"Content-Type": "application/vnd.elasticsearch+x-ndjson;compatible-with=6"})
        eq(a.json()["error"]["type"], "media_type_header_exception")


@test
def opensearch1_behaves_like_7():
    with Elastic("opensearch-1.3.14") as es:
        a = bulk(es, nd({"index": {"_index": "ev", "_type": "events", "_id": "1"}}, {"a": 1}))
        eq(a.status, 200)
        eq(a.header("Warning"), '299 OpenSearch-1.3.14-21940d8239b50285ef7f98a1762ef281a5b1c7ee '
                                '"[types removal] Specifying types in bulk requests is deprecated."')
        eq(items(a)[0][1]["_type"], "events")
        eq(a.header("X-elastic-product"), None)


# --------------------------------------------------------------------------- item semantics

@test
def create_conflict_index_overwrite_delete_update():
    with Elastic("8.13.0") as es:
        a = bulk(es, nd({"index": {"_index": "ix", "_id": "1"}}, {"v": 1},
                        {"index": {"_index": "ix", "_id": "1"}}, {"v": 2},
                        {"create": {"_index": "ix", "_id": "1"}}, {"v": 3},
                        {"create": {"_index": "ix", "_id": "2"}}, {"v": 4},
                        {"delete": {"_index": "ix", "_id": "nope"}},
                        {"update": {"_index": "ix", "_id": "2"}}, {"doc": {"w": 1}},
                        {"update": {"_index": "ix", "_id": "2"}}, {"doc": {"w": 1}},
                        {"update": {"_index": "ix", "_id": "3"}}, {"doc": {"w": 1}},
                        {"delete": {"_index": "ix", "_id": "1"}}))
        eq(a.status, 200)
        got = items(a)
        eq([(op, it["status"], it.get("result")) for op, it in got],
           [("index", 201, "created"), ("index", 200, "updated"), ("create", 409, None), ("create", 201, "created"),
            ("delete", 404, "not_found"), ("update", 200, "updated"), ("update", 200, "noop"),
            ("update", 404, None), ("delete", 200, "deleted")])
        eq(got[1][1]["_version"], 2)
        e = got[2][1]["error"]
        eq((e["type"], e["reason"], e["shard"], e["index"]),
           ("version_conflict_engine_exception",
            "[1]: version conflict, document already exists (current version [2])", "0", "ix"))
        check(e["index_uuid"] == es.indices()["ix"]["uuid"])
        eq(got[7][1]["error"]["type"], "document_missing_exception")
        eq(got[7][1]["error"]["reason"], "[3]: document missing")
        eq([it["_seq_no"] for _, it in got if "_seq_no" in it], [0, 1, 2, 3, 4, 4, 5], "seq_no per op")
        eq(a.json()["errors"], True)
        eq([(d["_id"], d["_source"], d["_version"]) for d in es.docs("ix")], [("2", {"v": 4, "w": 1}, 2)])
    with Elastic("7.17.9") as es:
        a = bulk(es, nd({"delete": {"_index": "ix", "_id": "x"}}, {"update": {"_index": "ix", "_id": "3"}},
                        {"doc": {"w": 1}}))
        got = items(a)
        eq(got[0][1]["error"]["type"], "index_not_found_exception", "deletes do not auto-create")
        eq(got[1][1]["error"]["reason"], "[_doc][3]: document missing")
        # a not_found delete alone is not an error
        call(es, "PUT", "/ix")
        a = bulk(es, nd({"delete": {"_index": "ix", "_id": "x"}}))
        eq((a.json()["errors"], items(a)[0][1]["status"]), (False, 404))


@test
def auto_create_off_and_index_names():
    with Elastic("7.17.9", auto_create=False) as es:
        a = bulk(es, nd({"index": {"_index": "missing"}}, {"a": 1}))
        [(op, it)] = items(a)
        eq((it["status"], it["_id"], it["_type"]), (404, None, "_doc"))
        eq(it["error"], {"type": "index_not_found_exception", "reason": "no such index [missing]",
                         "resource.type": "index_expression", "resource.id": "missing", "index_uuid": "_na_",
                         "index": "missing"})
        eq(call(es, "HEAD", "/missing").status, 404)
        eq(call(es, "PUT", "/missing").json(), {"acknowledged": True, "shards_acknowledged": True,
                                               "index": "missing"})
        eq(call(es, "HEAD", "/missing").status, 200)
        eq(items(bulk(es, nd({"index": {"_index": "missing"}}, {"a": 1})))[0][1]["status"], 201)
        eq(es.indices()["missing"]["created_by"], "put")
    with Elastic("7.17.9") as es:
        a = bulk(es, nd({"index": {"_index": "Bad"}}, {"a": 1}, {"index": {"_index": "_x"}}, {"a": 1},
                        {"index": {"_index": "a b"}}, {"a": 1}, {"index": {"_index": "ok"}}, {"a": 1}))
        got = items(a)
        eq([it["error"]["reason"] for _, it in got[:3]],
           ["Invalid index name [Bad], must be lowercase",
            "Invalid index name [_x], must not start with '_', '-', or '+'",
            'Invalid index name [a b], must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?]'])
        eq(got[3][1]["status"], 201)
        eq(es.indices()["ok"]["created_by"], "auto")
        a = call(es, "PUT", "/ok")
        eq(envelope(a)[:2], (400, "resource_already_exists_exception"))
        eq(a.json()["error"]["reason"], f"index [ok/{es.indices()['ok']['uuid']}] already exists")


@test
def per_item_faults_then_success():
    with Elastic("7.17.9") as es:
        h = es.fail_items(lambda index, id, src: id == "b", times=2)
        body = nd({"index": {"_index": "ix", "_id": "a"}}, {"n": 1}, {"index": {"_index": "ix", "_id": "b"}},
                  {"n": 2}, {"index": {"_index": "ix", "_id": "c"}}, {"n": 3})
        for attempt in range(2):
            a = bulk(es, body)
            j = a.json()
            eq(j["errors"], True, f"attempt {attempt}")
            got = items(a)
            eq([it["status"] for _, it in got], [201 if attempt == 0 else 200, 429, 201 if attempt == 0 else 200])
            eq(got[1][1]["error"]["type"], "es_rejected_execution_exception")
        a = bulk(es, body)
        eq((a.json()["errors"], [it["status"] for _, it in items(a)]), (False, [200, 201, 200]))
        eq(h.hits, 2)
        eq(sorted(d["_id"] for d in es.docs()), ["a", "b", "c"])
        # by source, auto ids, custom error; cancel() stops it
        h2 = es.fail_items(lambda i, d, s: (s or {}).get("poison") is True, status=400,
                           error_type="mapper_parsing_exception", reason="failed to parse", times=None)
        seen = []
        h3 = es.fail_items(lambda i, d, s: seen.append(d) or (s or {}).get("auto") is True, times=1)
        got = items(bulk(es, nd({"index": {"_index": "ix"}}, {"auto": True})))
        eq(got[0][1]["status"], 429)
        check(got[0][1]["_id"], "shard-level failures carry the generated id")
        eq(items(bulk(es, nd({"index": {"_index": "ix"}}, {"auto": True})))[0][1]["status"], 201,
           "an auto-id item is the same item when its source is")
        eq((seen[-2:], h3.hits), ([None, None], 1))
        h3.cancel()
        for _ in range(3):
            got = items(bulk(es, nd({"index": {"_index": "ix"}}, {"poison": True})))
            eq((got[0][1]["status"], got[0][1]["error"]["reason"]), (400, "failed to parse"))
        h2.cancel()
        eq(items(bulk(es, nd({"index": {"_index": "ix"}}, {"poison": True})))[0][1]["status"], 201)
        eq(h2.hits, 3)
        eq(es.bulk_requests()[-1]["failed"], 0)
        eq(es.bulk_requests()[-2]["failed"], 1)


@test
def poison_item_rejects_whole_request():
    with Elastic("8.13.0") as es:
        r = es.reject_bulk_if(lambda i, d, s: (s or {}).get("reason") == "Poison", status=413,
                              error_type="illegal_argument_exception", reason="too big", times=1)
        body = nd({"index": {"_index": "ix", "_id": "1"}}, {"reason": "ok"},
                  {"index": {"_index": "ix", "_id": "2"}}, {"reason": "Poison"})
        a = bulk(es, body)
        eq(envelope(a), (413, "illegal_argument_exception", "too big"))
        eq(es.doc_count(), 0, "nothing applied")
        a = bulk(es, body)
        eq((a.status, a.json()["errors"]), (200, False), "times=1")
        eq((r.hits, es.doc_count()), (1, 2))
        es.reject_bulk_if(lambda i, d, s: d == "9", body=b"", status=429)
        a = bulk(es, nd({"delete": {"_index": "ix", "_id": "9"}}))
        eq((a.status, a.body), (429, b""))


# --------------------------------------------------------------------------- filter_path

@test
def filter_path_patterns():
    with Elastic("7.17.9") as es:
        call(es, "PUT", "/ix")
        bulk(es, nd({"index": {"_index": "ix", "_id": "1"}}, {"a": 1}))
        body = nd({"create": {"_index": "ix", "_id": "1"}}, {"a": 1}, {"index": {"_index": "ix", "_id": "2"}},
                  {"a": 2})
        a = bulk(es, body, path="/_bulk?filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason")
        eq(a.json(), {"errors": True, "items": [
            {"create": {"status": 409, "error": {
                "type": "version_conflict_engine_exception",
                "reason": "[1]: version conflict, document already exists (current version [1])"}}},
            {"index": {"status": 201}}]})
        a = bulk(es, body, path="/_bulk?filter_path=took,errors,items.*.status")
        j = a.json()
        eq(list(j), ["took", "errors", "items"])
        eq(j["items"], [{"create": {"status": 409}}, {"index": {"status": 200}}])
        a = bulk(es, body, path="/_bulk?filter_path=items.*.error")
        eq(len(a.json()["items"]), 1, "items without an error vanish")
        a = bulk(es, body, path="/_bulk?filter_path=-items,-took")
        eq(a.json(), {"errors": True})
        a = bulk(es, body, path="/_bulk?filter_path=**.status,-items.create")
        eq(a.json(), {"items": [{"index": {"status": 200}}]})
        a = bulk(es, body, path="/_bulk?filter_path=nothing.here")
        eq(a.json(), {})
        eq(call(es, "GET", "/?filter_path=version.number,tag*").json(), {"version": {"number": "7.17.9"},
                                                                        "tagline": "You Know, for Search"})
        # error bodies are not filtered
        a = bulk(es, b'{"index":{}}', path="/_bulk?filter_path=errors")
        eq(a.json()["error"]["type"], "illegal_argument_exception")
    eq(filter_path({"a": [{"b": 1, "c": 2}, {"c": 3}, 4]}, "a.b"), {"a": [{"b": 1}]})
    eq(filter_path({"a": {"x": {"b": 1}, "y": {"b": 2, "c": 3}}}, "a.*.b"), {"a": {"x": {"b": 1}, "y": {"b": 2}}})
    eq(filter_path({"ab": 1, "ac": 2, "b": 3}, "a*"), {"ab": 1, "ac": 2})


# --------------------------------------------------------------------------- auth

@test
def auth_basic_and_api_key():
    with Elastic("8.13.0", user="elastic", password="pw", api_key=("kid", "ksecret")) as es:
        www = ['Basic realm="security" charset="UTF-8"', 'Bearer realm="security"', "ApiKey"]
        body = nd({"index": {"_index": "ix"}}, {"a": 1})
        a = bulk(es, body, path="/_bulk?refresh=true")
        eq(envelope(a), (401, "security_exception",
                         "missing authentication credentials for REST request [/_bulk?refresh=true]"))
        eq(a.headers.get("www-authenticate"), www)
        eq(a.json()["error"]["header"], {"WWW-Authenticate": www})
        basic = lambda u, p: {"Authorization": "Basic " + base64.b64encode(f"{u}:{p}".encode()).decode()}
        a = bulk(es, body, headers=basic("elastic", "nope"))
        eq(envelope(a)[2], "unable to authenticate user [elastic] for REST request [/_bulk]")
        a = bulk(es, body, headers={"Authorization": "ApiKey " + base64.b64encode(b"other:x").decode()})
        eq(envelope(a)[2], "unable to authenticate with provided credentials and anonymous access is not "
                           "allowed for this request")
        eq(a.json()["error"]["additional_unsuccessful_credentials"], "API key: unable to find apikey with id other")
        a = bulk(es, body, headers={"Authorization": "ApiKey " + base64.b64encode(b"kid:bad").decode()})
        eq(a.json()["error"]["additional_unsuccessful_credentials"], "API key: invalid credentials for API key [kid]")
        eq(call(es, "GET", "/").status, 401)
        eq(es.doc_count(), 0)
        eq(bulk(es, body, headers=basic("elastic", "pw")).status, 200)
        eq(bulk(es, body, headers={"Authorization": "apikey " + base64.b64encode(b"kid:ksecret").decode()}).status,
           200, "scheme is case-insensitive")
        eq(es.doc_count(), 2)
    with Elastic("6.8.23", user="u", password="p") as es:
        a = call(es, "GET", "/")
        eq(a.headers.get("www-authenticate"), ['Basic realm="security" charset="UTF-8"'])
    with Elastic("7.17.9", user="u", password="p") as es:
        eq(call(es, "GET", "/").headers.get("www-authenticate"), ['Basic realm="security" charset="UTF-8"', "ApiKey"])
    with Elastic("opensearch-2.11.0", user="admin", password="pw") as es:
        a = call(es, "GET", "/", headers={"Authorization": "Basic " + base64.b64encode(b"admin:x").decode()})
        eq((a.status, a.body, a.header("www-authenticate")), (401, b"Unauthorized",
                                                              'Basic realm="OpenSearch Security"'))
        eq(call(es, "GET", "/", headers={"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}).status,
           200)
    try:
        Elastic("opensearch-1.3.14", api_key=("a", "b"), start=False)
        raise AssertionError("OpenSearch has no API keys")
    except ValueError:
        pass


# --------------------------------------------------------------------------- connections

@test
def down_up_same_port_keeps_data():
    with Elastic("7.17.9") as es:
        port = es.port
        bulk(es, nd({"index": {"_index": "ix", "_id": "1"}}, {"a": 1}))
        keep = call(es, "GET", "/", keep=True).conn
        es.down()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            raise AssertionError("connection accepted while down")
        except ConnectionRefusedError:
            pass
        try:
            call(es, "GET", "/", conn=keep)
            raise AssertionError("kept-alive connection survived down()")
        except (http.client.HTTPException, OSError):
            pass
        es.up()
        eq(es.port, port, "same port")
        eq(call(es, "GET", "/ix/_doc/1").json()["_source"], {"a": 1})
        eq(es.doc_count(), 1)


@test
def keep_alive_reuses_one_connection():
    with Elastic("7.17.9") as es:
        conn = None
        for i in range(3):
            a = bulk(es, nd({"index": {"_index": "ix"}}, {"i": i}), conn=conn, keep=True)
            eq(a.status, 200)
            conn = a.conn
        conn.close()
        reqs = es.bulk_requests()
        eq(len(reqs), 3)
        eq(len({r["conn"] for r in reqs}), 1, "one TCP connection")
        eq([r["n_actions"] for r in reqs], [1, 1, 1])
        eq(reqs[0]["headers"]["content-type"], "application/x-ndjson")
        check(reqs[0]["body"].startswith(b'{"index"'))


@test
def scripted_responses_still_work():
    with Elastic("7.17.9") as es:
        es.script(Response(503, {"error": "x"}), Response.close())
        body = nd({"index": {"_index": "ix"}}, {"a": 1})
        eq(bulk(es, body).status, 503)
        try:
            bulk(es, body)
            raise AssertionError("closed without an answer expected")
        except (http.client.HTTPException, OSError):
            pass
        eq(bulk(es, body).status, 200)
        eq(es.doc_count(), 1, "scripted answers bypass emulation")


@test
def tls_listener():
    pki = make_tls_files(os.path.join(TMP, "pki"))
    with Elastic("8.13.0", certfile=pki["cert"], keyfile=pki["key"]) as es:
        check(es.url.startswith("https://127.0.0.1:"))
        ctx = ssl.create_default_context(cafile=pki["ca"])
        eq(call(es, "GET", "/", context=ctx).json()["version"]["number"], "8.13.0")


# --------------------------------------------------------------------------- NDJSON strictness

@test
def newline_rule_and_empty_bodies():
    with Elastic("7.17.9") as es:
        a = bulk(es, b'{"index":{"_index":"ix"}}\n{"a":1}')
        eq(envelope(a), (400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"))
        a = bulk(es, b'{"delete":{"_index":"ix","_id":"1"}}')
        eq(envelope(a)[2], "The bulk request must be terminated by a newline [\\n]")
        eq(es.doc_count(), 0)
        a = bulk(es, b'{"index":{"_index":"ix","_id":"1"}}\r\n{"a":1}\r\n\n\n{"index":{"_index":"ix","_id":"2"}}\n{"a":2}\n')
        eq((a.status, [it["status"] for _, it in items(a)]), (200, [201, 201]), "CRLF and blank lines")
        eq(es.docs("ix")[0]["_source"], {"a": 1})
        a = bulk(es, b"")
        eq(envelope(a), (400, "parse_exception", "request body is required"))
        a = bulk(es, b"\n\n")
        eq(envelope(a), (400, "action_request_validation_exception", "Validation Failed: 1: no requests added;"))
        a = bulk(es, b'{"index":{"_index":"ix"}}\n')
        eq(envelope(a)[2], "Validation Failed: 1: no requests added;", "trailing action without source dropped")
        a = bulk(es, nd({"index": {}}, {"a": 1}))
        eq(envelope(a)[2], "Validation Failed: 1: index is missing;")
        eq(items(bulk(es, nd({"index": {}}, {"a": 1}), path="/dflt/_bulk"))[0][1]["_index"], "dflt")
        a = bulk(es, nd({"index": {"_index": "ix", "_id": "x" * 513}}, {"a": 1}))
        eq(envelope(a)[2], f"Validation Failed: 1: id [{'x' * 513}] is too long, must be no longer than 512 "
                           f"bytes but was: 513;")


@test
def malformed_action_lines():
    with Elastic("7.17.9") as es:
        cases = [
            (b'["index"]\n{}\n', "Malformed action/metadata line [1], expected START_OBJECT but found [START_ARRAY]"),
            (b'{}\n{}\n', "Malformed action/metadata line [1], expected FIELD_NAME but found [END_OBJECT]"),
            (b'{"index":1}\n{}\n',
             "Malformed action/metadata line [1], expected START_OBJECT or END_OBJECT but found [VALUE_NUMBER_INT]"),
            (b'{"index":{"_index":"ix"}}\n{}\n{"index":{"_idx":"ix"}}\n{}\n',
             "Action/metadata line [3] contains an unknown parameter [_idx]"),
            (b'{"index":{"_index":["ix"]}}\n{}\n',
             "Malformed action/metadata line [1], expected a simple value for field [_index] but found [START_ARRAY]"),
            (b'{"index":{"_index":"ix"}}\n{}\n\n{"index":{"routing":{"a":1}}}\n{}\n',
             "Malformed action/metadata line [4], expected a simple value for field [routing] but found "
             "[START_OBJECT]"),
        ]
        for body, reason in cases:
            eq(envelope(bulk(es, body)), (400, "illegal_argument_exception", reason), body)
        a = bulk(es, b'{"index":{"_index":"ix"}\n{}\n')
        eq(a.status, 200, "Jackson stops reading after the action object")
        check(any("not closed" in x for x in es.bulk_requests()[-1]["anomalies"]))
        a = bulk(es, b'{"index":{"_index":"ix"},"junk":1}\n{}\n')
        eq(a.status, 200)
        check(any("extra keys" in x for x in es.bulk_requests()[-1]["anomalies"]))
        a = bulk(es, b'{"index":{"_index":"ix"}}\n{}\n{"upsert":{"_index":"ix"}}\n{}\n')
        eq((a.status, len(items(a))), (200, 1), "7.x skips unknown actions")
        check(any("unknown action [upsert]" in x for x in es.bulk_requests()[-1]["anomalies"]))
        a = bulk(es, b'{"index":{"_index":"ix"\n{}\n')
        eq(envelope(a)[1], "json_parse_exception")
        a = bulk(es, b'{"index":{"_index":"ix","_index":"iy"}}\n{}\n')
        eq(envelope(a)[1], "json_parse_exception")
        check(a.json()["error"]["reason"].startswith("Duplicate field '_index'"))
        eq(es.bulk_requests()[-1]["status"], 400)
    with Elastic("8.13.0") as es:
        a = bulk(es, b'{"index":{"_index":"ix"}}\n{}\n{"upsert":{"_index":"ix"}}\n{}\n')
        eq(envelope(a)[2], "Malformed action/metadata line [3], expected field [create], [delete], [index] or "
                           "[update] but found [upsert]")
        a = bulk(es, b'nope\n{}\n')
        st, t, reason = envelope(a)
        eq((st, t, a.json()["error"]["caused_by"]["type"]), (400, "x_content_parse_exception", "json_parse_exception"))
        check(reason.startswith("[1:5] Unrecognized token 'nope'"), reason)


@test
def malformed_sources_fail_per_item():
    for fl, etype in (("7.17.9", "mapper_parsing_exception"), ("8.13.0", "document_parsing_exception")):
        with Elastic(fl) as es:
            a = bulk(es, nd({"index": {"_index": "ix"}}, '{"a":', {"index": {"_index": "ix"}}, "[1,2]",
                            {"index": {"_index": "ix"}}, "", {"index": {"_index": "ix"}}, {"ok": True}))
            eq(a.status, 200, fl)
            got = items(a)
            eq([it["status"] for _, it in got], [400, 400, 400, 201], fl)
            eq([it["error"]["type"] for _, it in got[:3]], [etype] * 3, fl)
            if fl.startswith("7"):
                eq(got[0][1]["error"]["reason"], "failed to parse")
                eq(got[0][1]["error"]["caused_by"]["type"], "json_parse_exception")
                eq(got[1][1]["error"]["reason"], "Malformed content, must start with an object")
                eq(got[2][1]["error"]["reason"], "failed to parse, document is empty")
            else:
                check(got[0][1]["error"]["reason"].startswith("[1:"), got[0][1]["error"]["reason"])
            eq([d["_source"] for d in es.docs()], [{"ok": True}], fl)
        # update bodies are parsed at the coordinating node: the whole request fails
        with Elastic(fl) as es:
            a = bulk(es, nd({"update": {"_index": "ix", "_id": "1"}}, '{"doc":'))
            eq(a.status, 400, fl)


@test
def unrecognized_params_and_content_types():
    with Elastic("7.17.9") as es:
        body = nd({"index": {"_index": "ix"}}, {"a": 1})
        a = bulk(es, body, path="/_bulk?refres=true")
        eq(envelope(a), (400, "illegal_argument_exception",
                         "request [/_bulk] contains unrecognized parameter: [refres] -> did you mean [refresh]?"))
        a = bulk(es, body, headers={"Content-Type": "text/plain"})
        eq((a.status, a.json()), (406, {"error": "Content-Type header [text/plain] is not supported", "status": 406}))
        c = http.client.HTTPConnection("127.0.0.1", es.port, timeout=5)
        c.putrequest("POST", "/_bulk")
        c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        eq((r.status, json.loads(r.read())), (406, {"error": "Content-Type header is missing", "status": 406}))
        c.close()
        a = bulk(es, body, headers={"Content-Type": "application/json; charset=UTF-8"})
        eq(a.status, 200)
        a = bulk(es, gzip.compress(body), headers={"Content-Encoding": "gzip"})
        eq((a.status, es.doc_count()), (200, 2), "gzip request body")
        eq(bulk(es, body, path="/_bulk?refresh").json()["items"][0]["index"]["forced_refresh"], True)
        a = call(es, "GET", "/_bulk")
        eq(a.status, 405)
        eq(a.header("Allow"), "POST,PUT")


# --------------------------------------------------------------------------- data streams

@test
def data_streams_rules():
    today = datetime.datetime.utcnow().strftime("%Y.%m.%d")
    for fl, backing in (("8.13.0", f".ds-logs-k8s-{today}-000001"), ("7.17.9", f".ds-logs-k8s-{today}-000001"),
                        ("opensearch-2.11.0", ".ds-logs-k8s-000001")):
        with Elastic(fl, data_streams=("logs-k8s",)) as es:
            a = bulk(es, nd({"index": {"_index": "logs-k8s"}}, {"@timestamp": "2024-01-01T00:00:00Z"},
                            {"create": {"_index": "logs-k8s"}}, {"msg": "no time"},
                            {"create": {"_index": "logs-k8s"}}, {"@timestamp": "2024-01-01T00:00:00Z", "m": 1},
                            {"index": {"_index": "logs-k8s", "op_type": "create"}}, {"@timestamp": 1}))
            got = items(a)
            eq([it["status"] for _, it in got], [400, 400, 201, 201], fl)
            e0 = got[0][1]
            eq((e0["_index"], e0["_id"], e0["error"]["reason"]),
               ("logs-k8s", None, "only write ops with an op_type of create are allowed in data streams"), fl)
            e1 = got[1][1]["error"]
            if fl == "8.13.0":
                eq((e1["type"], e1["reason"]), ("document_parsing_exception",
                                                "[1:18] failed to parse: data stream timestamp field [@timestamp] "
                                                "is missing"))
            elif fl == "7.17.9":
                eq((e1["type"], e1["reason"], e1["caused_by"]["reason"]),
                   ("mapper_parsing_exception", "failed to parse", "data stream timestamp field [@timestamp] is missing"))
            else:
                eq(e1["caused_by"]["reason"],
                   "documents must contain a single-valued timestamp field '@timestamp' of date type")
            eq(got[2][1]["_index"], backing, fl)
            eq(len(es.docs("logs-k8s")), 2, fl)
            eq(call(es, "GET", "/_data_stream/logs-k8s").json()["data_streams"][0]["indices"][0]["index_name"],
               backing, fl)
            eq(call(es, "HEAD", "/logs-k8s").status, 200, fl)
    try:
        Elastic("6.8.23", data_streams=("x",), start=False)
        raise AssertionError("6.x has no data streams")
    except ValueError:
        pass


# --------------------------------------------------------------------------- indices, aliases, reading

@test
def indices_aliases_and_reads():
    with Elastic("7.17.9") as es:
        eq(call(es, "PUT", "/heapster-2024.01.01").status, 200)
        eq(call(es, "GET", "/heapster-2024.01.01/_alias").json(), {"heapster-2024.01.01": {"aliases": {}}})
        a = call(es, "GET", "/nope/_alias")
        eq(envelope(a), (404, "index_not_found_exception", "no such index [nope]"))
        eq(a.json()["error"]["resource.type"], "index_or_alias")
        a = call(es, "POST", "/_aliases", {"actions": [{"add": {"index": "heapster-2024.01.01",
                                                                "alias": "heapster-events"}}]})
        eq(a.json(), {"acknowledged": True})
        eq(call(es, "GET", "/heapster-2024.01.01/_alias").json(),
           {"heapster-2024.01.01": {"aliases": {"heapster-events": {}}}})
        eq(call(es, "HEAD", "/heapster-events").status, 200)
        eq(call(es, "HEAD", "/_alias/heapster-events").status, 200)
        eq(call(es, "GET", "/_alias/zzz").json(), {"error": "alias [zzz] missing", "status": 404})
        eq(es.aliases(), {"heapster-events": {"heapster-2024.01.01"}})
        # writes through the alias land in the index
        a = bulk(es, nd({"index": {"_index": "heapster-events", "_id": "e1"}}, {"reason": "BackOff", "count": 3},
                        {"index": {"_index": "heapster-events", "_id": "e2"}}, {"reason": "Pulled", "count": 1}))
        eq([it["_index"] for _, it in items(a)], ["heapster-2024.01.01"] * 2)
        eq(call(es, "GET", "/heapster-events/_count").json()["count"], 2)
        eq(call(es, "GET", "/heapster-events/_count?q=reason:BackOff").json()["count"], 1)
        s = call(es, "POST", "/heapster-*/_search", {"query": {"term": {"reason": "Pulled"}}}).json()
        eq([h["_id"] for h in s["hits"]["hits"]], ["e2"])
        eq(s["hits"]["total"], {"value": 1, "relation": "eq"})
        g = call(es, "GET", "/heapster-2024.01.01/_doc/e1").json()
        eq((g["found"], g["_source"]["count"], g["_type"]), (True, 3, "_doc"))
        eq(call(es, "GET", "/heapster-2024.01.01/_doc/none").status, 404)
        n = call(es, "GET", "/_nodes/http").json()
        eq(list(n["nodes"].values())[0]["http"]["publish_address"], f"127.0.0.1:{es.port}")
        eq(call(es, "DELETE", "/heapster-2024.01.01").json(), {"acknowledged": True})
        eq(es.doc_count(), 0)
    with Elastic("6.8.23") as es:
        bulk(es, nd({"index": {"_index": "ix", "_type": "events", "_id": "1"}}, {"a": 1}))
        eq(call(es, "GET", "/ix/_search").json()["hits"]["total"], 1, "6.x hits.total is a number")
        eq(call(es, "GET", "/ix/events/1").json()["_type"], "events")


@test
def pipelines_recorded():
    with Elastic("7.17.9", pipelines={"p1"}) as es:
        a = bulk(es, nd({"index": {"_index": "ix", "pipeline": "p2"}}, {"a": 1}, {"index": {"_index": "ix"}},
                        {"a": 2}), path="/_bulk?pipeline=p1")
        j = a.json()
        eq(list(j), ["took", "ingest_took", "errors", "items"])
        got = items(a)
        eq(got[0][1]["error"]["reason"], "pipeline with id [p2] does not exist")
        eq([(d["_source"], d["pipeline"]) for d in es.docs()], [({"a": 2}, "p1")])


# --------------------------------------------------------------------------- fast mode, concurrency

@test
def fast_mode_counts_without_storing():
    with Elastic("8.13.0", store=False) as es:
        n_req, per = 20, 1000
        doc = json.dumps({"metadata": {"name": "pod-x.17a", "namespace": "default"}, "reason": "BackOff",
                          "message": "Back-off restarting failed container" * 4, "count": 5, "type": "Warning"})
        body = "".join('{"index":{"_index":"heapster-2024.01.01","_id":"%d"}}\n%s\n' % (i, doc)
                       for i in range(per)).encode()
        conn = None
        t0 = time.perf_counter()
        for _ in range(n_req):
            a = bulk(es, body, conn=conn, keep=True, path="/_bulk?filter_path=errors,items.*.status")
            conn = a.conn
            eq(a.json()["errors"], False)
        dt = time.perf_counter() - t0
        conn.close()
        eq(es.wait_docs(n_req * per, timeout=5), n_req * per)
        eq(es.docs(), [], "nothing kept")
        eq(es.requests, [], "no per-request record")
        eq(es.bulk_requests()[0]["body"], None)
        eq(es.indices()["heapster-2024.01.01"]["docs"], n_req * per)
        rate = n_req * per / dt
        print(f"#   fast mode: {rate:,.0f} docs/s (client in the same process)")
        check(rate > 20000, f"fast mode too slow: {rate:.0f} docs/s")
        a = bulk(es, nd({"index": {"_index": "ix"}}, "[1]"))
        eq(items(a)[0][1]["status"], 400, "fast mode still refuses a non-object source")


@test
def concurrent_bulks_are_counted_exactly():
    with Elastic("7.17.9") as es:
        errs = []

        def worker(w):
            try:
                conn = None
                for i in range(25):
                    body = nd(*[x for j in range(20) for x in ({"index": {"_index": f"ix-{w % 2}",
                                                                           "_id": f"{w}-{i}-{j}"}}, {"w": w})])
                    a = bulk(es, body, conn=conn, keep=True)
                    conn = a.conn
                    if a.status != 200 or a.json()["errors"]:
                        errs.append(a.body[:200])
                conn.close()
            except Exception as e:  # noqa: BLE001
                errs.append(repr(e))
        ts = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(20)
        eq(errs, [])
        eq(es.wait_docs(4 * 25 * 20, timeout=5), 2000)
        eq(len(es.docs()), 2000)
        eq(len(es.bulk_requests()), 100)
        try:
            es.wait_docs(2001, timeout=0.3)
            raise AssertionError("wait_docs should time out")
        except AssertionError as e:
            check("2000 doc(s)" in str(e), str(e))


# --------------------------------------------------------------------------- runner

def main():
    k = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else ""
    sys.stdout.reconfigure(line_buffering=True)
    passed = failed = 0
    t_all = time.monotonic()
    n = 0
    for fn in TESTS:
        if k not in fn.__name__:
            continue
        n += 1
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print(f"ok {n} - {fn.__name__} ({time.monotonic() - t0:.2f}s)")
        except Exception as e:   # noqa: BLE001
            failed += 1
            print(f"not ok {n} - {fn.__name__} ({time.monotonic() - t0:.2f}s)")
            for line in "".join(traceback.format_exception(type(e), e, e.__traceback__)[-4:]).splitlines():
                print(f"#   {line}")
    shutil.rmtree(TMP, ignore_errors=True)
    print(f"# total {time.monotonic() - t_all:.1f}s, threads left {threading.active_count()}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
