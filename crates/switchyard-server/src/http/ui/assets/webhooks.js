// Switchyard dashboard: the webhook form's command rows, added and removed in
// place (without this script, "Add command" and "Remove command" post the form
// and the server answers it with one row more or less, keeping what was typed).
(function () {
  'use strict';

  // The page that shows a secret once is the answer to a POST: give it the
  // webhook's own address, so a reload shows the page again without the secret
  // instead of posting the form twice.
  var once = document.querySelector('[data-replace-url]');
  if (once && window.history && history.replaceState) {
    history.replaceState(null, '', once.getAttribute('data-replace-url'));
  }

  // A form that came back refused: start at the list of its problems (each
  // links to its field).
  var summary = document.getElementById('form-errors');
  if (summary) { summary.focus(); }

  var rows = document.getElementById('command-rows');
  var template = document.getElementById('command-template');
  var add = document.getElementById('add-command');
  if (!rows || !template || !add) { return; }

  // Rows are shown numbered 1, 2, ...; their field names keep the index they
  // were made with (the server orders rows by it).
  function renumber() {
    rows.querySelectorAll('[data-row]').forEach(function (row, i) {
      row.querySelectorAll('[data-row-number]').forEach(function (n) {
        n.textContent = String(i + 1);
      });
    });
  }

  add.addEventListener('click', function (ev) {
    ev.preventDefault();
    var index = Number(rows.getAttribute('data-next-index')) || 0;
    rows.setAttribute('data-next-index', String(index + 1));
    var html = template.innerHTML.split('__i__').join(String(index));
    var holder = document.createElement('div');
    holder.innerHTML = html;
    var row = holder.querySelector('[data-row]');
    rows.appendChild(row);
    renumber();
    var first = row.querySelector('input, select, textarea');
    if (first) { first.focus(); }
  });

  rows.addEventListener('click', function (ev) {
    var button = ev.target instanceof Element ? ev.target.closest('button[name=remove_row]') : null;
    if (!button) { return; }
    ev.preventDefault();
    var row = button.closest('[data-row]');
    if (row) { row.remove(); }
    renumber();
    add.focus();
  });
})();
