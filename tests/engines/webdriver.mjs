// A small W3C WebDriver client over fetch: enough to drive Firefox (geckodriver) and WebKitGTK
// (WebKitWebDriver) through the same steps Playwright takes in Chromium. Every process it
// starts (the driver, and through the driver the browser) is stopped by `quit()`.
import { spawn } from 'node:child_process';
import net from 'node:net';

/** A TCP port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `child` has exited (at once if it already has). */
export function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Stops `child`: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
export async function stop(child, graceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

/**
 * Starts a WebDriver server (`command args`, listening on `port`) and opens a session with
 * `capabilities`. Returns the session; `quit()` ends it and stops the driver.
 */
export async function startSession({ command, args, port, env, capabilities, log = () => {} }) {
  const driver = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk).slice(-20_000);
    log(String(chunk));
  };
  driver.stdout.on('data', keep);
  driver.stderr.on('data', keep);
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      if (driver.exitCode !== null) throw new Error(`${command} exited: ${output}`);
      try {
        const status = await (await fetch(`${base}/status`)).json();
        if (status.value?.ready !== false) break;
      } catch (_) { /* not listening yet */ }
      if (i > 150) throw new Error(`${command} did not start: ${output}`);
      await sleep(100);
    }
    const created = await request(base, 'POST', '/session', { capabilities: { alwaysMatch: capabilities } });
    return new Session(base, created.sessionId, driver, () => output);
  } catch (error) {
    await stop(driver);
    throw error;
  }
}

/** Longest a driver may take to answer one command: past the page-load and script
 * timeouts the harness sets (30 s), so a driver that never answers costs a minute, not
 * fetch's own five. */
const COMMAND_TIMEOUT_MS = 60_000;

async function request(base, method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json; charset=utf-8' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
  });
  const text = await response.text();
  let parsed;
  try { parsed = JSON.parse(text); } catch (_) { parsed = { value: text }; }
  if (!response.ok || parsed.value?.error) {
    const v = parsed.value ?? {};
    throw new Error(`WebDriver ${method} ${path}: ${v.error ?? response.status}: ${v.message ?? text}`);
  }
  return parsed.value;
}

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

export class Session {
  constructor(base, id, driver, output) {
    this.base = base;
    this.id = id;
    this.driver = driver;
    this.output = output;
    this.current = null;
  }

  cmd(method, path, body) {
    return request(this.base, method, `/session/${this.id}${path}`, body);
  }

  /** Makes `handle` the window later commands act on (no command when it already is). */
  async use(handle) {
    if (this.current === handle) return;
    await this.cmd('POST', '/window', { handle });
    this.current = handle;
  }

  async handle() {
    this.current = await this.cmd('GET', '/window');
    return this.current;
  }

  /** Opens a new top-level window (not a tab: a background tab would be hidden). */
  async newWindow() {
    const { handle } = await this.cmd('POST', '/window/new', { type: 'window' });
    return handle;
  }

  async closeWindow(handle) {
    await this.use(handle);
    await this.cmd('DELETE', '/window');
    this.current = null;
  }

  navigate(url) {
    return this.cmd('POST', '/url', { url });
  }

  execute(script, args = []) {
    return this.cmd('POST', '/execute/sync', { script, args });
  }

  executeAsync(script, args = []) {
    return this.cmd('POST', '/execute/async', { script, args });
  }

  async find(css) {
    const found = await this.cmd('POST', '/element', { using: 'css selector', value: css });
    return found[ELEMENT];
  }

  async click(css) {
    await this.cmd('POST', `/element/${await this.find(css)}/click`, {});
  }

  async type(css, text) {
    const element = await this.find(css);
    await this.cmd('POST', `/element/${element}/clear`, {});
    await this.cmd('POST', `/element/${element}/value`, { text });
  }

  async screenshot() {
    return Buffer.from(await this.cmd('GET', '/screenshot'), 'base64');
  }

  async setTimeouts(timeouts) {
    await this.cmd('POST', '/timeouts', timeouts);
  }

  /** Ends the session (the driver closes its browser) and stops the driver. */
  async quit() {
    try {
      await Promise.race([this.cmd('DELETE', ''), sleep(15_000)]);
    } catch (_) { /* the browser may be gone already */ }
    await stop(this.driver);
  }
}
