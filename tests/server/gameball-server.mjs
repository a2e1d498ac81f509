// A local, Gameball-compatible HTTP server for the demo storefront and every test
// (browser tests from another origin, Playwright end-to-end runs, multi-tab chaos runs).
// Node 20 built-ins only (`node:http`), no npm dependencies.
//
// It answers Gameball's events API the way Gameball does (see shared/reference/gameball-api.md):
//   POST /api/v4.0/integrations/events   and   POST /api/v4.1/integrations/events (needs X-GB-TOKEN)
// with Gameball's CORS allow-list, error bodies, codes (1000, 2001, 3000, 3016, 4029, 5000) and
// rate limits (100 requests/s and 1200 requests/30 s per API key), records every request it
// receives, and lets tests inject faults. It also serves static files for the demo.
//
// It also answers Voucherify's client-side custom events (shared/reference/gameball-api.md,
// last section; seeds/voucherify-track-custom-event.openapi.md):
//   POST /client/v1/events   headers X-Client-Application-Id + X-Client-Token (a known pair,
//   else 401), body { event (string, 1-300 JS characters), customer { source_id or id },
//   metadata? (object), referral? { code }, loyalty? { code } }; 200 answers Voucherify's
//   event object; errors are Voucherify's { code, key, message, details, request_id };
//   5 requests per 5 s per client IP (Voucherify's documented client-side limit), else 429;
//   CORS allows exactly X-Client-Application-Id, X-Client-Token, Content-Type,
//   X-Voucherify-Channel. (Voucherify also serves only origins on the project's allow-list;
//   this server serves any origin, as the tests come from several.)
//
// Control endpoints (JSON, CORS `Access-Control-Allow-Origin: *`):
//   GET  /__gb/health              -> 200 {"ok": true}
//   GET  /__gb/log[?since=SEQ]     -> 200 {"requests": [entry, ...]}  entries with seq > SEQ
//   GET  /__gb/events[?since=SEQ]  -> 200 [{seq, customerId, name, metadata, email, mobile}, ...]
//                                     one per event of every accepted request, in arrival order
//   GET  /__gb/events?destination=voucherify[&since=SEQ]
//                                  -> 200 [{seq, customerId, name, metadata, customer, referral,
//                                     loyalty}, ...] the same for Voucherify (customerId is the
//                                     customer's source_id, else id)
//   POST /__gb/reset               -> 204  clears log (seq restarts at 1), faults, offline, rate
//                                          windows, in-progress map; restores the startup config
//   POST /__gb/faults {fault}      -> 204  appends a fault to the FIFO applied to the next event
//                                          POSTs: {count=1, status?, code?, retryAfter?, delayMs?,
//                                          hang?, drop?, accept?, name?, destination?};
//                                          destination 'voucherify' queues it for Voucherify's
//                                          endpoint (its own FIFO); {"clear": true} empties both
//                                          Hostile answers (status defaults to 500): body (raw
//                                          text), contentType, bodyBytes (that many bytes of
//                                          body), truncate (the body stops short of its
//                                          Content-Length and the connection closes), redirect
//                                          (a Location, status 307 by default)
//   POST /__gb/offline {"offline": bool, destination?} -> 204  while on, event POSTs and
//                                          preflights are dropped (of one destination if named)
//   POST /__gb/config {apiKeys?, rateLimit?, voucherifyApps?: {appId: key}} -> 204
//
// Options of startServer beyond port/host/apiKeys/quiet/static:
//   sink: true        any other request (after static files) is answered 200 `{}` and kept in
//                     state.sink as {seq, at, method, path, body}: the endpoint of the other
//                     trackers `npm run bench` compares with, so that nothing reaches the internet
//   headers: {...}    extra headers on static files, over the defaults (the bench sets COOP/COEP
//                     for fine timers; the engines layer sets a Cache-Control that lets a page
//                     into the back/forward cache, which no-store keeps Chromium's out of)
//
// Use: node tests/server/gameball-server.mjs [--port 8787] [--host 127.0.0.1] [--static DIR]...
//        [--mount /prefix=DIR]... [--api-keys k1,k2] [--quiet]
// or:  const { url, port, close, state } = await startServer({ port: 0, quiet: true });

import http from 'node:http';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '..', '..');

/** The two events endpoints and the API version each one speaks. */
export const EVENTS_PATHS = Object.freeze({
  '/api/v4.0/integrations/events': 'v4.0',
  '/api/v4.1/integrations/events': 'v4.1',
});
export const DEFAULT_API_KEYS = Object.freeze(['demo-public-key', 'test-public-key']);
export const MAX_BODY_BYTES = 1024 * 1024;
export const RATE_LIMITS = Object.freeze([
  { windowMs: 1_000, max: 100 },
  { windowMs: 30_000, max: 1_200 },
]);
export const EVENTS_ALLOW_HEADERS = 'APIKey, Content-Type, Lang, x-gb-agent, X-GB-TOKEN';
export const VOUCHERIFY_PATH = '/client/v1/events';
/** Client-side application id -> client secret key, for the demo and the tests. */
export const DEFAULT_VOUCHERIFY_APPS = Object.freeze({ 'demo-vf-app': 'demo-vf-key', 'test-vf-app': 'test-vf-key' });
export const VOUCHERIFY_RATE_LIMIT = Object.freeze({ windowMs: 5_000, max: 5 });
export const VOUCHERIFY_ALLOW_HEADERS = 'X-Client-Application-Id, X-Client-Token, Content-Type, X-Voucherify-Channel';
export const VOUCHERIFY_EVENT_MAX = 300;

const DOCUMENTATION_URL = 'https://developer.gameball.co/api-reference/status-error-codes';
const LOGGED_HEADERS = ['apikey', 'lang', 'x-gb-agent', 'x-gb-token', 'content-type', 'origin',
  'x-client-application-id', 'x-client-token', 'x-voucherify-channel'];
const SUCCESS_BODY = Object.freeze({ success: true, message: 'Events processed' });
const CONTROL_PREFIX = '/__gb/';

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Starts the server. Resolves once it listens.
 * @returns {Promise<{url: string, port: number, close: () => Promise<void>, state: object}>}
 */
export async function startServer(options = {}) {
  const settings = resolveSettings(options);
  const state = createState(settings);
  const runtime = { timers: new Set() }; // pending delay timers, cancelled on close
  const server = http.createServer((req, res) => {
    handleRequest(req, res, state, settings, runtime).catch((err) => failInternally(res, err));
  });
  await listen(server, settings.port, settings.host);
  const port = server.address().port;
  const url = `http://${urlHost(settings.host)}:${port}`;
  return { url, port, state, close: () => closeServer(server, runtime) };
}

// ---------------------------------------------------------------------------------------------
// Settings and state

function resolveSettings(options) {
  const envKeys = parseKeyList(process.env.GB_API_KEYS);
  return {
    port: options.port ?? 8787,
    host: options.host ?? '127.0.0.1',
    apiKeys: [...(options.apiKeys ?? envKeys ?? DEFAULT_API_KEYS)],
    voucherifyApps: { ...(options.voucherifyApps ?? DEFAULT_VOUCHERIFY_APPS) },
    rateLimit: options.rateLimit ?? true,
    quiet: options.quiet ?? false,
    staticRoots: normalizeStaticRoots(options.static ?? [{ prefix: '/', dir: REPO_ROOT }]),
    sink: options.sink ?? false,
    staticHeaders: { ...options.headers },
  };
}

function parseKeyList(text) {
  if (typeof text !== 'string' || text.trim() === '') return null;
  return text.split(',').map((k) => k.trim()).filter(Boolean);
}

function normalizeStaticRoots(roots) {
  return roots.map((root) => {
    const entry = typeof root === 'string' ? { prefix: '/', dir: root } : root;
    const prefix = '/' + String(entry.prefix ?? '/').replace(/^\/+|\/+$/g, '');
    return { prefix, dir: path.resolve(entry.dir) };
  });
}

function createState(settings) {
  const state = {
    defaults: { apiKeys: settings.apiKeys, rateLimit: settings.rateLimit, voucherifyApps: settings.voucherifyApps },
  };
  resetState(state);
  return state;
}

/** Back to the startup state: empty log, no faults, online, fresh rate windows. */
function resetState(state) {
  state.seq = 0;
  state.log = [];
  state.faults = [];
  state.vfFaults = []; // Voucherify's endpoint has its own FIFO
  state.offline = false;
  state.vfOffline = false;
  state.vfWindows = new Map(); // client IP -> timestamps of recent Voucherify requests
  state.rateWindows = new Map(); // api key -> timestamps of recent requests
  state.inProgress = new Map(); // customerId -> log entry of the request holding it
  state.sink = []; // requests answered by the catch-all sink (startServer({ sink: true }))
  state.config = {
    apiKeys: [...state.defaults.apiKeys],
    rateLimit: state.defaults.rateLimit,
    voucherifyApps: { ...state.defaults.voucherifyApps },
  };
}

// ---------------------------------------------------------------------------------------------
// Routing

async function handleRequest(req, res, state, settings, runtime) {
  const url = new URL(req.url, 'http://localhost');
  if (Object.hasOwn(EVENTS_PATHS, url.pathname)) {
    return handleEvents(req, res, url.pathname, state, settings, runtime);
  }
  if (url.pathname === VOUCHERIFY_PATH) return handleVoucherify(req, res, state, settings, runtime);
  if (url.pathname.startsWith(CONTROL_PREFIX)) return handleControl(req, res, url, state);
  if ((req.method === 'GET' || req.method === 'HEAD') && await serveStatic(req, res, settings)) return;
  if (settings.sink) return answerSink(req, res, url, state);
  return sendText(res, 404, 'Not found');
}

/** The catch-all of `sink: true`: keeps the request, answers 200 `{}` to any origin. */
async function answerSink(req, res, url, state) {
  const cors = {
    'Access-Control-Allow-Origin': req.headers.origin ?? '*',
    'Access-Control-Allow-Credentials': 'true',
    Vary: 'Origin',
  };
  if (req.method === 'OPTIONS') {
    res.writeHead(204, {
      ...cors,
      'Access-Control-Allow-Methods': 'GET, POST, PUT, OPTIONS',
      'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? '*',
      'Access-Control-Max-Age': '600',
    });
    return res.end();
  }
  const body = await readBody(req, MAX_BODY_BYTES);
  state.sink.push({ seq: ++state.seq, at: Date.now(), method: req.method, path: url.pathname + url.search, body: body.raw });
  sendJson(res, 200, {}, cors);
}

function failInternally(res, err) {
  if (res.headersSent || res.destroyed) return;
  sendJson(res, 500, { code: 5000, type: 'Server Error', message: String(err?.message ?? err) });
}

// ---------------------------------------------------------------------------------------------
// Events endpoints

async function handleEvents(req, res, pathname, state, settings, runtime) {
  const ctx = newEventContext(req, res, pathname, state, settings);
  if (state.offline) return dropConnection(ctx, 'offline');
  if (req.method === 'OPTIONS') return answerPreflight(ctx);
  if (req.method !== 'POST') return answerError(ctx, 405, 4000, `Method ${req.method} not allowed`);

  const body = await readBody(req, MAX_BODY_BYTES);
  ctx.entry.body = body.tooLarge ? `[body of ${body.size} bytes not kept]` : logBody(body);
  if (body.tooLarge) return answerError(ctx, 413, 3016, `Payload over ${MAX_BODY_BYTES} bytes`);

  const fault = takeFault(state.faults);
  if (fault) await applyFaultPrelude(ctx, fault, body, runtime);
  if (fault?.drop) return dropConnection(ctx);
  if (fault?.hang) return; // never answered; the socket closes when the client or server gives up
  if (fault && fault.status != null && !fault.accept) return answerFaultStatus(ctx, fault);

  const rejection = checkEventRequest(ctx, body);
  if (rejection) return answerError(ctx, ...rejection);
  recordAccepted(ctx.entry);
  if (fault?.accept) return answerFaultStatus(ctx, fault);
  return answer(ctx, 200, SUCCESS_BODY);
}

function newEventContext(req, res, pathname, state, settings) {
  const entry = {
    seq: ++state.seq,
    at: Date.now(),
    method: req.method,
    path: pathname,
    headers: pickHeaders(req),
    body: null,
    status: null,
    code: null,
    fault: null,
    accepted: false,
    destination: pathname === VOUCHERIFY_PATH ? 'voucherify' : 'gameball',
  };
  state.log.push(entry);
  return {
    req, res, entry, state, settings,
    version: EVENTS_PATHS[pathname],
    requestId: randomUUID(),
    retryAfter: undefined,
    release: () => {},
  };
}

function pickHeaders(req) {
  const picked = {};
  for (const name of LOGGED_HEADERS) {
    if (req.headers[name] !== undefined) picked[name] = req.headers[name];
  }
  if (req.method === 'OPTIONS' && req.headers['access-control-request-headers'] !== undefined) {
    picked['access-control-request-headers'] = req.headers['access-control-request-headers'];
  }
  return picked;
}

function logBody(body) {
  return body.json.ok ? body.json.value : body.raw;
}

/** How long a hung request keeps its customer busy at most (ms). */
const HANG_HOLD_MS = 12_000;

/** Marks the customer busy, waits the fault's delay, and notes the fault in the log. */
async function applyFaultPrelude(ctx, fault, body, runtime) {
  ctx.entry.fault = fault.name;
  ctx.retryAfter = fault.retryAfter;
  ctx.release = holdCustomer(ctx.state, peekCustomerId(body), ctx.entry);
  if (fault.hang) {
    // The customer stays busy until the client gives up (the connection closes) or, as a
    // server's own request timeout would end it, HANG_HOLD_MS: Chromium's aborted fetch left
    // the connection open, and the customer answered 2001 for ever.
    ctx.res.on('close', ctx.release);
    setTimeout(ctx.release, HANG_HOLD_MS).unref();
  }
  if (fault.delayMs > 0) await sleep(fault.delayMs, runtime);
}

/** Gameball's checks, in Gameball's order. Returns [status, code, message] or null. */
function checkEventRequest(ctx, body) {
  const { req, state, version } = ctx;
  const apiKey = req.headers.apikey;
  if (!apiKey) return [401, 1000, 'APIKey header is required'];
  if (!state.config.apiKeys.includes(apiKey)) return [401, 1000, 'Invalid API key'];
  if (version === 'v4.1' && !req.headers['x-gb-token']) {
    return [401, 1000, 'A customer session token (X-GB-TOKEN header) is required for API v4.1'];
  }
  if (state.config.rateLimit && overRateLimit(state, apiKey, Date.now())) {
    return [429, 4029, 'Too many requests: rate limit exceeded'];
  }
  return checkPayload(body.json) ?? checkConcurrency(state, body.json.value, ctx.entry);
}

function checkPayload(json) {
  if (!json.ok) return [400, 3016, 'Request body is not valid JSON'];
  const payload = json.value;
  if (!isPlainObject(payload)) return [400, 3016, 'Request body must be a JSON object'];
  const { customerId, events } = payload;
  if (typeof customerId !== 'string' || customerId === '') {
    return [400, 3000, 'customerId is required'];
  }
  if (!isPlainObject(events) || Object.keys(events).length === 0) {
    return [400, 3000, 'events is required and must hold at least one event'];
  }
  for (const [name, metadata] of Object.entries(events)) {
    if (!isPlainObject(metadata)) return [400, 3016, `Metadata of event "${name}" must be a JSON object`];
  }
  for (const field of ['email', 'mobile']) {
    if (payload[field] !== undefined && typeof payload[field] !== 'string') {
      return [400, 3016, `${field} must be a string`];
    }
  }
  return null;
}

function checkConcurrency(state, payload, entry) {
  const holder = state.inProgress.get(payload.customerId);
  if (holder !== undefined && holder !== entry) {
    return [422, 2001, 'A concurrent request is in progress for this customer'];
  }
  return null;
}

function recordAccepted(entry) {
  entry.accepted = true;
}

// ---------------------------------------------------------------------------------------------
// Voucherify's client-side events endpoint

async function handleVoucherify(req, res, state, settings, runtime) {
  const ctx = newEventContext(req, res, VOUCHERIFY_PATH, state, settings);
  ctx.voucherify = true;
  if (state.vfOffline) return dropConnection(ctx, 'offline');
  if (req.method === 'OPTIONS') return answerPreflight(ctx);
  if (req.method !== 'POST') return answerVoucherifyError(ctx, 405, 'method_not_allowed', `Method ${req.method} not allowed`);

  const body = await readBody(req, MAX_BODY_BYTES);
  ctx.body = body;
  ctx.entry.body = body.tooLarge ? `[body of ${body.size} bytes not kept]` : logBody(body);
  if (body.tooLarge) return answerVoucherifyError(ctx, 413, 'payload_too_large', `Payload over ${MAX_BODY_BYTES} bytes`);

  const fault = takeFault(state.vfFaults);
  if (fault) {
    ctx.entry.fault = fault.name;
    ctx.retryAfter = fault.retryAfter;
    if (fault.delayMs > 0) await sleep(fault.delayMs, runtime);
  }
  if (fault?.drop) return dropConnection(ctx);
  if (fault?.hang) return;
  if (fault && fault.status != null && !fault.accept) return answerFaultStatus(ctx, fault);

  const rejection = checkVoucherifyRequest(ctx, body);
  if (rejection) return answerVoucherifyError(ctx, ...rejection);
  recordAccepted(ctx.entry);
  if (fault?.accept) return answerFaultStatus(ctx, fault);
  return answer(ctx, 200, voucherifySuccess(body));
}

/** Voucherify's checks: credentials, the per-IP limit, the payload. [status, key, message, details?] or null. */
function checkVoucherifyRequest(ctx, body) {
  const { req, state } = ctx;
  const appId = req.headers['x-client-application-id'];
  const token = req.headers['x-client-token'];
  if (!appId || !token || !Object.hasOwn(state.config.voucherifyApps, appId) || state.config.voucherifyApps[appId] !== token) {
    return [401, 'unauthorized', 'Unauthorized', 'Missing or invalid X-Client-Application-Id / X-Client-Token'];
  }
  if (state.config.rateLimit && overVoucherifyLimit(state, req.socket.remoteAddress ?? '?', Date.now())) {
    return [429, 'too_many_requests', 'API calls limit exceeded.'];
  }
  return checkVoucherifyPayload(body.json);
}

function checkVoucherifyPayload(json) {
  if (!json.ok || !isPlainObject(json.value)) return [400, 'invalid_payload', 'Invalid payload', 'Request body must be a JSON object'];
  const { event, customer, metadata, referral, loyalty } = json.value;
  if (typeof event !== 'string' || event.length < 1 || event.length > VOUCHERIFY_EVENT_MAX) {
    return [400, 'invalid_payload', 'Invalid payload', `event must be a string of 1 to ${VOUCHERIFY_EVENT_MAX} characters`];
  }
  if (!isPlainObject(customer)) return [400, 'invalid_payload', 'Invalid payload', 'customer is required'];
  const named = ['source_id', 'id'].filter((k) => customer[k] !== undefined);
  if (named.length === 0 || named.some((k) => typeof customer[k] !== 'string' || customer[k] === '')) {
    return [400, 'invalid_customer', 'Invalid customer', 'customer.source_id or customer.id is required'];
  }
  if (metadata !== undefined && !isPlainObject(metadata)) return [400, 'invalid_payload', 'Invalid payload', 'metadata must be an object'];
  for (const [name, value] of [['referral', referral], ['loyalty', loyalty]]) {
    if (value === undefined) continue;
    if (!isPlainObject(value) || typeof value.code !== 'string' || value.code === '') {
      return [400, 'invalid_payload', 'Invalid payload', `${name}.code is required`];
    }
  }
  return null;
}

/** Counts this request in the client IP's window; true past Voucherify's client-side limit. */
function overVoucherifyLimit(state, ip, now) {
  const { windowMs, max } = VOUCHERIFY_RATE_LIMIT;
  const recent = (state.vfWindows.get(ip) ?? []).filter((t) => t > now - windowMs);
  recent.push(now);
  state.vfWindows.set(ip, recent);
  return recent.length > max;
}

/** Voucherify's answer to a tracked event: the event object. */
function voucherifySuccess(body) {
  const value = body?.json?.ok && isPlainObject(body.json.value) ? body.json.value : {};
  const customer = isPlainObject(value.customer) ? value.customer : {};
  return {
    object: 'event',
    type: value.event ?? null,
    customer: { id: customer.id ?? `cust_${randomUUID().slice(0, 12)}`, source_id: customer.source_id ?? null, object: 'customer' },
    referral: null,
    loyalty: null,
    metadata: value.metadata ?? {},
  };
}

export function voucherifyError(status, key, message, details, requestId) {
  const body = { code: status, key, message, request_id: requestId };
  if (details !== undefined) body.details = details;
  return body;
}

function answerVoucherifyError(ctx, status, key, message, details) {
  answer(ctx, status, voucherifyError(status, key, message, details, `v-${ctx.requestId.replace(/-/g, '').slice(0, 18)}`));
}

// ---------------------------------------------------------------------------------------------
// Answers on the events endpoints

function eventCorsHeaders(req) {
  return {
    'Access-Control-Allow-Origin': req.headers.origin ?? '*',
    Vary: 'Origin',
    'Access-Control-Expose-Headers': 'Retry-After, X-Request-Id',
  };
}

function answerPreflight(ctx) {
  setOutcome(ctx, 204, null);
  ctx.res.writeHead(204, {
    ...eventCorsHeaders(ctx.req),
    'Access-Control-Allow-Methods': 'POST, OPTIONS',
    'Access-Control-Allow-Headers': ctx.voucherify ? VOUCHERIFY_ALLOW_HEADERS : EVENTS_ALLOW_HEADERS,
    'Access-Control-Max-Age': '600',
    'X-Request-Id': ctx.requestId,
  });
  ctx.res.end();
}

function answer(ctx, status, body) {
  setOutcome(ctx, status, body?.code ?? null);
  ctx.release();
  if (ctx.res.destroyed || ctx.req.socket.destroyed || ctx.res.headersSent) return; // client gone
  const headers = { ...eventCorsHeaders(ctx.req), 'X-Request-Id': ctx.requestId };
  if (ctx.retryAfter !== undefined) headers['Retry-After'] = ctx.retryAfter;
  if (status === 204 || status === 304) {
    ctx.res.writeHead(status, headers);
    return ctx.res.end();
  }
  sendJson(ctx.res, status, body, headers);
}

function answerError(ctx, status, code, message) {
  answer(ctx, status, gameballError(code, message, ctx.requestId));
}

function answerFaultStatus(ctx, fault) {
  if (fault.raw) return answerRaw(ctx, fault);
  const status = fault.status ?? 500;
  if (ctx.voucherify) {
    if (status < 400) return answer(ctx, status, voucherifySuccess(ctx.body));
    return answerVoucherifyError(ctx, status, 'injected_fault', `Injected fault: HTTP ${status}`, 'injected by the local server');
  }
  if (status < 400) return answer(ctx, status, SUCCESS_BODY);
  const code = fault.code ?? defaultCodeFor(status);
  answerError(ctx, status, code, `Injected fault: HTTP ${status}`);
}

/** A hostile answer: a raw body of any type and size, cut short, or a redirect. */
function answerRaw(ctx, fault) {
  const status = fault.status ?? (fault.redirect ? 307 : 500);
  setOutcome(ctx, status, null);
  ctx.release();
  if (ctx.res.destroyed || ctx.req.socket.destroyed || ctx.res.headersSent) return;
  const headers = { ...eventCorsHeaders(ctx.req), 'X-Request-Id': ctx.requestId, 'Cache-Control': 'no-store' };
  if (ctx.retryAfter !== undefined) headers['Retry-After'] = ctx.retryAfter;
  if (fault.redirect) {
    ctx.res.writeHead(status, { ...headers, Location: fault.redirect });
    return ctx.res.end();
  }
  const body = Buffer.concat([Buffer.from(fault.body ?? ''), Buffer.alloc(fault.bodyBytes ?? 0, 'x')]);
  headers['Content-Type'] = fault.contentType ?? 'text/html';
  if (fault.truncate) {
    ctx.res.writeHead(status, { ...headers, 'Content-Length': body.length + 4096 });
    ctx.res.write(body);
    setTimeout(() => ctx.req.socket.destroy(), 20);
    return undefined;
  }
  ctx.res.writeHead(status, { ...headers, 'Content-Length': body.length });
  return ctx.res.end(body);
}

function dropConnection(ctx, faultName) {
  if (faultName) ctx.entry.fault = faultName;
  setOutcome(ctx, null, null);
  ctx.release();
  ctx.req.socket.destroy();
}

function setOutcome(ctx, status, code) {
  const { entry, settings } = ctx;
  entry.status = status;
  entry.code = code;
  if (!settings.quiet) {
    const extra = [code, entry.fault].filter((v) => v != null).join(' ');
    console.log(`${entry.method} ${entry.path} -> ${status ?? 'dropped'}${extra ? ' ' + extra : ''}`);
  }
}

export function gameballError(code, message, requestId) {
  return { code, type: errorType(code), message, documentationUrl: DOCUMENTATION_URL, requestId };
}

function errorType(code) {
  if (code === 4029) return 'Rate Limit';
  const types = {
    1: 'Authentication Error', 2: 'Request Error', 3: 'Payload Error', 4: 'General Error',
    5: 'Server Error', 6: 'Configuration Error', 7: 'Customer Error', 8: 'Subscription Error',
    9: 'Transaction Error',
  };
  return types[Math.floor(code / 1000)] ?? 'Error';
}

function defaultCodeFor(status) {
  if (status >= 500) return 5000;
  if (status === 429) return 4029;
  return 3016;
}

// ---------------------------------------------------------------------------------------------
// Faults, concurrency, rate limit

/** Consumes one count of the first fault in the FIFO `faults`; returns it, or null when there is none. */
function takeFault(faults) {
  const fault = faults[0];
  if (!fault) return null;
  fault.remaining -= 1;
  if (fault.remaining <= 0) faults.shift();
  return fault;
}

/** Validates a POST /__gb/faults body; returns [fault, null] or [null, errorMessage]. */
function parseFault(input) {
  if (!isPlainObject(input)) return [null, 'fault must be a JSON object'];
  const count = input.count ?? 1;
  if (!Number.isInteger(count) || count < 1) return [null, 'count must be a positive integer'];
  if (input.status != null && !(Number.isInteger(input.status) && input.status >= 200 && input.status <= 599)) {
    return [null, 'status must be an HTTP status between 200 and 599'];
  }
  if (input.code != null && !Number.isInteger(input.code)) return [null, 'code must be an integer'];
  if (input.delayMs != null && !(typeof input.delayMs === 'number' && input.delayMs >= 0)) {
    return [null, 'delayMs must be a non-negative number'];
  }
  if (input.destination != null && !['gameball', 'voucherify'].includes(input.destination)) {
    return [null, "destination must be 'gameball' or 'voucherify'"];
  }
  const retryAfter = input.retryAfter == null ? undefined : String(input.retryAfter);
  const fault = {
    remaining: count,
    status: input.status ?? null,
    code: input.code ?? null,
    retryAfter,
    delayMs: input.delayMs ?? 0,
    hang: input.hang === true,
    drop: input.drop === true,
    accept: input.accept === true,
    destination: input.destination ?? 'gameball',
    body: typeof input.body === 'string' ? input.body : undefined,
    contentType: typeof input.contentType === 'string' ? input.contentType : undefined,
    bodyBytes: Number.isInteger(input.bodyBytes) && input.bodyBytes > 0 ? input.bodyBytes : undefined,
    truncate: input.truncate === true,
    redirect: typeof input.redirect === 'string' ? input.redirect : undefined,
  };
  fault.raw = fault.body !== undefined || fault.contentType !== undefined || fault.bodyBytes !== undefined
    || fault.truncate || fault.redirect !== undefined;
  if (fault.raw && fault.status == null && !fault.accept) fault.status = fault.redirect ? 307 : 500;
  fault.name = typeof input.name === 'string' ? input.name : faultName(fault);
  return [fault, null];
}

function faultName(fault) {
  if (fault.drop) return 'drop';
  if (fault.hang) return 'hang';
  if (fault.accept) return 'accept';
  if (fault.status != null) return 'status';
  if (fault.delayMs > 0) return 'delay';
  if (fault.retryAfter !== undefined) return 'retry-after';
  return 'none';
}

function peekCustomerId(body) {
  const value = body.json.ok ? body.json.value : null;
  return isPlainObject(value) && typeof value.customerId === 'string' ? value.customerId : null;
}

/** Marks a customer as being processed by the request of `entry`; returns an idempotent release. */
function holdCustomer(state, customerId, entry) {
  if (customerId === null || state.inProgress.has(customerId)) return () => {};
  state.inProgress.set(customerId, entry);
  const map = state.inProgress; // a reset swaps the map: a stale release then touches nothing
  return () => {
    if (map.get(customerId) === entry) map.delete(customerId);
  };
}

/** Counts this request in the key's windows; true when any window now holds too many. */
function overRateLimit(state, apiKey, now) {
  const longest = Math.max(...RATE_LIMITS.map((l) => l.windowMs));
  const recent = (state.rateWindows.get(apiKey) ?? []).filter((t) => t > now - longest);
  recent.push(now);
  state.rateWindows.set(apiKey, recent);
  return RATE_LIMITS.some(({ windowMs, max }) => countSince(recent, now - windowMs) > max);
}

function countSince(sortedTimes, after) {
  let n = 0;
  for (let i = sortedTimes.length - 1; i >= 0 && sortedTimes[i] > after; i--) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Control endpoints

const CONTROL_ROUTES = {
  'GET /__gb/health': () => [200, { ok: true }],
  'GET /__gb/log': (state, url) => [200, { requests: state.log.filter(sinceFilter(url)) }],
  'GET /__gb/events': (state, url) => {
    const entries = state.log.filter(sinceFilter(url));
    if (url.searchParams.get('destination') === 'voucherify') return [200, acceptedVoucherifyEvents(entries)];
    return [200, acceptedEvents(entries)];
  },
  'POST /__gb/reset': (state) => {
    resetState(state);
    return [204];
  },
  'POST /__gb/faults': (state, url, body) => {
    if (isPlainObject(body) && body.clear === true) {
      state.faults = [];
      state.vfFaults = [];
      return [204];
    }
    const [fault, error] = parseFault(body);
    if (error) return [400, { error }];
    (fault.destination === 'voucherify' ? state.vfFaults : state.faults).push(fault);
    return [204];
  },
  'POST /__gb/offline': (state, url, body) => {
    if (!isPlainObject(body) || typeof body.offline !== 'boolean') return [400, { error: 'offline must be a boolean' }];
    if (body.destination !== 'voucherify') state.offline = body.offline;
    if (body.destination !== 'gameball') state.vfOffline = body.offline;
    return [204];
  },
  'POST /__gb/config': (state, url, body) => {
    const error = configError(body);
    if (error) return [400, { error }];
    if (body.apiKeys) state.config.apiKeys = [...body.apiKeys];
    if (body.rateLimit !== undefined) state.config.rateLimit = body.rateLimit;
    if (body.voucherifyApps) state.config.voucherifyApps = { ...body.voucherifyApps };
    return [204];
  },
};

async function handleControl(req, res, url, state) {
  const cors = { 'Access-Control-Allow-Origin': '*' };
  if (req.method === 'OPTIONS') {
    res.writeHead(204, {
      ...cors,
      'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
      'Access-Control-Allow-Headers': 'Content-Type',
      'Access-Control-Max-Age': '600',
    });
    return res.end();
  }
  const route = CONTROL_ROUTES[`${req.method} ${url.pathname}`];
  if (!route) return sendJson(res, 404, { error: `no control endpoint ${req.method} ${url.pathname}` }, cors);
  let body = null;
  if (req.method === 'POST') {
    const read = await readBody(req, MAX_BODY_BYTES);
    if (read.raw.trim() !== '' && !read.json.ok) return sendJson(res, 400, { error: 'body is not valid JSON' }, cors);
    body = read.raw.trim() === '' ? {} : read.json.value;
  }
  const [status, payload] = route(state, url, body);
  if (status === 204) {
    res.writeHead(204, { ...cors, 'Cache-Control': 'no-store' });
    return res.end();
  }
  sendJson(res, status, payload, cors);
}

function sinceFilter(url) {
  const since = Number.parseInt(url.searchParams.get('since') ?? '0', 10);
  const floor = Number.isFinite(since) ? since : 0;
  return (entry) => entry.seq > floor;
}

/** One row per event name per accepted request, in arrival (seq) order. */
function acceptedEvents(entries) {
  const rows = [];
  for (const entry of entries) {
    if (!entry.accepted || entry.destination !== 'gameball') continue;
    const { customerId, events, email, mobile } = entry.body;
    for (const [name, metadata] of Object.entries(events)) {
      rows.push({ seq: entry.seq, customerId, name, metadata, email: email ?? null, mobile: mobile ?? null });
    }
  }
  return rows;
}

/** One row per accepted Voucherify request (one event each), in arrival (seq) order. */
function acceptedVoucherifyEvents(entries) {
  return entries.filter((e) => e.accepted && e.destination === 'voucherify').map((entry) => {
    const { event, customer, metadata, referral, loyalty } = entry.body;
    return {
      seq: entry.seq,
      customerId: customer.source_id ?? customer.id,
      name: event,
      metadata: metadata ?? null,
      customer,
      referral: referral ?? null,
      loyalty: loyalty ?? null,
    };
  });
}

function configError(body) {
  if (!isPlainObject(body)) return 'config must be a JSON object';
  const keysOk = body.apiKeys === undefined
    || (Array.isArray(body.apiKeys) && body.apiKeys.every((k) => typeof k === 'string'));
  if (!keysOk) return 'apiKeys must be an array of strings';
  if (body.rateLimit !== undefined && typeof body.rateLimit !== 'boolean') return 'rateLimit must be a boolean';
  const appsOk = body.voucherifyApps === undefined
    || (isPlainObject(body.voucherifyApps) && Object.values(body.voucherifyApps).every((k) => typeof k === 'string'));
  if (!appsOk) return 'voucherifyApps must map client application ids to client secret keys';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Static files

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

export function contentTypeFor(file) {
  if (file.endsWith('.d.ts')) return 'text/plain; charset=utf-8';
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** Serves a static file; false when none matches (the caller answers). */
async function serveStatic(req, res, settings) {
  const urlPath = decodePath(req.url.split('?')[0].split('#')[0]);
  if (urlPath === null) return false;
  for (const root of settings.staticRoots) {
    const found = await findStaticFile(root, urlPath);
    if (found?.redirect) {
      redirect(res, found.redirect);
      return true;
    }
    if (found) {
      sendFile(req, res, found.file, found.size, settings.staticHeaders);
      return true;
    }
  }
  return false;
}

/** Decoded URL path, or null when malformed, climbing out with `..`, or naming a dotfile. */
function decodePath(rawPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const segments = decoded.split(/[\\/]/);
  if (segments.some((s) => s.startsWith('.'))) return null; // `..`, and hidden files like .git
  return decoded;
}

async function findStaticFile(root, urlPath) {
  const rel = relativeToPrefix(root.prefix, urlPath);
  if (rel === null) return null;
  const file = path.resolve(root.dir, '.' + path.sep + rel);
  if (file !== root.dir && !file.startsWith(root.dir + path.sep)) return null;
  const stat = await statOrNull(file);
  if (stat?.isFile()) return { file, size: stat.size };
  if (!stat?.isDirectory()) return null;
  const index = path.join(file, 'index.html');
  const indexStat = await statOrNull(index);
  if (!indexStat?.isFile()) return null;
  if (!urlPath.endsWith('/')) return { redirect: urlPath + '/' };
  return { file: index, size: indexStat.size };
}

function relativeToPrefix(prefix, urlPath) {
  if (prefix === '/') return urlPath;
  if (urlPath === prefix) return '/';
  return urlPath.startsWith(prefix + '/') ? urlPath.slice(prefix.length) : null;
}

async function statOrNull(file) {
  try {
    return await fsp.stat(file);
  } catch {
    return null;
  }
}

function sendFile(req, res, file, size, extraHeaders) {
  res.writeHead(200, {
    'Content-Type': contentTypeFor(file),
    'Content-Length': size,
    'Cache-Control': 'no-store',
    'Access-Control-Allow-Origin': '*',
    ...extraHeaders,
  });
  if (req.method === 'HEAD') return res.end();
  fs.createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

function redirect(res, location) {
  res.writeHead(301, { Location: encodeURI(location), 'Cache-Control': 'no-store' });
  res.end();
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Reads the whole body; past `limit` bytes it keeps draining but stops keeping the bytes. */
function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => {
      const tooLarge = size > limit;
      const raw = tooLarge ? '' : Buffer.concat(chunks).toString('utf8');
      resolve({ raw, size, tooLarge, json: parseJson(raw) });
    });
    req.on('error', reject);
  });
}

function parseJson(raw) {
  try {
    return { ok: true, value: JSON.parse(raw) };
  } catch {
    return { ok: false, value: undefined };
  }
}

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

function sendText(res, status, text) {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

/** A delay that server close cancels (the waiting request is then abandoned with its socket). */
function sleep(ms, runtime) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      runtime.timers.delete(timer);
      resolve();
    }, ms);
    runtime.timers.add(timer);
  });
}

function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server, runtime) {
  for (const timer of runtime.timers) clearTimeout(timer);
  runtime.timers.clear();
  const closed = new Promise((resolve) => server.close(() => resolve()));
  server.closeAllConnections(); // hung and keep-alive sockets included, so the process can exit
  return closed;
}

function urlHost(host) {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

// ---------------------------------------------------------------------------------------------
// Command line

const USAGE = 'usage: node tests/server/gameball-server.mjs [--port 8787] [--host 127.0.0.1] '
  + '[--static DIR]... [--mount /prefix=DIR]... [--api-keys k1,k2] [--quiet]';

/** Parses CLI arguments into startServer options; throws an Error with a message on bad input. */
export function parseArgs(argv) {
  const options = {};
  const roots = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].startsWith('--') ? splitFlag(argv[i]) : [argv[i], undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--port') options.port = parsePort(value());
    else if (flag === '--host') options.host = value();
    else if (flag === '--static') roots.push({ prefix: '/', dir: value() });
    else if (flag === '--mount') roots.push(parseMount(value()));
    else if (flag === '--api-keys') options.apiKeys = parseKeyList(value()) ?? [];
    else if (flag === '--quiet') options.quiet = true;
    else if (flag === '--help' || flag === '-h') throw new Error('help');
    else if (flag === '--no-rate-limit') options.rateLimit = false;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (roots.length > 0) options.static = roots;
  return options;
}

function splitFlag(arg) {
  const eq = arg.indexOf('=');
  return eq === -1 ? [arg, undefined] : [arg.slice(0, eq), arg.slice(eq + 1)];
}

function parsePort(text) {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port ${text}`);
  return port;
}

function parseMount(text) {
  const eq = text.indexOf('=');
  if (eq <= 0 || !text.startsWith('/')) throw new Error(`--mount wants /prefix=DIR, got ${text}`);
  return { prefix: text.slice(0, eq), dir: text.slice(eq + 1) };
}

async function main(argv) {
  let options;
  try {
    options = parseArgs(argv);
  } catch (err) {
    if (err.message === 'help') {
      console.log(USAGE);
      process.exit(0);
    }
    console.error(`${err.message}\n${USAGE}`);
    process.exit(2);
  }
  const server = await startServer(options);
  console.log(`gameball-server listening on ${server.url}`);
  const stop = () => server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function runAsCli() {
  if (!process.argv[1]) return false;
  try {
    return fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (runAsCli()) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err?.stack ?? String(err));
    process.exit(1);
  });
}
