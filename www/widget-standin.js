// A local stand-in for Gameball's widget loader (gameball-init.min.js), so that the demo works
// offline. It keeps the loader's contract as gameball-tracker uses it: loaded once with
// `defer`, it defines `window.GbSdk` and calls `window.GbLoadInit()`, which calls
// `GbSdk.init({ APIKey, lang, playerUniqueId, playerAttributes, sessionToken })`; a
// `playerUniqueId` of '' means the guest view. `GbSdk.toggle()` opens and closes the panel.
//
// It draws a small launcher and panel with text nodes only, and records every init in
// `window.GbSdk.inits` (tokens masked) for the end-to-end tests.
(() => {
  if (window.GbSdk) return;

  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === 'text') node.textContent = String(value);
      else if (key === 'class') node.className = value;
      else node.setAttribute(key, String(value));
    }
    node.append(...children);
    return node;
  };

  // Its look comes from a stylesheet next to it (no inline <style>: the demo runs under a
  // strict Content-Security-Policy, style-src without 'unsafe-inline').
  const loader = document.currentScript;
  const style = el('link', {
    rel: 'stylesheet',
    href: new URL('widget-standin.css', loader ? loader.src : location.href).href,
  });

  const title = el('h3', { 'data-testid': 'gb-widget-title' });
  const subtitle = el('p');
  const player = el('strong', { 'data-testid': 'gb-widget-player' });
  const lang = el('strong', { 'data-testid': 'gb-widget-lang' });
  const session = el('strong', { 'data-testid': 'gb-widget-session' });
  const panel = el(
    'section',
    { class: 'gbsi-panel', 'data-testid': 'gb-widget-panel', role: 'dialog', 'aria-label': 'Rewards' },
    el('div', { class: 'gbsi-head' }, title, subtitle),
    el(
      'div',
      { class: 'gbsi-body' },
      el('div', { class: 'gbsi-row' }, el('span', { text: 'Player' }), player),
      el('div', { class: 'gbsi-row' }, el('span', { text: 'Language' }), lang),
      el('div', { class: 'gbsi-row' }, el('span', { text: 'Session token' }), session),
      el('p', { class: 'gbsi-note', text: 'Local stand-in for the Gameball widget (demo only).' }),
    ),
  );
  panel.hidden = true;
  const launcher = el(
    'button',
    { class: 'gbsi-launcher', type: 'button', 'data-testid': 'gb-widget-launcher', 'aria-expanded': 'false' },
    el('span', { 'aria-hidden': 'true', text: '★' }),
    el('span', { text: 'Rewards' }),
  );
  const toggle = () => {
    panel.hidden = !panel.hidden;
    launcher.setAttribute('aria-expanded', String(!panel.hidden));
  };
  launcher.addEventListener('click', toggle);

  const inits = [];
  window.GbSdk = {
    inits,
    toggle,
    init(options = {}) {
      const id = typeof options.playerUniqueId === 'string' ? options.playerUniqueId : '';
      const attributes = options.playerAttributes || {};
      const seen = { APIKey: options.APIKey, lang: options.lang, playerUniqueId: id };
      if ('playerAttributes' in options) seen.playerAttributes = options.playerAttributes;
      if ('sessionToken' in options) seen.sessionToken = '(set)';
      inits.push(seen);
      const name = attributes.displayName || attributes.firstName || id;
      title.textContent = id ? `Hi, ${name}!` : 'Welcome, guest';
      subtitle.textContent = id ? '120 points · Silver tier' : 'Sign in to earn points on every order.';
      player.textContent = id || 'guest';
      lang.textContent = options.lang || 'en';
      session.textContent = options.sessionToken ? 'yes' : 'no';
      document.body.dataset.gbWidget = id ? 'customer' : 'guest';
      if (!launcher.isConnected) document.body.append(style, panel, launcher);
    },
  };
  if (typeof window.GbLoadInit === 'function') window.GbLoadInit();
})();
