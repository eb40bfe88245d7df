/**
 * The `x-forwarded-client-cert` (XFCC) header, as Envoy defines it
 * (docs: configuration/http/http_conn_man/headers "x-forwarded-client-cert";
 * source: source/common/http/conn_manager_utility.cc
 * `mutateXfccRequestHeader`):
 *
 * ```
 * header  = element *( OWS "," OWS element )     ; one element per proxy hop, appended last
 * element = pair *( OWS ";" OWS pair )
 * pair    = key "=" value                         ; keys case-insensitive, values case-sensitive
 * value   = quoted / *unquoted-char               ; quoted when it holds "," ";" or "="
 * quoted  = DQUOTE *( "\" any-char / qchar ) DQUOTE
 * ```
 *
 * Keys: `By` (the appending proxy's URI SAN; repeated when it has several),
 * `Hash` (SHA-256 of the client certificate, hex), `Cert` and `Chain`
 * (URL-encoded PEM), `Subject` (always quoted), `URI` and `DNS` (the client
 * certificate's SANs; repeated when several). Unknown keys are ignored.
 *
 * The tokenizer is quote-aware (commas and semicolons inside quotes are
 * data, never separators) and runs in one linear pass that stops at the
 * configured element limit; the caller caps the length before calling.
 */

/** One parsed XFCC element: what one proxy hop appended. */
export interface XfccElement {
  /** `By` values: the URI SANs of the proxy that appended this element. */
  readonly by: readonly string[];
  readonly hash?: string;
  /** The client certificate, URL-encoded PEM (still encoded). */
  readonly cert?: string;
  /** The client certificate chain, leaf first, URL-encoded PEM (still encoded). */
  readonly chain?: string;
  readonly subject?: string;
  /** Non-empty `URI` values (Envoy writes `URI=` when the certificate has none). */
  readonly uri: readonly string[];
  readonly dns: readonly string[];
}

/** The result of parsing: the elements, left to right, or why the header is invalid. */
export type XfccParseResult =
  | { readonly ok: true; readonly elements: readonly XfccElement[] }
  | { readonly ok: false; readonly detail: string };

interface MutableElement {
  by: string[];
  hash?: string;
  cert?: string;
  chain?: string;
  subject?: string;
  uri: string[];
  dns: string[];
}

const COMMA = 44;
const SEMICOLON = 59;
const EQUALS = 61;
const QUOTE = 34;
const BACKSLASH = 92;

function isOws(c: number): boolean {
  return c === 32 || c === 9;
}

// RFC 9110 §5.5: field values carry no control characters other than HTAB.
function isControl(c: number): boolean {
  return (c < 32 && c !== 9) || c === 127;
}

function fail(detail: string): XfccParseResult {
  return { ok: false, detail };
}

/**
 * Parses an XFCC header value into its elements. Fails (never throws) on: an
 * empty element or pair, a key that is not a token, a pair without `=`, an
 * unterminated quoted value, text after a closing quote, a quote inside an
 * unquoted value, a control character, a repeated single-valued key (`Hash`,
 * `Cert`, `Chain`, `Subject`), or more than `maxElements` elements.
 */
export function parseXfcc(header: string, maxElements: number): XfccParseResult {
  // Sticky runs of characters that need no decision, skipped at native regex speed:
  // a key (RFC 9110 §5.6.2 tchar: keys are tokens), the inside of a quoted value up to a quote, backslash or
  // control character, an unquoted value up to a separator, quote or control
  // character. The loops then handle the one character that stopped the run.
  // Made per call: a sticky regex carries state (`lastIndex`).
  const TOKEN_RUN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;
  const QUOTED_RUN = /[^"\\\u0000-\u0008\u000a-\u001f\u007f]+/y;
  const UNQUOTED_RUN = /[^;,"\u0000-\u0008\u000a-\u001f\u007f]+/y;
  const n = header.length;
  const elements: XfccElement[] = [];
  let element: MutableElement = { by: [], uri: [], dns: [] };
  let i = 0;
  for (;;) {
    // --- key
    while (i < n && isOws(header.charCodeAt(i))) i++;
    const keyStart = i;
    TOKEN_RUN.lastIndex = i;
    if (TOKEN_RUN.test(header)) i = TOKEN_RUN.lastIndex;
    const keyEnd = i;
    if (keyStart === keyEnd) {
      if (i >= n || header.charCodeAt(i) === COMMA || header.charCodeAt(i) === SEMICOLON) {
        return fail(`an empty element or pair at offset ${i}`);
      }
      return fail(`an invalid character in a key at offset ${i}`);
    }
    if (i >= n || header.charCodeAt(i) !== EQUALS) return fail(`the key at offset ${keyStart} has no \`=\``);
    i++;
    // --- value
    let value: string;
    if (i < n && header.charCodeAt(i) === QUOTE) {
      i++;
      const parts: string[] = [];
      let segment = i;
      let closed = false;
      while (i < n) {
        QUOTED_RUN.lastIndex = i;
        if (QUOTED_RUN.test(header)) i = QUOTED_RUN.lastIndex;
        if (i >= n) break;
        const c = header.charCodeAt(i);
        if (c === BACKSLASH && i + 1 < n) {
          // A backslash always takes the next character with it, so `\"` never
          // closes the value; only `\"` is unescaped (Envoy's one escape), other
          // pairs stay as they are (a Subject keeps its RFC 4514 escapes).
          if (header.charCodeAt(i + 1) === QUOTE) {
            parts.push(header.slice(segment, i), '"');
            segment = i + 2;
          } else if (isControl(header.charCodeAt(i + 1))) {
            return fail(`a control character at offset ${i + 1}`);
          }
          i += 2;
          continue;
        }
        if (c === QUOTE) {
          closed = true;
          break;
        }
        if (isControl(c)) return fail(`a control character at offset ${i}`);
        i++;
      }
      if (!closed) return fail("a quoted value is not terminated");
      parts.push(header.slice(segment, i));
      value = parts.join("");
      i++;
      while (i < n && isOws(header.charCodeAt(i))) i++;
      if (i < n && header.charCodeAt(i) !== SEMICOLON && header.charCodeAt(i) !== COMMA) {
        return fail(`unexpected text after a quoted value at offset ${i}`);
      }
    } else {
      const valueStart = i;
      UNQUOTED_RUN.lastIndex = i;
      if (UNQUOTED_RUN.test(header)) i = UNQUOTED_RUN.lastIndex;
      while (i < n) {
        const c = header.charCodeAt(i);
        if (c === SEMICOLON || c === COMMA) break;
        if (c === QUOTE) return fail(`a quote inside an unquoted value at offset ${i}`);
        if (isControl(c)) return fail(`a control character at offset ${i}`);
        i++;
      }
      let valueEnd = i;
      while (valueEnd > valueStart && isOws(header.charCodeAt(valueEnd - 1))) valueEnd--;
      value = header.slice(valueStart, valueEnd);
    }
    const problem = assign(element, header.slice(keyStart, keyEnd), value);
    if (problem) return fail(problem);
    // --- separator
    if (i >= n) {
      elements.push(element);
      return { ok: true, elements };
    }
    if (header.charCodeAt(i) === COMMA) {
      elements.push(element);
      if (elements.length >= maxElements) return fail(`more than ${maxElements} elements`);
      element = { by: [], uri: [], dns: [] };
    }
    i++;
  }
}

function assign(element: MutableElement, rawKey: string, value: string): string | undefined {
  const key = rawKey.toLowerCase();
  switch (key) {
    case "by":
      if (value !== "") element.by.push(value);
      return undefined;
    case "uri":
      if (value !== "") element.uri.push(value);
      return undefined;
    case "dns":
      if (value !== "") element.dns.push(value);
      return undefined;
    case "hash":
    case "cert":
    case "chain":
    case "subject":
      // One certificate per element: a second `Cert` would let two readers disagree.
      if (element[key] !== undefined) return `\`${rawKey}\` appears twice in one element`;
      element[key] = value;
      return undefined;
    default:
      return undefined;
  }
}
