/**
 * The thread that parses and checks policy sets for `ward serve`
 * (policy-compiler.ts has the other side and the reasons). It answers each
 * `check` with the checked policies in pieces of about `RULES_PER_MESSAGE`
 * rules, one piece per `next`, then one closing message, so the main thread
 * decodes one small piece per event-loop task.
 */
import { parentPort } from "node:worker_threads";
import type { Diagnostic } from "./diagnostics.js";
import type { CheckedPolicy, CheckedTest } from "./dsl/checked.js";
import { checkPolicySources } from "./dsl/index.js";
import type { CheckReply, CheckRequest } from "./policy-compiler.js";

/** Rules (policies count as one each) per message of checked policies. */
const RULES_PER_MESSAGE = 128;

const port = parentPort;
if (port === null) throw new Error("policy-check-worker runs as a worker thread of `ward serve`");

/** The answer being sent, piece by piece. */
let sending: { readonly id: number; readonly pieces: CheckedPolicy[][]; readonly tests: readonly CheckedTest[]; readonly warnings: readonly Diagnostic[] } | undefined;

function post(reply: CheckReply): void {
  port!.postMessage(reply);
}

function sendNextPiece(): void {
  if (sending === undefined) return;
  const piece = sending.pieces.shift();
  if (piece !== undefined) {
    post({ id: sending.id, kind: "policies", policies: piece });
    return;
  }
  post({ id: sending.id, kind: "checked", tests: sending.tests, warnings: sending.warnings });
  sending = undefined;
}

port.on("message", (request: CheckRequest) => {
  if (request.kind === "next") {
    if (sending?.id === request.id) sendNextPiece();
    return;
  }
  // A new check replaces an answer the main thread stopped asking for.
  sending = undefined;
  const id = request.id;
  try {
    const checked = checkPolicySources(request.sources);
    if (!checked.ok) {
      post({ id, kind: "rejected", diagnostics: checked.diagnostics });
      return;
    }
    const pieces: CheckedPolicy[][] = [];
    let piece: CheckedPolicy[] = [];
    let rules = 0;
    for (const policy of checked.value.policies) {
      piece.push(policy);
      rules += policy.rules.length + 1;
      if (rules >= RULES_PER_MESSAGE) {
        pieces.push(piece);
        piece = [];
        rules = 0;
      }
    }
    if (piece.length > 0) pieces.push(piece);
    sending = { id, pieces, tests: checked.value.tests, warnings: checked.diagnostics };
    sendNextPiece();
  } catch (err) {
    // checkPolicySources never throws on any text; reaching this is a bug, which fails the load.
    post({ id, kind: "failed", message: err instanceof Error ? err.message : String(err) });
  }
});

// Everything above is loaded: the main thread may now send work.
post({ id: 0, kind: "ready" });
