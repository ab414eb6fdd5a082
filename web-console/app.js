// app.js: the web console's page: login, the VM list and its actions, the
// create form, and the console panel of one VM.

import * as api from "./api.js";
import { ConsoleView } from "./console.js";

const POLL_MS = 2000;
const CONSOLES = [
  { name: "pv", label: "PV console" },
  { name: "vuart", label: "vuart (SBSA UART)" },
];
const $ = (sel) => document.querySelector(sel);

// --- Notices ----------------------------------------------------------------

let noticeTimer = null;

function notice(text, kind = "error") {
  const n = $("#notice");
  n.textContent = text;
  n.dataset.kind = kind;
  n.hidden = false;
  clearTimeout(noticeTimer);
  if (kind !== "error") noticeTimer = setTimeout(() => (n.hidden = true), 5000);
}

function clearNotice() {
  $("#notice").hidden = true;
}

// Runs an API call from a user's action and shows its error, if any.
async function attempt(what, fn) {
  try {
    return await fn();
  } catch (err) {
    notice(`${what}: ${err.message}`);
    return undefined;
  }
}

// --- Login ------------------------------------------------------------------

let loggedIn = false;

function showLogin(message) {
  loggedIn = false;
  stopPolling();
  closeConsoles();
  $("#app").hidden = true;
  $("#logout").hidden = true;
  $("#host-info").textContent = "";
  $("#login").hidden = false;
  if (message) notice(message);
  $("#login-token").focus();
}

function showApp() {
  loggedIn = true;
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = false;
  loadHost();
  loadImages();
  startPolling();
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("#login-token");
  const token = input.value.trim();
  try {
    await api.session.login(token);
  } catch (err) {
    notice(err.status === 401 ? "Login refused: wrong token." : `Login failed: ${err.message}`);
    input.select();
    return;
  }
  input.value = "";
  clearNotice();
  showApp();
});

$("#logout").addEventListener("click", async () => {
  await attempt("Log out", () => api.session.logout());
  showLogin();
});

api.setUnauthorizedHandler(() => {
  if (loggedIn) showLogin("The session has ended: log in again.");
});

// --- Host and images --------------------------------------------------------

async function loadHost() {
  try {
    const h = await api.host.get();
    $("#host-info").textContent =
      `Xen ${h.xen.version} · ${h.cpus} CPUs · ${h.memory_mib.free} of ${h.memory_mib.total} MiB free`;
  } catch {
    $("#host-info").textContent = "";
  }
}

function fillSelect(select, names, preferred, optional) {
  const keep = select.value;
  select.replaceChildren();
  if (optional) select.append(new Option("(none)", ""));
  for (const n of names) select.append(new Option(n, n));
  if (names.includes(keep)) select.value = keep;
  else {
    const guess = names.find((n) => preferred.test(n));
    if (guess) select.value = guess;
  }
}

async function loadImages() {
  const list = await attempt("Listing images", () => api.images.list());
  if (!list) return;
  const names = list.map((i) => i.name).sort();
  const form = $("#create-form");
  fillSelect(form.elements.kernel, names, /kernel|image/i, false);
  fillSelect(form.elements.ramdisk, names, /initr|ramdisk/i, true);
}

// --- The VM list --------------------------------------------------------------

const ACTIONS = [
  { label: "Console", run: (vm) => openConsoles(vm.name), when: () => true },
  { label: "Start", action: "start", when: (s) => s === "stopped" || s === "crashed" },
  { label: "Shut down", action: "shutdown", when: (s) => s === "running" },
  { label: "Reboot", action: "reboot", when: (s) => s === "running" },
  { label: "Destroy", action: "destroy", confirm: true, when: (s) => s !== "stopped" },
  { label: "Delete", remove: true, confirm: true, when: (s) => s === "stopped" || s === "crashed" },
];

const rows = new Map(); // VM name → { tr, stateEl, bootEl, buttons, busy }
let pollTimer = null;
let polling = false;

// The list follows the host's event stream (GET /v1/events as Server-Sent
// Events, with the session cookie): a VM's event, or a reset, lists the VMs
// again at once. While the stream is not open (EventSource reconnects by
// itself, resuming with Last-Event-ID), the list is polled instead.
let events = null;
let eventTimer = null;

function onEvent(message) {
  let e;
  try {
    e = JSON.parse(message.data);
  } catch {
    return;
  }
  if (!e.type.startsWith("vm_") && e.type !== "reset") return;
  // A burst of events (a reboot is two) is one listing.
  clearTimeout(eventTimer);
  eventTimer = setTimeout(refreshVms, 50);
}

function startPolling() {
  if (polling) return;
  polling = true;
  events = new EventSource("/v1/events");
  events.onmessage = onEvent;
  events.onopen = () => refreshVms(); // what happened while it was closed
  events.onerror = () => {
    if (events && events.readyState !== EventSource.OPEN && !pollTimer) pollTimer = setTimeout(refreshVms, POLL_MS);
  };
  refreshVms();
}

function stopPolling() {
  polling = false;
  clearTimeout(pollTimer);
  clearTimeout(eventTimer);
  pollTimer = null;
  if (events) events.close();
  events = null;
  for (const r of rows.values()) r.tr.remove();
  rows.clear();
}

async function refreshVms() {
  clearTimeout(pollTimer);
  pollTimer = null;
  if (!polling) return;
  try {
    renderVms(await api.vms.list());
  } catch (err) {
    if (err.status !== 401) notice(`Listing VMs: ${err.message}`);
  }
  // Polled only while the event stream is down.
  if (polling && !(events && events.readyState === EventSource.OPEN)) pollTimer = setTimeout(refreshVms, POLL_MS);
}

// Two clicks for what cannot be undone: the first arms the button for 4 s.
function armed(button, label) {
  if (button.dataset.armed) {
    delete button.dataset.armed;
    button.textContent = label;
    return true;
  }
  button.dataset.armed = "1";
  button.textContent = `Confirm ${label.toLowerCase()}`;
  setTimeout(() => {
    delete button.dataset.armed;
    button.textContent = label;
  }, 4000);
  return false;
}

async function act(row, vm, a, button) {
  if (a.run) return a.run(vm);
  if (a.confirm && !armed(button, a.label)) return;
  row.busy = true;
  updateRow(row, row.vm);
  const ok = await attempt(`${a.label} ${vm.name}`, async () => {
    if (a.remove) await api.vms.remove(vm.name);
    else await api.vms.act(vm.name, a.action);
    return true;
  });
  row.busy = false;
  if (ok) notice(`${a.label}: ${vm.name} done.`, "info");
  refreshVms();
}

function makeRow(vm) {
  const row = { vm, busy: false, buttons: [] };
  row.tr = document.createElement("tr");
  row.tr.dataset.vm = vm.name;
  const nameEl = document.createElement("td");
  nameEl.className = "name";
  nameEl.textContent = vm.name;
  row.stateEl = document.createElement("td");
  row.stateEl.className = "state";
  row.bootEl = document.createElement("td");
  row.bootEl.className = "boot";
  const actions = document.createElement("td");
  actions.className = "actions";
  for (const a of ACTIONS) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = a.label;
    b.dataset.action = a.label.toLowerCase().replace(/ /g, "-");
    b.onclick = () => act(row, row.vm, a, b);
    row.buttons.push({ a, b });
    actions.append(b);
  }
  row.tr.append(nameEl, row.stateEl, row.bootEl, actions);
  return row;
}

function updateRow(row, vm) {
  row.vm = vm;
  // A VM that is not running says how its last boot ended (reboot_loop, ...).
  const ended = vm.exit_reason && vm.state !== "running" && vm.state !== "paused" ? ` (${vm.exit_reason})` : "";
  row.stateEl.textContent = vm.state + ended;
  row.stateEl.dataset.state = vm.state;
  row.bootEl.textContent = vm.boot_count ?? "";
  for (const { a, b } of row.buttons) b.disabled = row.busy || !a.when(vm.state);
}

function renderVms(list) {
  const tbody = $("#vms tbody");
  const seen = new Set();
  list.sort((x, y) => x.name.localeCompare(y.name));
  let at = tbody.firstElementChild;
  for (const vm of list) {
    seen.add(vm.name);
    let row = rows.get(vm.name);
    if (!row) {
      row = makeRow(vm);
      rows.set(vm.name, row);
    }
    updateRow(row, vm);
    // Rows stay in name order; a row already in place is not moved (moving
    // it would drop a click in progress).
    if (row.tr === at) at = at.nextElementSibling;
    else tbody.insertBefore(row.tr, at);
  }
  for (const [name, row] of rows) {
    if (!seen.has(name)) {
      row.tr.remove();
      rows.delete(name);
    }
  }
  $("#vms-empty").hidden = list.length > 0;
}

// --- Creating a VM --------------------------------------------------------------

$("#create-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  const spec = {
    name: f.name.value.trim(),
    kernel: f.kernel.value,
    memory_mib: Number(f.memory_mib.value),
    vcpus: Number(f.vcpus.value),
    cmdline: f.cmdline.value,
  };
  if (f.ramdisk.value) spec.ramdisk = f.ramdisk.value;
  const button = ev.target.querySelector("button[type=submit]");
  button.disabled = true;
  const vm = await attempt(`Creating ${spec.name}`, () => api.vms.create(spec));
  button.disabled = false;
  if (!vm) return;
  if (vm.error) notice(`${spec.name} was created but did not start: ${vm.error.message || vm.error}`);
  else notice(`${spec.name} created.`, "info");
  f.name.value = "";
  refreshVms();
  loadImages();
});

// --- The console panel --------------------------------------------------------

let views = [];

function closeConsoles() {
  for (const v of views) v.close();
  views = [];
  $(".tabs").replaceChildren();
  $("#consoles").hidden = true;
}

function selectTab(index) {
  document.querySelectorAll(".tabs button").forEach((t, i) => {
    t.setAttribute("aria-selected", String(i === index));
  });
  views.forEach((v, i) => v.show(i === index));
}

async function openConsoles(name) {
  const vm = await attempt(`Opening the consoles of ${name}`, () => api.vms.get(name));
  if (!vm) return;
  closeConsoles();
  $("#console-vm").textContent = name;
  $("#consoles").hidden = false;
  const present = CONSOLES.filter((c) => vm.consoles && vm.consoles[c.name]);
  present.forEach((c, i) => {
    const tab = document.createElement("button");
    tab.type = "button";
    tab.setAttribute("role", "tab");
    tab.dataset.console = c.name;
    tab.textContent = c.label;
    tab.onclick = () => selectTab(i);
    $(".tabs").append(tab);
    views.push(new ConsoleView(name, c.name, $(".panes")));
  });
  selectTab(0);
}

$("#console-close").addEventListener("click", closeConsoles);

// --- Start ----------------------------------------------------------------------

$("#notice").addEventListener("click", clearNotice);

(async () => {
  let ok = false;
  try {
    ok = await api.session.check();
  } catch (err) {
    notice(`Cannot reach the agent: ${err.message}`);
  }
  if (ok) showApp();
  else showLogin();
})();
