/* Charts of the campaign pages, drawn with the vendored Chart.js (static/vendor/chartjs-4.6.1).
   The data sits in the page as JSON (Django's json_script), never fetched from elsewhere.

   FunnelCRM.dailyChart(canvas, data): daily visitors and clicks (lines, left axis) and spend
   (bars, right axis). data = {labels: ["2025-03-01", ...], visitors: [..], clicks: [..],
   spend: [..]}; null is a day without that figure. Any page can call it; campaign pages do so
   for #daily-chart with #daily-chart-data. */
(function () {
  "use strict";

  var euro = new Intl.NumberFormat("en-US", { style: "currency", currency: "EUR",
                                              maximumFractionDigits: 0 });
  var whole = new Intl.NumberFormat("en-US");
  var dayLabel = new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric" });

  function shortDay(iso) {
    var parts = iso.split("-");
    return dayLabel.format(new Date(+parts[0], +parts[1] - 1, +parts[2]));
  }

  function dailyChart(canvas, data) {
    return new window.Chart(canvas, {
      data: {
        labels: data.labels.map(shortDay),
        datasets: [
          { type: "bar", label: "Spend", data: data.spend, yAxisID: "money", order: 3,
            backgroundColor: "rgba(255, 159, 64, 0.45)", borderColor: "rgb(230, 126, 34)",
            borderWidth: 1 },
          { type: "line", label: "Visitors", data: data.visitors, yAxisID: "people", order: 1,
            borderColor: "rgb(16, 107, 201)", backgroundColor: "rgb(16, 107, 201)",
            pointRadius: data.labels.length > 60 ? 0 : 2, tension: 0.25, spanGaps: false },
          { type: "line", label: "Clicks", data: data.clicks, yAxisID: "people", order: 2,
            borderColor: "rgb(124, 77, 255)", backgroundColor: "rgb(124, 77, 255)",
            pointRadius: data.labels.length > 60 ? 0 : 2, tension: 0.25, spanGaps: false }
        ]
      },
      options: {
        responsive: true,
        animation: false,  // figures, not a show: drawn at once, and redrawn at once on resize
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? data.labels[items[0].dataIndex] : ""; },
              label: function (item) {
                if (item.raw === null) return item.dataset.label + ": no figure";
                var text = item.dataset.yAxisID === "money"
                  ? euro.format(item.raw) : whole.format(item.raw);
                return item.dataset.label + ": " + text;
              }
            }
          }
        },
        scales: {
          x: { ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 12 },
               grid: { display: false } },
          people: { type: "linear", position: "left", beginAtZero: true,
                    ticks: { precision: 0, callback: function (v) { return whole.format(v); } } },
          money: { type: "linear", position: "right", beginAtZero: true,
                   grid: { drawOnChartArea: false },
                   ticks: { callback: function (v) { return euro.format(v); } } }
        }
      }
    });
  }

  window.FunnelCRM = window.FunnelCRM || {};
  window.FunnelCRM.dailyChart = dailyChart;

  document.addEventListener("DOMContentLoaded", function () {
    var canvas = document.getElementById("daily-chart");
    var source = document.getElementById("daily-chart-data");
    if (canvas && source && window.Chart) {
      canvas.chart = dailyChart(canvas, JSON.parse(source.textContent));
    }
  });
})();
