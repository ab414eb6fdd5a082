// tests/browser/console.test.mjs: the web console in a real browser
// (Debian's chromium, driven by playwright-core) against a running agent.
//
//   XVMD_URL=https://127.0.0.1:PORT XVMD_TOKEN=... NODE_EXTRA_CA_CERTS=CA node --test tests/browser/console.test.mjs
//   (tests/browser/run makes chromium trust the CA too: XVMD_CACERT)
//
// (tests/browser/run sets up the npm packages and, without XVMD_URL, boots a
// board for the test.) What a person would do: log in with the token, create
// a VM from the board's images through the form, see VMs change as the
// host's events say, open its vuart console,
// take the writer lease and type; a second browser (its own cookie) watches
// the same console and cannot type. Screenshots go to
// build/test-artifacts/browser/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const URL_ = process.env.XVMD_URL;
const TOKEN = process.env.XVMD_TOKEN;
const CHROMIUM = process.env.XVMD_CHROMIUM || "/usr/bin/chromium";
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ARTIFACTS = path.join(ROOT, "build/test-artifacts/browser");
const BOOT_TIMEOUT = Number(process.env.XVMD_TEST_BOOT_TIMEOUT || 300) * 1000;
const PROMPT = "guest:ttyAMA0# ";

if (!URL_ || !TOKEN) {
  console.error("console.test.mjs: set XVMD_URL and XVMD_TOKEN (eval \"$(hypervisor/board env --port PORT)\")");
  process.exit(2);
}

const rand = crypto.randomBytes(4).toString("hex");
const vmName = `web-${rand}`;
let browser;
const contexts = [];

// The agent's API with the bearer token, for checks and clean-up behind the
// page's back.
async function api(method, p, body) {
  const res = await fetch(URL_ + p, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const type = res.headers.get("Content-Type") || "";
  const data = type.startsWith("application/json") ? await res.json() : Buffer.from(await res.arrayBuffer());
  return { status: res.status, data };
}

// Every answer the pages get, and every text message of their websockets,
// one JSON object a line, for tests/board/test_web_console.py to hold
// against api/openapi.yaml (the board tests' API contract). A JSON body is
// kept whole; other bodies are not (their headers and type still count).
const EXCHANGES = path.join(ARTIFACTS, "exchanges.jsonl");
const pending = [];

function record(entry) {
  fs.appendFileSync(EXCHANGES, JSON.stringify(entry) + "\n");
}

function recordExchanges(page) {
  page.on("response", (res) => {
    pending.push((async () => {
      const req = res.request();
      const headers = await res.allHeaders();
      const type = headers["content-type"] || "";
      let body = null;
      if (type.startsWith("application/json")) body = await res.text().catch(() => null);
      record({ method: req.method(), url: res.url(), status: res.status(), headers, body });
    })());
  });
  page.on("websocket", (ws) => {
    ws.on("framereceived", ({ payload }) => {
      if (typeof payload === "string") record({ ws: ws.url(), message: payload });
    });
  });
}

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  recordExchanges(page);
  page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
  page.on("console", (msg) => {
    // 401s of the login checks are expected; other errors are worth seeing.
    if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource"))
      console.error(`page console: ${msg.text()}`);
  });
  await page.goto(URL_ + "/");
  return page;
}

async function login(page, token) {
  await page.locator("#login-token").fill(token);
  await page.locator("#login-form button[type=submit]").click();
}

// What a terminal shows, scrollback included, one string per row.
async function termText(page, key) {
  return page.evaluate((k) => {
    const t = window.xvmdTerminals && window.xvmdTerminals[k];
    if (!t) return "";
    const b = t.buffer.active;
    const rows = [];
    for (let i = 0; i < b.length; i++) rows.push(b.getLine(i).translateToString(true));
    return rows.join("\n");
  }, key);
}

const count = (haystack, needle) => haystack.split(needle).length - 1;

// Waits until pred(text of the terminal) holds; fails with the terminal's
// last rows.
async function waitTerm(page, key, pred, what, timeout = 30000) {
  const deadline = Date.now() + timeout;
  let text = "";
  while (Date.now() < deadline) {
    text = await termText(page, key);
    if (pred(text)) return text;
    await page.waitForTimeout(250);
  }
  assert.fail(`${key}: ${what} not seen within ${timeout / 1000} s; the terminal ends with:\n` +
    text.split("\n").filter((l) => l.trim()).slice(-15).join("\n"));
}

function pane(page, console) {
  return page.locator(`.pane[data-console=${console}]`);
}

async function openVuart(page) {
  const row = page.locator(`#vms tr[data-vm="${vmName}"]`);
  await row.locator("button[data-action=console]").click();
  await page.locator(".tabs button[data-console=vuart]").click();
  await pane(page, "vuart").locator(".conn[data-state=open]").waitFor();
}

async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file });
  console.log(`# screenshot ${path.relative(ROOT, file)}`);
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.writeFileSync(EXCHANGES, "");
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await Promise.all(pending);
  if (browser) await browser.close();
  // Whatever the test left behind.
  const { status } = await api("GET", `/v1/vms/${vmName}`);
  if (status === 200) {
    await api("POST", `/v1/vms/${vmName}/destroy`);
    await api("DELETE", `/v1/vms/${vmName}`);
  }
});

test("a wrong token is refused at login", async () => {
  const page = await newPage();
  await page.locator("#login").waitFor();
  await login(page, `wrong-${rand}`);
  await page.locator("#notice", { hasText: "wrong token" }).waitFor();
  assert.equal(await page.locator("#login").isVisible(), true, "the login form stays");
  assert.equal(await page.locator("#app").isVisible(), false, "the VM list stays hidden");
  const status = await page.evaluate(async () => (await fetch("/v1/session")).status);
  assert.equal(status, 401, "no session after a refused login");
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  assert.equal(stored, "{}{}", "nothing kept in web storage");
});

test("the VM list follows the host's events, without polling", async () => {
  const name = `web-ev-${rand}`;
  const page = await newPage();
  await login(page, TOKEN);
  await page.locator("#app").waitFor();
  let lists = 0;
  page.on("request", (req) => {
    if (req.method() === "GET" && new URL(req.url()).pathname === "/v1/vms") lists++;
  });
  try {
    // Made behind the page's back: it shows up, running.
    const made = await api("POST", "/v1/vms", { name, kernel: "tiny-guest", memory_mib: 32, cmdline: "mode=idle" });
    assert.equal(made.status, 201, JSON.stringify(made.data));
    const row = page.locator(`#vms tr[data-vm="${name}"]`);
    await row.locator(".state[data-state=running]").waitFor({ timeout: 30000 });
    // Idle: the page asks for nothing.
    await page.waitForTimeout(1000);
    const before = lists;
    await page.waitForTimeout(6000);
    assert.equal(lists, before, "the page listed the VMs while nothing happened (it polls)");
    // A change elsewhere appears at once.
    assert.equal((await api("POST", `/v1/vms/${name}/pause`)).status, 200);
    await row.locator(".state[data-state=paused]").waitFor({ timeout: 5000 });
    assert.equal((await api("POST", `/v1/vms/${name}/destroy`)).status, 200);
    await row.locator(".state[data-state=stopped]").waitFor({ timeout: 5000 });
    assert.equal((await api("DELETE", `/v1/vms/${name}`)).status, 204);
    await row.waitFor({ state: "detached", timeout: 5000 });
  } finally {
    if ((await api("GET", `/v1/vms/${name}`)).status === 200) {
      await api("POST", `/v1/vms/${name}/destroy`);
      await api("DELETE", `/v1/vms/${name}`);
    }
  }
});

test("two browsers on one VM console: one writer, both see the output", async () => {
  // --- Browser A logs in, creates the VM through the form ---------------
  const a = await newPage();
  await login(a, TOKEN);
  await a.locator("#app").waitFor();
  assert.equal(await a.evaluate(() => document.cookie), "", "the session cookie is HttpOnly");
  assert.equal(a.url(), URL_ + "/", "the token is not in the URL");

  const form = a.locator("#create-form");
  await form.locator("select[name=kernel] option[value=linux-kernel]").waitFor({ state: "attached" });
  await form.locator("input[name=name]").fill(vmName);
  await form.locator("select[name=kernel]").selectOption("linux-kernel");
  await form.locator("select[name=ramdisk]").selectOption("linux-initramfs");
  await form.locator("input[name=memory_mib]").fill("128");
  assert.equal(await form.locator("input[name=cmdline]").inputValue(), "console=hvc0 console=ttyAMA0");
  await form.locator("button[type=submit]").click();
  const row = a.locator(`#vms tr[data-vm="${vmName}"]`);
  await row.locator(".state[data-state=running]").waitFor({ timeout: 60000 });
  const created = await api("GET", `/v1/vms/${vmName}`);
  assert.equal(created.status, 200);
  assert.equal(created.data.spec.memory_mib, 128);
  assert.equal(created.data.spec.kernel, "linux-kernel");
  assert.equal(created.data.spec.ramdisk, "linux-initramfs");

  // --- A opens the vuart console and waits for the guest's shell --------
  const key = `${vmName}/vuart`;
  await openVuart(a);
  await waitTerm(a, key, (t) => t.includes(PROMPT), "the shell prompt", BOOT_TIMEOUT);
  const va = pane(a, "vuart");
  assert.equal(await va.locator(".writer").textContent(), "nobody");

  // Typing without the lease is refused in the page.
  await va.locator(".term").click();
  await a.keyboard.type("x");
  await va.locator(".input-notice", { hasText: "lease" }).waitFor();

  // --- A takes the lease and types ----------------------------------------
  await va.locator("button.take").click();
  await va.locator(".writer", { hasText: "you" }).waitFor();
  await va.locator(".term").click();
  const hello = `hello-${rand}`;
  await a.keyboard.type(`echo ${hello}`);
  await a.keyboard.press("Enter");
  // Once in the command line the guest echoes, once as its answer.
  const afterHello = await waitTerm(a, key, (t) => count(t, hello) >= 2 && t.trimEnd().endsWith(PROMPT.trim()),
    `the guest's answer ${hello}`);
  assert.match(afterHello, new RegExp(`^${hello}\\s*$`, "m"), "the answer is a line of its own");

  // --- A's websocket drops; the reconnect resumes where it stopped ---------
  const before = await termText(a, key);
  await a.evaluate((k) => window.xvmdConsoles[k].ws.close(4000, "test drop"), key);
  await va.locator(".conn[data-state=retry]").waitFor();
  await va.locator(".conn[data-state=open]").waitFor();
  await a.waitForTimeout(1000);
  const resumed = await termText(a, key);
  assert.ok(resumed.startsWith(before.trimEnd()), "what was shown before the drop is still all there");
  assert.equal(count(resumed, hello), 2, "no byte shown twice after a reconnect");
  assert.equal(await va.locator(".writer").textContent(), "nobody", "the lease went with the old connection");
  await va.locator("button.take").click();
  await va.locator(".writer", { hasText: "you" }).waitFor();

  // --- Browser B: same console, sees the same, cannot type -----------------
  const b = await newPage();
  await login(b, TOKEN);
  await b.locator("#app").waitFor();
  await openVuart(b);
  const vb = pane(b, "vuart");
  await waitTerm(b, key, (t) => count(t, hello) >= 2, `${hello} in the second browser`);
  await vb.locator(".viewers", { hasText: "2" }).waitFor();
  await va.locator(".viewers", { hasText: "2" }).waitFor();
  assert.match(await vb.locator(".writer").textContent(), /^viewer \d+$/, "B sees A's lease");
  assert.equal(await vb.locator("button.steal").isVisible(), true, "B is offered to steal");

  const intruder = `intruder-${rand}`;
  await vb.locator(".term").click();
  await b.keyboard.type(`echo ${intruder}`);
  await b.keyboard.press("Enter");
  await vb.locator(".input-notice", { hasText: "lease" }).waitFor();
  await b.waitForTimeout(2000);
  const logAfter = await api("GET", `/v1/vms/${vmName}/consoles/vuart/log`);
  assert.equal(logAfter.status, 200);
  assert.ok(!logAfter.data.includes(intruder), "B's keystrokes did not reach the guest");
  assert.ok(!(await termText(a, key)).includes(intruder));

  // The agent refuses them too, should a page send them anyway.
  const sneaky = `sneaky-${rand}`;
  await b.evaluate(([k, text]) => window.xvmdConsoles[k].ws.send(new TextEncoder().encode(text)),
    [key, `echo ${sneaky}\r`]);
  await vb.locator(".status", { hasText: "no_lease" }).waitFor();
  await b.waitForTimeout(1000);
  const logSneaky = await api("GET", `/v1/vms/${vmName}/consoles/vuart/log`);
  assert.ok(!logSneaky.data.includes(sneaky), "the agent dropped input from a viewer without the lease");

  // A types once more: both see it, live.
  const again = `again-${rand}`;
  await va.locator(".term").click();
  await a.keyboard.type(`echo ${again}`);
  await a.keyboard.press("Enter");
  await waitTerm(a, key, (t) => count(t, again) >= 2, `${again} in A`);
  await waitTerm(b, key, (t) => count(t, again) >= 2, `${again} in B`);

  await screenshot(a, "viewer-a-writer.png");
  await screenshot(b, "viewer-b-watcher.png");

  // --- B steals the lease; A sees it go --------------------------------------
  await vb.locator("button.steal").click();
  await vb.locator(".writer", { hasText: "you" }).waitFor();
  await va.locator(".writer", { hasText: /^viewer \d+$/ }).waitFor();
  await va.locator(".status", { hasText: "from you" }).waitFor();
  await vb.locator("button.release").click();
  await va.locator(".writer", { hasText: "nobody" }).waitFor();
  await vb.locator(".writer", { hasText: "nobody" }).waitFor();

  // --- A destroys and deletes the VM; B's console says so ------------------
  await row.locator("button[data-action=destroy]").click();
  await row.locator("button[data-action=destroy]").click(); // confirm
  await row.locator(".state[data-state=stopped]").waitFor({ timeout: 60000 });
  await row.locator("button[data-action=delete]").click();
  await row.locator("button[data-action=delete]").click(); // confirm
  await row.waitFor({ state: "detached", timeout: 30000 });
  assert.equal((await api("GET", `/v1/vms/${vmName}`)).status, 404, "the VM is gone");
  await vb.locator(".status", { hasText: /deleted|no longer exists/ }).waitFor({ timeout: 15000 });

  // --- Logging out ends the session --------------------------------------------
  await a.locator("#logout").click();
  await a.locator("#login").waitFor();
  assert.equal(await a.evaluate(async () => (await fetch("/v1/session")).status), 401);
});
