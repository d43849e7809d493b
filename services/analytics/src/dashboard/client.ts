/**
 * The dashboard's browser script (plain ES2020, no build step, no template literals inside). It reads
 * the dashboard API, renders the views as tables (every figure a button to its provenance) and the
 * monthly indicator as a uPlot chart. A bearer token given as `#token=…` is kept in sessionStorage and
 * sent with every API request.
 */
export const DASHBOARD_JS = String.raw`
'use strict';
(function () {
  var hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get('token')) {
    sessionStorage.setItem('wbx-token', hash.get('token'));
    history.replaceState(null, '', location.pathname + location.search);
  }
  var token = sessionStorage.getItem('wbx-token');
  function api(path) {
    var headers = token ? { authorization: 'Bearer ' + token } : {};
    return fetch(path, { headers: headers }).then(function (r) {
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
      return r.json();
    });
  }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'onclick') e.addEventListener('click', attrs[k]);
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }
  var fmt = function (n) { return n.toLocaleString('en-GB'); };
  var pct = function (x) { return x === null ? '–' : (x >= 0 ? '+' : '') + (x * 100).toFixed(1) + '%'; };
  /**
   * The text of a value: exact; "< k" for one suppressed cell (never 0), "×" for one hidden to protect
   * another (secondary: it may hold k or more, so "< k" would mislead); a sum with suppressed cells in
   * it is only known from below ("≥ n"), and one of suppressed cells only is "< k ×n", or "×" when a
   * complement is among them (no upper bound can be claimed).
   */
  function cellText(c) {
    if (c.cells === 0) return '–';
    if (c.suppressedCells === 0) return fmt(c.known);
    var hidden = (c.secondaryCells || 0) > 0;
    if (hidden && c.known === 0 && c.suppressedCells === c.cells) return '×';
    if (c.cells === 1) return '< ' + c.minCell;
    if (c.known === 0 && c.suppressedCells === c.cells) return '< ' + c.minCell + ' ×' + c.cells;
    return '≥ ' + fmt(c.known);
  }
  function cellButton(c, label) {
    var b = el('button', {
      class: 'cell' + (c.suppressedCells > 0 ? ' suppressed' : ''),
      'data-known': String(c.known),
      'data-suppressed': String(c.suppressedCells),
      'data-secondary': String(c.secondaryCells || 0),
      'data-cells': String(c.cells),
      'data-label': label,
      title: (c.secondaryCells || 0) > 0 && c.known === 0 && c.suppressedCells === c.cells
        ? 'hidden to protect another cell (secondary suppression): may hold ' + c.minCell + ' or more'
        : c.suppressedCells > 0
          ? c.suppressedCells + ' suppressed cell(s) below ' + c.minCell + ': never 0, shown as a bound'
          : 'click for the provenance',
      text: cellText(c),
      onclick: function () { showProvenance(c.sources, label); },
    });
    return b;
  }
  function showProvenance(sources, label) {
    var panel = document.getElementById('provenance');
    panel.innerHTML = '';
    panel.appendChild(el('h2', { text: 'Provenance: ' + label }));
    panel.hidden = false;
    sources.forEach(function (s) {
      api('/api/v1/provenance/' + encodeURIComponent(s.origin) + '/' + encodeURIComponent(s.eventId)).then(function (p) {
        var dl = el('dl', { class: 'prov', 'data-event-id': p.eventId });
        [['origin', p.origin], ['sealed aggregate (event id)', p.eventId], ['signing key', p.kid],
          ['agreement', p.agreementId], ['issued (vintage)', p.issuedAt], ['verified', 'verified ✓ ' + p.verifiedAt],
          ['inbox sequence', String(p.inboxSeq)], ['token (JWS)', p.token.slice(0, 48) + '…']].forEach(function (kv) {
          dl.appendChild(el('dt', { text: kv[0] }));
          dl.appendChild(el('dd', { text: kv[1], class: kv[0] === 'verified' ? 'verified' : '' }));
        });
        panel.appendChild(dl);
      }, function (e) { panel.appendChild(el('p', { class: 'error', text: String(e) })); });
    });
  }
  function table(id, head, rows) {
    var t = el('table', { id: id });
    t.appendChild(el('thead', {}, [el('tr', {}, head.map(function (h) { return el('th', { text: h }); }))]));
    t.appendChild(el('tbody', {}, rows));
    return t;
  }
  function section(id, title, children) {
    var s = document.getElementById(id);
    s.innerHTML = '';
    s.appendChild(el('h2', { text: title }));
    children.forEach(function (c) { s.appendChild(c); });
  }
  var footnotes = [];
  function note(text) {
    if (footnotes.indexOf(text) === -1) footnotes.push(text);
    return '[' + (footnotes.indexOf(text) + 1) + ']';
  }
  function renderIndicators(data) {
    var children = [];
    data.series.forEach(function (s) {
      var rows = s.months.map(function (m) {
        var label = s.indicator + ' ' + m.period;
        var flags = (m.provisional ? 'provisional ' + note('The latest month is provisional: origins may revise it.') : '') +
          (m.break ? ' break ' + note(m.period + ': ' + m.break + ' (break in series).') : '');
        return el('tr', { 'data-period': m.period, 'data-provisional': String(m.provisional), class: m.provisional ? 'provisional' : '' }, [
          el('td', { text: m.period }),
          el('td', {}, [cellButton(m.value, label)]),
          el('td', { text: pct(m.changeOnPreviousMonth) }),
          el('td', { text: pct(m.changeOnSameMonthLastYear) }),
          el('td', { text: m.band ? fmt(m.band.min) + '–' + fmt(m.band.max) + ' (' + m.band.years + ' y)' : '–' }),
          el('td', { text: m.origins.join(', ') }),
          el('td', { class: 'flags', text: flags.trim() }),
        ]);
      });
      children.push(el('h3', { text: s.indicator + ' (' + s.unit + ')' }));
      if (s.yearToDate) {
        var y = s.yearToDate;
        children.push(el('p', { class: 'ytd', 'data-indicator': s.indicator }, [
          el('span', { text: 'Year to date ' + y.year + ' (through ' + y.through + '): ' }),
          cellButton(y.value, s.indicator + ' YTD ' + y.year),
          el('span', { text: y.lastYear ? ' against ' + cellText(y.lastYear) + ' a year before (' + pct(y.change) + ')' : ' (no data a year before)' }),
        ]));
      }
      var chart = el('div', { class: 'chart', 'data-indicator': s.indicator });
      children.push(chart);
      children.push(table('ind-' + s.indicator.replace(/[^a-z0-9]/gi, '-'),
        ['month', s.unit, 'on previous month', 'on same month last year', 'same month, earlier years', 'origins', 'flags'], rows));
      if (window.uPlot && s.months.length > 1) {
        var xs = s.months.map(function (m) {
          var p = m.period.split('-');
          return Date.UTC(+p[0], +p[1] - 1, 1) / 1000;
        });
        var known = s.months.map(function (m) { return m.value.known; });
        var bandLo = s.months.map(function (m) { return m.band ? m.band.min : null; });
        var bandHi = s.months.map(function (m) { return m.band ? m.band.max : null; });
        new window.uPlot({
          width: 720, height: 220,
          series: [{}, { label: 'known', stroke: '#1f5fa8', width: 2 },
            { label: 'band min', stroke: '#c9a227' }, { label: 'band max', stroke: '#c9a227' }],
          bands: [{ series: [3, 2], fill: 'rgba(201,162,39,0.15)' }],
        }, [xs, known, bandLo, bandHi], chart);
      }
    });
    section('indicators', 'Indicators by month', children);
  }
  function renderNationalities(v) {
    var rows = v.top.concat(v.others ? [v.others] : []).map(function (r) {
      return el('tr', { 'data-citizenship': r.citizenship }, [
        el('td', { text: r.citizenship }),
        el('td', {}, [cellButton(r.value, 'citizenship ' + r.citizenship + ' ' + v.period)]),
        el('td', { text: (r.share * 100).toFixed(1) + '%' }),
      ]);
    });
    rows.push(el('tr', { class: 'total' }, [
      el('td', { text: 'total' }),
      el('td', {}, [cellButton(v.total, 'total ' + v.period)]),
      el('td', { text: '100%' }),
    ]));
    section('nationalities', 'Top nationalities, ' + v.period + ' (' + v.unit + ')', [
      table('nat-table', ['citizenship', v.unit, 'share ' + note('Shares of the known total; suppressed cells excluded.')], rows),
    ]);
  }
  function renderRoute(v) {
    var rows = v.rows.map(function (r) {
      return el('tr', { 'data-segment': r.routeSegment, 'data-origin': r.origin, 'data-direction': r.direction },
        [el('td', { text: r.routeSegment }), el('td', { text: r.origin }), el('td', { text: r.direction })].concat(
          v.periods.map(function (p) {
            var c = r.byPeriod[p];
            return el('td', { 'data-period': p }, [
              c ? cellButton(c, r.routeSegment + ' ' + r.origin + ' ' + p) : el('span', { text: '–' }),
            ]);
          })));
    });
    section('route', 'Route: detections per border section and month', [
      el('p', { class: 'note', text: 'Each side reports its own detections ' + note('Detections, not persons: one person detected twice counts twice; the two sides of a border are never added.') }),
      table('route-table', ['section', 'reported by', 'direction'].concat(v.periods), rows),
    ]);
  }
  function renderLag(v) {
    var lags = v.rows.length ? v.rows[0].correlations.map(function (c) { return 'lag ' + c.lag + ' mo'; }) : [];
    var rows = v.rows.map(function (r) {
      return el('tr', { 'data-pair': r.upstream + '>' + r.downstream }, [
        el('td', { text: r.upstream + ' entries → ' + r.downstream + ' exits' }),
        el('td', { text: String(r.months) }),
      ].concat(r.correlations.map(function (c) {
        return el('td', {
          class: c.lag === r.bestLag ? 'best' : '',
          text: c.r === null ? '–' : c.r.toFixed(2) + ' (' + c.n + ')',
        });
      })));
    });
    var s = document.getElementById('route');
    s.appendChild(el('h3', { text: 'Lag: upstream entries to downstream exits' }));
    s.appendChild(rows.length
      ? table('lag-table', ['sections', 'months ' + note('Months where both sums are exact (no suppressed cell).')].concat(lags), rows)
      : el('p', { text: 'No pair of sections with entries and exits.' }));
  }
  function renderDemographics(v) {
    var rows = v.rows.map(function (r) {
      return el('tr', { 'data-dimension': r.dimension, 'data-value': r.value }, [
        el('td', { text: r.dimension.replace('persons.', '') }),
        el('td', { text: r.value }),
        el('td', {}, [cellButton(r.cell, r.dimension + '=' + r.value + ' ' + v.period)]),
      ]);
    });
    section('demographics', 'Demographics, ' + (v.period || 'no data'), [
      table('demo-table', ['dimension', 'value ' + note('"unknown" is shown as reported, never dropped.'), 'persons'], rows),
    ]);
  }
  function renderWarnings(v) {
    var rows = v.flags.map(function (f) {
      return el('tr', { class: 'warning' }, [el('td', { text: f.routeSegment }), el('td', { text: f.origin }),
        el('td', { text: f.week }), el('td', { text: fmt(f.value) }), el('td', { text: f.baseline.toFixed(1) })]);
    });
    section('warnings', 'Early warning (week on week)', [
      el('p', { class: 'note', text: 'Method: ' + v.method + ' (' + v.series + ' weekly series). See docs/analytics-dashboard.md.' }),
      rows.length ? table('warn-table', ['section', 'reported by', 'week', 'detections', 'baseline'], rows) : el('p', { text: 'No flags.' }),
    ]);
  }
  function renderReadmission(v) {
    var rows = v.rows.map(function (r) {
      var label = r.requestingState + ' → ' + r.requestedState + ' ' + r.period;
      return el('tr', { 'data-period': r.period, 'data-pair': r.requestingState + '-' + r.requestedState }, [
        el('td', { text: r.period }),
        el('td', { text: r.requestingState + ' → ' + r.requestedState }),
        el('td', {}, [cellButton(r.requests, 'requests ' + label)]),
        el('td', {}, [cellButton(r.answered, 'answered ' + label)]),
        el('td', {}, [cellButton(r.answeredInTime, 'answered in time ' + label)]),
        el('td', {}, [cellButton(r.accepted, 'accepted ' + label)]),
      ]);
    });
    section('readmission', 'Readmission cases seen by this node', [
      rows.length
        ? table('readm-table', ['month', 'requesting → requested', 'requests', 'answered',
          'in time ' + note('Answered by the request\'s deadline; counted only where this node holds both.'), 'accepted'], rows)
        : el('p', { text: 'No readmission records reach this node.' }),
    ]);
  }
  function renderReception(v) {
    var rows = v.rows.map(function (r) {
      var share = r.capacity.known > 0 ? (100 * r.occupancy.known / r.capacity.known).toFixed(0) + ' %' : '–';
      var asOf = r.oldestAsOf.slice(0, 10) === r.latestAsOf.slice(0, 10) ? r.latestAsOf.slice(0, 10)
        : r.oldestAsOf.slice(0, 10) + ' … ' + r.latestAsOf.slice(0, 10);
      return el('tr', { 'data-origin': r.origin }, [
        el('td', { text: r.origin }),
        el('td', { text: String(r.facilities) }),
        el('td', {}, [cellButton(r.occupancy, 'reception stock ' + r.origin)]),
        el('td', {}, [cellButton(r.capacity, 'reception capacity ' + r.origin)]),
        el('td', { text: share }),
        el('td', {}, [cellButton(r.children, 'children in reception ' + r.origin)]),
        el('td', {}, [cellButton(r.unaccompaniedMinors, 'unaccompanied minors in reception ' + r.origin)]),
        el('td', { text: asOf }),
      ]);
    });
    section('reception', 'Reception stock against capacity', [
      rows.length
        ? table('recep-table', ['origin', 'facilities', 'stock', 'capacity', 'occupied', 'children',
          'unaccompanied minors', 'as of ' + note('Each facility\'s latest snapshot; a stock is never summed over time.')], rows)
        : el('p', { text: 'No reception records reach this node.' }),
    ]);
  }
  function renderFootnotes() {
    var ol = el('ol', {}, footnotes.map(function (f) { return el('li', { text: f }); }));
    section('footnotes', 'Notes', [ol]);
  }
  function renderOrigins(v) {
    v.origins.forEach(function (o) {
      note('Origin ' + o.origin + ': under ' + o.agreements.join(', ') + '; cells below ' + o.minCells.join('/') +
        ' suppressed by the origin; units ' + o.units.join(', ') + '; months ' + (o.firstPeriod || '–') + ' to ' +
        (o.lastPeriod || '–') + '; last verified here ' + o.lastVerified + '.');
    });
  }
  Promise.all([
    api('/api/v1/dashboard/origins').then(renderOrigins),
    api('/api/v1/dashboard/indicators').then(renderIndicators),
    api('/api/v1/dashboard/nationalities?top=5').then(renderNationalities),
    api('/api/v1/dashboard/route').then(renderRoute).then(function () {
      return api('/api/v1/dashboard/lag').then(renderLag);
    }),
    api('/api/v1/dashboard/demographics').then(renderDemographics),
    api('/api/v1/dashboard/warnings').then(renderWarnings),
    api('/api/v1/dashboard/readmission').then(renderReadmission),
    api('/api/v1/dashboard/reception').then(renderReception),
  ]).then(function () {
    renderFootnotes();
    document.body.setAttribute('data-ready', 'true');
  }, function (e) {
    document.getElementById('error').textContent = String(e);
    document.body.setAttribute('data-ready', 'error');
  });
})();
`;

/** The dashboard page: the shell the script fills; uPlot from the node's own assets (no CDN). */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>WBX analytics</title>
<link rel="stylesheet" href="/dashboard/assets/uPlot.min.css">
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
button.cell { border: 0; background: none; color: #1f5fa8; cursor: pointer; font: inherit; padding: 0; }
button.cell.suppressed { color: #a33; font-style: italic; }
tr.provisional td { background: #fff8e0; }
td.best { font-weight: bold; }
#provenance {
  position: fixed; right: 1em; top: 1em; width: 28em;
  background: #fff; border: 1px solid #888; padding: 1em;
}
dd.verified { color: #1a7f37; font-weight: bold; }
.error { color: #a33; }
</style>
</head>
<body>
<h1>WBX analytics</h1>
<p id="error" class="error"></p>
<section id="indicators"></section>
<section id="nationalities"></section>
<section id="route"></section>
<section id="demographics"></section>
<section id="warnings"></section>
<section id="readmission"></section>
<section id="reception"></section>
<section id="footnotes"></section>
<aside id="provenance" hidden></aside>
<script src="/dashboard/assets/uPlot.iife.min.js"></script>
<script src="/dashboard/assets/dashboard.js"></script>
</body>
</html>
`;
