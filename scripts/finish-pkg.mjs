// Completes the package wasm-pack wrote: exports GameballError (a JS class, which
// wasm-bindgen cannot export), declares it in the .d.ts, puts the entry (src/web/entry.js: SSR
// guard, calls kept while the module loads) in front of wasm-bindgen's module, and writes
// package.json, README.md (the storefront parts of the repo's README) and LICENSE.
import { readFileSync, writeFileSync, readdirSync, existsSync, renameSync, copyFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const pkg = new URL('../pkg/', import.meta.url).pathname;
const findGlue = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const found = findGlue(path);
      if (found) return found;
    } else if (entry.name === 'glue.js') {
      return path;
    }
  }
  return null;
};
const glue = findGlue(join(pkg, 'snippets'));
if (!glue) throw new Error('snippets/**/glue.js not found: did the wasm-bindgen module path change?');
const gluePath = './' + relative(pkg, glue);

// wasm-bindgen's module becomes gameball_tracker_wasm.js; the entry takes its name, so
// `gameball_tracker.js` (default export init) stays what a page or a bundler imports.
const jsFile = join(pkg, 'gameball_tracker.js');
const wasmJsFile = join(pkg, 'gameball_tracker_wasm.js');
let js = readFileSync(jsFile, 'utf8');
if (!js.includes('__wbg_init')) throw new Error('pkg/gameball_tracker.js is not wasm-bindgen output: rerun wasm-pack');
js += `\nexport { GameballError } from '${gluePath}';\n`;
writeFileSync(wasmJsFile, js);
copyFileSync(new URL('../src/web/entry.js', import.meta.url), jsFile);

const dtsFile = join(pkg, 'gameball_tracker.d.ts');
let dts = readFileSync(dtsFile, 'utf8');
// sendEvent's two forms as overloads: a Promise without a callback, nothing with one.
// The module-level one takes Gameball's events, a Tracker's either shape (a voucherify
// tracker's events are VoucherifyEvent).
const sendEventForms = (indent, prefix, type) =>
  `${prefix}sendEvent(event: ${type}): Promise<GameballResponse>;\n` +
  `${indent}${prefix}sendEvent(event: ${type}, callback: SendEventCallback): void;`;
const generated = (type) => `sendEvent(event: ${type}, callback: SendEventCallback | undefined): Promise<GameballResponse> | undefined;`;
if (!dts.includes(`export function ${generated('GameballEvent')}`) || !dts.includes(`    ${generated('TrackerEvent')}`)) {
  throw new Error('the generated sendEvent declarations changed: update finish-pkg.mjs');
}
dts = dts.replace(`export function ${generated('GameballEvent')}`, sendEventForms('', 'export function ', 'GameballEvent'));
dts = dts.replace(`    ${generated('TrackerEvent')}`, '    ' + sendEventForms('    ', '', 'TrackerEvent'));
// Outside a browser (SSR) the entry's init resolves without instantiating anything.
const initDecl = /^(export default function __wbg_init \(.*\)): Promise<InitOutput>;$/m;
const initSyncDecl = /^(export function initSync\(.*\)): InitOutput;$/m;
if (!initDecl.test(dts) || !initSyncDecl.test(dts)) {
  throw new Error('the generated init declarations changed: update finish-pkg.mjs');
}
dts = dts.replace(initDecl, '$1: Promise<InitOutput | undefined>;');
dts = dts.replace(initSyncDecl, '$1: InitOutput | undefined;');
// What the entry adds to customerWidget: the stand-in handle while the module loads.
const widgetDecl = ' */\nexport function customerWidget(config: GameballConfig): Tracker;';
if (!dts.includes(widgetDecl)) throw new Error('the generated customerWidget declaration changed: update finish-pkg.mjs');
dts = dts.replace(widgetDecl, ` *
 * Called while the module loads (before \`init()\` settles, or with no \`init()\`: the call
 * starts loading it), it returns at once a stand-in, still \`instanceof Tracker\`, whose calls
 * are kept (at most 1,000 calls in all) and then made on the real tracker; an unusable config
 * is then not thrown but logged and reported by every call on the handle.
${widgetDecl}`);
dts += `
/** Every failure the tracker reports. \`code\` is one of the contract's error codes. */
export class GameballError extends Error {
  readonly name: 'GameballError';
  readonly code: GameballErrorCode;
  readonly status?: number;
  readonly gameballCode?: number;
  readonly requestId?: string;
  readonly id?: string;
  /** Voucherify's error \`key\` (errors of a \`voucherify\` tracker). */
  readonly voucherifyKey?: string;
}
`;
writeFileSync(dtsFile, dts);

const cargo = readFileSync(new URL('../Cargo.toml', import.meta.url), 'utf8');
const cargoField = (name) => new RegExp(`^${name} = "([^"]+)"`, 'm').exec(cargo)[1];
const version = cargoField('version');
const repository = cargoField('repository');

// README.md: the repo README's regions between `<!-- package -->` and `<!-- /package -->`,
// less what lies between `<!-- repo -->` and `<!-- /repo -->` (paths and commands of this repo).
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const regions = [...readme.matchAll(/<!-- package -->\n([\s\S]*?)<!-- \/package -->/g)].map((m) => m[1]);
if (regions.length < 2) throw new Error('README.md lost its <!-- package --> regions: update finish-pkg.mjs');
const packageReadme = regions.join('\n')
  .replace(/^<!-- repo -->[\s\S]*?<!-- \/repo -->\n/gm, '') // whole lines
  .replace(/<!-- repo -->[\s\S]*?<!-- \/repo -->/g, '') // inside a line
  .replace(/\n{3,}/g, '\n\n')
  .trimEnd();
if (/<!--/.test(packageReadme)) throw new Error('an unbalanced <!-- repo --> marker in README.md');
writeFileSync(join(pkg, 'README.md'), `${packageReadme}

## Source and license

Source, tests, the demo storefront and benchmarks: ${repository}. MIT license (\`LICENSE\`).
`);
copyFileSync(new URL('../LICENSE', import.meta.url), join(pkg, 'LICENSE'));

const files = ['gameball_tracker.js', 'gameball_tracker_wasm.js', 'gameball_tracker.d.ts', 'gameball_tracker_bg.wasm',
  'gameball_tracker_bg.wasm.d.ts', 'snippets/'].filter((f) => existsSync(join(pkg, f)));
const manifest = {
  name: 'gameball-tracker',
  version,
  description: 'Client-side Gameball event tracker for web storefronts (Rust + WebAssembly)',
  keywords: ['gameball', 'loyalty', 'rewards', 'event-tracking', 'analytics', 'ecommerce', 'storefront',
    'offline', 'webassembly', 'wasm'],
  homepage: `${repository}#readme`,
  repository: { type: 'git', url: `git+${repository}.git` },
  bugs: { url: `${repository}/issues` },
  license: 'MIT',
  type: 'module',
  main: 'gameball_tracker.js',
  module: 'gameball_tracker.js',
  types: 'gameball_tracker.d.ts',
  exports: {
    '.': { types: './gameball_tracker.d.ts', default: './gameball_tracker.js' },
    './gameball_tracker_bg.wasm': './gameball_tracker_bg.wasm',
  },
  files,
  sideEffects: false,
};
writeFileSync(join(pkg, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
console.log(`[build] pkg/package.json: gameball-tracker@${version}, GameballError from ${gluePath}; README.md ${packageReadme.length} characters`);
