// The few things that must be JavaScript: an Error subclass (wasm cannot extend a JS class),
// and plain result objects built in one call instead of one boundary crossing per field.

export class GameballError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'GameballError';
    this.code = code;
  }
}

export function makeError(code, message, status, gameballCode, requestId, id) {
  const error = new GameballError(code, message);
  if (status !== undefined) error.status = status;
  if (gameballCode !== undefined) error.gameballCode = gameballCode;
  if (requestId !== undefined) error.requestId = requestId;
  if (id !== undefined) error.id = id;
  return error;
}

export function makeResponse(status, attempts, id) {
  return { ok: true, status, attempts, id };
}

export function makeReport(id, ok, eventNames, customerId, status, attempts, error) {
  const report = { id, ok, eventNames, customerId };
  if (status !== undefined) report.status = status;
  if (attempts !== undefined) report.attempts = attempts;
  if (error !== undefined) report.error = error;
  return report;
}

export function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function constructorName(value) {
  try {
    const name = value && value.constructor && value.constructor.name;
    return typeof name === 'string' && name ? name : 'object';
  } catch (_) {
    return 'object';
  }
}
