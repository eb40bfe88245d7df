/**
 * A strict parser for the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format),
 * used to check what `GET /metrics` serves. It throws on anything a
 * Prometheus server would reject or that the format forbids: bad names,
 * bad escapes, a sample before its TYPE, a family split in two, duplicate
 * series, repeated label names, histogram buckets that are not cumulative or
 * disagree with `_count`, negative counters.
 */

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help?: string;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: readonly string[] = ["counter", "gauge", "histogram", "summary", "untyped"];

export class ExpositionError extends Error {}

function fail(lineNo: number, message: string): never {
  throw new ExpositionError(`line ${lineNo}: ${message}`);
}

// Values follow Go's strconv.ParseFloat, which the format names: NaN and Inf in any case
// (prom-client writes `Nan`, which Prometheus accepts).
function parseValue(text: string, lineNo: number): number {
  const lower = text.toLowerCase();
  if (lower === "+inf" || lower === "inf" || lower === "+infinity" || lower === "infinity") return Infinity;
  if (lower === "-inf" || lower === "-infinity") return -Infinity;
  if (lower === "nan") return NaN;
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text)) fail(lineNo, `bad value \`${text}\``);
  return Number(text);
}

function familyOf(sampleName: string, families: Map<string, MetricFamily>): MetricFamily | undefined {
  const exact = families.get(sampleName);
  if (exact) return exact;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = families.get(sampleName.slice(0, -suffix.length));
    if (base && (base.type === "histogram" || (base.type === "summary" && suffix !== "_bucket"))) return base;
  }
  return undefined;
}

/** Parses exposition text into metric families; throws `ExpositionError` on any violation. */
export function parseExposition(text: string): Map<string, MetricFamily> {
  if (text.length > 0 && !text.endsWith("\n")) throw new ExpositionError("text must end with a newline");
  const families = new Map<string, MetricFamily>();
  const finished = new Set<string>();
  const seenSeries = new Set<string>();
  let currentFamily: string | undefined;
  const lines = text.split("\n");
  lines.pop();

  lines.forEach((line, index) => {
    const lineNo = index + 1;
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (!m) return; // an ordinary comment
      const [, kind, name, rest = ""] = m;
      if (!METRIC_NAME.test(name!)) fail(lineNo, `bad metric name \`${name}\``);
      if (finished.has(name!)) fail(lineNo, `metric family \`${name}\` appears twice`);
      let family = families.get(name!);
      if (kind === "TYPE") {
        if (family?.samples.length) fail(lineNo, `TYPE for \`${name}\` after its samples`);
        if (family && family.type !== "untyped") fail(lineNo, `second TYPE for \`${name}\``);
        if (!TYPES.includes(rest)) fail(lineNo, `unknown type \`${rest}\``);
        family = { name: name!, type: rest as MetricType, ...(family?.help !== undefined ? { help: family.help } : {}), samples: [] };
      } else {
        if (family?.help !== undefined) fail(lineNo, `second HELP for \`${name}\``);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ""))) fail(lineNo, "bad escape in HELP");
        family = { name: name!, type: family?.type ?? "untyped", help: rest, samples: family?.samples ?? [] };
      }
      families.set(name!, family);
      if (currentFamily !== undefined && currentFamily !== name) finished.add(currentFamily);
      currentFamily = name;
      return;
    }

    // name{labels} value [timestamp]
    const nameMatch = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (!nameMatch) fail(lineNo, `bad sample line \`${line}\``);
    const sampleName = nameMatch[1]!;
    let pos = sampleName.length;
    const labels: Record<string, string> = {};
    if (line[pos] === "{") {
      pos++;
      while (line[pos] !== "}") {
        const ln = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(pos));
        if (!ln) fail(lineNo, `bad label at column ${pos + 1}`);
        const labelName = ln[1]!;
        if (!LABEL_NAME.test(labelName) || labelName.startsWith("__")) fail(lineNo, `bad label name \`${labelName}\``);
        if (labelName in labels) fail(lineNo, `label \`${labelName}\` repeated`);
        pos += ln[0].length;
        let value = "";
        for (;;) {
          const c = line[pos];
          if (c === undefined) fail(lineNo, "unterminated label value");
          if (c === '"') break;
          if (c === "\\") {
            const e = line[pos + 1];
            if (e === "\\") value += "\\";
            else if (e === '"') value += '"';
            else if (e === "n") value += "\n";
            else fail(lineNo, `bad escape \`\\${e ?? ""}\` in label value`);
            pos += 2;
          } else {
            value += c;
            pos++;
          }
        }
        labels[labelName] = value;
        pos++; // closing quote
        if (line[pos] === ",") pos++;
        else if (line[pos] !== "}") fail(lineNo, `expected \`,\` or \`}\` at column ${pos + 1}`);
      }
      pos++;
    }
    const rest = line.slice(pos);
    const vm = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
    if (!vm) fail(lineNo, `bad value part \`${rest}\``);
    const value = parseValue(vm[1]!, lineNo);

    const family = familyOf(sampleName, families);
    if (!family) fail(lineNo, `sample \`${sampleName}\` has no TYPE line before it`);
    if (finished.has(family.name)) fail(lineNo, `metric family \`${family.name}\` is not contiguous`);
    if (currentFamily !== family.name) {
      if (currentFamily !== undefined) finished.add(currentFamily);
      currentFamily = family.name;
    }
    if (family.type === "histogram" && sampleName === `${family.name}_bucket` && labels["le"] === undefined) fail(lineNo, "histogram bucket without `le`");
    if (family.type === "counter" && (value < 0 || Number.isNaN(value))) fail(lineNo, `counter \`${sampleName}\` is ${value}`);
    const key = `${sampleName}{${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${JSON.stringify(labels[k])}`)
      .join(",")}}`;
    if (seenSeries.has(key)) fail(lineNo, `duplicate series ${key}`);
    seenSeries.add(key);
    family.samples.push({ name: sampleName, labels, value });
  });

  for (const family of families.values()) if (family.type === "histogram") checkHistogram(family);
  return families;
}

function checkHistogram(family: MetricFamily): void {
  const groups = new Map<string, { buckets: { le: number; value: number }[]; count?: number }>();
  const groupKey = (labels: Readonly<Record<string, string>>) =>
    Object.keys(labels)
      .filter((k) => k !== "le")
      .sort()
      .map((k) => `${k}=${labels[k]}`)
      .join(",");
  for (const s of family.samples) {
    const g = groups.get(groupKey(s.labels)) ?? { buckets: [] };
    groups.set(groupKey(s.labels), g);
    if (s.name.endsWith("_bucket")) g.buckets.push({ le: parseValue(s.labels["le"]!, 0), value: s.value });
    else if (s.name.endsWith("_count")) g.count = s.value;
  }
  for (const [key, g] of groups) {
    const sorted = [...g.buckets].sort((a, b) => a.le - b.le);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]!.value < sorted[i - 1]!.value) throw new ExpositionError(`${family.name}{${key}}: buckets are not cumulative`);
    }
    const inf = sorted[sorted.length - 1];
    if (!inf || inf.le !== Infinity) throw new ExpositionError(`${family.name}{${key}}: no +Inf bucket`);
    if (g.count !== inf.value) throw new ExpositionError(`${family.name}{${key}}: _count ${g.count} differs from the +Inf bucket ${inf.value}`);
  }
}

/** The value of one series, or undefined when it is absent. Labels must match exactly. */
export function sampleValue(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name !== name) continue;
      const keys = Object.keys(s.labels);
      if (keys.length === Object.keys(labels).length && keys.every((k) => s.labels[k] === labels[k])) return s.value;
    }
  }
  return undefined;
}

/** The sum of every series of `name` whose labels include `labels`. */
export function sumSamples(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
  }
  return total;
}
