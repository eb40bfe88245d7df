/**
 * Ward's HTTP API as a fastify plugin built from its dependencies (the
 * fastify/demo split: this file is the app, `server.ts` owns the listener):
 * `GET /health`, `GET /ready`, `GET /metrics`, `POST /v1/check` and
 * `GET /v1/policies`. `POST /v1/check` goes through `decide`, the one decision
 * path the gRPC server uses too. docs/http.md describes every endpoint.
 */
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyReply } from "fastify";
import type { Diagnostic } from "../diagnostics.js";
import { AUDIT_UNAVAILABLE_DETAIL, decide, NO_REVISION, type AuditGate, type DecisionDeps, type DecisionOutcome } from "../decide.js";
import { denyBeforeEvaluation } from "../engine/decision.js";
import { unauthenticated } from "../engine/input.js";
import { fromInputDocument } from "../input/documents.js";
import type { RawRequest } from "../input/raw.js";
import type { WardMetrics } from "../metrics.js";
import type { PolicyStore } from "../policy-store.js";
import { EMPTY_BODY_MESSAGE, parseJsonBody } from "./body.js";
import { checkResponseToJson, errorJson, policiesToJson } from "./json.js";

/** What a `/v1/check` decision was made from, for the audit record (mirrors the fields of the audit module's `AuditMeta`). */
export interface HttpDecisionMeta {
  readonly decisionId: string;
  /** Epoch ms. */
  readonly time: number;
  /** Time spent deciding, microseconds. */
  readonly micros: number;
  readonly raw: RawRequest;
}

/** The collaborators of the HTTP app, built once by `main.ts`. */
export interface HttpAppDeps {
  /** The policy store: `/v1/check` decides with `current()`, `/v1/policies` shows `status()`. */
  readonly store: Pick<PolicyStore, "current" | "status">;
  /** The identity resolver and input builder `decide` needs (the same instances the gRPC server uses). */
  readonly decision: DecisionDeps;
  readonly metrics: WardMetrics;
  /** True once the gRPC server is listening (`/ready` also requires a loaded policy set). */
  readonly isReady: () => boolean;
  /** Under `--audit-backlog-full deny`: true while the audit log takes no records (every call is denied `audit_unavailable`). */
  readonly auditUnavailable?: () => boolean;
  /** The global audit switch (`--audit`), as for gRPC decisions. */
  readonly auditAll?: boolean;
  /** Epoch ms; injectable for tests. */
  readonly now?: () => number;
  /**
   * The decision id for a request, given its `x-request-id` (the gRPC server's
   * id source, so both front ends name decisions alike). By default a usable
   * request id is reused and other requests get a random UUID.
   */
  readonly decisionId?: (requestId: string | undefined) => string;
  /** Given under `--audit-backlog-full deny`: `/v1/check` denies `audit_unavailable` while it is not accepting, as the gRPC server does. */
  readonly auditGate?: AuditGate;
  /** Called after each `/v1/check` decision (main.ts writes the audit record here). Must not throw. */
  readonly onDecision?: (outcome: DecisionOutcome, meta: HttpDecisionMeta) => void;
}

/** Server-level options of `createHttpApp`. */
export interface HttpAppOptions {
  /** The operational logger (pino); fastify logs server errors to it. Silent when absent. */
  readonly logger?: FastifyBaseLogger;
  /** Largest accepted request body, bytes. Default 256 KiB. */
  readonly bodyLimit?: number;
  /** Longest time to receive a whole request, ms. Default 10 s. */
  readonly requestTimeoutMs?: number;
}

/** Default largest `/v1/check` body: an Envoy CheckRequest with 60 KiB of headers and a certificate fits easily. */
export const DEFAULT_BODY_LIMIT = 256 * 1024;

// Every route and its methods, for 405 answers (fastify adds HEAD to GET routes).
const ROUTES: Readonly<Record<string, readonly string[]>> = {
  "/health": ["GET", "HEAD"],
  "/ready": ["GET", "HEAD"],
  "/metrics": ["GET", "HEAD"],
  "/v1/policies": ["GET", "HEAD"],
  "/v1/check": ["POST"],
};

/** The routes, as a plugin with its dependencies bound. */
export function wardHttpPlugin(deps: HttpAppDeps): FastifyPluginAsync {
  const now = deps.now ?? Date.now;
  const decisionId = deps.decisionId ?? defaultDecisionId;

  return async (app) => {
    // Every body is read as text and parsed here, whatever its content type (curl's
    // `-d` sends form encoding), so a bad body gets our message and never a generic one.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => {
      const parsed = parseJsonBody(typeof body === "string" ? body : body.toString("utf8"));
      if (parsed.ok) done(null, parsed.value);
      else done(Object.assign(new Error(parsed.message), { statusCode: 400, code: parsed.code }), undefined);
    });

    app.setErrorHandler((error: FastifyError, request, reply) => {
      const status = error.statusCode ?? 500;
      if (status >= 500) {
        request.log.error({ err: error }, "http request failed");
        return sendError(reply, 500, "internal_error", "internal error");
      }
      if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") return sendError(reply, 413, "body_too_large", `request body is larger than ${app.initialConfig.bodyLimit ?? DEFAULT_BODY_LIMIT} bytes`);
      if (error.code === "invalid_json" || error.code === "empty_body" || error.code === "forbidden_key") return sendError(reply, 400, error.code, error.message);
      return sendError(reply, status, "bad_request", error.message.toLowerCase());
    });

    app.setNotFoundHandler((request, reply) => {
      const path = request.url.split("?")[0] ?? "";
      const allowed = ROUTES[path];
      if (allowed) {
        return sendError(reply.header("allow", allowed.join(", ")), 405, "method_not_allowed", `\`${path}\` takes ${allowed.map((m) => `\`${m}\``).join(" or ")}, not \`${request.method}\``);
      }
      return sendError(reply, 404, "not_found", `no route \`${request.method} ${path}\``);
    });

    app.get("/health", async () => ({ status: "ok" }));

    app.get("/ready", async (_request, reply) => {
      const reasons: string[] = [];
      if (deps.store.current() === undefined) reasons.push("no_policies_loaded");
      if (!deps.isReady()) reasons.push("not_serving");
      if (deps.auditUnavailable?.() === true) reasons.push("audit_unavailable");
      const revision = deps.store.current()?.revision ?? null;
      return reply.code(reasons.length === 0 ? 200 : 503).send({ ready: reasons.length === 0, revision, reasons });
    });

    app.get("/metrics", async (_request, reply) => {
      const { contentType, text } = await deps.metrics.render();
      return reply.type(contentType).send(text);
    });

    app.get("/v1/policies", async () => policiesToJson(deps.store.status()));

    app.post("/v1/check", async (request, reply) => {
      const explain = readFlag((request.query as Record<string, unknown>)["explain"]);
      if (explain === undefined) return sendError(reply, 400, "invalid_query", "`explain` must be `true` or `false`");
      if (request.body === undefined) return sendError(reply, 400, "empty_body", EMPTY_BODY_MESSAGE);

      const started = performance.now();
      const raw = fromInputDocument(request.body);
      if (!raw.ok) {
        return sendError(reply, 400, "invalid_input", "request body is not a valid input document", raw.diagnostics);
      }
      const time = now();
      const program = deps.store.current()?.program;
      const outcome: DecisionOutcome =
        deps.auditGate?.accepting() === false
          ? {
              decision: denyBeforeEvaluation("audit_unavailable", program?.revision ?? NO_REVISION, AUDIT_UNAVAILABLE_DETAIL),
              identity: unauthenticated("not_resolved"),
              error: AUDIT_UNAVAILABLE_DETAIL,
            }
          : decide(program, raw.value, deps.decision, { now: time, auditAll: deps.auditAll === true, explain });
      const seconds = (performance.now() - started) / 1000;
      deps.metrics.recordDecision("http", outcome.decision, seconds);
      const id = decisionId(raw.value.requestId);
      if (deps.onDecision) {
        try {
          deps.onDecision(outcome, { decisionId: id, time, micros: seconds * 1e6, raw: raw.value });
        } catch (err) {
          request.log.error({ err }, "decision hook failed");
        }
      }
      return checkResponseToJson(outcome.decision, outcome.identity, id, explain);
    });
  };
}

/** Builds the fastify instance with the routes registered (not listening: see `startHttpServer`). Tests `inject` into it. */
export function createHttpApp(deps: HttpAppDeps, options: HttpAppOptions = {}): FastifyInstance {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    requestTimeout: options.requestTimeoutMs ?? 10_000,
    // Scrapes and checks are frequent: log failures, not every request.
    logController: new LogController({ disableRequestLogging: true }),
    // The plugin parses bodies itself; these apply to anything else.
    onProtoPoisoning: "error",
    onConstructorPoisoning: "error",
  });
  void app.register(wardHttpPlugin(deps));
  return app;
}

// Request ids end up in logs and headers: only short ids of safe characters are reused.
function defaultDecisionId(requestId: string | undefined): string {
  return requestId !== undefined && requestId.length <= 128 && /^[A-Za-z0-9._:-]+$/.test(requestId) ? requestId : randomUUID();
}

function sendError(reply: FastifyReply, status: number, code: string, message: string, diagnostics?: readonly Diagnostic[]): FastifyReply {
  return reply.code(status).type("application/json; charset=utf-8").send(errorJson(code, message, diagnostics));
}

/** `?explain`, `?explain=true|1` → true; absent, `false`, `0` → false; anything else → undefined. */
function readFlag(value: unknown): boolean | undefined {
  if (value === undefined || value === "false" || value === "0") return false;
  if (value === "" || value === "true" || value === "1") return true;
  return undefined;
}
