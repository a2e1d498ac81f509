// A Vite storefront written in TypeScript: built by `vite build` from the installed tarball,
// type-checked by `tsc --noEmit` against the package's own declarations.
import init, {
  customerWidget, sendEvent, GameballError,
  type GameballConfig, type GameballResponse, type Tracker,
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
  const response: GameballResponse = await sendEvent({
    events: { consumer_built: { bundler: 'vite', pending_before: tracker.pending() } },
  });
  out.textContent = JSON.stringify(response);
}

main().catch((error: unknown) => {
  out.textContent = `error: ${error instanceof GameballError ? error.code : String(error)}`;
});
