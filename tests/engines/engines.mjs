// The three engines of the engines layer behind one small interface: Chromium through
// playwright-core (Debian's chromium, the flags of tests/e2e/harness.mjs), Firefox ESR through
// geckodriver and WebKitGTK's MiniBrowser through WebKitWebDriver (both W3C WebDriver, see
// webdriver.mjs), MiniBrowser on an Xvfb display this file starts. Every process started here
// is stopped by the engine's `close()`.
//
// A window (`Win`) offers: goto, waitReady, call (a function of the page's `page.js`, JSON in
// and out), read (an expression over the DOM), click / fill / select by data-testid,
// screenshot, close.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS } from '../e2e/harness.mjs';
import { freePort, startSession, stop } from './webdriver.mjs';

export const ENGINES = ['chromium', 'firefox', 'webkit'];

const MINIBROWSER = process.env.MINIBROWSER || '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `window`'s page API (tests/engines/pages/page.js) from any realm: the request and the
 * reply cross as JSON text in DOM events. Runs in the page (Playwright) or in the WebDriver
 * script realm; `done` gets the reply's JSON text.
 */
function bridge(name, argsJson, done) {
  const id = `gb-test-reply-${Math.random().toString(36).slice(2)}`;
  document.addEventListener(id, (event) => done(String(event.detail)), { once: true });
  document.dispatchEvent(new CustomEvent('gb-test-call', {
    detail: JSON.stringify({ id, name, args: JSON.parse(argsJson) }),
  }));
}

function unwrap(name, text) {
  const reply = JSON.parse(text);
  if (reply.error) throw new Error(`page ${name}(): ${reply.error}`);
  return reply.value;
}

const testid = (id) => `[data-testid="${id}"]`;

/** Waits until the window's document says `ready`; navigation in between is tolerated. */
async function waitReady(win, ms = 20_000) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      if ((await win.read('document.readyState === "complete" && document.title')) === 'ready') return;
    } catch (error) {
      if (Date.now() > until) throw error;
    }
    if (Date.now() > until) throw new Error(`${win.engine}: the page did not get ready`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------- Chromium (Playwright)

async function launchChromium() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    // Playwright turns the back/forward cache off by default; a shopper's Chromium has it.
    ignoreDefaultArgs: ['--disable-back-forward-cache'],
  });
  let context = null;
  return {
    name: 'chromium',
    version: browser.version(),
    /** A fresh profile (storage, locks, channels) for the next test. */
    async fresh() {
      await context?.close();
      context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    },
    async open(url) {
      const win = playwrightWindow(await context.newPage());
      await win.goto(url);
      return win;
    },
    async close() {
      await context?.close();
      await browser.close();
    },
  };
}

/** A window over a Playwright page; `errors` collects the page's uncaught errors. */
export function playwrightWindow(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const win = {
    engine: 'chromium',
    errors,
    async goto(url) { await page.goto(url); },
    waitReady: (ms) => waitReady(win, ms),
    async call(name, ...args) {
      const text = await page.evaluate(
        ([b, n, a]) => new Promise((done) => (0, eval)(`(${b})`)(n, a, done)),
        [bridge.toString(), name, JSON.stringify(args)],
      );
      return unwrap(name, text);
    },
    read: (expression) => page.evaluate(expression),
    click: (id) => page.locator(testid(id)).click({ force: true }),
    fill: (id, text) => page.locator(testid(id)).fill(text),
    select: (id, value) => page.locator(testid(id)).selectOption(value),
    text: (id) => page.locator(testid(id)).textContent(),
    async screenshot(file) {
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: file, fullPage: true });
    },
    close: () => page.close(),
  };
  return win;
}

// ---------------------------------------------------------------- WebDriver engines

/** A local proxy that answers nothing: every connection is counted by host and closed. */
async function startBlackHole() {
  const hits = new Map();
  const sockets = new Set();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', (chunk) => {
      const [method, target] = String(chunk).split('\r\n')[0].split(' ');
      let host = target ?? '?';
      try { host = method === 'CONNECT' ? target.split(':')[0] : new URL(target).hostname; } catch (_) { /* as is */ }
      hits.set(host, (hits.get(host) ?? 0) + 1);
      socket.destroy();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    hits,
    total: () => [...hits.values()].reduce((a, b) => a + b, 0),
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(resolve);
    }),
  };
}

/** Firefox prefs: its background services off; anything else non-local goes to the black hole. */
function firefoxPrefs(proxyPort) {
  return {
    'network.proxy.type': 1,
    'network.proxy.http': '127.0.0.1',
    'network.proxy.http_port': proxyPort,
    'network.proxy.ssl': '127.0.0.1',
    'network.proxy.ssl_port': proxyPort,
    'network.proxy.share_proxy_settings': true,
    'network.proxy.no_proxies_on': '',
    'network.proxy.allow_hijacking_localhost': false,
    'network.proxy.socks_remote_dns': false,
    'network.trr.mode': 5,
    'network.dns.disablePrefetch': true,
    'network.prefetch-next': false,
    'network.predictor.enabled': false,
    'network.http.speculative-parallel-limit': 0,
    'network.captive-portal-service.enabled': false,
    'network.connectivity-service.enabled': false,
    'services.settings.server': 'data:,#remote-settings-dummy/v1',
    'security.remote_settings.crlite_filters.enabled': false,
    'security.remote_settings.intermediates.enabled': false,
    'security.OCSP.enabled': 0,
    'app.update.disabledForTesting': true,
    'app.normandy.enabled': false,
    'app.normandy.api_url': '',
    'app.shield.optoutstudies.enabled': false,
    'messaging-system.rsexperimentloader.enabled': false,
    'datareporting.policy.dataSubmissionEnabled': false,
    'datareporting.healthreport.uploadEnabled': false,
    'toolkit.telemetry.enabled': false,
    'toolkit.telemetry.server': '',
    'toolkit.telemetry.unified': false,
    'browser.ping-centre.telemetry': false,
    'browser.safebrowsing.malware.enabled': false,
    'browser.safebrowsing.phishing.enabled': false,
    'browser.safebrowsing.downloads.enabled': false,
    'browser.safebrowsing.blockedURIs.enabled': false,
    'browser.safebrowsing.provider.mozilla.updateURL': '',
    'browser.safebrowsing.provider.google4.updateURL': '',
    'browser.safebrowsing.provider.google.updateURL': '',
    'browser.region.network.url': '',
    'browser.region.update.enabled': false,
    'browser.search.update': false,
    'browser.newtabpage.enabled': false,
    'browser.newtabpage.activity-stream.feeds.system.topstories': false,
    'browser.newtabpage.activity-stream.feeds.topsites': false,
    'browser.topsites.contile.enabled': false,
    'browser.startup.page': 0,
    'browser.startup.homepage': 'about:blank',
    'browser.startup.homepage_override.mstone': 'ignore',
    'browser.aboutwelcome.enabled': false,
    'browser.discovery.enabled': false,
    'extensions.update.enabled': false,
    'extensions.getAddons.cache.enabled': false,
    'extensions.systemAddon.update.enabled': false,
    'extensions.blocklist.enabled': false,
    'media.gmp-manager.url': '',
    'media.gmp-gmpopenh264.enabled': false,
    'geo.provider.network.url': '',
    'identity.fxaccounts.enabled': false,
    'dom.push.connection.enabled': false,
    'browser.urlbar.quicksuggest.enabled': false,
    'privacy.query_stripping.enabled': false,
  };
}

/** An X display for MiniBrowser: Xvfb picks a free display number and tells it on fd 3. */
async function startXvfb() {
  const xvfb = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let err = '';
  xvfb.stderr.on('data', (c) => { err += c; });
  const display = await new Promise((resolve, reject) => {
    let out = '';
    xvfb.stdio[3].on('data', (c) => {
      out += c;
      if (out.includes('\n')) resolve(`:${out.trim()}`);
    });
    xvfb.once('exit', () => reject(new Error(`Xvfb exited: ${err}`)));
  });
  return { display, close: () => stop(xvfb) };
}

async function launchWebDriverEngine(name) {
  const port = await freePort();
  const extra = [];
  let session;
  let blackHole = null;
  if (name === 'firefox') {
    blackHole = await startBlackHole();
    extra.push(() => blackHole.close());
    session = await startSession({
      command: process.env.GECKODRIVER || 'geckodriver',
      args: ['--port', String(port), '--log', 'error'],
      port,
      // Release builds ignore services.settings.server unless this is in Firefox's
      // environment (geckodriver passes its own on); without it Firefox polls its settings
      // service hundreds of times a run (590 connections in one 33 s run here).
      env: { MOZ_REMOTE_SETTINGS_DEVTOOLS: '1' },
      capabilities: {
        browserName: 'firefox',
        'moz:firefoxOptions': {
          binary: process.env.FIREFOX || '/usr/bin/firefox-esr',
          args: ['-headless'],
          prefs: firefoxPrefs(blackHole.port),
        },
      },
    });
  } else {
    const xvfb = await startXvfb();
    extra.push(() => xvfb.close());
    // WebKit's own requests beyond the test server go to the black hole as well.
    blackHole = await startBlackHole();
    extra.push(() => blackHole.close());
    try {
      session = await startSession({
        command: process.env.WEBKITWEBDRIVER || 'WebKitWebDriver',
        args: [`--port=${port}`],
        port,
        env: { DISPLAY: xvfb.display, GDK_BACKEND: 'x11', WEBKIT_DISABLE_COMPOSITING_MODE: '1' },
        capabilities: {
          browserName: 'MiniBrowser',
          proxy: {
            proxyType: 'manual',
            httpProxy: `127.0.0.1:${blackHole.port}`,
            sslProxy: `127.0.0.1:${blackHole.port}`,
            noProxy: ['127.0.0.1', 'localhost'],
          },
          'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
        },
      });
    } catch (error) {
      for (const close of extra.reverse()) await close();
      throw error;
    }
  }
  await session.setTimeouts({ script: 30_000, pageLoad: 30_000 });
  const base = await session.handle();
  let windows = [];
  const version = await session.execute('return navigator.userAgent');

  const wrap = (handle) => {
    const win = {
      engine: name,
      errors: [],
      handle,
      async goto(url) { await session.use(handle); await session.navigate(url); },
      waitReady: (ms) => waitReady(win, ms),
      async call(fn, ...args) {
        await session.use(handle);
        const text = await session.executeAsync(
          `(${bridge})(arguments[0], arguments[1], arguments[arguments.length - 1]);`,
          [fn, JSON.stringify(args)],
        );
        return unwrap(fn, text);
      },
      async read(expression) {
        await session.use(handle);
        return session.execute(`return (${expression});`);
      },
      async click(id) {
        await session.use(handle);
        try {
          await session.click(testid(id));
        } catch (error) {
          // A styled checkbox under its label is not "interactable" to WebDriver; the
          // shopper clicks the label, which is the element's click.
          if (!/not interactable|intercepted/.test(error.message)) throw error;
          await session.execute('document.querySelector(arguments[0]).click();', [testid(id)]);
        }
      },
      async fill(id, text) { await session.use(handle); await session.type(testid(id), text); },
      async select(id, value) {
        await session.use(handle);
        await session.execute(
          `const s = document.querySelector(arguments[0]); s.value = arguments[1];
           s.dispatchEvent(new Event('input', { bubbles: true }));
           s.dispatchEvent(new Event('change', { bubbles: true }));`,
          [testid(id), value],
        );
      },
      async text(id) { return win.read(`document.querySelector(${JSON.stringify(testid(id))}).textContent`); },
      async screenshot(file) {
        await win.read('window.scrollTo(0, 0)');
        await writeFile(file, await session.screenshot());
      },
      async close() {
        windows = windows.filter((h) => h !== handle);
        await session.closeWindow(handle);
      },
    };
    return win;
  };

  return {
    name,
    version,
    blackHole,
    /** The next test starts with no window of the last one open and empty storage. */
    async fresh(origin) {
      for (const handle of windows) await session.closeWindow(handle).catch(() => {});
      windows = [];
      await session.use(base);
      await session.navigate(`${origin}/t/plain.html`);
      await session.execute('localStorage.clear();');
    },
    async open(url) {
      const handle = await session.newWindow();
      windows.push(handle);
      const win = wrap(handle);
      await win.goto(url);
      return win;
    },
    async close() {
      try {
        await session.quit();
      } finally {
        for (const close of extra.reverse()) await close();
      }
    },
  };
}

export async function launchEngine(name) {
  if (name === 'chromium') return launchChromium();
  try {
    return await launchWebDriverEngine(name);
  } catch (error) {
    // Seen on this 2-core machine, loaded, while another WebKit session ran (a CI run and
    // two probes on 2026-12-01): WebKitWebDriver left `POST /session` unanswered for 60 s.
    // Everything the failed try started is stopped (the driver, the display its browser was
    // on); one more try starts afresh, and a second failure fails the run.
    console.log(`# engine ${name}: no session (${String(error?.message).slice(0, 160)}); starting it again`);
    return launchWebDriverEngine(name);
  }
}

