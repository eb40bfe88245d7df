// XFCC grammar conformance: Envoy's documentation (http_conn_man/headers,
// "x-forwarded-client-cert": elements separated by ",", pairs by ";", keys
// case-insensitive, values double-quoted when they hold "," ";" or "=", with
// `\"` for a quote) and what conn_manager_utility.cc writes (`By` per URI SAN
// of the proxy, `URI=` when the client has none, `Cert`/`Chain`/`Subject`
// quoted, one `DNS` pair per name).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseXfcc, type XfccElement } from "../../src/identity/xfcc.js";

const HASH = "468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688";

function el(fields: Partial<XfccElement>): XfccElement {
  return { by: [], uri: [], dns: [], ...fields };
}

const VALID: readonly [name: string, header: string, elements: XfccElement[]][] = [
  [
    "Envoy docs: one certificate with a URI SAN",
    `By=http://frontend.lyft.com;Hash=${HASH};Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com`,
    [el({ by: ["http://frontend.lyft.com"], hash: HASH, subject: "/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client", uri: ["http://testclient.lyft.com"] })],
  ],
  [
    "Envoy docs: two elements",
    `By=http://frontend.lyft.com;Hash=${HASH};URI=http://testclient.lyft.com,By=http://backend.lyft.com;Hash=9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e;URI=http://frontend.lyft.com`,
    [
      el({ by: ["http://frontend.lyft.com"], hash: HASH, uri: ["http://testclient.lyft.com"] }),
      el({ by: ["http://backend.lyft.com"], hash: "9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e", uri: ["http://frontend.lyft.com"] }),
    ],
  ],
  [
    "Envoy docs: URI and several DNS SANs",
    `By=http://frontend.lyft.com;Hash=${HASH};Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com;DNS=lyft.com;DNS=www.lyft.com`,
    [
      el({
        by: ["http://frontend.lyft.com"],
        hash: HASH,
        subject: "/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client",
        uri: ["http://testclient.lyft.com"],
        dns: ["lyft.com", "www.lyft.com"],
      }),
    ],
  ],
  ["a comma and a semicolon inside quotes are data", `By=spiffe://a/gw;Subject="CN=a,O=b;c"`, [el({ by: ["spiffe://a/gw"], subject: "CN=a,O=b;c" })]],
  ["a comma inside quotes does not split elements", `Subject="x,By=spiffe://evil/gw";By=spiffe://a/gw`, [el({ by: ["spiffe://a/gw"], subject: "x,By=spiffe://evil/gw" })]],
  ["`=` inside quotes", `Subject="CN=a=b"`, [el({ subject: "CN=a=b" })]],
  ["an escaped quote", `Subject="CN=\\"quoted\\", O=x";URI=u`, [el({ subject: 'CN="quoted", O=x', uri: ["u"] })]],
  ["other backslash pairs stay (RFC 4514 escapes in Subject)", `Subject="CN=a\\,b"`, [el({ subject: "CN=a\\,b" })]],
  ["an escaped backslash before the closing quote", `Subject="CN=a\\\\";URI=u`, [el({ subject: "CN=a\\\\", uri: ["u"] })]],
  ["keys are case-insensitive", `by=b;URI=u;hAsH=h;cert="c";CHAIN="ch";dns=d;SUBJECT="s"`, [el({ by: ["b"], uri: ["u"], hash: "h", cert: "c", chain: "ch", dns: ["d"], subject: "s" })]],
  ["optional whitespace around separators", `By=a ;  URI=b , By=c;URI=d\t`, [el({ by: ["a"], uri: ["b"] }), el({ by: ["c"], uri: ["d"] })]],
  ["whitespace after a closing quote", `Subject="s"  ;URI=u`, [el({ subject: "s", uri: ["u"] })]],
  ["`URI=` (no URI SAN) is no URI", "By=a;URI=", [el({ by: ["a"] })]],
  ["a proxy with two URI SANs writes two `By`", "By=spiffe://a/gw;By=spiffe://a/gw2;URI=u", [el({ by: ["spiffe://a/gw", "spiffe://a/gw2"], uri: ["u"] })]],
  ["two `URI` values are both kept (the resolver refuses them)", "By=a;URI=u1;URI=u2", [el({ by: ["a"], uri: ["u1", "u2"] })]],
  ["unknown keys are ignored", "By=a;Foo=bar;URI=u", [el({ by: ["a"], uri: ["u"] })]],
  ["`=` in an unquoted value", "By=a;URI=spiffe://td/p=q", [el({ by: ["a"], uri: ["spiffe://td/p=q"] })]],
  ["an element with only unknown keys", "X=1,By=a", [el({}), el({ by: ["a"] })]],
  [
    "URL-encoded PEM in a quoted Cert",
    `By=a;Cert="-----BEGIN%20CERTIFICATE-----%0AMIIB%2B%3D%0A-----END%20CERTIFICATE-----%0A"`,
    [el({ by: ["a"], cert: "-----BEGIN%20CERTIFICATE-----%0AMIIB%2B%3D%0A-----END%20CERTIFICATE-----%0A" })],
  ],
  ["a non-ASCII Subject", `Subject="CN=Zoë"`, [el({ subject: "CN=Zoë" })]],
];

const INVALID: readonly [name: string, header: string, detail: RegExp][] = [
  ["a lone comma", ",", /empty element/],
  ["a trailing comma", "By=a,", /empty element/],
  ["a leading comma", ",By=a", /empty element/],
  ["two commas", "By=a,,By=b", /empty element/],
  ["two semicolons", "By=a;;URI=b", /empty element or pair/],
  ["a trailing semicolon", "By=a;", /empty element or pair/],
  ["only whitespace", "   ", /empty element/],
  ["a key without `=`", "By", /no `=`/],
  ["a second key without `=`", "By=a;URI", /no `=`/],
  ["a space inside a key", "B y=a", /no `=`/],
  ["a key that is not a token", "@=x", /invalid character in a key/],
  ["an unterminated quoted value", 'Subject="abc', /not terminated/],
  ["a quote that is escaped, so never closed", 'Subject="abc\\"', /not terminated/],
  ["text after the closing quote", 'Subject="abc"def', /after a quoted value/],
  ["a quote inside an unquoted value", 'URI=ab"c', /quote inside an unquoted value/],
  ["a NUL", "By=a\u0000b", /control character/],
  ["CR LF (header injection)", "By=a\r\nX-Evil: 1", /control character/],
  ["a control character inside quotes", 'Subject="a\u0001"', /control character/],
  ["an escaped control character", 'Subject="a\\\u0001"', /control character/],
  ["DEL", "By=a\u007f", /control character/],
  ["two `Cert` in one element", 'By=a;Cert="x";Cert="y"', /`Cert` appears twice/],
  ["two `Hash` in one element", "Hash=a;hash=b", /`hash` appears twice/],
  ["two `Chain` in one element", 'Chain="a";Chain="b"', /appears twice/],
  ["two `Subject` in one element", 'Subject="a";Subject="b"', /appears twice/],
];

describe("parseXfcc", () => {
  it.each(VALID)("%s", (_name, header, elements) => {
    expect(parseXfcc(header, 16)).toEqual({ ok: true, elements });
  });

  it.each(INVALID)("refuses %s", (_name, header, detail) => {
    const result = parseXfcc(header, 16);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.detail).toMatch(detail);
  });

  it("allows exactly the element limit", () => {
    const header = (n: number): string => Array.from({ length: n }, (_, i) => `By=spiffe://td/p${i}`).join(",");
    expect(parseXfcc(header(16), 16)).toMatchObject({ ok: true });
    expect(parseXfcc(header(17), 16)).toEqual({ ok: false, detail: "more than 16 elements" });
  });

  it("stops at the element limit on a header of thousands of elements", () => {
    const header = Array.from({ length: 50_000 }, () => "By=a").join(",");
    expect(parseXfcc(header, 16)).toEqual({ ok: false, detail: "more than 16 elements" });
  });

  it("round-trips elements serialized the way Envoy writes them", () => {
    // Values without backslashes: Envoy escapes only `"`, so a value ending in `\` is ambiguous by design.
    const value = fc.string({ unit: fc.constantFrom("a", "Z", "9", ":", "/", ".", "-", "=", ",", ";", '"', " ", "%", "é"), maxLength: 12 });
    const quoted = (v: string): string => `"${v.replace(/"/g, '\\"')}"`;
    fc.assert(
      fc.property(
        fc.array(fc.record({ by: fc.array(value.filter((v) => v !== ""), { maxLength: 2 }), subject: fc.option(value, { nil: undefined }), uri: fc.array(value.filter((v) => v !== ""), { maxLength: 2 }) }), {
          minLength: 1,
          maxLength: 4,
        }),
        (elements) => {
          const pairs = elements.map((e) => [
            ...e.by.map((b) => `By=${quoted(b)}`),
            ...(e.subject === undefined ? [] : [`Subject=${quoted(e.subject)}`]),
            ...e.uri.map((u) => `URI=${quoted(u)}`),
          ]);
          fc.pre(pairs.every((p) => p.length > 0));
          const result = parseXfcc(pairs.map((p) => p.join(";")).join(","), 16);
          expect(result).toEqual({
            ok: true,
            elements: elements.map((e) => el({ by: e.by, uri: e.uri, ...(e.subject === undefined ? {} : { subject: e.subject }) })),
          });
        },
      ),
    );
  });

  it("never throws on arbitrary input", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("B", "y", "=", ",", ";", '"', "\\", " ", "\u0000", "é", "U", "R", "I"), maxLength: 60 }), (header) => {
        const result = parseXfcc(header, 4);
        expect(typeof result.ok).toBe("boolean");
      }),
    );
  });
});
