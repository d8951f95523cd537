// The throughput chart: succeeded and failed tasks per minute over the last hour, drawn as
// stacked SVG bars sized to the container in pixels (so its text never scales) and redrawn
// when the container is resized. Colours come from styles.css through classes.

import { s } from "./dom.js";
import { formatCount, minuteTime } from "./format.js";

const HEIGHT = 180;
const MARGIN = { top: 10, right: 8, bottom: 24, left: 40 };
const LABEL_EVERY = 15;

/** A round ceiling for the axis whose half is a whole number too, as the grid labels it. */
function niceCeiling(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 4, 6, 8, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

export function summarize(points) {
  let succeeded = 0;
  let failed = 0;
  let peak = 0;
  for (const point of points) {
    succeeded += point.succeeded;
    failed += point.failed;
    peak = Math.max(peak, point.succeeded + point.failed);
  }
  return { succeeded, failed, peak };
}

function axis(width, yMax) {
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  return [0, yMax / 2, yMax].map((value) => {
    const y = MARGIN.top + plotHeight - (value / yMax) * plotHeight;
    return s(
      "g",
      { class: "chart-grid" },
      s("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y, y2: y }),
      s("text", { x: MARGIN.left - 6, y: y + 4, "text-anchor": "end" }, formatCount(value)),
    );
  });
}

function bar(point, index, slot, yMax) {
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = MARGIN.left + index * slot;
  const width = Math.max(1, slot * 0.7);
  const base = MARGIN.top + plotHeight;
  const okHeight = (point.succeeded / yMax) * plotHeight;
  const failHeight = (point.failed / yMax) * plotHeight;
  return s(
    "g",
    { class: "chart-bar" },
    s("title", {}, `${minuteTime(point.minute)}: ${point.succeeded} succeeded, ${point.failed} failed`),
    s("rect", { class: "bar-hit", x, y: MARGIN.top, width: slot, height: plotHeight }),
    s("rect", { class: "bar succeeded", x, y: base - okHeight, width, height: okHeight }),
    s("rect", { class: "bar failed", x, y: base - okHeight - failHeight, width, height: failHeight }),
  );
}

function labels(points, slot) {
  return points
    .map((point, index) => ({ point, index }))
    .filter(({ index }) => index % LABEL_EVERY === 0 || index === points.length - 1)
    .map(({ point, index }) =>
      s(
        "text",
        {
          class: "chart-label",
          x: MARGIN.left + index * slot + slot / 2,
          y: HEIGHT - 6,
          "text-anchor": "middle",
        },
        index === points.length - 1 ? "now" : minuteTime(point.minute),
      ),
    );
}

/** Draw points ([{minute, succeeded, failed}], oldest first) into container. */
export function drawThroughput(container, points, description) {
  const width = container.clientWidth;
  if (width === 0) return;
  const { peak } = summarize(points);
  const yMax = niceCeiling(Math.max(peak, 4));
  const slot = (width - MARGIN.left - MARGIN.right) / Math.max(points.length, 1);
  const svg = s(
    "svg",
    { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: "img", "aria-label": description },
    axis(width, yMax),
    points.map((point, index) => bar(point, index, slot, yMax)),
    labels(points, slot),
  );
  container.replaceChildren(svg);
}
