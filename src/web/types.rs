//! TypeScript declarations for the package's `.d.ts`: the exported functions take and return
//! `JsValue`, which wasm-bindgen would type as `any`; these name the real shapes.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** A JSON value, as event metadata may carry it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** The codes a `GameballError` carries. */
export type GameballErrorCode = 'invalid_config' | 'invalid_event' | 'not_initialized'
  | 'unauthorized' | 'rejected' | 'queue_full' | 'expired' | 'unsupported_environment';

/** The widget's `playerAttributes`, under the v4 name. */
export interface CustomerAttributes {
  displayName?: string; firstName?: string; lastName?: string; email?: string; mobile?: string;
  gender?: string; dateOfBirth?: string; joinDate?: string; custom?: { [key: string]: JsonValue };
  [key: string]: JsonValue | undefined;
}

/** Everything an outcome says, for `onDelivery`. */
export interface DeliveryReport {
  id: string; ok: boolean; eventNames: string[]; customerId: string;
  status?: number; attempts?: number; error?: GameballError;
}

/** The config of `customerWidget`. */
export interface GameballConfig {
  apiKey: string;
  customerId?: string; email?: string; mobile?: string;
  customerAttributes?: CustomerAttributes;
  lang?: string;
  sessionToken?: string;
  apiBase?: string;
  widget?: boolean | { scriptUrl?: string };
  flushIntervalMs?: number; maxQueueEvents?: number; maxQueueBytes?: number;
  maxAttempts?: number; eventTtlMs?: number;
  onDelivery?: (report: DeliveryReport) => void;
  debug?: boolean;
}

/** One `sendEvent` call: event name → metadata. */
export interface GameballEvent {
  customerId?: string; email?: string; mobile?: string;
  events: { [eventName: string]: { [key: string]: JsonValue } };
}

/** The config of `voucherify`: Voucherify's client-side keys only, and the queue options. */
export interface VoucherifyConfig {
  clientApplicationId: string;
  clientSecretKey: string;
  apiUrl?: string;
  trackingId?: string;
  flushIntervalMs?: number; maxQueueEvents?: number; maxQueueBytes?: number;
  maxAttempts?: number; eventTtlMs?: number;
  onDelivery?: (report: DeliveryReport) => void;
  debug?: boolean;
}

/** A Voucherify customer: `source_id` or `id` names them (else the tracker's default). */
export interface VoucherifyCustomer {
  source_id?: string; id?: string; name?: string; email?: string; phone?: string;
  metadata?: { [key: string]: JsonValue };
  [key: string]: JsonValue | undefined;
}

/** One Voucherify custom event (`event` is 1–300 characters). */
export interface VoucherifyEvent {
  event: string;
  customer?: VoucherifyCustomer;
  metadata?: { [key: string]: JsonValue };
  referral?: { code: string; referrer_id?: string; [key: string]: JsonValue | undefined };
  loyalty?: { code: string; [key: string]: JsonValue | undefined };
}

/** What a `Tracker`'s `sendEvent` takes: a `GameballEvent` for `customerWidget`'s, a `VoucherifyEvent` for `voucherify`'s. */
export type TrackerEvent = GameballEvent | VoucherifyEvent;

/** A delivered event. */
export interface GameballResponse { ok: true; status: number; attempts: number; id: string; }

/** `sendEvent`'s callback: exactly one of the two is non-null. */
export type SendEventCallback = (response: GameballResponse | null, error: GameballError | null) => void;

/** `flush()`'s result. */
export interface FlushResult { sent: number; failed: number; pending: number; }

/** `stats()`'s result. */
export interface TrackerStats {
  queued: number; sent: number; retried: number;
  dropped: { [code: string]: number };
  storage: 'localStorage' | 'memory';
  bytes: number;
  paused: boolean;
  /** This tab is the one sending for every tab of the origin. */
  sender: boolean;
  /** Events sent again after a request whose fate was unknown (each may arrive twice): by this page, and by every page of the origin. */
  resentUnknown: number; resentUnknownTotal: number;
  /** Records written again after another script removed or cleared them. */
  restored: number;
  /** Events handed to keepalive requests as the last tab left; their answer is not seen. */
  sentOnExit: number;
  /** Requests keep dying before reaching the server (ad blocker, CSP, DNS): one probe at a time. */
  circuitOpen: boolean;
  /** Milliseconds until this sender may send again after a 429, a 5xx (its `Retry-After`, at most an hour) or requests that got no answer; 0 when nothing holds it. */
  heldMs: number;
}

/** `setCustomer`'s argument. */
export interface CustomerUpdate {
  customerId: string; email?: string; mobile?: string;
  customerAttributes?: CustomerAttributes; sessionToken?: string;
}
"#;
