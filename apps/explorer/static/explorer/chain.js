(function () {
  const history = JSON.parse(document.getElementById("chain-history").textContent);
  const style = getComputedStyle(document.documentElement);
  const text = style.getPropertyValue("--fg").trim();
  const grid = style.getPropertyValue("--line").trim();
  const layout = (yTitle) => ({
    margin: { t: 10, r: 10, b: 40, l: 60 },
    font: { color: text },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    xaxis: { title: { text: "height" }, gridcolor: grid },
    yaxis: { title: { text: yTitle }, rangemode: "tozero", gridcolor: grid },
    legend: { orientation: "h" },
  });
  const config = { displaylogo: false, responsive: true };
  Plotly.newPlot("difficulty-chart", [
    {
      x: history.height, y: history.work_bits, customdata: history.difficulty, type: "scatter", mode: "lines", line: { shape: "hv" },
      name: "difficulty", hovertemplate: "height %{x}: %{y:.2f} bits (Bitcoin difficulty %{customdata:.4g})<extra></extra>",
    },
  ], layout("bits"), config);
  // A pause between experiments would flatten every other interval: frame the usual ones, hover shows all.
  const seconds = history.interval.concat(history.time_to_mine).filter((value) => value !== null).sort((a, b) => a - b);
  const usual = seconds.length ? seconds[Math.floor(0.95 * (seconds.length - 1))] : 0;
  const intervalLayout = layout("seconds");
  if (usual > 0 && seconds[seconds.length - 1] > 4 * usual) intervalLayout.yaxis.range = [0, 2 * usual];
  Plotly.newPlot("interval-chart", [
    { x: history.height, y: history.interval, type: "scatter", mode: "lines+markers", name: "interval (s)" },
    { x: history.height, y: history.time_to_mine, type: "scatter", mode: "lines+markers", name: "time to mine (s)" },
  ], intervalLayout, config);
})();
