// The per-call timing both bench scripts use (run.mjs against the peers, mem.mjs for ours
// alone), so that their figures are taken the same way.

/** Times up to `n` single `track` calls of the page's tracker in microseconds, for at most
 * `budgetMs`: one `performance.now()` pair around each call, the event built outside it. */
export function timeCalls(page, n, budgetMs) {
  return page.evaluate(({ n, budgetMs }) => {
    const b = window.__bench;
    const out = [];
    const until = performance.now() + budgetMs;
    for (let i = 0; i < n; i++) {
      const args = b.event();
      const t0 = performance.now();
      b.tracker.track(...args);
      const t1 = performance.now();
      out.push((t1 - t0) * 1000);
      if (t1 > until) break;
    }
    return out;
  }, { n, budgetMs });
}
