// usagecore's OpenCode plugin. Installed by `usagecore install opencode`;
// `usagecore uninstall opencode` removes it.
//
// Forwards what usagecore counts to `usagecore ingest --source opencode`:
// assistant `message.updated` (the latest state of each message: OpenCode
// stores the final one, and usagecore upserts by message id, never sums),
// `tool.execute.after` (without the tool's output) and session events.
//
// It never blocks OpenCode: hooks only put lines in a queue; the queue is
// handed over every FLUSH_MS (and at once when a session goes idle) to a
// detached `usagecore ingest` process, as its last argument: the payload is
// in the child when spawn returns, even if OpenCode exits right after (a
// pipe might not have been written yet). A slow or failing usagecore costs
// that process, never time in the session. Payload: JSON lines of
// {"ts": epoch ms, "hook": "event" | "tool.execute.after", "payload": ...}.
import { spawn } from "node:child_process";

const COMMAND = process.env.USAGECORE_BIN ? [process.env.USAGECORE_BIN] : @USAGECORE_COMMAND@;
const FLUSH_MS = 250;
// Linux takes at most 128 KiB in one argument; larger batches go in pieces.
const MAX_ARG_BYTES = 120000;
const KILL_AFTER_MS = 10000;
const SESSION_EVENTS = new Set(["session.created", "session.updated", "session.deleted", "session.idle",
  "session.error", "session.compacted", "session.status"]);

let queue = [];
let timer = null;

function hand_over(body) {
  try {
    const child = spawn(COMMAND[0], [...COMMAND.slice(1), "ingest", "--source", "opencode", body],
      { stdio: "ignore", detached: true });
    child.on("error", () => {});
    const killer = setTimeout(() => { try { child.kill("SIGKILL"); } catch (e) {} }, KILL_AFTER_MS);
    killer.unref();
    child.on("exit", () => clearTimeout(killer));
    child.unref();
  } catch (e) {}
}

function flush() {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  let body = "";
  for (const line of queue) {
    if (body && Buffer.byteLength(body) + Buffer.byteLength(line) > MAX_ARG_BYTES) {
      hand_over(body);
      body = "";
    }
    body += line;
  }
  queue = [];
  if (body) hand_over(body);
}

function send(hook, payload) {
  try {
    queue.push(JSON.stringify({ ts: Date.now(), hook, payload }) + "\n");
    if (timer === null) {
      timer = setTimeout(flush, FLUSH_MS);
    }
  } catch (e) {}
}

// The last state of each assistant message still streaming, sent once it completes.
const streaming = new Map();

export const Usagecore = async () => {
  process.once("beforeExit", flush);
  return {
    event: async ({ event }) => {
      try {
        if (event.type === "message.updated") {
          const info = event.properties && event.properties.info;
          if (!info || info.role !== "assistant") return;
          const done = (info.time && info.time.completed) || info.finish || info.error;
          if (done) {
            streaming.delete(info.id);
            send("event", event);
          } else {
            streaming.set(info.id, event);
          }
        } else if (SESSION_EVENTS.has(event.type)) {
          const idle = event.type === "session.idle" ||
            (event.type === "session.status" && event.properties && event.properties.status &&
              event.properties.status.type === "idle");
          if (idle) {
            for (const pending of streaming.values()) send("event", pending);
            streaming.clear();
          }
          send("event", event);
          if (idle) flush();
        }
      } catch (e) {}
    },
    "tool.execute.after": async (input, output) => {
      const meta = output && output.metadata;
      send("tool.execute.after", {
        input: { tool: input.tool, sessionID: input.sessionID, callID: input.callID },
        output: { title: output && output.title, error: Boolean(meta && meta.error) },
      });
    },
  };
};
