// Switchyard dashboard: live updates and in-place forms. Everything here is an
// enhancement: every action is a plain form that works without this script.
(function () {
  'use strict';

  // Replaces the element `id` of this page with the one in `html` (a whole page
  // rendered by the server, already escaped there).
  function swap(html, id) {
    var doc = new DOMParser().parseFromString(html, 'text/html');
    var fresh = doc.getElementById(id);
    var old = document.getElementById(id);
    if (fresh && old) {
      old.replaceWith(document.importNode(fresh, true));
    }
  }

  // Forms with data-inplace="ID" post in the background, then swap element ID
  // from the page the server answers with (the form's redirect target).
  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-inplace')) {
      return;
    }
    ev.preventDefault();
    var target = form.getAttribute('data-inplace');
    fetch(form.action, {
      method: 'POST',
      body: new URLSearchParams(new FormData(form)),
      credentials: 'same-origin'
    }).then(function (r) {
      if (!r.ok) { throw new Error('HTTP ' + r.status); }
      return r.text();
    }).then(function (html) {
      swap(html, target);
    }).catch(function () {
      // Let the server answer the plain way (and show why).
      form.submit();
    });
  });

  // Regions with data-live="TYPE ..." are fetched again from this page's URL
  // when the stream (/api/stream, opened by the session cookie) carries one of
  // those notices. data-stream-after is where the stream stood when the page was
  // rendered, so nothing committed in between is missed.
  var regions = document.querySelectorAll('[data-live]');
  if (regions.length && window.EventSource) {
    var ids = [];
    var types = {};
    var after = '';
    regions.forEach(function (r) {
      ids.push(r.id);
      after = after || r.getAttribute('data-stream-after') || '';
      r.getAttribute('data-live').split(/\s+/).forEach(function (t) { types[t] = true; });
    });
    var busy = false;
    var again = false;
    var refresh = function () {
      if (busy) { again = true; return; }
      busy = true;
      fetch(location.href, { credentials: 'same-origin' }).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (html) { ids.forEach(function (id) { swap(html, id); }); }
      }).catch(function () {}).then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
    };
    var url = '/api/stream' + (after ? '?last_event_id=' + encodeURIComponent(after) : '');
    var es = new EventSource(url);
    Object.keys(types).forEach(function (t) { es.addEventListener(t, refresh); });
    document.documentElement.setAttribute('data-stream', 'connecting');
    es.addEventListener('open', function () {
      document.documentElement.setAttribute('data-stream', 'open');
    });
  }

  // Countdowns: <time data-countdown datetime="..."> shows the time left.
  var tick = function () {
    document.querySelectorAll('time[data-countdown]').forEach(function (t) {
      var left = Math.round((Date.parse(t.getAttribute('datetime')) - Date.now()) / 1000);
      if (isNaN(left)) { return; }
      if (left <= 0) { t.textContent = 'now'; return; }
      var h = Math.floor(left / 3600), m = Math.floor(left % 3600 / 60), s = left % 60;
      t.textContent = 'in ' + (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + s + 's';
    });
  };
  tick();
  setInterval(tick, 1000);
})();
