// A Vite storefront written in TypeScript: built by `vite build` from the installed tarball,
// type-checked by `tsc --noEmit` against the package's own declarations.
import init, {
  customerWidget, sendEvent, voucherify, GameballError,
  type GameballConfig, type GameballResponse, type Tracker, type VoucherifyConfig,
} from 'gameball-tracker';

const out = document.getElementById('result') as HTMLElement;

async function main(): Promise<void> {
  await init();
  const config: GameballConfig = {
    apiKey: 'demo-public-key',
    apiBase: location.origin,
    customerId: 'consumer_vite',
    widget: false,
  };
  const tracker: Tracker = customerWidget(config);
  // The same action to Voucherify, from the same page (its own tracker and queue).
  const vfConfig: VoucherifyConfig = {
    clientApplicationId: 'demo-vf-app',
    clientSecretKey: 'demo-vf-key',
    apiUrl: location.origin,
    trackingId: 'consumer_vite',
  };
  const vf: Tracker = voucherify(vfConfig);
  const [response, vfResponse]: [GameballResponse, GameballResponse] = await Promise.all([
    sendEvent({ events: { consumer_built: { bundler: 'vite', pending_before: tracker.pending() } } }),
    vf.sendEvent({ event: 'consumer_built', metadata: { bundler: 'vite' }, loyalty: { code: 'L-1' } }),
  ]);
  if (!vfResponse.ok) throw new Error('Voucherify did not take the event');
  out.textContent = JSON.stringify(response);
}

main().catch((error: unknown) => {
  out.textContent = `error: ${error instanceof GameballError ? error.code : String(error)}`;
});
