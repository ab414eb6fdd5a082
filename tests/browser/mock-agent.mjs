// tests/browser/mock-agent.mjs: a stand-in for the agent's HTTP side, for
// working on the web console and its test without a board. NOT the agent and
// not shipped: it serves a web folder, keeps VMs in memory and fakes a guest
// shell on each console, following api/console-websocket.md closely enough
// to exercise the page (session cookie, Origin check, hello/presence/lease,
// ?from= offsets, no_lease).
//
//   node tests/browser/mock-agent.mjs WEB_DIR [PORT]     (token: XVMD_TOKEN or "mock-token")
//
// Prints `export XVMD_URL=... XVMD_TOKEN=...` once it listens.

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { WebSocketServer } from "ws";

const webDir = process.argv[2];
const port = Number(process.argv[3] || 18809);
const token = process.env.XVMD_TOKEN || "mock-token";
if (!webDir) {
  console.error("usage: mock-agent.mjs WEB_DIR [PORT]");
  process.exit(2);
}

const sessions = new Map(); // id → expiry (ms)
const vms = new Map();      // name → VM
const IMAGES = ["linux-kernel", "linux-initramfs"];
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".txt": "text/plain" };

function send(res, status, body, headers = {}) {
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const data = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  res.writeHead(status, { "Content-Type": Buffer.isBuffer(body) ? "application/octet-stream" : "application/json", ...headers });
  res.end(data);
}
const fail = (res, status, code, message) => send(res, status, { error: { code, message } });

function cookieSession(req) {
  const m = /(?:^|;\s*)xvmd_session=([^;]+)/.exec(req.headers.cookie || "");
  return m && sessions.get(m[1]) > Date.now() ? m[1] : null;
}

// "bearer", "cookie" or null.
function authOf(req) {
  if (req.headers.authorization === `Bearer ${token}`) return "bearer";
  return cookieSession(req) ? "cookie" : null;
}

function originOk(req) {
  return req.headers.origin === `http://${req.headers.host}`;
}

// --- A fake guest: a prompt, echo, and `echo WORDS` --------------------------

class Console {
  constructor(vm, name, tty) {
    this.vm = vm;
    this.name = name;
    this.tty = tty;
    this.log = Buffer.alloc(0);
    this.line = "";
    this.viewers = new Map(); // id → ws
    this.nextViewer = 1;
    this.writer = null;
  }
  out(text) {
    const bytes = Buffer.from(text);
    const at = this.log.length;
    this.log = Buffer.concat([this.log, bytes]);
    for (const ws of this.viewers.values()) if (ws.sentTo === at) { ws.send(bytes); ws.sentTo += bytes.length; }
  }
  boot() {
    setTimeout(() => this.out(`[    0.000000] Booting mock guest ${this.vm.name} (boot ${this.vm.boot_count})\r\n`), 200);
    setTimeout(() => this.out(`xvmd-guest: ready on ${this.tty}\r\nguest:${this.tty}# `), 1200);
  }
  input(bytes) {
    for (const ch of bytes.toString("utf8")) {
      if (ch === "\r" || ch === "\n") {
        const cmd = this.line.trim();
        this.line = "";
        let answer = "";
        if (cmd.startsWith("echo ")) answer = cmd.slice(5) + "\r\n";
        else if (cmd) answer = `sh: ${cmd.split(" ")[0]}: not found\r\n`;
        this.out(`\r\n${answer}guest:${this.tty}# `);
      } else if (ch === "\x7f") {
        if (this.line) { this.line = this.line.slice(0, -1); this.out("\b \b"); }
      } else {
        this.line += ch;
        this.out(ch);
      }
    }
  }
  broadcast(msg) {
    for (const ws of this.viewers.values()) ws.send(JSON.stringify(msg));
  }
  presence() {
    this.broadcast({ type: "presence", viewers: this.viewers.size, writer: this.writer });
  }
}

function makeVm(spec) {
  const vm = { name: spec.name, state: "stopped", domid: null, boot_count: 0, spec: { ...spec } };
  delete vm.spec.start;
  vm.consoles = { pv: new Console(vm, "pv", "hvc0"), vuart: new Console(vm, "vuart", "ttyAMA0") };
  return vm;
}

function startVm(vm) {
  vm.state = "running";
  vm.domid = 1 + [...vms.values()].filter((v) => v.domid !== null).length;
  vm.boot_count += 1;
  for (const c of Object.values(vm.consoles)) {
    c.broadcast({ type: "vm", state: vm.state, boot_count: vm.boot_count });
    c.boot();
  }
}

function stopVm(vm) {
  vm.state = "stopped";
  vm.domid = null;
  for (const c of Object.values(vm.consoles)) c.broadcast({ type: "vm", state: vm.state, boot_count: vm.boot_count });
}

function vmJson(vm) {
  const consoles = {};
  for (const [n, c] of Object.entries(vm.consoles)) consoles[n] = { log_start: 0, log_end: c.log.length, connected: vm.state === "running" };
  return { name: vm.name, state: vm.state, domid: vm.domid, boot_count: vm.boot_count, spec: vm.spec, consoles };
}

// --- HTTP ---------------------------------------------------------------------

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const raw = Buffer.concat(chunks);
  return raw;
}

async function handle(req, res) {
  const url = new URL(req.url, "http://x");
  const p = url.pathname;
  if (req.method === "GET" && (p === "/" || p.startsWith("/assets/"))) {
    const name = p === "/" ? "index.html" : p.slice(8);
    if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(name)) return fail(res, 404, "not_found", "no such asset");
    const file = path.join(webDir, name);
    if (!fs.existsSync(file)) return fail(res, 404, "not_found", "no such asset");
    res.writeHead(200, { "Content-Type": TYPES[path.extname(name)] || "application/octet-stream" });
    return res.end(fs.readFileSync(file));
  }
  if (p === "/v1/session" && req.method === "POST") {
    let t;
    try { t = JSON.parse(await body(req)).token; } catch { return fail(res, 400, "bad_request", "body is not JSON"); }
    if (t !== token) return fail(res, 401, "unauthorized", "wrong token");
    const id = crypto.randomBytes(24).toString("base64url");
    sessions.set(id, Date.now() + 43200e3);
    return send(res, 204, undefined, { "Set-Cookie": `xvmd_session=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200` });
  }
  const auth = authOf(req);
  if (!auth) return fail(res, 401, "unauthorized", "a bearer token or a session cookie is needed");
  if (auth === "cookie" && req.method !== "GET" && !originOk(req)) return fail(res, 403, "bad_origin", "Origin is not this agent");
  if (p === "/v1/session") {
    if (req.method === "GET") return send(res, 200, { authenticated: true, expires_in: 43200 });
    if (req.method === "DELETE") {
      sessions.delete(cookieSession(req));
      return send(res, 204, undefined, { "Set-Cookie": "xvmd_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0" });
    }
  }
  if (p === "/v1/host") return send(res, 200, { xen: { version: "mock", config: {} }, gic_version: 3, dom0_boot: "dt", cpus: 2, memory_mib: { total: 4096, free: 3000 } });
  if (p === "/v1/images") return send(res, 200, { images: IMAGES.map((name) => ({ name, size: 1, sha256: null, used_by: [] })) });
  if (p === "/v1/vms" && req.method === "GET") return send(res, 200, { vms: [...vms.values()].map(vmJson) });
  if (p === "/v1/vms" && req.method === "POST") {
    let spec;
    try { spec = JSON.parse(await body(req)); } catch { return fail(res, 400, "bad_request", "body is not JSON"); }
    if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,47}$/.test(spec.name || "")) return send(res, 400, { error: { code: "invalid", message: "name: must match [A-Za-z0-9_][A-Za-z0-9._-]{0,47}", field: "name" } });
    if (vms.has(spec.name)) return send(res, 409, { error: { code: "already_exists", message: `a VM named '${spec.name}' exists`, field: "name" } });
    if (!IMAGES.includes(spec.kernel)) return send(res, 422, { error: { code: "unknown_image", message: `no image '${spec.kernel}'`, field: "kernel" } });
    const vm = makeVm(spec);
    vms.set(vm.name, vm);
    if (spec.start !== false) startVm(vm);
    return send(res, 201, vmJson(vm));
  }
  const m = /^\/v1\/vms\/([^/]+)(?:\/(.*))?$/.exec(p);
  const vm = m && vms.get(decodeURIComponent(m[1]));
  if (m && !vm) return fail(res, 404, "not_found", "no such VM");
  if (vm && !m[2]) {
    if (req.method === "GET") return send(res, 200, vmJson(vm));
    if (req.method === "DELETE") {
      if (vm.state === "running") return fail(res, 409, "vm_running", "destroy or shut the VM down first");
      vms.delete(vm.name);
      for (const c of Object.values(vm.consoles)) for (const ws of c.viewers.values()) ws.close(4404, "VM deleted");
      return send(res, 204);
    }
  }
  if (vm && req.method === "POST" && ["start", "shutdown", "reboot", "destroy"].includes(m[2])) {
    const running = vm.state === "running";
    if ((m[2] === "start") === running) return fail(res, 409, "bad_state", `the VM is ${vm.state}`);
    if (m[2] === "start") startVm(vm);
    else if (m[2] === "reboot") { stopVm(vm); startVm(vm); }
    else stopVm(vm);
    return send(res, m[2] === "shutdown" || m[2] === "reboot" ? 202 : 200, vmJson(vm));
  }
  const lm = vm && /^consoles\/(pv|vuart)\/log$/.exec(m[2]);
  if (lm && req.method === "GET") {
    const c = vm.consoles[lm[1]];
    const from = Number(url.searchParams.get("from") || 0);
    if (!(from >= 0 && from <= c.log.length)) return fail(res, 416, "range_not_satisfiable", "from is outside the log");
    return send(res, 200, c.log.subarray(from), { "X-Xvmd-Log-Start": String(from), "X-Xvmd-Log-End": String(c.log.length) });
  }
  return fail(res, 404, "not_found", "no such route");
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error(err);
    fail(res, 500, "internal", String(err));
  });
});

// --- The console websocket -------------------------------------------------------

const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

function refuse(socket, status, code, message) {
  const b = JSON.stringify({ error: { code, message } });
  socket.end(`HTTP/1.1 ${status} ${code}\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\nConnection: close\r\n\r\n${b}`);
}

server.on("upgrade", (req, socket, head) => {
  const url = new URL(req.url, "http://x");
  const m = /^\/v1\/vms\/([^/]+)\/consoles\/([^/]+)\/ws$/.exec(url.pathname);
  const auth = authOf(req);
  if (!auth) return refuse(socket, 401, "unauthorized", "no token or session");
  if (auth === "cookie" && !originOk(req)) return refuse(socket, 403, "bad_origin", "Origin is not this agent");
  const vm = m && vms.get(decodeURIComponent(m[1]));
  const c = vm && vm.consoles[m[2]];
  if (!c) return refuse(socket, 404, "not_found", "no such VM or console");
  const from = url.searchParams.has("from") ? Number(url.searchParams.get("from")) : c.log.length;
  if (!(Number.isInteger(from) && from >= 0 && from <= c.log.length)) return refuse(socket, 416, "range_not_satisfiable", "from is outside the log");
  wss.handleUpgrade(req, socket, head, (ws) => viewer(c, ws, from));
});

function viewer(c, ws, from) {
  const id = c.nextViewer++;
  c.viewers.set(id, ws);
  ws.send(JSON.stringify({
    type: "hello", vm: c.vm.name, console: c.name, viewer: id, offset: from, log_start: 0,
    log_end: c.log.length, viewers: c.viewers.size, writer: c.writer, vm_state: c.vm.state,
    boot_count: c.vm.boot_count,
  }));
  if (from < c.log.length) ws.send(c.log.subarray(from));
  ws.sentTo = c.log.length;
  c.presence();
  const err = (code, message) => ws.send(JSON.stringify({ type: "error", code, message }));
  ws.on("message", (data, isBinary) => {
    if (isBinary) {
      if (c.writer !== id) return err("no_lease", "take the writer lease to type");
      if (c.vm.state !== "running") return err("vm_not_running", "the VM does not run");
      return c.input(Buffer.from(data));
    }
    let msg;
    try { msg = JSON.parse(data.toString()); } catch { return err("bad_request", "not JSON"); }
    if (msg.type === "sync") return ws.send(JSON.stringify({ type: "sync", offset: ws.sentTo }));
    if (msg.type !== "lease") return err("bad_request", "unknown request");
    const before = c.writer;
    let event;
    if (msg.action === "take") {
      if (c.writer !== null && c.writer !== id) return err("lease_held", `viewer ${c.writer} holds the lease`);
      event = "taken";
      c.writer = id;
    } else if (msg.action === "steal") {
      event = before !== null && before !== id ? "stolen" : "taken";
      c.writer = id;
    } else if (msg.action === "release") {
      if (c.writer !== id) return err("no_lease", "you do not hold the lease");
      event = "released";
      c.writer = null;
    } else return err("bad_request", "unknown lease action");
    c.broadcast({ type: "lease", writer: c.writer, event, by: id });
  });
  ws.on("close", () => {
    c.viewers.delete(id);
    if (c.writer === id) {
      c.writer = null;
      c.broadcast({ type: "lease", writer: null, event: "left", by: id });
    }
    c.presence();
  });
}

server.listen(port, "127.0.0.1", () => {
  console.log(`export XVMD_URL=http://127.0.0.1:${port} XVMD_TOKEN=${token}`);
});
