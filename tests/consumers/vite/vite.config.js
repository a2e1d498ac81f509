// Relative asset URLs: the test server serves this build under /vite/.
// optimizeDeps.exclude: `vite` (the dev server) pre-bundles dependencies into
// node_modules/.vite/deps, where the package's `new URL('gameball_tracker_bg.wasm',
// import.meta.url)` no longer finds the .wasm; excluded, the package is served as it is.
export default {
  base: './',
  logLevel: 'warn',
  build: { outDir: 'dist', emptyOutDir: true },
  optimizeDeps: { exclude: ['gameball-tracker'] },
};
