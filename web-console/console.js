// console.js: one VM console (pv or vuart) in an xterm.js terminal, fed by
// the agent's console websocket (api/console-websocket.md).
//
// The view keeps `offset`, the log offset of the next byte it expects: the
// hello's offset plus every binary byte since, moved on by `skipped`. A
// reconnect asks for ?from=offset, so the terminal never shows a byte twice
// and never misses one without saying so.

import { Terminal } from "./xterm.js";
import { FitAddon } from "./addon-fit.js";
import { vms, ApiError } from "./api.js";

const SCROLLBACK_BYTES = 256 * 1024; // history shown when a console opens
const INPUT_CHUNK = 16 * 1024;       // a paste goes in pieces (the agent takes 64 KiB a message)
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10000;
const CLOSE_VM_DELETED = 4404;

// Terminals and views by "VM/console", for tests that read what a terminal
// shows or drop a connection.
window.xvmdTerminals = window.xvmdTerminals || {};
window.xvmdConsoles = window.xvmdConsoles || {};

const encoder = new TextEncoder();

function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

const capitalized = (s) => s.charAt(0).toUpperCase() + s.slice(1);

function dim(text) {
  return `\r\n\x1b[2m[xvmd: ${text}]\x1b[0m\r\n`;
}

export class ConsoleView {
  // vmName: the VM; console: "pv" or "vuart"; parent: where the view's
  // element goes.
  constructor(vmName, console, parent) {
    this.vmName = vmName;
    this.console = console;
    this.key = `${vmName}/${console}`;
    this.ws = null;
    this.viewer = null;   // this viewer's id, from the current hello
    this.writer = null;   // who holds the writer lease
    this.viewers = 0;
    this.offset = null;   // log offset of the next byte; null before any hello
    this.closed = false;
    this.retryMs = RETRY_MIN_MS;
    this.retryTimer = null;
    this.noticeTimer = null;

    this.buildDom(parent);
    this.term = new Terminal({
      scrollback: 10000,
      cursorBlink: true,
      fontFamily: "ui-monospace, 'DejaVu Sans Mono', Menlo, monospace",
      fontSize: 14,
      theme: { background: "#101317" },
    });
    this.fitAddon = new FitAddon();
    this.term.loadAddon(this.fitAddon);
    this.term.open(this.termEl);
    this.term.onData((data) => this.input(encoder.encode(data)));
    this.term.onBinary((data) => this.input(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
    this.onResize = () => this.fit();
    window.addEventListener("resize", this.onResize);
    window.xvmdTerminals[this.key] = this.term;
    window.xvmdConsoles[this.key] = this;

    this.renderLease();
    this.connect();
  }

  buildDom(parent) {
    this.connEl = el("span", { className: "conn" });
    this.writerEl = el("b", { className: "writer" });
    this.viewersEl = el("b", { className: "viewers" });
    this.takeBtn = el("button", { type: "button", className: "take", textContent: "Take lease" });
    this.stealBtn = el("button", { type: "button", className: "steal", textContent: "Steal lease" });
    this.releaseBtn = el("button", { type: "button", className: "release", textContent: "Release" });
    this.takeBtn.onclick = () => this.lease("take");
    this.stealBtn.onclick = () => this.lease("steal");
    this.releaseBtn.onclick = () => this.lease("release");
    this.noticeEl = el("span", { className: "input-notice", role: "status" });
    this.statusEl = el("p", { className: "status" });
    this.termEl = el("div", { className: "term" });
    this.element = el("div", { className: "pane" },
      el("div", { className: "toolbar" },
        this.connEl,
        el("span", {}, "writer: ", this.writerEl),
        el("span", {}, "viewers: ", this.viewersEl),
        this.takeBtn, this.stealBtn, this.releaseBtn, this.noticeEl),
      this.termEl,
      this.statusEl);
    this.element.dataset.console = this.console;
    parent.append(this.element);
  }

  fit() {
    if (this.closed || this.element.hidden) return;
    try {
      this.fitAddon.fit();
    } catch {
      // not laid out yet
    }
  }

  show(visible) {
    this.element.hidden = !visible;
    if (visible) {
      this.fit();
      this.term.focus();
    }
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.noticeTimer);
    window.removeEventListener("resize", this.onResize);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
    if (window.xvmdConsoles[this.key] === this) {
      delete window.xvmdConsoles[this.key];
      delete window.xvmdTerminals[this.key];
    }
    this.term.dispose();
    this.element.remove();
  }

  setStatus(text) {
    this.statusEl.textContent = text;
  }

  setConn(text, state) {
    this.connEl.textContent = text;
    this.connEl.dataset.state = state;
  }

  // A short notice next to the lease buttons (refused keystrokes).
  flash(text) {
    this.noticeEl.textContent = text;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => (this.noticeEl.textContent = ""), 4000);
  }

  who(id) {
    if (id === null || id === undefined) return "nobody";
    return id === this.viewer ? "you" : `viewer ${id}`;
  }

  holdsLease() {
    return this.viewer !== null && this.writer === this.viewer;
  }

  renderLease() {
    const online = this.viewer !== null;
    this.writerEl.textContent = online ? this.who(this.writer) : "?";
    this.viewersEl.textContent = online ? String(this.viewers) : "?";
    this.takeBtn.hidden = !online || this.writer !== null;
    this.stealBtn.hidden = !online || this.writer === null || this.holdsLease();
    this.releaseBtn.hidden = !online || !this.holdsLease();
    this.element.classList.toggle("writing", this.holdsLease());
  }

  // The first offset to ask for: the last 256 KiB of the log, or where the
  // view stopped. Null when the view should give up.
  async startOffset(afterFailure) {
    if (this.offset !== null && !afterFailure) return this.offset;
    let vm;
    try {
      vm = await vms.get(this.vmName);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        this.setStatus("The VM no longer exists.");
        return null;
      }
      throw err;
    }
    const log = vm.consoles && vm.consoles[this.console];
    if (!log) {
      this.setStatus(`This VM has no ${this.console} console.`);
      return null;
    }
    if (this.offset === null) return Math.max(log.log_start, log.log_end - SCROLLBACK_BYTES);
    // A reconnect that failed: the log may have dropped the bytes we want.
    if (this.offset < log.log_start || this.offset > log.log_end) {
      const to = this.offset < log.log_start ? log.log_start : log.log_end;
      this.term.write(dim(`bytes ${this.offset}..${to} are no longer in the log`));
      this.offset = to;
    }
    return this.offset;
  }

  async connect(afterFailure = false) {
    if (this.closed) return;
    this.setConn("connecting…", "connecting");
    let from;
    try {
      from = await this.startOffset(afterFailure);
    } catch (err) {
      this.setStatus(`Cannot open the console: ${err.message}`);
      this.retry(true);
      return;
    }
    if (from === null) {
      this.setConn("closed", "closed");
      return;
    }
    if (this.closed) return;
    const ws = new WebSocket(vms.consoleUrl(this.vmName, this.console, from));
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let greeted = false;
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      if (typeof ev.data === "string") {
        if (this.control(ev.data)) greeted = true;
      } else {
        const bytes = new Uint8Array(ev.data);
        this.term.write(bytes);
        if (this.offset !== null) this.offset += bytes.byteLength;
      }
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.viewer = null;
      this.writer = null;
      this.renderLease();
      if (this.closed) return;
      if (ev.code === CLOSE_VM_DELETED) {
        this.setConn("closed", "closed");
        this.setStatus("The VM was deleted.");
        return;
      }
      const why = ev.code === 1006 ? "connection lost" : `closed (${ev.code}${ev.reason ? " " + ev.reason : ""})`;
      this.setStatus(`Disconnected: ${why}.`);
      this.retry(!greeted);
    };
  }

  retry(failed) {
    if (this.closed) return;
    const ms = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    this.setConn(`reconnecting in ${Math.ceil(ms / 1000)} s`, "retry");
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(failed), ms);
  }

  // Handles one text frame; returns true for a hello.
  control(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      this.setStatus("The agent sent a message that is not JSON.");
      return false;
    }
    switch (msg.type) {
      case "hello":
        if (this.offset !== null && msg.offset !== this.offset)
          this.term.write(dim(`resumed at offset ${msg.offset}, not ${this.offset}`));
        this.offset = msg.offset;
        this.viewer = msg.viewer;
        this.writer = msg.writer;
        this.viewers = msg.viewers;
        this.retryMs = RETRY_MIN_MS;
        this.setConn("connected", "open");
        this.setStatus(`VM ${msg.vm_state}, boot ${msg.boot_count}. You are viewer ${msg.viewer}.`);
        this.renderLease();
        return true;
      case "presence":
        this.viewers = msg.viewers;
        this.writer = msg.writer;
        this.renderLease();
        break;
      case "lease":
        this.setStatus(this.leaseText(msg));
        this.writer = msg.writer;
        this.renderLease();
        break;
      case "sync":
        this.offset = msg.offset;
        break;
      case "skipped":
        this.term.write(dim(`${msg.to - msg.from} bytes skipped (offsets ${msg.from}..${msg.to})`));
        this.setStatus(`This view fell behind: bytes ${msg.from}..${msg.to} were skipped (they may still be in the log).`);
        this.offset = msg.to;
        break;
      case "vm":
        this.setStatus(`VM ${msg.state}, boot ${msg.boot_count}.`);
        break;
      case "error":
        if (msg.code === "no_lease") this.flash("Refused: you do not hold the writer lease.");
        this.setStatus(`Refused (${msg.code}): ${msg.message}`);
        break;
      default:
        break; // newer agents may send more; ignore what is unknown
    }
    return false;
  }

  leaseText(msg) {
    const subject = capitalized(this.who(msg.by));
    switch (msg.event) {
      case "taken": return `${subject} took the writer lease.`;
      case "released": return `${subject} released the writer lease.`;
      case "stolen":
        return this.holdsLease() ? `${subject} took the writer lease from you.` : `${subject} stole the writer lease.`;
      case "left": return `${subject} left; the writer lease is free.`;
      default: return `The writer lease is now held by ${this.who(msg.writer)}.`;
    }
  }

  lease(action) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      this.flash("Not connected.");
      return;
    }
    this.ws.send(JSON.stringify({ type: "lease", action }));
    this.term.focus();
  }

  input(bytes) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.viewer === null) {
      this.flash("Not connected: the keys were not sent.");
      return;
    }
    if (!this.holdsLease()) {
      this.flash(this.writer === null
        ? "Take the writer lease to type."
        : `${capitalized(this.who(this.writer))} holds the writer lease: steal it to type.`);
      return;
    }
    for (let i = 0; i < bytes.length; i += INPUT_CHUNK)
      this.ws.send(bytes.subarray(i, i + INPUT_CHUNK));
  }
}
