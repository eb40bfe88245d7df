import { describe, expect, it } from "vitest";
import { parseLogLine } from "../../src/audit/decode.js";
import { compile, FRONTEND, LIVE, recordOf, request } from "./helpers.js";

const record = recordOf(compile(LIVE), request(FRONTEND, "GET", "/orders/1"));

function kind(text: string): string {
  const e = parseLogLine(text);
  return e.kind === "skip" ? `skip:${e.reason}` : e.kind;
}

describe("classifying log lines", () => {
  it("recognizes decision records, shadow records and CheckRequests", () => {
    expect(kind(JSON.stringify(record))).toBe("decision");
    expect(kind(`  ${JSON.stringify(record)}\r`)).toBe("decision");
    expect(kind(JSON.stringify({ ...record, type: "shadow", live: { outcome: "allow", reason: "allowed", determining: [] }, candidate: { outcome: "deny", reason: "no_matching_allow", determining: [] } }))).toBe("shadow");
    expect(kind('{"attributes":{"request":{"http":{}}}}')).toBe("check_request");
    expect(kind("   ")).toBe("blank");
  });

  it("passes over ward serve's own ready line, which shares stdout with the records", () => {
    expect(kind('{"ward":"ready","grpc":["127.0.0.1:9191"],"http":"127.0.0.1:8181","revision":"abc","mode":"audit","pid":1}')).toBe("blank");
    expect(kind('{"ward":"other"}')).toBe("skip:unrecognized_line");
  });

  it("names why a line is skipped", () => {
    expect(kind(JSON.stringify(record).slice(0, -1))).toBe("skip:truncated_line");
    expect(kind("{")).toBe("skip:truncated_line");
    expect(kind('{"path":"/a\\"b')).toBe("skip:truncated_line");
    expect(kind('{"a":1}}')).toBe("skip:not_json");
    expect(kind("{not json}")).toBe("skip:not_json");
    expect(kind("GET /orders 200")).toBe("skip:not_json");
    expect(kind('"a string"')).toBe("skip:unrecognized_line");
    expect(kind("null")).toBe("skip:unrecognized_line");
    expect(kind('{"level":30,"time":1,"msg":"ward serving"}')).toBe("skip:unrecognized_line");
    // An audit record is recognized by its decision_id or type; its version must be 1.
    expect(kind(JSON.stringify({ ...record, version: 2 }))).toBe("skip:unsupported_version");
    expect(kind(JSON.stringify({ ...record, version: "1" }))).toBe("skip:unsupported_version");
    const { version: _v, ...noVersion } = record;
    expect(kind(JSON.stringify(noVersion))).toBe("skip:unsupported_version");
    expect(kind('{"type":"decision"}')).toBe("skip:unsupported_version");
  });

  it("calls every cut-short record truncated, wherever the cut falls", () => {
    const text = JSON.stringify(record);
    for (let n = 1; n < text.length; n++) expect(kind(text.slice(0, n)), `cut at ${n}`).toBe("skip:truncated_line");
  });

  it("checks the fields replay and the summary read, naming the first bad one", () => {
    const bad = (patch: object) => parseLogLine(JSON.stringify({ ...record, ...patch }));
    expect(bad({ outcome: "maybe" })).toEqual({ kind: "skip", reason: "invalid_record", message: "field `outcome` is not `allow` or `deny`" });
    expect(bad({ would_deny: "yes" })).toMatchObject({ message: "field `would_deny` is missing or not a boolean" });
    expect(bad({ determining: [{ policy: "p", rule: 3, effect: "allow" }] })).toMatchObject({ message: "field `determining[0].rule` is missing or not a string" });
    expect(bad({ caller: null })).toMatchObject({ message: "field `caller` is missing or not an object" });
    expect(bad({ request: { method: "GET", path: 1, host: "h" } })).toMatchObject({ message: "field `request.path` is missing or not a string" });
    expect(bad({ input: [] })).toMatchObject({ message: "field `input` is not an object" });
  });
});
