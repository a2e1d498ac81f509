// webpack 5 with its defaults for a production storefront bundle; the page is copied as is.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyFileSync, mkdirSync } from 'node:fs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');

export default {
  mode: 'production',
  context: here,
  entry: './src/index.js',
  output: { path: dist, filename: 'main.js', publicPath: 'auto', clean: true },
  stats: 'errors-warnings',
  performance: { hints: false },
  plugins: [{
    apply(compiler) {
      compiler.hooks.afterEmit.tap('copy-page', () => {
        mkdirSync(dist, { recursive: true });
        copyFileSync(path.join(here, 'src', 'index.html'), path.join(dist, 'index.html'));
      });
    },
  }],
};
