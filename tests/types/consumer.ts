// A storefront written in TypeScript against the built package: `tsc --noEmit` must accept
// the right uses, and the `@ts-expect-error` lines prove the declarations are not `any`.
import init, {
  customerWidget, sendEvent, voucherify, GameballError, Tracker,
  type VoucherifyConfig, type VoucherifyEvent,
  type GameballConfig, type GameballResponse, type DeliveryReport, type TrackerStats,
  type FlushResult,
} from 'gameball-tracker';

// Before init() has settled, customerWidget returns a stand-in that is a Tracker (instanceof
// too) with the same methods: the declarations hold for it unchanged.
export function componentMountedEarly(): Promise<GameballResponse> {
  const early: Tracker = customerWidget({ apiKey: 'PUBLIC_KEY', widget: false });
  const waiting: number = early.pending();
  const inMemory: TrackerStats['storage'] = early.stats().storage;
  console.log(early instanceof Tracker, waiting, inMemory);
  return early.sendEvent({ customerId: 'cust_42', events: { view_product: { product_id: '1' } } });
}

export async function storefront(): Promise<void> {
  await init();
  const config: GameballConfig = {
    apiKey: 'PUBLIC_KEY',
    customerId: 'cust_42',
    lang: 'en',
    widget: false,
    customerAttributes: { displayName: 'Sam', custom: { tier: 'gold' } },
    onDelivery: (report: DeliveryReport) => console.log(report.id, report.ok, report.error?.code),
  };
  const tracker: Tracker = customerWidget(config);

  const response: GameballResponse = await sendEvent({ events: { login: {} } });
  console.log(response.status, response.attempts, response.id);

  const nothing: void = sendEvent(
    { customerId: 'cust_7', events: { add_to_cart: { product_id: '231402', price: 1350, tags: ['a'] } } },
    (ok, error) => {
      if (error) console.warn(error.code, error.gameballCode, error.requestId);
      else console.log(ok?.status);
    },
  );
  console.log(nothing);

  const flushed: FlushResult = await tracker.flush();
  const stats: TrackerStats = tracker.stats();
  console.log(flushed.pending, stats.storage, stats.dropped['queue_full'], tracker.pending());
  const problem = tracker.setCustomer({ customerId: 'cust_43', sessionToken: 'jwe' });
  if (problem instanceof GameballError) console.warn(problem.code);
  tracker.logout();
  tracker.destroy();

  // @ts-expect-error apiKey is required
  customerWidget({ customerId: 'x' });
  // @ts-expect-error a misspelt field (flushIntervalMs) is flagged, as the README says
  customerWidget({ apiKey: 'k', flushIntervalMS: 10 });
  // @ts-expect-error widget is a boolean or an object
  customerWidget({ apiKey: 'k', widget: 'yes' });
  customerWidget({ apiKey: 'k', widget: true }); // as the README says: the same as leaving it out
  // @ts-expect-error metadata values are JSON: no functions
  sendEvent({ events: { buy: { when: () => 1 } } });
  // @ts-expect-error events is required
  sendEvent({ customerId: 'x' });
  // @ts-expect-error an error's code is one of the contract's codes, not any string
  const badCode: GameballError['code'] = 'oops';
  console.log(badCode);
  // @ts-expect-error setCustomer needs a customerId
  tracker.setCustomer({ sessionToken: 'jwe' });
  // @ts-expect-error onDelivery receives a DeliveryReport
  customerWidget({ apiKey: 'k', onDelivery: (report: number) => report });
  // @ts-expect-error stats().storage is 'localStorage' | 'memory'
  const disk: 'disk' = tracker.stats().storage;
  console.log(disk);
  // @ts-expect-error with a callback sendEvent returns nothing to await
  const promiseFromCallbackForm: Promise<GameballResponse> = sendEvent({ events: { a: {} } }, () => {});
  console.log(promiseFromCallbackForm);

  // Voucherify: the same Tracker class, its own config and event shape.
  const vfConfig: VoucherifyConfig = {
    clientApplicationId: 'VF_CLIENT_APP_ID', clientSecretKey: 'VF_CLIENT_SECRET_KEY',
    apiUrl: 'https://us1.api.voucherify.io', trackingId: 'cust_42', maxAttempts: 5,
  };
  const vf: Tracker = voucherify(vfConfig);
  const subscribed: VoucherifyEvent = {
    event: 'user_subscribed', customer: { source_id: 'cust_42', metadata: { plan: 'PP1' } },
    metadata: { volume: 4 }, referral: { code: 'REF', referrer_id: 'cust_7' }, loyalty: { code: 'L-1' },
  };
  const vfResponse: GameballResponse = await vf.sendEvent(subscribed);
  vf.sendEvent({ event: 'cart_abandoned' }, (ok, error) => console.log(ok?.status, error?.voucherifyKey));
  console.log(vfResponse.id);
  // @ts-expect-error clientSecretKey is required
  voucherify({ clientApplicationId: 'x' });
  // @ts-expect-error referral needs its code
  vf.sendEvent({ event: 'e', referral: { referrer_id: 'cust_7' } });
  // @ts-expect-error the module-level sendEvent stays Gameball's
  sendEvent({ event: 'user_subscribed' });
}
