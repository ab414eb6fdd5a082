// api.js: the agent's REST API as the page uses it. Every call rides on the
// session cookie (never the token); errors become ApiError with the agent's
// JSON error message.

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(field ? `${message} (${field})` : message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

// Called with the ApiError of any 401 that is not the login itself, so the
// page can go back to its login form when the session has ended.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: fall back to the status line
  }
  const e = body && body.error;
  if (e && typeof e.message === "string")
    return new ApiError(res.status, e.code, e.message, e.field);
  return new ApiError(res.status, "http_" + res.status, `${res.status} ${res.statusText}`.trim());
}

// request("POST", "/v1/vms", {...}) → the parsed JSON body, or null when the
// answer has none (204). Throws ApiError for any 4xx/5xx.
export async function request(method, path, body, { quietUnauthorized = false } = {}) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", `cannot reach the agent (${err.message})`);
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && !quietUnauthorized) onUnauthorized(err);
    throw err;
  }
  if (res.status === 204) return null;
  const type = res.headers.get("Content-Type") || "";
  return type.startsWith("application/json") ? res.json() : res.arrayBuffer();
}

export const session = {
  // true if the cookie is a live session, false if not.
  async check() {
    try {
      await request("GET", "/v1/session", undefined, { quietUnauthorized: true });
      return true;
    } catch (err) {
      if (err.status === 401) return false;
      throw err;
    }
  },
  login: (token) => request("POST", "/v1/session", { token }, { quietUnauthorized: true }),
  logout: () => request("DELETE", "/v1/session", undefined, { quietUnauthorized: true }),
};

const vmPath = (name) => "/v1/vms/" + encodeURIComponent(name);

export const vms = {
  list: async () => (await request("GET", "/v1/vms")).vms || [],
  get: (name) => request("GET", vmPath(name)),
  create: (spec) => request("POST", "/v1/vms", spec),
  act: (name, action) => request("POST", `${vmPath(name)}/${action}`),
  remove: (name) => request("DELETE", vmPath(name)),
  consoleUrl(name, console, from) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${vmPath(name)}/consoles/${console}/ws?from=${from}`;
  },
};

export const images = {
  list: async () => (await request("GET", "/v1/images")).images || [],
};

export const host = {
  get: () => request("GET", "/v1/host"),
};
