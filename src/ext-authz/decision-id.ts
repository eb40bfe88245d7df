/**
 * Decision ids: Envoy's `x-request-id` when it carries a usable one (so the
 * access log, the service's logs and Ward's audit record share one id),
 * otherwise a generated one. Ids go into headers, JSON bodies and log records
 * unescaped, so only a conservative character set is accepted.
 */
import { randomBytes } from "node:crypto";

/** Longest `x-request-id` reused as a decision id (Envoy's UUIDs are 36 characters). */
export const MAX_REQUEST_ID_LENGTH = 128;

const SAFE_ID = /^[A-Za-z0-9._:-]+$/;

/** True when a request id can be used as a decision id as it is. */
export function isUsableRequestId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_REQUEST_ID_LENGTH && SAFE_ID.test(id);
}

/** Makes decision ids for one server: reuses a usable request id, else generates one. */
export interface DecisionIdSource {
  next(requestId: string | undefined): string;
}

/**
 * Generated ids are `w-<random prefix>-<counter>`: the 12-hex-digit prefix is
 * drawn once per process (unique across restarts and replicas with
 * overwhelming probability), the counter makes them unique within it, and
 * making one costs an increment and a short string.
 */
export function createDecisionIdSource(prefix: string = randomBytes(6).toString("hex")): DecisionIdSource {
  let counter = 0;
  const head = `w-${prefix}-`;
  return {
    next(requestId) {
      if (requestId !== undefined && isUsableRequestId(requestId)) return requestId;
      counter = counter >= Number.MAX_SAFE_INTEGER ? 1 : counter + 1;
      return head + counter.toString(36);
    },
  };
}
