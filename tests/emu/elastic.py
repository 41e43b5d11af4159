"""Elasticsearch / OpenSearch REST emulator for kube-eventer's tests and benchmarks.

Python 3.11 standard library only, loopback only.  Built on receivers.Recorder
(threaded HTTP/1.1, keep-alive, optional TLS, scripted responses), so
`script(Response(503), Response.hang(), Response.close(), ...)` still answers
the next requests before any emulation.

    es = Elastic(flavor="7.17.9")       # "6.8.23", "8.13.0", "opensearch-1.3.14", "opensearch-2.11.0"
    es = Elastic(flavor="8.13.0", user="elastic", password="pw", api_key=("id", "key"),
                 auto_create=True, data_streams=("logs-k8s",), pipelines=None, store=True,
                 certfile=None, keyfile=None, host="127.0.0.1", port=0, start=True)
    es.url                                   # http://127.0.0.1:PORT (https with certfile)

Inspection (all thread-safe; every returned structure is a copy):
    es.docs(index=None)      [{"_index", "_id", "_type" (None where the flavor has
                              no types), "_source" (parsed), "pipeline", "routing",
                              "_version", "_seq_no", "op"}] in index-creation and then
                              write order; `index` may be an index, alias or data stream
    es.doc_count(index=None) stored documents (store=False: documents accepted)
    es.indices()             {name: {"aliases": set, "created_by": "put"|"auto"|
                              "data_stream", "type": mapping type or None,
                              "data_stream": name or None, "docs": n, "uuid": str}}
    es.aliases()             {alias: set(indices)}
    es.bulk_requests()       one dict per _bulk request that reached the bulk handler:
                              n_actions, body (bytes; None when store=False), bytes,
                              params (multi-valued), headers (lower-case), path, conn,
                              status, errors (response flag), failed (items),
                              anomalies (what real ES tolerates but a client should not
                              send: extra keys after the action object, unknown actions
                              before 8.5, data after the action object), t (monotonic)
    es.wait_docs(n, timeout=10)   block until doc_count() >= n (AssertionError after)
    es.wait_bulks(n, timeout=10)  block until n bulk requests were answered
    es.requests / es.wait_for(n)  every HTTP request (receivers.Request); store=False
                              turns that per-request record off (counter `total` only)

Faults:
    h = es.fail_items(pred, status=429, error_type="es_rejected_execution_exception",
                      reason=None, times=1)
        every item for which pred(index, id, source) is true fails with that per-item
        error `times` times (per distinct item: (index, id, raw source); None = always),
        then goes through.  `index` is the name the item addressed, `id` its _id or None
        (auto id), `source` the parsed document (update: the update body; delete: None).
        h.hits counts the failures produced; h.cancel() removes it.  The default 429
        reason imitates the 7.9+ indexing-pressure rejection ("rejected execution of
        coordinating operation [...]"); its numbers are made up.
    h = es.reject_bulk_if(pred, status=400, error_type="illegal_argument_exception",
                          reason="rejected by the emulator", times=None, body=None,
                          headers=None)
        a whole request whose items include one matching pred is refused (nothing
        applied) with the ES error envelope (or `body`: bytes/str/dict) -- a poison item.
    es.down() / es.up()      stop listening (connections refused; open ones closed) and
                             come back on the SAME port; data is kept.
    es.script(...)           receivers.Response queue, before any emulation.
    es.set_auth(user=..., password=..., api_key=...) / es.reset() (forget all data).

Endpoints: GET|HEAD /, POST|PUT [/{index}[/{type}]]/_bulk, HEAD|GET|PUT|DELETE /{index},
GET /{index}/_alias[/{name}], GET|HEAD /_alias/{name}, PUT /{index}/_alias/{name},
POST /_aliases, GET /{index}/_doc/{id} (6.x: /{index}/{type}/{id}),
GET|POST [/{index}]/_search|_count (size, from, q=field:value, term/match query),
POST [/{index}]/_refresh, GET /_cluster/health, GET /_nodes[/_all]/http (olivere
sniffing), GET /_data_stream[/{name}].  Unknown paths: 400 "no handler found".
Responses carry Content-Type "application/json; charset=UTF-8" and, for
Elasticsearch >= 7.14, "X-elastic-product: Elasticsearch" (the official 8.x clients
check it).  `filter_path` (comma-separated, `*` within a name, `**` across levels,
`-` exclusions applied first, arrays transparent, emptied objects dropped) applies
to every non-error JSON answer (ES does not filter error bodies); `pretty` to all.
Request bodies may be gzip/deflate Content-Encoded.  Content-Type must be JSON:
application/json, application/x-ndjson (with charset), or for 8.x the
application/vnd.elasticsearch+json|x-ndjson;compatible-with=7|8 forms (7 turns on
the 7.x type rules for that request, as REST API compatibility does).

Fast mode for benchmarks: store=False counts accepted documents without keeping
them (no per-request record, no body copies, no create-conflict tracking: every
create succeeds with version 1), checks a source line only for starting with "{"
and ending with "}" (full JSON parsing happens only when a fault predicate or a
data stream needs the document), and keeps the action-line parse at json.loads
speed.  Measured 85k-110k docs/s (1000-action bulks of ~750-byte events, one
keep-alive connection from a separate client process, with and without
filter_path) on a 2-CPU host.

Standalone: `python3 tests/emu/elastic.py [flavor]` prints {"url", "flavor", "dist",
"pid"} as one JSON line and serves until SIGINT/SIGTERM.

What each flavor does, and where it comes from
-----------------------------------------------
Bulk NDJSON parsing follows BulkRequestParser (elastic/elasticsearch
server/src/main/java/org/elasticsearch/action/bulk/BulkRequestParser.java; the
OpenSearch copy in opensearch-project/OpenSearch), whole-request failures as
HTTP 400 with the error envelope {"error":{"root_cause":[..],"type","reason"},"status"}:
  * no body: parse_exception "request body is required" (RestRequest.requiredContent).
  * last line without "\\n": illegal_argument_exception "The bulk request must be
    terminated by a newline [\\n]" (findNextMarker); "\\r\\n" is accepted.  Empty lines
    are skipped (but counted in line numbers); an index/create/update action on the
    very last line with nothing after it is dropped, as the parser `break`s.
  * "Malformed action/metadata line [N], expected START_OBJECT but found [T]",
    "... expected FIELD_NAME but found [END_OBJECT]", "... expected START_OBJECT or
    END_OBJECT but found [T]", "... expected a simple value for field [F] but found
    [START_ARRAY]", "Action/metadata line [N] contains an unknown parameter [F]"
    (illegal_argument_exception).  Only the first key is read: extra keys or data
    after the action object are ignored by every emulated version (ES rejects them
    only with REST API v9, BulkRequestParserTests.testFailExtraKeys) -- recorded as
    anomalies.  Unknown action names are skipped with their source line before ES 8.5
    and in OpenSearch, and rejected from 8.5 ("Malformed action/metadata line [1],
    expected field [create], [delete], [index] or [update] but found [x]";
    elastic/elasticsearch#89450).
  * Action line that is not JSON: json_parse_exception (6.x, 7.x, OpenSearch) or, in
    8.x, x_content_parse_exception "[1:C] ..." caused by json_parse_exception (seen
    measured on 8.15 in a third-party emulator).  The Jackson wording is APPROXIMATE;
    duplicate keys are refused ("Duplicate field 'x'") as ES enables Jackson's
    STRICT_DUPLICATE_DETECTION.
  * BulkRequest.validate(): action_request_validation_exception "Validation Failed:
    1: index is missing;2: type is missing;" (numbered over all items), "no requests
    added", "id [..] is too long, must be no longer than 512 bytes but was: N".
  * Unknown URL parameters: "request [/_bulk] contains unrecognized parameter: [x]
    -> did you mean [y]?" (BaseRestHandler.unrecognized, Levenshtein > 0.5).
  * Content-Type missing/unsupported: 406 {"error":"Content-Type header [x] is not
    supported","status":406} (RestController.sendContentTypeErrorMessage).

`_type` rules:
  6.x     `_type` (or ?type= / the URL) is mandatory for every action: missing ->
          the whole request 400 "Validation Failed: 1: type is missing;" (server
          answer quoted in elastic/elasticsearch#93762 against 6.8.0; Hazelcast
          #23287 against 6.8.23).  An index holds one mapping type: another type is
          refused per item, 400 illegal_argument_exception "Rejecting mapping update
          to [idx] as the final mapping would have more than 1 type: [a, b]" (the list
          is a java.util.HashSet, printed in its iteration order -- which this emulator
          reproduces; it matches all seven reports found: elasticsearch#30508,
          #39575, #54483, #29316, SpamScope#11, zammad#1817, definitive-guide#504).
          `_doc` stands for the index's existing type (6.7+, unverified for bulk).
          Items carry "_type"; conflicts read "[type][id]: version conflict ...".
  7.x     `_type` accepted, deprecated: one "Warning: 299 Elasticsearch-<ver>-<hash>
          \\"[types removal] Specifying types in bulk requests is deprecated.\\""
          header per request (RestBulkAction.TYPES_DEPRECATION_MESSAGE; header seen in
          mastodon#14340, camunda#6868).  A custom type name (e.g. kube-eventer's
          "events") is accepted and becomes the index's single type if the index has
          none yet; `_doc` then resolves to it; a second custom type is refused per item
          as in 6.x (elastic/elasticsearch#54483 on 7.5.1: "[_doc, UPDATE]" on an index
          created with a mapping).  Items carry "_type" ("_doc" by default).
  8.x     `_type` in an action line: whole request 400 illegal_argument_exception
          "Action/metadata line [1] contains an unknown parameter [_type]"
          (sematext/logsene-js#42, serilog-sinks-elasticsearch#409, vector#14025).  No
          "_type" in responses.  With compatible-with=7 it behaves as 7.x.
  OpenSearch 1.x  as ES 7.10 (the fork point): accepted with the same deprecation
          text, "Warning: 299 OpenSearch-<ver>-<hash> ..." (BulkRequestParser with
          warnOnTypeUsage in opensearch-project/OpenSearch before 2.0).
  OpenSearch 2.x  rejected like ES 8 (opensearch-project/OpenSearch#2215 "[Remove]
          type support from Bulk API", issue #5276 quoting the error on 2.2.0).

Per-item results (BulkItemResponse/DocWriteResponse field order: _index, [_type], _id,
_version, result, [forced_refresh], _shards, _seq_no, _primary_term, status; failures:
_index, [_type], _id, status, error), top level took, [ingest_took], errors, items:
  * index: 201 "created" / 200 "updated" (version + 1); create of an existing _id: 409
    version_conflict_engine_exception "[id]: version conflict, document already exists
    (current version [N])" with index_uuid/shard/index (climatepolicyradar/cpr-issues#27
    on 7.x, elasticsearch#112537 on 8.x; 6.x "[type][id]:", fess#1103).
  * delete of a missing doc: 404 "not_found" -- not an error, `errors` stays false.
  * update: doc / doc_as_upsert / upsert; missing doc 404 document_missing_exception
    ("[_doc][5]: document missing" in 7.x per the bulk docs; "[type][5]" 6.x; "[5]"
    8.x and OpenSearch 2.x, unverified); unchanged doc -> "noop".
  * auto-create (default on): a missing index is created on first write.  Off: 404
    index_not_found_exception "no such index [x]" (elasticsearch#53378: with
    action.auto_create_index=false the reason has no "and ... is [false]" suffix),
    resource.type "index_expression" (unverified), _id null.
  * invalid index name: 400 invalid_index_name_exception ("must be lowercase", "must not
    start with '_', '-', or '+'", "must not contain the following characters [ , \\", *,
    \\\\, <, |, ,, >, /, ?]" (Strings.INVALID_FILENAME_CHARS, a HashSet), '#', ':').
  * empty _id: 400 illegal_argument_exception "if _id is specified it must not be
    empty" (IndexRouting.process).
  * data streams (ES >= 7.9, OpenSearch): `index` without op_type create -> 400
    illegal_argument_exception "only write ops with an op_type of create are allowed
    in data streams", _index = the stream name, _id null (jmeter-elasticsearch-backend-
    listener#123 on 7.x, opensearch-logger#7 on OpenSearch).  Writes land in
    ".ds-<name>-<yyyy.MM.dd>-000001" (ES >= 7.11) / ".ds-<name>-000001" (OpenSearch).
    No @timestamp: 7.x mapper_parsing_exception "failed to parse" caused by
    illegal_argument_exception "data stream timestamp field [@timestamp] is missing"
    (elasticsearch-js#1660 on 7.17); ES >= 8.8 document_parsing_exception "[1:C] failed
    to parse: data stream timestamp field [@timestamp] is missing" (elasticsearch#102144;
    DocumentParsingException from elasticsearch#92646); OpenSearch "documents must
    contain a single-valued timestamp field '@timestamp' of date type"
    (DataStreamFieldMapper).
  * a source line that is not a JSON object: mapper_parsing_exception "failed to parse"
    (+ caused_by json_parse_exception) / "Malformed content, must start with an object"
    (DocumentParser); ES >= 8.8 document_parsing_exception "[1:C] ...".  Empty source:
    "failed to parse, document is empty" (old wording, unverified for recent versions).
  * pipelines: pipelines=None accepts any name; a set lists the existing ones, others
    fail the item 400 "pipeline with id [x] does not exist"; "ingest_took" is added.

Auth (only when user/password or api_key is set):
  Elasticsearch: 401 security_exception "missing authentication credentials for REST
  request [/uri?query]" / "unable to authenticate user [u] for REST request [..]"
  (x-pack DefaultAuthenticationFailureHandler); bad API key: "unable to authenticate
  with provided credentials and anonymous access is not allowed for this request" with
  additional_unsuccessful_credentials "API key: unable to find apikey with id X" /
  "API key: invalid credentials for API key [X]" (8.x; ApiKeyService) -- 6.x/7.x reuse
  the 8.x wording, unverified.  The "header":{"WWW-Authenticate":[..]} metadata and one
  WWW-Authenticate response header per value: 6.x Basic only; 7.x Basic, ApiKey; 8.x
  Basic, Bearer realm="security", ApiKey; `Basic realm="security" charset="UTF-8"`
  gets a comma before charset from 8.15 (elasticsearch#110906).
  OpenSearch security plugin: 401 text/plain "Unauthorized" with
  `WWW-Authenticate: Basic realm="OpenSearch Security"` (HTTPBasicAuthenticator); no
  API keys (api_key is refused for OpenSearch flavors).

Root info (GET /, pretty-printed like RestMainAction): the exact name/number/build
fields of 6.8.23, 7.17.9, 8.13.0 (docker), OpenSearch 1.3.14 and 2.11.0 (tar), as
seen in published `curl :9200` outputs; other versions get their major's Lucene and
compatibility numbers (approximate).  OpenSearch adds "distribution":"opensearch" and
the tagline "The OpenSearch Project: https://opensearch.org/".

Not emulated: queries beyond term/match/q=field:value equality, scripts, routing to
shards (one shard), versioning parameters, refresh semantics (everything is visible
at once), response compression, the 9.x strictness.
"""
import base64
import collections
import datetime
import functools
import gzip
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from receivers import Recorder, Response  # noqa: E402

__all__ = ["Elastic", "Flavor", "filter_path", "java_hashset_order", "ItemFault", "BulkReject"]

JSON_CT = "application/json; charset=UTF-8"


# ----------------------------------------------------------------------------------
# Flavors
# ----------------------------------------------------------------------------------

# Exact root-info build fields of the named versions (published `curl :9200` outputs).
_BUILDS = {
    ("elasticsearch", "6.8.23"): ("default", "docker", "4f67856", "2022-01-06T21:30:50.087716Z",
                                  "7.7.3", "5.6.0", "5.0.0"),
    ("elasticsearch", "7.17.9"): ("default", "docker", "ef48222227ee6b9e70e502f0f0daa52435ee634d",
                                  "2023-01-31T05:34:43.305517834Z", "8.11.1", "6.8.0", "6.0.0-beta1"),
    ("elasticsearch", "8.13.0"): ("default", "docker", "09df99393193b2c53d92899662a8b8b3c55b45cd",
                                  "2024-03-22T03:35:46.757803203Z", "9.10.0", "7.17.0", "7.0.0"),
    ("opensearch", "1.3.14"): (None, "tar", "21940d8239b50285ef7f98a1762ef281a5b1c7ee",
                               "2023-12-08T22:13:08.793451Z", "8.10.1", "6.8.0", "6.0.0-beta1"),
    ("opensearch", "2.11.0"): (None, "tar", "4dcad6dd1fd45b6bd91f041a041829c8687278fa",
                               "2023-10-13T02:56:10.311811371Z", "9.7.0", "7.10.0", "7.0.0"),
}
# Other versions: their major's numbers (approximate).
_MAJOR_DEFAULTS = {
    ("elasticsearch", 6): _BUILDS[("elasticsearch", "6.8.23")],
    ("elasticsearch", 7): _BUILDS[("elasticsearch", "7.17.9")],
    ("elasticsearch", 8): _BUILDS[("elasticsearch", "8.13.0")],
    ("opensearch", 1): _BUILDS[("opensearch", "1.3.14")],
    ("opensearch", 2): _BUILDS[("opensearch", "2.11.0")],
}

TYPES_DEPRECATION = "[types removal] Specifying types in bulk requests is deprecated."


class Flavor:
    """What differs between the emulated products and versions (see the module doc)."""

    def __init__(self, spec):
        s = str(spec).strip().lower()
        dist = "elasticsearch"
        for prefix, d in (("opensearch-", "opensearch"), ("os-", "opensearch"),
                          ("elasticsearch-", "elasticsearch"), ("es-", "elasticsearch")):
            if s.startswith(prefix):
                dist, s = d, s[len(prefix):]
                break
        m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", s)
        if not m:
            raise ValueError(f"flavor {spec!r}: expected e.g. '7.17.9' or 'opensearch-2.11.0'")
        self.dist, self.number = dist, s
        self.version = tuple(int(x) for x in m.groups())
        self.major = self.version[0]
        if (dist, self.major) not in _MAJOR_DEFAULTS:
            raise ValueError(f"flavor {spec!r}: emulated are Elasticsearch 6-8 and OpenSearch 1-2")
        self.build = _BUILDS.get((dist, s), _MAJOR_DEFAULTS[(dist, self.major)])
        es, os_ = dist == "elasticsearch", dist == "opensearch"
        self.is_opensearch = os_
        # "required" (ES 6), "deprecated" (ES 7, OpenSearch 1), "rejected" (ES 8, OpenSearch 2)
        if es and self.major == 6:
            self.types = "required"
        elif (es and self.major == 7) or (os_ and self.major == 1):
            self.types = "deprecated"
        else:
            self.types = "rejected"
        self.product_header = es and self.version >= (7, 14, 0)
        self.data_streams = (es and self.version >= (7, 9, 0)) or os_
        self.ds_dated_backing = es and self.version >= (7, 11, 0)
        self.reject_unknown_actions = es and self.version >= (8, 5, 0)
        self.doc_parsing_exception = es and self.version >= (8, 8, 0)
        self.xcontent_parse_exception = es and self.major >= 8
        self.hits_total_object = not (es and self.major == 6)
        self.require_alias = (es and self.version >= (7, 10, 0)) or os_
        self.compat_media_types = es and self.version >= (7, 11, 0)
        self.underscore_meta = es and self.major == 6      # _routing, _version, ... in 6.x
        self.doc_alias_type = not (es and self.version < (6, 7, 0))
        agent = "OpenSearch" if os_ else "Elasticsearch"
        self.warning_agent = f"{agent}-{self.number}-{self.build[2]}"
        if os_:
            self.www_authenticate = ['Basic realm="OpenSearch Security"']
        else:
            basic = ('Basic realm="security", charset="UTF-8"' if self.version >= (8, 15, 0)
                     else 'Basic realm="security" charset="UTF-8"')
            self.www_authenticate = {6: [basic], 7: [basic, "ApiKey"]}.get(
                self.major, [basic, 'Bearer realm="security"', "ApiKey"])

    def __repr__(self):
        return f"<Flavor {self.dist} {self.number}>"


# ----------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------

def _java_string_hash(s):
    h = 0
    data = s.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h


def java_hashset_order(items):
    """Iteration order of a java.util.HashSet<String> built by adding `items` in order.

    HashMap: bucket = (h ^ (h >>> 16)) & (n - 1), n = 16 until more than 12 entries
    (then doubled); equal buckets keep insertion order.  Used for the "more than 1
    type: [a, b]" list (MapperService) and Strings.INVALID_FILENAME_CHARS.
    """
    uniq = list(dict.fromkeys(items))
    n = 16
    while len(uniq) > n * 3 // 4:
        n *= 2
    buckets = {}
    for it in uniq:
        h = _java_string_hash(it)
        buckets.setdefault((h ^ (h >> 16)) & (n - 1), []).append(it)
    return [x for b in sorted(buckets) for x in buckets[b]]


_INVALID_FILENAME_CHARS = "[" + ", ".join(java_hashset_order(
    ["\\", "/", "*", "?", '"', "<", ">", "|", " ", ","])) + "]"


def _levenshtein_similarity(a, b):
    """Lucene LevenshteinDistance.getDistance: 1 - edits / max(len)."""
    if not a and not b:
        return 1.0
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return 1.0 - prev[-1] / max(len(a), len(b))


def _dumps(obj, pretty=False):
    if pretty:
        return (json.dumps(obj, ensure_ascii=False, indent=2, separators=(",", " : ")) + "\n").encode()
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _err(etype, reason, status, *, caused_by=None, meta=None, root=None):
    """The ES error envelope.  `root` overrides the root_cause entry (deepest ES cause)."""
    e = {"type": etype, "reason": reason}
    if meta:
        e.update(meta)
    if caused_by:
        e["caused_by"] = caused_by
    rc = root if root is not None else {k: v for k, v in e.items() if k != "caused_by"}
    return {"error": dict({"root_cause": [rc]}, **e), "status": status}


def _item_error(etype, reason, *, caused_by=None, meta=None):
    e = {"type": etype, "reason": reason}
    if meta:
        e.update(meta)
    if caused_by:
        e["caused_by"] = caused_by
    return e


def _text(v):
    """XContentParser.text() of a scalar."""
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def _token(v):
    """Jackson token name of a parsed JSON value."""
    if isinstance(v, dict):
        return "START_OBJECT"
    if isinstance(v, list):
        return "START_ARRAY"
    if isinstance(v, str):
        return "VALUE_STRING"
    if v is True:
        return "VALUE_TRUE"
    if v is False:
        return "VALUE_FALSE"
    if v is None:
        return "VALUE_NULL"
    if isinstance(v, float):
        return "VALUE_NUMBER_FLOAT"
    return "VALUE_NUMBER_INT"


class _Dup(ValueError):
    pass


def _no_dup_pairs(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise _Dup(k)
        d[k] = v
    return d


def _no_constants(name):
    raise ValueError(f"Non-standard token '{name}'")


# Jackson as configured by ES: duplicate keys refused, no NaN/Infinity.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_dup_pairs, parse_constant=_no_constants)
_WS = " \t\r\n"


class _ParseError(Exception):
    """A JSON syntax error, with a Jackson-like message (APPROXIMATE wording)."""

    def __init__(self, msg, col, kind="json"):
        super().__init__(msg)
        self.msg, self.col, self.kind = msg, col, kind     # kind: "json" | "extra" (data after the value)


def _jackson_error(text, exc):
    """Turn a json/_Dup error on `text` into a Jackson-like message + 1-based column."""
    src = text if len(text) <= 500 else text[:500] + "..."
    if isinstance(exc, _Dup):
        col = len(text) + 1
        key = exc.args[0]
        i = text.rfind(json.dumps(key))
        if i >= 0:
            col = i + len(json.dumps(key)) + 1
        msg = f"Duplicate field '{key}'"
    else:
        pos = getattr(exc, "pos", len(text))
        col = pos + 1
        if pos >= len(text.rstrip(_WS)):
            msg = "Unexpected end-of-input: expected close marker for Object"
        else:
            ch = text[pos]
            if ch.isalpha():
                tok = re.match(r"[A-Za-z0-9_]+", text[pos:]).group(0)
                msg = (f"Unrecognized token '{tok}': was expecting (JSON String, Number, Array, "
                       f"Object or token 'null', 'true' or 'false')")
                col = pos + len(tok) + 1
            else:
                what = {
                    "Expecting property name enclosed in double quotes": "was expecting double-quote to start field name",
                    "Expecting ',' delimiter": "was expecting comma to separate Object entries",
                    "Expecting ':' delimiter": "was expecting a colon to separate field name and value",
                }.get(getattr(exc, "msg", ""), "expected a valid value (JSON String, Number, Array, Object "
                                                "or token 'null', 'true' or 'false')")
                msg = f"Unexpected character ('{ch}' (code {ord(ch)})): {what}"
    return _ParseError(f'{msg}\n at [Source: (byte[])"{src}"; line: 1, column: {col}]', col)


def _loads_strict(text):
    """Parse one complete JSON value (duplicates refused); raise _ParseError."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _ParseError(f"Invalid UTF-8 start byte 0x{text[e.start]:02x}", e.start + 1)
    try:
        i = len(text) - len(text.lstrip(_WS))
        v, end = _DECODER.raw_decode(text, i)
    except (ValueError, _Dup) as e:
        raise _jackson_error(text, e)
    rest = text[end:].strip(_WS)
    if rest:
        # Jackson's DocumentParser.validateEnd: extra data after the object.
        raise _ParseError("Malformed content, found extra data after parsing: "
                          + _token_name_of_text(rest), end + 1, "extra")
    return v


def _token_name_of_text(rest):
    c = rest[0]
    return {"{": "START_OBJECT", "[": "START_ARRAY", '"': "VALUE_STRING", "}": "END_OBJECT",
            "]": "END_ARRAY"}.get(c, "VALUE_NUMBER_INT" if (c.isdigit() or c == "-") else "VALUE_STRING")


def _get_path(doc, path):
    cur = doc
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return doc.get(path, _MISSING) if isinstance(doc, dict) else _MISSING
    return cur


_MISSING = object()


def _deep_merge(dst, src):
    """XContentHelper.update: recursive merge of maps; returns True if dst changed."""
    changed = False
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            changed |= _deep_merge(dst[k], v)
        elif k not in dst or dst[k] != v:
            dst[k] = v
            changed = True
    return changed


# ----------------------------------------------------------------------------------
# filter_path
# ----------------------------------------------------------------------------------

def _seg_matcher(seg):
    if seg == "**":
        return "**"
    if "*" not in seg:
        return seg
    rx = re.compile("^" + ".*".join(re.escape(p) for p in seg.split("*")) + "$", re.S)
    return rx


def _seg_match(m, key):
    if isinstance(m, str):
        return m == key
    return m.match(key) is not None


@functools.lru_cache(maxsize=256)
def _compile_filter_path(spec):
    inc, exc = [], []
    for f in spec.split(","):
        f = f.strip()
        if not f:
            continue
        target = inc
        if f.startswith("-"):
            target, f = exc, f[1:]
        segs = [_seg_matcher(s) for s in f.split(".") if s != ""]
        if segs:
            target.append(tuple(segs))
    return tuple(inc), tuple(exc)


_ADVANCE_MEMO = {}


def _advance(paths, key):
    """-> (full_match, next_paths) for a child named `key` (memoized: keys repeat a lot)."""
    k = (paths, key)
    r = _ADVANCE_MEMO.get(k)
    if r is None:
        if len(_ADVANCE_MEMO) > 100_000:
            _ADVANCE_MEMO.clear()
        r = _ADVANCE_MEMO[k] = _advance_uncached(paths, key)
    return r


def _advance_uncached(paths, key):
    full = False
    nxt = []
    for p in paths:
        stack = [p]
        while stack:
            q = stack.pop()
            if not q:
                continue
            s = q[0]
            if s == "**":
                nxt.append(q)            # ** keeps matching deeper levels
                stack.append(q[1:])      # ... or matches zero levels
                continue
            if _seg_match(s, key):
                if len(q) == 1:
                    full = True
                else:
                    nxt.append(q[1:])
    return full, tuple(dict.fromkeys(nxt))


def _include(node, paths):
    """Keep what the inclusion paths select; -> value or _MISSING."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            full, nxt = _advance(paths, k)
            if full:
                out[k] = v
            elif nxt:
                r = _include(v, nxt)
                if r is not _MISSING:
                    out[k] = r
        return out if out else _MISSING
    if isinstance(node, list):
        out = [r for r in (_include(v, paths) for v in node) if r is not _MISSING]
        return out if out else _MISSING
    return _MISSING                       # a scalar where the path goes on


def _exclude(node, paths):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            full, nxt = _advance(paths, k)
            if full:
                continue
            out[k] = _exclude(v, nxt) if nxt else v
        return out
    if isinstance(node, list):
        return [_exclude(v, paths) for v in node]
    return node


def filter_path(obj, spec):
    """Apply an ES `filter_path` expression to a decoded JSON response."""
    inc, exc = _compile_filter_path(spec)
    if exc:
        obj = _exclude(obj, exc)
    if inc:
        r = _include(obj, inc)
        obj = {} if r is _MISSING else r
    return obj


# ----------------------------------------------------------------------------------
# State
# ----------------------------------------------------------------------------------

class _Index:
    __slots__ = ("name", "uuid", "created_by", "aliases", "mtype", "docs", "seq", "data_stream",
                 "created", "count")

    def __init__(self, name, created_by, mtype=None, data_stream=None):
        self.name, self.created_by, self.mtype, self.data_stream = name, created_by, mtype, data_stream
        self.uuid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()[:22]
        self.aliases = {}           # alias -> {"is_write_index": bool|None}
        self.docs = {}              # id -> record dict
        self.seq = -1
        self.created = time.time()
        self.count = 0              # accepted documents (store=False)


class ItemFault:
    """Handle returned by Elastic.fail_items()."""

    def __init__(self, owner, pred, status, error_type, reason, times):
        self._owner, self.pred, self.status, self.error_type = owner, pred, status, error_type
        self.reason, self.times, self.hits = reason, times, 0
        self._per_item = collections.Counter()

    def cancel(self):
        with self._owner._lock:
            if self in self._owner._item_faults:
                self._owner._item_faults.remove(self)

    def __repr__(self):
        return f"<ItemFault {self.status} {self.error_type} hits={self.hits}>"


class BulkReject:
    """Handle returned by Elastic.reject_bulk_if()."""

    def __init__(self, owner, pred, status, error_type, reason, times, body, headers):
        self._owner, self.pred, self.status, self.error_type = owner, pred, status, error_type
        self.reason, self.times, self.body, self.headers, self.hits = reason, times, body, headers, 0

    def cancel(self):
        with self._owner._lock:
            if self in self._owner._rejects:
                self._owner._rejects.remove(self)

    def __repr__(self):
        return f"<BulkReject {self.status} hits={self.hits}>"


class _Reply(Exception):
    """Raised inside handlers: answer with this Response."""

    def __init__(self, resp):
        super().__init__()
        self.resp = resp


class _Ctx:
    """A receivers.Request plus what the emulator learnt about it (Request has __slots__)."""

    __slots__ = ("req", "_es_compat", "_es_ct")

    def __init__(self, req):
        self.req, self._es_compat, self._es_ct = req, None, None

    def __getattr__(self, name):
        return getattr(self.req, name)

    @property
    def body(self):
        return self.req.body

    @body.setter
    def body(self, value):
        self.req.body = value


class _Item:
    __slots__ = ("op", "index", "type", "id", "routing", "pipeline", "op_type", "require_alias",
                 "raw", "source", "line", "parsed", "version")

    def __init__(self, op):
        self.op = op
        self.index = self.type = self.id = self.routing = self.pipeline = self.op_type = None
        self.require_alias = False
        self.raw = None             # source line (str) for index/create, parsed body for update
        self.source = _MISSING      # parsed document (lazy for index/create)
        self.line = 0
        self.version = None


# Parameters the bulk REST handler consumes (+ the ones every handler accepts).
_BULK_PARAMS_COMMON = {"wait_for_active_shards", "refresh", "routing", "timeout", "pipeline", "_source",
                       "_source_includes", "_source_excludes", "filter_path", "pretty", "human",
                       "error_trace", "format"}


# ----------------------------------------------------------------------------------
# The emulator
# ----------------------------------------------------------------------------------

class Elastic(Recorder):
    """Elasticsearch/OpenSearch REST emulator (see the module docstring)."""

    def __init__(self, flavor="7.17.9", *, user=None, password=None, api_key=None, auto_create=True,
                 data_streams=(), pipelines=None, store=True, host="127.0.0.1", port=0, certfile=None,
                 keyfile=None, cluster_name="docker-cluster", node_name="es-emu", start=True, **kw):
        kw.setdefault("record", bool(store))
        kw.setdefault("max_body", 256 << 20)
        super().__init__(host, port, certfile=certfile, keyfile=keyfile, start=False, **kw)
        self.flavor = flavor if isinstance(flavor, Flavor) else Flavor(flavor)
        self.store = bool(store)
        self.auto_create = auto_create
        self.pipelines = None if pipelines is None else set(pipelines)
        self.cluster_name, self.node_name = cluster_name, node_name
        self.cluster_uuid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()[:22]
        self.node_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()[:22]
        self._lock = threading.RLock()
        self._docs_cond = threading.Condition(self._lock)
        self._ds_names = tuple(data_streams)
        if self._ds_names and not self.flavor.data_streams:
            raise ValueError(f"{self.flavor}: data streams exist from Elasticsearch 7.9 / OpenSearch 1.0")
        self._item_faults = []
        self._rejects = []
        self._auth_basic = None
        self._api_keys = {}
        self.set_auth(user=user, password=password, api_key=api_key)
        self._reset_state()
        if start:
            self.start()

    # --- configuration ---------------------------------------------------------------
    def set_auth(self, user=None, password=None, api_key=None):
        """Require Basic (user, password) and/or ApiKey credentials; all None = open."""
        keys = {}
        if api_key is not None:
            if self.flavor.is_opensearch:
                raise ValueError("OpenSearch has no API keys (security plugin: Basic only)")
            for k in ([api_key] if isinstance(api_key, tuple) else list(api_key)):
                kid, secret = k
                keys[str(kid)] = str(secret)
        with self._lock:
            self._auth_basic = (str(user), str(password or "")) if user is not None else None
            self._api_keys = keys

    def _reset_state(self):
        with self._lock:
            self._indices = {}            # name -> _Index (creation order)
            self._data_streams = {}       # name -> [backing index names]
            self._bulk_log = []
            self._doc_total = 0           # documents currently stored / accepted
            self._bulks_done = 0
            for name in self._ds_names:
                self._create_data_stream(name)

    def reset(self):
        """Forget indices, documents, bulk records and faults (auth and flavor stay)."""
        with self._lock:
            self._item_faults.clear()
            self._rejects.clear()
            self._reset_state()
        self.clear()

    def _create_data_stream(self, name):
        if self.flavor.ds_dated_backing:
            backing = f".ds-{name}-{datetime.datetime.utcnow():%Y.%m.%d}-000001"
        else:
            backing = f".ds-{name}-000001"
        self._indices[backing] = _Index(backing, "data_stream", None if self.flavor.types == "rejected" else "_doc",
                                        data_stream=name)
        self._data_streams[name] = [backing]

    # --- faults -----------------------------------------------------------------------
    def fail_items(self, pred, status=429, error_type="es_rejected_execution_exception", reason=None, times=1):
        if reason is None:
            reason = {429: "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, "
                           "replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1024, "
                           "max_coordinating_and_primary_bytes=0]"}.get(status, f"emulated failure ({status})")
        f = ItemFault(self, pred, int(status), error_type, reason, times)
        with self._lock:
            self._item_faults.append(f)
        return f

    def reject_bulk_if(self, pred, status=400, error_type="illegal_argument_exception",
                       reason="rejected by the emulator", times=None, body=None, headers=None):
        r = BulkReject(self, pred, int(status), error_type, reason, times, body, headers)
        with self._lock:
            self._rejects.append(r)
        return r

    def down(self):
        """Stop listening (new connections are refused) and close open ones; data stays."""
        self.stop()

    def up(self):
        """Listen again on the same port."""
        self.start()
        return self

    # --- inspection -------------------------------------------------------------------
    def _resolve_names(self, name):
        """index / alias / data stream name -> list of concrete index names."""
        if name in self._indices:
            return [name]
        if name in self._data_streams:
            return list(self._data_streams[name])
        return [i.name for i in self._indices.values() if name in i.aliases]

    def docs(self, index=None):
        with self._lock:
            names = list(self._indices) if index is None else self._resolve_names(index)
            out = []
            for n in names:
                for rec in self._indices[n].docs.values():
                    d = dict(rec)
                    d["_source"] = json.loads(json.dumps(rec["_source"]))
                    out.append(d)
            return out

    def doc_count(self, index=None):
        with self._lock:
            if index is None:
                return self._doc_total
            return sum((len(self._indices[n].docs) if self.store else self._indices[n].count)
                       for n in self._resolve_names(index))

    def indices(self):
        with self._lock:
            return {n: {"aliases": set(i.aliases), "created_by": i.created_by, "type": i.mtype,
                        "data_stream": i.data_stream, "uuid": i.uuid,
                        "docs": len(i.docs) if self.store else i.count}
                    for n, i in self._indices.items()}

    def aliases(self):
        with self._lock:
            out = {}
            for i in self._indices.values():
                for a in i.aliases:
                    out.setdefault(a, set()).add(i.name)
            return out

    def bulk_requests(self):
        with self._lock:
            return [dict(b) for b in self._bulk_log]

    def wait_docs(self, n, timeout=10.0):
        end = time.monotonic() + timeout
        with self._docs_cond:
            while self._doc_total < n:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"Elastic: {self._doc_total} doc(s) after {timeout}s, wanted {n}")
                self._docs_cond.wait(min(left, 0.25))
            return self._doc_total

    def wait_bulks(self, n, timeout=10.0):
        end = time.monotonic() + timeout
        with self._docs_cond:
            while self._bulks_done < n:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"Elastic: {self._bulks_done} bulk request(s) after {timeout}s, "
                                         f"wanted {n}")
                self._docs_cond.wait(min(left, 0.25))
            return self.bulk_requests()

    # --- response helpers ---------------------------------------------------------------
    def _headers(self, ct=JSON_CT, extra=()):
        h = [("content-type", ct)]
        if self.flavor.product_header:
            h.append(("X-elastic-product", "Elasticsearch"))
        h.extend(extra)
        return h

    def _json(self, status, obj, req=None, *, filt=True, extra=(), ct=None):
        pretty = False
        if req is not None:
            p = req.param("pretty")
            pretty = p is not None and p != "false"
            fp = req.param("filter_path")
            if filt and fp and 200 <= status < 300:
                obj = filter_path(obj, fp)
        ctype = ct or (getattr(req, "_es_ct", None) if req is not None else None) or JSON_CT
        return Response(status, _dumps(obj, pretty), self._headers(ctype, extra))

    def _error(self, status, envelope, req=None, extra=()):
        return self._json(status, envelope, req, filt=False, extra=extra)

    def _simple_error(self, status, message, req=None, extra=()):
        return self._error(status, {"error": message, "status": status}, req, extra)

    # --- request entry ------------------------------------------------------------------
    def handle(self, request):
        req = _Ctx(request)
        try:
            self._check_auth(req)
            self._decode_body(req)
            return self._route(req)
        except _Reply as r:
            return r.resp

    def _check_auth(self, req):
        basic, keys = self._auth_basic, self._api_keys
        if basic is None and not keys:
            return
        fl = self.flavor
        h = req.headers.get("authorization", "")
        scheme, _, cred = h.partition(" ")
        scheme = scheme.lower()
        cred = cred.strip()
        uri = req.target
        if fl.is_opensearch:
            ok = False
            if scheme == "basic" and basic is not None:
                try:
                    u, _, p = base64.b64decode(cred, validate=True).decode("utf-8").partition(":")
                    ok = (u, p) == basic
                except ValueError:
                    ok = False
            if not ok:
                raise _Reply(Response(401, b"Unauthorized",
                                      [("WWW-Authenticate", fl.www_authenticate[0]),
                                       ("content-type", "text/plain; charset=UTF-8")]))
            return
        www = [("WWW-Authenticate", v) for v in fl.www_authenticate]
        meta_header = {"header": {"WWW-Authenticate": list(fl.www_authenticate)}}
        if scheme == "basic" and basic is not None:
            try:
                u, _, p = base64.b64decode(cred, validate=True).decode("utf-8").partition(":")
            except ValueError:
                u, p = None, None
            if u is not None and (u, p) == basic:
                return
            reason = (f"unable to authenticate user [{u}] for REST request [{uri}]" if u is not None
                      else f"missing authentication credentials for REST request [{uri}]")
            raise _Reply(self._error(401, _err("security_exception", reason, 401, meta=meta_header), None, www))
        if scheme == "apikey" and keys:
            try:
                kid, _, secret = base64.b64decode(cred, validate=True).decode("utf-8").partition(":")
            except ValueError:
                kid, secret = cred, None
            if kid in keys and keys[kid] == secret:
                return
            why = (f"API key: unable to find apikey with id {kid}" if kid not in keys
                   else f"API key: invalid credentials for API key [{kid}]")
            meta = {"additional_unsuccessful_credentials": why}
            meta.update(meta_header)
            raise _Reply(self._error(401, _err(
                "security_exception",
                "unable to authenticate with provided credentials and anonymous access is not allowed for this request",
                401, meta=meta), None, www))
        raise _Reply(self._error(401, _err("security_exception",
                                           f"missing authentication credentials for REST request [{uri}]",
                                           401, meta=meta_header), None, www))

    def _decode_body(self, req):
        ce = req.headers.get("content-encoding", "").strip().lower()
        if req.body and ce in ("gzip", "x-gzip", "deflate"):
            try:
                if ce == "deflate":
                    try:
                        req.body = zlib.decompress(req.body)
                    except zlib.error:
                        req.body = zlib.decompress(req.body, -zlib.MAX_WBITS)
                else:
                    req.body = gzip.decompress(req.body)
            except (OSError, EOFError, zlib.error):
                raise _Reply(self._simple_error(400, "emulator: the body is not valid " + ce, None))
        req._es_compat = None
        req._es_ct = None
        fl = self.flavor
        # Accept: a compatible-with media type asks for that REST API version.
        for hname in ("accept", "content-type"):
            v = req.headers.get(hname, "")
            m = re.search(r"application/vnd\.elasticsearch\+(json|x-ndjson)\s*;\s*compatible-with\s*=\s*(\d+)", v,
                          re.I)
            if m and fl.compat_media_types:
                ver = int(m.group(2))
                if not fl.compat_media_types or ver not in (fl.major - 1, fl.major) or ver < 7:
                    raise _Reply(self._error(400, _err(
                        "media_type_header_exception",
                        "Invalid media-type value on headers [Accept, Content-Type]", 400,
                        caused_by={"type": "status_exception",
                                   "reason": f"A compatible version is required on both Content-Type and Accept "
                                             f"headers if either one has requested a compatible version and the "
                                             f"compatible versions must match. Accept={req.headers.get('accept')}, "
                                             f"Content-Type={req.headers.get('content-type')}"}), None))
                req._es_compat = ver
                req._es_ct = f"application/vnd.elasticsearch+json;compatible-with={ver}"
        if req.body:
            ct = req.headers.get("content-type")
            if ct is None:
                raise _Reply(self._simple_error(406, "Content-Type header is missing", None))
            base = ct.split(";", 1)[0].strip().lower()
            ok = base in ("application/json", "application/x-ndjson")
            if base in ("application/vnd.elasticsearch+json", "application/vnd.elasticsearch+x-ndjson"):
                ok = req._es_compat is not None
            if not ok:
                raise _Reply(self._simple_error(406, f"Content-Type header [{ct}] is not supported", None))

    def _route(self, req):
        path = urllib.parse.unquote(req.path)
        parts = [p for p in path.split("/") if p != ""]
        m = req.method
        n = len(parts)
        if n == 0:
            if m in ("GET", "HEAD"):
                return self._root(req)
            return self._bad_method(req, ["GET", "HEAD"])
        last = parts[-1]
        if last == "_bulk" and n <= 3:
            if m not in ("POST", "PUT"):
                return self._bad_method(req, ["POST", "PUT"])
            if n == 3 and self.flavor.types == "rejected" and req._es_compat != 7:
                return self._no_handler(req)
            return self._bulk(req, parts[0] if n >= 2 else None, parts[1] if n == 3 else None)
        if parts[0] == "_aliases" and n == 1:
            if m != "POST":
                return self._bad_method(req, ["POST"])
            return self._update_aliases(req)
        if parts[0] == "_alias" and n == 2:
            if m not in ("GET", "HEAD"):
                return self._bad_method(req, ["GET", "HEAD"])
            return self._get_alias(req, None, parts[1])
        if parts[0] == "_nodes" and (parts[1:] in (["http"], ["_all", "http"], [])):
            return self._nodes(req)
        if parts == ["_cluster", "health"]:
            return self._json(200, self._health(), req)
        if parts[0] == "_data_stream" and n <= 2:
            return self._get_data_stream(req, parts[1] if n == 2 else None)
        if last in ("_search", "_count") and n <= 2:
            if m not in ("GET", "POST"):
                return self._bad_method(req, ["GET", "POST"])
            return self._search(req, parts[0] if n == 2 else None, last == "_count")
        if last == "_refresh" and n <= 2:
            if m not in ("GET", "POST"):
                return self._bad_method(req, ["GET", "POST"])
            if n == 2:
                self._concrete_or_404(parts[0])
            return self._json(200, {"_shards": {"total": 2, "successful": 1, "failed": 0}}, req)
        if parts[0].startswith("_"):
            return self._no_handler(req)
        index = parts[0]
        if n == 1:
            if m == "HEAD":
                with self._lock:
                    found = bool(self._resolve_names(index))
                return Response(200 if found else 404, b"", self._headers("text/plain; charset=UTF-8"))
            if m == "PUT":
                return self._create_index(req, index)
            if m == "GET":
                return self._get_index(req, index)
            if m == "DELETE":
                return self._delete_index(req, index)
            return self._bad_method(req, ["DELETE", "GET", "HEAD", "PUT"])
        if parts[1] in ("_alias", "_aliases") and n in (2, 3):
            if n == 3 and m in ("PUT", "POST"):
                return self._put_alias(req, index, parts[2])
            if m not in ("GET", "HEAD"):
                return self._bad_method(req, ["GET", "HEAD"])
            return self._get_alias(req, index, parts[2] if n == 3 else None)
        if n == 3 and m in ("GET", "HEAD") and (parts[1] == "_doc" or (
                self.flavor.types != "rejected" and not parts[1].startswith("_"))):
            return self._get_doc(req, index, parts[1], parts[2])
        return self._no_handler(req)

    def _no_handler(self, req):
        return self._simple_error(400, f"no handler found for uri [{req.target}] and method [{req.method}]", req)

    def _bad_method(self, req, allowed):
        return self._simple_error(405, f"Incorrect HTTP method for uri [{req.target}] and method [{req.method}], "
                                       f"allowed: [{', '.join(allowed)}]", req,
                                  extra=[("Allow", ",".join(allowed))])

    # --- small endpoints ------------------------------------------------------------------
    def _root(self, req):
        fl = self.flavor
        flav, btype, bhash, bdate, lucene, wire, idxc = fl.build
        v = {}
        if fl.is_opensearch:
            v["distribution"] = "opensearch"
        v["number"] = fl.number
        if flav is not None:
            v["build_flavor"] = flav
        v.update({"build_type": btype, "build_hash": bhash, "build_date": bdate, "build_snapshot": False,
                  "lucene_version": lucene, "minimum_wire_compatibility_version": wire,
                  "minimum_index_compatibility_version": idxc})
        body = {"name": self.node_name, "cluster_name": self.cluster_name, "cluster_uuid": self.cluster_uuid,
                "version": v,
                "tagline": "The OpenSearch Project: https://opensearch.org/" if fl.is_opensearch
                else "You Know, for Search"}
        fp = req.param("filter_path")
        if fp:
            body = filter_path(body, fp)
        return Response(200, _dumps(body, pretty=True), self._headers(req._es_ct or JSON_CT))

    def _health(self):
        with self._lock:
            n = len(self._indices)
        return {"cluster_name": self.cluster_name, "status": "green", "timed_out": False,
                "number_of_nodes": 1, "number_of_data_nodes": 1, "active_primary_shards": n,
                "active_shards": n, "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": 0,
                "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
                "task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 100.0}

    def _nodes(self, req):
        fl = self.flavor
        addr = f"{self.host}:{self.port}"
        node = {"name": self.node_name, "transport_address": f"{self.host}:9300", "host": self.host,
                "ip": self.host, "version": fl.number, "build_type": fl.build[1], "build_hash": fl.build[2],
                "roles": ["data", "ingest", "master"],
                "http": {"bound_address": [addr], "publish_address": addr,
                         "max_content_length_in_bytes": 104857600}}
        if fl.build[0] is not None:
            node["build_flavor"] = fl.build[0]
        return self._json(200, {"_nodes": {"total": 1, "successful": 1, "failed": 0},
                                "cluster_name": self.cluster_name, "nodes": {self.node_id: node}}, req)

    def _index_not_found(self, name, rtype="index_or_alias"):
        return _err("index_not_found_exception", f"no such index [{name}]", 404,
                    meta={"resource.type": rtype, "resource.id": name, "index_uuid": "_na_", "index": name})

    def _concrete_or_404(self, name):
        with self._lock:
            names = self._resolve_names(name)
        if not names:
            raise _Reply(self._error(404, self._index_not_found(name)))
        return names

    def _invalid_name(self, name):
        """MetadataCreateIndexService.validateIndexOrAliasName + lowercase/leading checks."""
        why = None
        if not name:
            why = "must not be empty"
        elif any(c in name for c in '\\/*?"<>| ,'):
            why = "must not contain the following characters " + _INVALID_FILENAME_CHARS
        elif "#" in name:
            why = "must not contain '#'"
        elif ":" in name and not (self.flavor.dist == "elasticsearch" and self.flavor.major == 6):
            why = "must not contain ':'"
        elif name[0] in "_-+":
            why = "must not start with '_', '-', or '+'"
        elif name in (".", ".."):
            why = "must not be '.' or '..'"
        elif name != name.lower():
            why = "must be lowercase"
        elif len(name.encode()) > 255:
            return f"index name is too long, ({len(name.encode())} > 255)"
        return None if why is None else f"Invalid index name [{name}], {why}"

    def _create_index(self, req, name):
        body = {}
        if req.body:
            body = self._parse_body(req)
            if not isinstance(body, dict):
                raise _Reply(self._error(400, _err("parse_exception", "Failed to derive xcontent", 400)))
            for k in body:
                if k not in ("settings", "mappings", "aliases"):
                    raise _Reply(self._error(400, _err("parse_exception", f"unknown key [{k}] for create index",
                                                       400)))
        bad = self._invalid_name(name)
        if bad:
            raise _Reply(self._error(400, _err("invalid_index_name_exception", bad, 400,
                                               meta={"index_uuid": "_na_", "index": name})))
        with self._lock:
            if name in self._indices:
                ix = self._indices[name]
                raise _Reply(self._error(400, _err("resource_already_exists_exception",
                                                   f"index [{name}/{ix.uuid}] already exists", 400,
                                                   meta={"index_uuid": ix.uuid, "index": name})))
            if name in self.aliases() or name in self._data_streams:
                raise _Reply(self._error(400, _err("invalid_index_name_exception",
                                                   f"Invalid index name [{name}], already exists as alias", 400,
                                                   meta={"index_uuid": "_na_", "index": name})))
            mtype = None
            mappings = body.get("mappings") or {}
            if mappings:
                if self.flavor.types == "required" or (req.param("include_type_name") == "true"
                                                       and self.flavor.types == "deprecated"):
                    mtype = next(iter(mappings))
                elif self.flavor.types == "deprecated":
                    mtype = "_doc"
            ix = _Index(name, "put", mtype)
            for a, spec in (body.get("aliases") or {}).items():
                ix.aliases[a] = {"is_write_index": (spec or {}).get("is_write_index")}
            self._indices[name] = ix
        return self._json(200, {"acknowledged": True, "shards_acknowledged": True, "index": name}, req)

    def _get_index(self, req, name):
        names = self._concrete_or_404(name)
        out = {}
        with self._lock:
            for n in names:
                ix = self._indices[n]
                mappings = {}
                if ix.mtype and self.flavor.types == "required":
                    mappings = {ix.mtype: {"properties": {}}}
                out[n] = {"aliases": {a: {} for a in sorted(ix.aliases)}, "mappings": mappings,
                          "settings": {"index": {"creation_date": str(int(ix.created * 1000)),
                                                 "number_of_shards": "1", "number_of_replicas": "1",
                                                 "uuid": ix.uuid, "provided_name": n}}}
        return self._json(200, out, req)

    def _delete_index(self, req, name):
        with self._lock:
            if name not in self._indices or self._indices[name].data_stream:
                raise _Reply(self._error(404, self._index_not_found(name)))
            ix = self._indices.pop(name)
            self._doc_total -= len(ix.docs) if self.store else ix.count
        return self._json(200, {"acknowledged": True}, req)

    def _get_alias(self, req, index, alias):
        with self._lock:
            if index is not None:
                names = self._resolve_names(index)
                if not names:
                    return self._error(404, self._index_not_found(index), req)
            else:
                names = list(self._indices)
            out = {}
            for n in names:
                ix = self._indices[n]
                als = {a: ({"is_write_index": w["is_write_index"]} if w.get("is_write_index") is not None else {})
                       for a, w in sorted(ix.aliases.items()) if alias is None or a == alias}
                if alias is None or als:
                    out[n] = {"aliases": als}
        if alias is not None and not out:
            if req.method == "HEAD":
                return Response(404, b"", self._headers())
            return self._error(404, {"error": f"alias [{alias}] missing", "status": 404}, req)
        if req.method == "HEAD":
            return Response(200, b"", self._headers())
        return self._json(200, out, req)

    def _put_alias(self, req, index, alias):
        names = self._concrete_or_404(index)
        with self._lock:
            for n in names:
                self._indices[n].aliases.setdefault(alias, {"is_write_index": None})
        return self._json(200, {"acknowledged": True}, req)

    def _update_aliases(self, req):
        body = self._parse_body(req) if req.body else None
        if not isinstance(body, dict) or not isinstance(body.get("actions"), list):
            raise _Reply(self._error(400, _err("action_request_validation_exception",
                                               "Validation Failed: 1: no alias actions;", 400)))
        plan = []
        for act in body["actions"]:
            if not isinstance(act, dict) or len(act) != 1:
                raise _Reply(self._error(400, _err("illegal_argument_exception",
                                                   "Expected a single alias action", 400)))
            (kind, spec), = act.items()
            if kind not in ("add", "remove", "remove_index") or not isinstance(spec, dict):
                raise _Reply(self._error(400, _err("x_content_parse_exception",
                                                   f"[1:1] [alias_action] unknown field [{kind}]", 400)))
            idxs = spec.get("indices") or ([spec["index"]] if "index" in spec else [])
            als = spec.get("aliases") or ([spec["alias"]] if "alias" in spec else [])
            if not idxs:
                raise _Reply(self._error(400, _err("action_request_validation_exception",
                                                   "Validation Failed: 1: One of [index/indices] is required;",
                                                   400)))
            if kind != "remove_index" and not als:
                raise _Reply(self._error(400, _err("action_request_validation_exception",
                                                   "Validation Failed: 1: One of [alias/aliases] is required;",
                                                   400)))
            plan.append((kind, idxs, als, spec.get("is_write_index")))
        with self._lock:
            for kind, idxs, als, wr in plan:
                for i in idxs:
                    if i not in self._indices:
                        raise _Reply(self._error(404, self._index_not_found(i)))
                    if kind == "remove":
                        missing = [a for a in als if a not in self._indices[i].aliases]
                        if missing:
                            raise _Reply(self._error(404, _err(
                                "aliases_not_found_exception", f"aliases [{','.join(missing)}] missing", 404,
                                meta={"resource.type": "aliases", "resource.id": ",".join(missing)})))
            for kind, idxs, als, wr in plan:
                for i in idxs:
                    ix = self._indices[i]
                    if kind == "add":
                        for a in als:
                            ix.aliases[a] = {"is_write_index": wr}
                    elif kind == "remove":
                        for a in als:
                            ix.aliases.pop(a, None)
                    else:
                        gone = self._indices.pop(i)
                        self._doc_total -= len(gone.docs) if self.store else gone.count
        return self._json(200, {"acknowledged": True}, req)

    def _get_data_stream(self, req, name):
        with self._lock:
            names = [name] if name else list(self._data_streams)
            out = []
            for n in names:
                if n not in self._data_streams:
                    return self._error(404, self._index_not_found(n), req)
                out.append({"name": n, "timestamp_field": {"name": "@timestamp"},
                            "indices": [{"index_name": b, "index_uuid": self._indices[b].uuid}
                                        for b in self._data_streams[n] if b in self._indices],
                            "generation": len(self._data_streams[n]), "status": "GREEN",
                            "template": f"{n}-template", "hidden": False})
        return self._json(200, {"data_streams": out}, req)

    def _parse_body(self, req):
        try:
            return _loads_strict(req.body.decode("utf-8"))
        except UnicodeDecodeError:
            raise _Reply(self._error(400, _err("parse_exception", "request body is not valid UTF-8", 400)))
        except _ParseError as e:
            raise _Reply(self._error(400, self._json_parse_envelope(e)))

    def _json_parse_envelope(self, e):
        if self.flavor.xcontent_parse_exception:
            return _err("x_content_parse_exception", f"[1:{e.col}] {e.msg}", 400,
                        caused_by={"type": "json_parse_exception", "reason": e.msg})
        return _err("json_parse_exception", e.msg, 400)

    def _doc_type_out(self, ix_type, compat):
        fl = self.flavor
        if fl.types == "rejected" and compat != 7:
            return _MISSING
        return ix_type or "_doc"

    def _get_doc(self, req, index, dtype, doc_id):
        with self._lock:
            names = self._resolve_names(index)
            if not names:
                return self._error(404, self._index_not_found(index), req)
            ix = self._indices[names[-1]]
            rec = ix.docs.get(doc_id)
            out = {"_index": ix.name}
            t = self._doc_type_out(ix.mtype, req._es_compat)
            if t is not _MISSING:
                out["_type"] = t
            out["_id"] = doc_id
            if rec is None:
                out["found"] = False
                if req.method == "HEAD":
                    return Response(404, b"", self._headers())
                return self._json(404, out, req, filt=False)
            out.update({"_version": rec["_version"], "_seq_no": rec["_seq_no"], "_primary_term": 1,
                        "found": True, "_source": rec["_source"]})
        if req.method == "HEAD":
            return Response(200, b"", self._headers())
        return self._json(200, out, req)

    def _search(self, req, index, count_only):
        body = self._parse_body(req) if req.body else {}
        with self._lock:
            if index is None or index in ("_all", "*"):
                names = list(self._indices)
            else:
                names = []
                for part in index.split(","):
                    got = self._resolve_names(part) if "*" not in part else [
                        n for n in self._indices if re.fullmatch(re.escape(part).replace(r"\*", ".*"), n)]
                    if not got and "*" not in part:
                        return self._error(404, self._index_not_found(part), req)
                    names.extend(got)
            recs = [(n, r) for n in names for r in self._indices[n].docs.values()]
        q = req.param("q")
        conds = []
        if q and ":" in q:
            f, _, v = q.partition(":")
            conds.append((f, v.strip('"')))
        query = (body or {}).get("query") if isinstance(body, dict) else None
        if isinstance(query, dict):
            for kind in ("term", "match", "match_phrase"):
                if kind in query and isinstance(query[kind], dict):
                    for f, v in query[kind].items():
                        if isinstance(v, dict):
                            v = v.get("value", v.get("query"))
                        conds.append((f, v))
        if conds:
            def ok(src):
                for f, v in conds:
                    got = _get_path(src, f)
                    if got is _MISSING or (got != v and _text(got) != _text(v)):
                        return False
                return True
            recs = [(n, r) for n, r in recs if ok(r["_source"])]
        shards = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
        if count_only:
            return self._json(200, {"count": len(recs), "_shards": shards}, req)
        size = int(req.param("size", (body or {}).get("size", 10) if isinstance(body, dict) else 10))
        frm = int(req.param("from", (body or {}).get("from", 0) if isinstance(body, dict) else 0))
        hits = []
        for n, r in recs[frm:frm + size]:
            h = {"_index": n}
            t = self._doc_type_out(self._indices[n].mtype if n in self._indices else None, req._es_compat)
            if t is not _MISSING:
                h["_type"] = t
            h.update({"_id": r["_id"], "_score": 1.0, "_source": r["_source"]})
            hits.append(h)
        total = {"value": len(recs), "relation": "eq"} if self.flavor.hits_total_object else len(recs)
        return self._json(200, {"took": 0, "timed_out": False, "_shards": shards,
                                "hits": {"total": total, "max_score": 1.0 if hits else None, "hits": hits}}, req)

    # --- _bulk --------------------------------------------------------------------------
    def _bulk_params_allowed(self, compat):
        fl = self.flavor
        allowed = set(_BULK_PARAMS_COMMON)
        if fl.types != "rejected" or compat == 7:
            allowed.add("type")
        if fl.require_alias:
            allowed.add("require_alias")
        if fl.dist == "elasticsearch" and fl.major == 6:
            allowed |= {"fields", "_source_include", "_source_exclude"}
        if fl.dist == "elasticsearch" and fl.version >= (8, 13, 0):
            allowed |= {"list_executed_pipelines", "require_data_stream"}
        return allowed

    def _check_params(self, req, allowed, path):
        bad = sorted(k for k in req.params if k not in allowed)
        if not bad:
            return
        parts = []
        for b in bad:
            scored = sorted(((_levenshtein_similarity(b, c), c) for c in allowed
                             if _levenshtein_similarity(b, c) > 0.5), key=lambda t: (-t[0], t[1]))
            s = f"[{b}]"
            if scored:
                keys = [c for _, c in scored]
                s += " -> did you mean " + (f"[{keys[0]}]" if len(keys) == 1 else "any of [" + ", ".join(keys) + "]")
                s += "?"
            parts.append(s)
        msg = f"request [{path}] contains unrecognized parameter{'s' if len(bad) > 1 else ''}: " + ", ".join(parts)
        raise _Reply(self._error(400, _err("illegal_argument_exception", msg, 400)))

    def _bulk(self, req, url_index, url_type):
        t0 = time.monotonic()
        fl = self.flavor
        compat = req._es_compat
        types_mode = "deprecated" if (fl.types == "rejected" and compat == 7) else fl.types
        rec = {"n_actions": 0, "body": req.body if self.store else None, "bytes": len(req.body),
               "params": {k: list(v) for k, v in req.params.items()}, "headers": dict(req.headers),
               "path": req.path, "conn": req.conn, "status": None, "errors": None, "failed": 0,
               "anomalies": [], "t": req.t}
        try:
            resp = self._bulk_inner(req, url_index, url_type, types_mode, compat, rec, t0)
        except _Reply as r:
            resp = r.resp
        rec["status"] = resp.status
        with self._docs_cond:
            self._bulk_log.append(rec)
            self._bulks_done += 1
            self._docs_cond.notify_all()
        return resp

    def _bulk_inner(self, req, url_index, url_type, types_mode, compat, rec, t0):
        fl = self.flavor
        self._check_params(req, self._bulk_params_allowed(compat), urllib.parse.unquote(req.path))
        if not req.body:
            raise _Reply(self._error(400, _err("parse_exception", "request body is required", 400)))
        warnings = []
        default_type = req.param("type") or url_type
        if default_type is not None and types_mode == "deprecated":
            warnings.append(TYPES_DEPRECATION)
        items, anomalies, typed = self._parse_bulk(req.body, url_index, default_type, req.param("routing"),
                                                   req.param("pipeline"), types_mode, fl,
                                                   fl.require_alias and req.param("require_alias") == "true")
        rec["anomalies"] = anomalies
        rec["n_actions"] = len(items)
        if typed and types_mode == "deprecated" and TYPES_DEPRECATION not in warnings:
            warnings.append(TYPES_DEPRECATION)
        # BulkRequest.validate()
        errs = []
        for it in items:
            if it.index is None:
                errs.append("index is missing")
            if types_mode == "required" and it.type is None:
                errs.append("type is missing")
            if it.id is not None and len(it.id.encode()) > 512:
                errs.append(f"id [{it.id}] is too long, must be no longer than 512 bytes but was: "
                            f"{len(it.id.encode())}")
        if not items:
            errs.append("no requests added")
        if errs:
            msg = "Validation Failed: " + "".join(f"{i}: {e};" for i, e in enumerate(errs, 1))
            raise _Reply(self._error(400, _err("action_request_validation_exception", msg, 400)))
        extra = [("Warning", f'299 {fl.warning_agent} "{w}"') for w in warnings]
        refresh = req.param("refresh")
        forced = refresh is not None and refresh in ("", "true")
        with self._lock:
            self._check_rejects(req, items)
            out, errors, failed, ingest = self._apply(items, types_mode, compat, forced)
        rec["errors"], rec["failed"] = errors, failed
        body = {"took": int((time.monotonic() - t0) * 1000)}
        if ingest:
            body["ingest_took"] = 0
        body["errors"] = errors
        body["items"] = out
        return self._json(200, body, req, extra=extra)

    def _check_rejects(self, req, items):
        for r in list(self._rejects):
            hit = False
            for it in items:
                if r.pred(it.index, it.id, self._source_of(it)):
                    hit = True
                    break
            if not hit:
                continue
            r.hits += 1
            if r.times is not None:
                r.times -= 1
                if r.times <= 0:
                    self._rejects.remove(r)
            if r.body is not None:
                b = r.body
                if isinstance(b, (dict, list)):
                    b = _dumps(b)
                elif isinstance(b, str):
                    b = b.encode()
                raise _Reply(Response(r.status, b, self._headers(extra=list((r.headers or {}).items()))))
            raise _Reply(self._error(r.status, _err(r.error_type, r.reason, r.status), req,
                                     extra=list((r.headers or {}).items())))

    def _source_of(self, it):
        """The parsed document of an item (None if absent / unparsable)."""
        if it.op == "delete":
            return None
        if it.op == "update":
            return it.raw
        if it.source is _MISSING:
            try:
                it.source = _loads_strict(it.raw)
            except _ParseError:
                it.source = None
        return it.source

    # The NDJSON parser (BulkRequestParser) ----------------------------------------------
    def _parse_bulk(self, data, url_index, default_type, default_routing, default_pipeline, types_mode, fl,
                    default_require_alias=False):
        items, anomalies = [], []
        typed = False
        line = 0
        pos = 0
        n = len(data)
        find = data.find
        fast_loads = json.loads
        while True:
            nl = find(b"\n", pos)
            if nl < 0:
                if pos != n:
                    raise _Reply(self._error(400, _err(
                        "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]", 400)))
                break
            line += 1
            raw_line = data[pos:nl]
            pos = nl + 1
            # Fast path: a well-formed single-key action line without repeated keys.
            action = meta = None
            try:
                parsed = fast_loads(raw_line)
            except ValueError:
                parsed = None
            if type(parsed) is dict and len(parsed) == 1:
                (action, meta), = parsed.items()
                if type(meta) is not dict or raw_line.count(b'"' + action.encode() + b'"') > 1 or any(
                        raw_line.count(b'"' + k.encode() + b'"') > 1 for k in meta):
                    action = None             # let the careful path decide
            if action is None:
                if not raw_line.strip():
                    continue                  # token == null: empty line, skipped
                text = raw_line.decode("utf-8", "replace")
                action, meta, extra = self._careful_action(text, line)
                if extra:
                    anomalies.append(f"line {line}: {extra}")
            if fl.reject_unknown_actions and action not in ("index", "create", "update", "delete"):
                raise self._illegal(f"Malformed action/metadata line [{line}], expected field [create], [delete], "
                                    f"[index] or [update] but found [{action}]")
            it = _Item(action)
            it.line = line
            it.index, it.type, it.routing, it.pipeline = url_index, default_type, default_routing, default_pipeline
            it.require_alias = default_require_alias
            for k, v in meta.items():
                tv = type(v)
                if tv is dict:
                    if k == "_source" or (k == "dynamic_templates" and (fl.is_opensearch or fl.version >= (7, 13, 0))):
                        continue
                    raise self._illegal(f"Malformed action/metadata line [{line}], expected a simple value for "
                                        f"field [{k}] but found [START_OBJECT]")
                if tv is list:
                    raise self._illegal(f"Malformed action/metadata line [{line}], expected a simple value for "
                                        f"field [{k}] but found [START_ARRAY]")
                key = k
                if fl.underscore_meta and k in ("_routing", "_version", "_version_type", "_retry_on_conflict",
                                                 "_parent", "parent"):
                    key = k.lstrip("_")
                if v is None:
                    if key in ("_index", "_type", "_id", "routing", "op_type", "version", "version_type",
                               "if_seq_no", "if_primary_term", "retry_on_conflict", "pipeline", "require_alias",
                               "parent"):
                        continue
                    raise self._unknown_param(line, k)
                if key == "_index":
                    it.index = _text(v)
                elif key == "_type":
                    if types_mode == "rejected":
                        raise self._unknown_param(line, k)
                    it.type = _text(v)
                    typed = True
                elif key == "_id":
                    it.id = _text(v)
                elif key == "routing":
                    it.routing = _text(v)
                elif key == "op_type":
                    it.op_type = _text(v)
                elif key == "pipeline":
                    it.pipeline = _text(v)
                elif key == "require_alias" and fl.require_alias:
                    it.require_alias = v is True or _text(v) == "true"
                elif key == "version":
                    it.version = v
                elif key in ("version_type", "if_seq_no", "if_primary_term", "retry_on_conflict"):
                    pass
                elif key == "parent" and fl.underscore_meta:
                    pass
                elif key in ("list_executed_pipelines", "require_data_stream") and \
                        fl.dist == "elasticsearch" and fl.version >= (8, 13, 0):
                    pass
                else:
                    raise self._unknown_param(line, k)
            if action == "delete":
                items.append(it)
                continue
            nl = find(b"\n", pos)
            if nl < 0:
                if pos != n:
                    raise _Reply(self._error(400, _err(
                        "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]", 400)))
                break                          # the action without a source line is dropped
            line += 1
            src = data[pos:nl]
            pos = nl + 1
            if src.endswith(b"\r"):
                src = src[:-1]
            if action in ("index", "create"):
                if action == "create":
                    it.op_type = "create"
                it.raw = src                   # bytes, parsed when needed
                items.append(it)
            elif action == "update":
                if it.version is not None:
                    raise self._illegal("Update requests do not support versioning. Please use `if_seq_no` and "
                                        "`if_primary_term` instead")
                try:
                    body = _loads_strict(src)
                except _ParseError as e:
                    raise _Reply(self._error(400, self._json_parse_envelope(e)))
                if not isinstance(body, dict):
                    raise self._illegal("Malformed content, must start with an object")
                it.raw = body
                items.append(it)
            else:
                anomalies.append(f"line {line - 1}: unknown action [{action}] skipped with its next line "
                                 f"(rejected from Elasticsearch 8.5)")
        return items, anomalies, typed

    def _illegal(self, msg):
        return _Reply(self._error(400, _err("illegal_argument_exception", msg, 400)))

    def _unknown_param(self, line, k):
        return self._illegal(f"Action/metadata line [{line}] contains an unknown parameter [{k}]")

    def _careful_action(self, text, line):
        """Read an action line as Jackson's streaming parser does -> (action, meta, anomaly)."""
        i = len(text) - len(text.lstrip(_WS))
        c = text[i]
        if c != "{":
            try:
                v, _ = _DECODER.raw_decode(text, i)
            except (ValueError, _Dup) as e:
                raise _Reply(self._error(400, self._json_parse_envelope(_jackson_error(text, e))))
            raise self._illegal(f"Malformed action/metadata line [{line}], expected START_OBJECT but found "
                                f"[{_token(v)}]")
        j = i + 1
        while j < len(text) and text[j] in _WS:
            j += 1
        if j < len(text) and text[j] == "}":
            raise self._illegal(f"Malformed action/metadata line [{line}], expected FIELD_NAME but found "
                                f"[END_OBJECT]")
        if j >= len(text) or text[j] != '"':
            err = ValueError("Expecting property name enclosed in double quotes")
            err.msg, err.pos = "Expecting property name enclosed in double quotes", j
            raise _Reply(self._error(400, self._json_parse_envelope(_jackson_error(text, err))))
        try:
            action, j = _DECODER.raw_decode(text, j)
        except (ValueError, _Dup) as e:
            raise _Reply(self._error(400, self._json_parse_envelope(_jackson_error(text, e))))
        while j < len(text) and text[j] in _WS:
            j += 1
        if j >= len(text) or text[j] != ":":
            err = ValueError("Expecting ':' delimiter")
            err.msg, err.pos = "Expecting ':' delimiter", j
            raise _Reply(self._error(400, self._json_parse_envelope(_jackson_error(text, err))))
        j += 1
        while j < len(text) and text[j] in _WS:
            j += 1
        try:
            meta, j = _DECODER.raw_decode(text, j)
        except (ValueError, _Dup) as e:
            raise _Reply(self._error(400, self._json_parse_envelope(_jackson_error(text, e))))
        if not isinstance(meta, dict):
            raise self._illegal(f"Malformed action/metadata line [{line}], expected START_OBJECT or END_OBJECT "
                                f"but found [{_token(meta)}]")
        rest = text[j:].strip(_WS)
        anomaly = None
        if rest != "}":
            if rest.startswith(","):
                anomaly = "extra keys after the action object (ignored; rejected by REST API v9)"
            elif rest == "":
                anomaly = "action object not closed (ignored; rejected by REST API v9)"
            else:
                anomaly = "data after the action object (ignored; rejected by REST API v9)"
        return action, meta, anomaly

    # Executing the items -----------------------------------------------------------------
    def _apply(self, items, types_mode, compat, forced):
        with_type = types_mode != "rejected"
        out = []
        errors = False
        failed = 0
        ingest = False
        stored = 0
        for it in items:
            res = self._apply_one(it, types_mode, forced)
            status = res["status"]
            if "error" in res:
                errors = True
                failed += 1
                body = {"_index": res["_index"]}
                if with_type:
                    body["_type"] = res.get("_type") or "_doc"
                body["_id"] = res["_id"]
                body["status"] = status
                body["error"] = res["error"]
            else:
                body = {"_index": res["_index"]}
                if with_type:
                    body["_type"] = res.get("_type") or "_doc"
                body["_id"] = res["_id"]
                body["_version"] = res["_version"]
                body["result"] = res["result"]
                if forced:
                    body["forced_refresh"] = True
                body["_shards"] = res.get("_shards") or {"total": 2, "successful": 1, "failed": 0}
                body["_seq_no"] = res["_seq_no"]
                body["_primary_term"] = 1
                body["status"] = status
                stored += res.get("stored", 0)
                if it.pipeline and it.pipeline != "_none":
                    ingest = True
            out.append({it.op: body})
        if stored:
            self._doc_total += stored
            self._docs_cond.notify_all()
        return out, errors, failed, ingest

    def _fail(self, it, index, status, error, doc_id=_MISSING, itype=None):
        return {"_index": index, "_type": itype or it.type, "_id": it.id if doc_id is _MISSING else doc_id,
                "status": status, "error": error}

    def _apply_one(self, it, types_mode, forced):
        fl = self.flavor
        name = it.index
        # 1. resolve the target: data stream, alias, index, or auto-create
        ds = self._data_streams.get(name)
        if ds is not None:
            if it.op != "create" and not (it.op == "index" and it.op_type == "create"):
                return self._fail(it, name, 400, _item_error(
                    "illegal_argument_exception",
                    "only write ops with an op_type of create are allowed in data streams"))
            concrete = ds[-1]
        elif name in self._indices:
            concrete = name
        else:
            als = [i for i in self._indices.values() if name in i.aliases]
            if als:
                writers = [i for i in als if i.aliases[name].get("is_write_index")]
                if len(als) == 1 and als[0].aliases[name].get("is_write_index") is not False:
                    concrete = als[0].name
                elif len(writers) == 1:
                    concrete = writers[0].name
                else:
                    return self._fail(it, name, 400, _item_error(
                        "illegal_argument_exception",
                        f"no write index is defined for alias [{name}]. The write index may be explicitly disabled "
                        f"using is_write_index=false or the alias points to multiple indices without one being "
                        f"designated as a write index"))
            elif it.require_alias:
                return self._fail(it, name, 404, _item_error(
                    "index_not_found_exception", f"no such index [{name}] and [require_alias] request flag is "
                                                 f"[true] and [{name}] is not an alias",
                    meta={"index_uuid": "_na_", "index": name}), doc_id=it.id)
            elif it.op == "delete":        # deletes never auto-create (TransportBulkAction)
                return self._fail(it, name, 404, _item_error(
                    "index_not_found_exception", f"no such index [{name}]",
                    meta={"resource.type": "index_expression", "resource.id": name, "index_uuid": "_na_",
                          "index": name}), doc_id=it.id)
            elif not self.auto_create:
                return self._fail(it, name, 404, _item_error(
                    "index_not_found_exception", f"no such index [{name}]",
                    meta={"resource.type": "index_expression", "resource.id": name, "index_uuid": "_na_",
                          "index": name}), doc_id=it.id)
            else:
                bad = self._invalid_name(name)
                if bad:
                    return self._fail(it, name, 400, _item_error(
                        "invalid_index_name_exception", bad, meta={"index_uuid": "_na_", "index": name}),
                        doc_id=it.id)
                self._indices[name] = _Index(name, "auto")
                concrete = name
        ix = self._indices[concrete]
        # 2. coordinating-node checks
        if it.id is not None and it.id == "":
            return self._fail(it, concrete, 400, _item_error(
                "illegal_argument_exception", "if _id is specified it must not be empty"))
        if it.pipeline and it.pipeline != "_none" and self.pipelines is not None and it.pipeline not in self.pipelines:
            return self._fail(it, concrete, 400, _item_error(
                "illegal_argument_exception", f"pipeline with id [{it.pipeline}] does not exist"))
        given_id = it.id
        if it.id is None and it.op in ("index", "create"):
            it.id = base64.urlsafe_b64encode(secrets.token_bytes(15)).decode()
        # 3. injected per-item faults (the predicate sees the _id the client sent, None for auto ids)
        for f in list(self._item_faults):
            src = self._source_of(it)
            if not f.pred(name, given_id, src):
                continue
            key = (name, given_id, it.raw if isinstance(it.raw, bytes) else json.dumps(it.raw, sort_keys=True))
            if f.times is not None and f._per_item[key] >= f.times:
                continue
            f._per_item[key] += 1
            f.hits += 1
            return self._fail(it, concrete, f.status, _item_error(f.error_type, f.reason))
        # 4. mapping type (6.x, 7.x, OpenSearch 1.x)
        itype = None
        if types_mode != "rejected":
            want = it.type or "_doc"
            if want.startswith("_") and want != "_doc":
                return self._fail(it, concrete, 400, _item_error(
                    "invalid_type_name_exception",
                    f"mapping type name [{want}] can't start with '_' unless it is called [_doc]"))
            if ix.mtype is None:
                if it.op in ("index", "create") or (it.op == "update"):
                    ix.mtype = want
                itype = want
            elif want == ix.mtype or (want == "_doc" and fl.doc_alias_type):
                itype = ix.mtype
            else:
                types = java_hashset_order([ix.mtype, want])
                return self._fail(it, concrete, 400, _item_error(
                    "illegal_argument_exception",
                    f"Rejecting mapping update to [{concrete}] as the final mapping would have more than 1 type: "
                    f"[{', '.join(types)}]"), itype=want)
        # 5. the operation on the shard
        shard_meta = {"index_uuid": ix.uuid, "shard": "0", "index": concrete}
        doc_ref = f"[{itype}][{it.id}]" if fl.types == "required" else f"[{it.id}]"
        if it.op == "delete":
            ix.seq += 1
            cur = ix.docs.get(it.id) if self.store else None
            if cur is None:
                return {"_index": concrete, "_type": itype, "_id": it.id, "_version": 1, "result": "not_found",
                        "_seq_no": ix.seq, "status": 404}
            del ix.docs[it.id]
            self._doc_total -= 1
            return {"_index": concrete, "_type": itype, "_id": it.id, "_version": cur["_version"] + 1,
                    "result": "deleted", "_seq_no": ix.seq, "status": 200}
        if it.op == "update":
            return self._update(it, ix, itype, shard_meta)
        # index / create: parse the document
        src = None
        if self.store or ix.data_stream:
            src, err = self._parse_doc(it.raw, it, concrete)
            if err:
                return self._fail(it, concrete, 400, err, itype=itype)
        else:
            r = it.raw.strip()
            if not (r[:1] == b"{" and r[-1:] == b"}"):
                src, err = self._parse_doc(it.raw, it, concrete)
                if err:
                    return self._fail(it, concrete, 400, err, itype=itype)
        if ix.data_stream:
            ts = src.get("@timestamp", _MISSING) if isinstance(src, dict) else _MISSING
            if ts is _MISSING or isinstance(ts, (list, dict)) or ts is None:
                return self._fail(it, concrete, 400, self._ds_timestamp_error(it.raw), itype=itype)
        if not self.store:
            ix.seq += 1
            ix.count += 1
            return {"_index": concrete, "_type": itype, "_id": it.id, "_version": 1, "result": "created",
                    "_seq_no": ix.seq, "status": 201, "stored": 1}
        cur = ix.docs.get(it.id)
        if cur is not None and it.op_type == "create":
            return self._fail(it, concrete, 409, _item_error(
                "version_conflict_engine_exception",
                f"{doc_ref}: version conflict, document already exists (current version [{cur['_version']}])",
                meta=shard_meta), itype=itype)
        ix.seq += 1
        version = 1 if cur is None else cur["_version"] + 1
        ix.docs[it.id] = {"_index": concrete, "_id": it.id, "_type": itype, "_source": src,
                          "pipeline": it.pipeline, "routing": it.routing, "_version": version,
                          "_seq_no": ix.seq, "op": it.op if it.op_type != "create" else "create"}
        return {"_index": concrete, "_type": itype, "_id": it.id, "_version": version,
                "result": "created" if cur is None else "updated", "_seq_no": ix.seq,
                "status": 201 if cur is None else 200, "stored": 1 if cur is None else 0}

    def _update(self, it, ix, itype, shard_meta):
        fl = self.flavor
        body = it.raw
        cur = ix.docs.get(it.id) if self.store else None
        if "script" in body:
            return self._fail(it, ix.name, 400, _item_error("illegal_argument_exception",
                                                            "emulator: update scripts are not supported"),
                              itype=itype)
        doc = body.get("doc")
        if cur is None:
            upsert = body.get("upsert")
            if upsert is None and body.get("doc_as_upsert") is True:
                upsert = doc
            if upsert is None:
                if fl.types == "required":
                    ref = f"[{itype}][{it.id}]"
                elif fl.types == "deprecated":
                    ref = f"[_doc][{it.id}]"
                else:
                    ref = f"[{it.id}]"
                return self._fail(it, ix.name, 404, _item_error("document_missing_exception",
                                                                f"{ref}: document missing", meta=shard_meta),
                                  itype=itype)
            ix.seq += 1
            if not self.store:
                ix.count += 1
                return {"_index": ix.name, "_type": itype, "_id": it.id, "_version": 1, "result": "created",
                        "_seq_no": ix.seq, "status": 201, "stored": 1}
            ix.docs[it.id] = {"_index": ix.name, "_id": it.id, "_type": itype,
                              "_source": json.loads(json.dumps(upsert)), "pipeline": it.pipeline,
                              "routing": it.routing, "_version": 1, "_seq_no": ix.seq, "op": "update"}
            return {"_index": ix.name, "_type": itype, "_id": it.id, "_version": 1, "result": "created",
                    "_seq_no": ix.seq, "status": 201, "stored": 1}
        if not isinstance(doc, dict):
            return self._fail(it, ix.name, 400, _item_error(
                "action_request_validation_exception", "Validation Failed: 1: script or doc is missing;"),
                itype=itype)
        new = json.loads(json.dumps(cur["_source"]))
        changed = _deep_merge(new, doc) if isinstance(new, dict) else True
        if not changed and body.get("detect_noop", True) is not False:
            return {"_index": ix.name, "_type": itype, "_id": it.id, "_version": cur["_version"], "result": "noop",
                    "_shards": {"total": 0, "successful": 0, "failed": 0}, "_seq_no": cur["_seq_no"],
                    "status": 200}
        ix.seq += 1
        cur.update({"_source": new, "_version": cur["_version"] + 1, "_seq_no": ix.seq, "op": "update"})
        return {"_index": ix.name, "_type": itype, "_id": it.id, "_version": cur["_version"], "result": "updated",
                "_seq_no": ix.seq, "status": 200}

    def _parse_doc(self, raw, it, concrete):
        """-> (document, None) or (None, item error) like DocumentParser."""
        fl = self.flavor
        if raw.strip() == b"":
            if fl.doc_parsing_exception:
                return None, _item_error("document_parsing_exception", "[1:1] failed to parse, document is empty")
            return None, _item_error("mapper_parsing_exception", "failed to parse, document is empty")
        try:
            doc = _loads_strict(raw)
        except _ParseError as e:
            if e.kind == "extra":
                cause = {"type": "illegal_argument_exception", "reason": e.msg}
            elif fl.doc_parsing_exception:
                cause = {"type": "x_content_parse_exception", "reason": f"[1:{e.col}] {e.msg}"}
            else:
                cause = {"type": "json_parse_exception", "reason": e.msg}
            if fl.doc_parsing_exception:
                return None, _item_error("document_parsing_exception", f"[1:{e.col}] failed to parse: {e.msg}",
                                         caused_by=cause)
            return None, _item_error("mapper_parsing_exception", "failed to parse", caused_by=cause)
        if not isinstance(doc, dict):
            if fl.doc_parsing_exception:
                return None, _item_error("document_parsing_exception",
                                         "[1:1] Malformed content, must start with an object")
            return None, _item_error("mapper_parsing_exception", "Malformed content, must start with an object")
        return doc, None

    def _ds_timestamp_error(self, raw):
        fl = self.flavor
        col = len(raw.rstrip().decode("utf-8", "replace")) + 1
        if fl.is_opensearch:
            return _item_error("mapper_parsing_exception", "failed to parse", caused_by={
                "type": "illegal_argument_exception",
                "reason": "documents must contain a single-valued timestamp field '@timestamp' of date type"})
        cause = {"type": "illegal_argument_exception", "reason": "data stream timestamp field [@timestamp] is missing"}
        if fl.doc_parsing_exception:
            return _item_error("document_parsing_exception",
                               f"[1:{col}] failed to parse: data stream timestamp field [@timestamp] is missing",
                               caused_by=cause)
        return _item_error("mapper_parsing_exception", "failed to parse", caused_by=cause)


if __name__ == "__main__":       # python3 tests/emu/elastic.py [flavor] : serve until Ctrl-C
    import signal
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    es = Elastic(sys.argv[1] if len(sys.argv) > 1 else "7.17.9")
    print(json.dumps({"url": es.url, "flavor": es.flavor.number, "dist": es.flavor.dist, "pid": os.getpid()}),
          flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        es.stop()
