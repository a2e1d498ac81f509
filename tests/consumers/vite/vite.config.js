// Relative asset URLs: the test server serves this build under /vite/.
export default { base: './', logLevel: 'warn', build: { outDir: 'dist', emptyOutDir: true } };
