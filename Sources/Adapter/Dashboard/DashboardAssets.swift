import Foundation
import HTTP

/// The dashboard's only assets, served by the daemon itself (no external ones): one
/// style sheet and one script. The script is progressive: every page works without it;
/// with it, marked parts refresh and running attempts' output is followed live. Both are
/// files (`'self'`), so the Content-Security-Policy allows no inline script or style.
enum DashboardAssets {
    static let cssPath = "/assets/dashboard.css"
    static let jsPath = "/assets/dashboard.js"

    static func response(_ body: String, type: String) -> HTTPResponse {
        var r = HTTPResponse(status: 200, headers: ["Content-Type": type, "Cache-Control": "no-cache"], body: Data(body.utf8))
        Dashboard.harden(&r)
        return r
    }

    static let css = """
    :root { --fg: #1d2230; --muted: #5d6577; --line: #d9dde6; --bg: #f6f7fa; --card: #fff; --accent: #3b4fc4; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
    header.top { display: flex; align-items: center; gap: 1.5em; padding: .6em 1.2em; background: #1d2230; color: #fff; }
    header.top a { color: #fff; text-decoration: none; }
    header.top .brand { font-weight: 600; }
    header.top form { margin-left: auto; }
    main { padding: 1em 1.2em; max-width: 1400px; }
    h1 { font-size: 1.3em; margin: .2em 0 .6em; } h2 { font-size: 1.1em; margin: 1.2em 0 .5em; } h3 { font-size: 1em; }
    a { color: var(--accent); }
    .card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .8em 1em; margin-bottom: 1em; }
    table { border-collapse: collapse; width: 100%; background: var(--card); }
    th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
    th { font-weight: 600; color: var(--muted); font-size: .9em; }
    td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
    .state { display: inline-block; padding: 0 .5em; border-radius: 3px; font-size: .9em; font-weight: 600; background: #e4e7ef; }
    .state-completed { background: #d7f0dd; color: #185c2b; } .state-failed { background: #f8d9d9; color: #8a1c1c; }
    .state-running { background: #dde6ff; color: #22378f; } .state-cancelled { background: #eee; color: #555; }
    .state-queued { background: #fff1cc; color: #6b5000; }
    .health { display: flex; flex-wrap: wrap; gap: 1em; }
    .health .figure { min-width: 9em; } .health .figure b { display: block; font-size: 1.4em; }
    .muted { color: var(--muted); } .notice { background: #e9f6ec; border-color: #b9dfc3; }
    .error { background: #fbeaea; border-color: #efc2c2; }
    pre.output { background: #10131a; color: #e6e6e6; padding: .6em .8em; border-radius: 4px; max-height: 28em; overflow: auto;
                 white-space: pre-wrap; word-break: break-all; margin: .3em 0 1em; font-size: 12.5px; }
    pre.following { border-left: 3px solid #6c8cff; }
    form.inline { display: inline; } button { font: inherit; padding: .25em .8em; cursor: pointer; }
    textarea { width: 100%; min-height: 12em; font: 12.5px ui-monospace, monospace; }
    dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; margin: 0; } dl.facts dt { color: var(--muted); }
    .filters { display: flex; gap: .6em; align-items: end; flex-wrap: wrap; margin-bottom: .8em; }
    .filters label { display: flex; flex-direction: column; font-size: .9em; color: var(--muted); }
    .login { max-width: 26em; margin: 4em auto; } .login input[type=password] { width: 100%; padding: .4em; margin: .4em 0 .8em; }
    """

    static let js = """
    // coven-supervisor dashboard: progressive enhancement only (every page works without it).
    (function () {
      'use strict';
      var body = document.body;

      // A <pre data-follow="URL"> is filled from the attempt's output stream as it is written.
      function follow(pre) {
        var url = pre.getAttribute('data-follow');
        if (!url || !window.fetch || !window.TextDecoder || !window.ReadableStream) return;
        pre.removeAttribute('data-follow');
        fetch(url, { credentials: 'same-origin', cache: 'no-store' }).then(function (res) {
          if (!res.ok || !res.body) return;
          var reader = res.body.getReader();
          var decoder = new TextDecoder();
          pre.textContent = '';
          pre.classList.add('following');
          function pump() {
            return reader.read().then(function (r) {
              if (r.done) {
                pre.textContent += decoder.decode();
                pre.classList.remove('following');
                pre.setAttribute('data-ended', '1');
                return;
              }
              pre.textContent += decoder.decode(r.value, { stream: true });
              pre.scrollTop = pre.scrollHeight;
              return pump();
            });
          }
          return pump();
        }).catch(function () {});
      }
      Array.prototype.forEach.call(document.querySelectorAll('pre[data-follow]'), follow);

      // Parts marked data-live are replaced by the same parts of a fresh copy of the page;
      // when the page's data-version changes (a task changed state), it is reloaded whole.
      var period = parseInt(body.getAttribute('data-refresh') || '0', 10);
      function refresh() {
        fetch(location.href, { credentials: 'same-origin', cache: 'no-store' }).then(function (res) {
          if (res.redirected && new URL(res.url).pathname === '/login') { location.assign('/login'); return null; }
          return res.ok ? res.text() : null;
        }).then(function (html) {
          if (!html) return;
          var doc = new DOMParser().parseFromString(html, 'text/html');
          if (doc.body.getAttribute('data-version') !== body.getAttribute('data-version')) { location.reload(); return; }
          Array.prototype.forEach.call(document.querySelectorAll('[data-live]'), function (el) {
            var fresh = doc.getElementById(el.id);
            if (fresh) el.innerHTML = fresh.innerHTML;
          });
        }).catch(function () {}).then(function () { setTimeout(refresh, period * 1000); });
      }
      if (period > 0) setTimeout(refresh, period * 1000);
      Array.prototype.forEach.call(document.querySelectorAll('.no-js'), function (el) { el.hidden = true; });
    })();
    """
}
