// PostHog posthog-js, the minimal init + capture, with its remote config, autocapture,
// session recording and surveys off so that only event capture runs; api_host is the local
// server and payloads are uncompressed (so the bench can count what arrives).
import posthog from 'posthog-js';

export function start(base) {
  return new Promise((ready) => {
    posthog.init('phc_bench', {
      api_host: base,
      autocapture: false,
      capture_pageview: false,
      capture_pageleave: false,
      disable_session_recording: true,
      disable_surveys: true,
      advanced_disable_flags: true,
      disable_external_dependency_loading: true,
      disable_compression: true,
      persistence: 'localStorage',
      opt_out_useragent_filter: true, // headless Chromium looks like a bot to PostHog, which would drop every event
      loaded: () => ready(),
    });
  });
}

export function track(customer, name, props) {
  posthog.capture(name, { ...props, customer });
}

export const wasmMemoryBytes = () => 0;
