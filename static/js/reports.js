/* The reports dashboard (templates/reports/dashboard.html):
   - draws the funnel (horizontal bars, with each stage's rate from the one before) and the monthly
     trends (leads as bars, MQLs, SQLs and customers won as lines) with the vendored Chart.js, from
     the page's json_script data;
   - editing a start or end date switches the period picker to "Custom dates", since the server
     reads the dates only then. */
(function () {
  "use strict";

  var COLORS = { lead: "#5b7bb3", mql: "#2f8fdd", sql: "#6a5acd", opportunity: "#e0a100", won: "#2e9e5b" };
  var STAGE_COLORS = [COLORS.lead, COLORS.mql, COLORS.sql, COLORS.opportunity, COLORS.won];

  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function percent(rate) {
    return rate === null || rate === undefined ? "—" : (rate * 100).toFixed(1) + "%";
  }

  function drawFunnel() {
    var funnel = data("funnel-data");
    var canvas = document.getElementById("funnel-chart");
    if (!funnel || !canvas) return;
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: funnel.labels.map(function (label, i) {
          return i === 0 ? label : label + " (" + percent(funnel.rates[i]) + ")";
        }),
        datasets: [{ label: "Count", data: funnel.counts, backgroundColor: STAGE_COLORS, borderRadius: 4 }],
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                var text = ctx.parsed.x.toLocaleString() + " leads";
                return ctx.dataIndex === 0 ? text : text + " · " + percent(funnel.rates[ctx.dataIndex]) + " of the stage before";
              },
            },
          },
        },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  }

  function drawTrends() {
    var trends = data("trends-data");
    var canvas = document.getElementById("trends-chart");
    if (!trends || !canvas) return;
    var palette = { leads: COLORS.lead, mql: COLORS.mql, sql: COLORS.sql, won: COLORS.won };
    new window.Chart(canvas, {
      data: {
        labels: trends.labels,
        datasets: trends.series.map(function (series) {
          var bar = series.key === "leads";
          return {
            type: bar ? "bar" : "line",
            label: series.label,
            data: series.data,
            backgroundColor: bar ? "rgba(91, 123, 179, 0.35)" : palette[series.key],
            borderColor: palette[series.key],
            borderWidth: bar ? 0 : 2,
            pointRadius: 2,
            tension: 0.25,
            order: bar ? 2 : 1,
          };
        }),
      },
      options: {
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { ticks: { maxRotation: 0, autoSkip: true } } },
      },
    });
  }

  function customDates() {
    var form = document.querySelector("[data-report-filters]");
    if (!form) return;
    var preset = form.querySelector("[data-preset]");
    form.querySelectorAll("[data-custom-date]").forEach(function (input) {
      input.addEventListener("change", function () {
        if (preset) preset.value = "custom";
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    customDates();
    if (window.Chart) {
      window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
      window.Chart.defaults.color = "#5d6b82";
      drawFunnel();
      drawTrends();
    }
  });
})();
