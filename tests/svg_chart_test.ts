// The SVG charts of the performance page, as pure functions: well-formed XML with every label
// escaped, accessible, bars and markers where their values put them, no NaN for empty or zero
// data, and the same bytes for the same input.
import assert from "node:assert/strict";
import {
  escapeXml,
  formatValue,
  horizontalBarChart,
  linearTicks,
  lineChart,
  logTicks,
  percentileChart,
} from "../scripts/lib/svg_chart.ts";
import { elements, parseXml, textOf, type XmlElement } from "./_helpers/xml.ts";

/** The elements of `svg` whose class is `name`. */
function byClass(svg: string, name: string): XmlElement[] {
  return elements(parseXml(svg)).filter((node) => node.attributes.class === name);
}

function number(node: XmlElement, attribute: string): number {
  const value = node.attributes[attribute];
  assert.ok(value !== undefined, `<${node.name}> has ${attribute}`);
  const parsed = Number(value);
  assert.ok(Number.isFinite(parsed), `${attribute}="${value}" is a finite number`);
  return parsed;
}

/** Every number-looking attribute value and text is finite: no NaN, Infinity or undefined. */
function assertNoBadNumbers(svg: string): void {
  assert.doesNotMatch(svg, /NaN|Infinity|undefined|null/, "no NaN, Infinity, undefined or null");
  for (const node of elements(parseXml(svg))) {
    for (
      const attribute of ["x", "y", "x1", "x2", "y1", "y2", "width", "height", "cx", "cy", "r"]
    ) {
      if (node.attributes[attribute] !== undefined) number(node, attribute);
    }
    for (const attribute of ["points"]) {
      const value = node.attributes[attribute];
      if (value === undefined) continue;
      for (const coordinate of value.split(/[ ,]/)) {
        assert.ok(Number.isFinite(Number(coordinate)), `points has "${coordinate}"`);
      }
    }
    if (node.attributes.width !== undefined && node.name === "rect") {
      assert.ok(number(node, "width") >= 0, "no negative width");
    }
  }
}

/** x of the value `v` on the axis, interpolated from the axis's tick lines. */
function axisPosition(svg: string, tickClass: string, v: number): number {
  const ticks = byClass(svg, tickClass).map((tick) => ({
    value: number(tick, "data-value"),
    x: number(tick, "x1"),
  }));
  assert.ok(ticks.length >= 2, "the axis has ticks");
  const first = ticks[0]!;
  const last = ticks[ticks.length - 1]!;
  return first.x + ((v - first.value) / (last.value - first.value)) * (last.x - first.x);
}

const AWKWARD = `<script>&amp; "quoted" 'single' & more>`;

const BARS = [
  { label: "HTTP hello", value: 1500, range: { min: 1200, max: 1600 }, group: "HTTP" },
  { label: "pgbench", value: 2500, range: { min: 2400, max: 2600 }, group: "SQL" },
  { label: "select 1", value: 500, group: "SQL" },
];

Deno.test("escapeXml() escapes the five XML characters and drops control characters", () => {
  assert.equal(escapeXml(`a<b>&"c'\u0000\u0007d\te`), "a&lt;b&gt;&amp;&quot;c&apos;d\te");
});

Deno.test("horizontalBarChart() escapes labels, titles and units, and parses as XML", () => {
  const svg = horizontalBarChart(
    [{ label: AWKWARD, value: 10, group: `g<&>"` }, { label: "b", value: 5, group: "h" }],
    { title: `Title ${AWKWARD}`, unit: `u<&>` },
  );
  assert.ok(!svg.includes("<script>"), "no raw <script>");
  const root = parseXml(svg);
  assert.equal(root.attributes["aria-label"], `Title ${AWKWARD}`);
  const labels = byClass(svg, "label").map(textOf);
  assert.deepEqual(labels, [AWKWARD, "b"]);
  assert.ok(byClass(svg, "value").map(textOf).includes("10.0 u<&>"));
  assert.ok(textOf(byClass(svg, "legend")[0]!).includes(`g<&>"`), "the legend names the group");
});

Deno.test("every chart is an accessible image: role, aria-label, <title> first, <desc>", () => {
  const charts = [
    horizontalBarChart(BARS, { title: "Bars", unit: "ops/s" }),
    percentileChart([{ label: "a", values: [1, 2, 3, 4] }], { title: "Dots", unit: "ms" }),
    lineChart([{ label: "p50", points: [{ x: 0, y: 1 }, { x: 1, y: 2 }] }], {
      title: "Lines",
      xUnit: "s",
      yUnit: "ms",
    }),
  ];
  for (const svg of charts) {
    const root = parseXml(svg);
    assert.equal(root.name, "svg");
    assert.equal(root.attributes.xmlns, "http://www.w3.org/2000/svg");
    assert.equal(root.attributes.role, "img");
    const children = root.children.filter((child) => typeof child !== "string") as XmlElement[];
    assert.equal(children[0]!.name, "title");
    assert.equal(textOf(children[0]!), root.attributes["aria-label"]);
    assert.equal(children[1]!.name, "desc");
    assert.ok(textOf(children[1]!).length > 0, "the description says something");
    assert.equal(children[2]!.attributes.fill, "#ffffff", "a white background first");
  }
});

Deno.test("horizontalBarChart() draws bars proportional to their values, from one origin", () => {
  const svg = horizontalBarChart(BARS, { title: "Bars", unit: "ops/s" });
  const bars = byClass(svg, "bar");
  assert.equal(bars.length, 3);
  const xs = new Set(bars.map((bar) => number(bar, "x")));
  assert.equal(xs.size, 1, "every bar starts at the same x");
  const widths = bars.map((bar) => number(bar, "width"));
  assert.ok(Math.abs(widths[1]! / widths[0]! - 2500 / 1500) < 0.001, `widths ${widths}`);
  assert.ok(Math.abs(widths[2]! / widths[0]! - 500 / 1500) < 0.001, `widths ${widths}`);
  // The bar ends where the axis puts its value.
  const origin = [...xs][0]!;
  assert.ok(Math.abs(origin + widths[1]! - axisPosition(svg, "tick-x", 2500)) < 0.02);
});

Deno.test("horizontalBarChart() draws each whisker from the run minimum to the maximum", () => {
  const svg = horizontalBarChart(BARS, { title: "Bars", unit: "ops/s" });
  const whiskers = byClass(svg, "whisker");
  assert.equal(whiskers.length, 2, "only the bars with a range have a whisker");
  const spans = whiskers.map((whisker) => {
    const line = whisker.children.find((child) => typeof child !== "string") as XmlElement;
    return [number(line, "x1"), number(line, "x2")];
  });
  assert.ok(Math.abs(spans[0]![0]! - axisPosition(svg, "tick-x", 1200)) < 0.02);
  assert.ok(Math.abs(spans[0]![1]! - axisPosition(svg, "tick-x", 1600)) < 0.02);
  assert.ok(Math.abs(spans[1]![1]! - axisPosition(svg, "tick-x", 2600)) < 0.02);
});

Deno.test("horizontalBarChart() colours bars by group, with the given colours first", () => {
  const svg = horizontalBarChart(BARS, {
    title: "Bars",
    unit: "ops/s",
    colors: { SQL: "#123456" },
  });
  const fills = byClass(svg, "bar").map((bar) => bar.attributes.fill);
  assert.equal(fills[1], "#123456");
  assert.equal(fills[2], "#123456");
  assert.notEqual(fills[0], "#123456");
});

Deno.test("charts of empty data, zeros and non-finite values have no NaN and still parse", () => {
  const charts = [
    horizontalBarChart([], { title: "Empty", unit: "ops/s" }),
    horizontalBarChart([{ label: "zero", value: 0, range: { min: 0, max: 0 } }], {
      title: "Zero",
      unit: "ops/s",
    }),
    horizontalBarChart([{ label: "bad", value: NaN, range: { min: -Infinity, max: Infinity } }], {
      title: "Bad",
      unit: "ops/s",
    }),
    percentileChart([], { title: "Empty", unit: "ms", logScale: true }),
    percentileChart([{ label: "zeros", values: [0, 0, 0, 0] }], { title: "Z", unit: "ms" }),
    percentileChart([{ label: "zeros", values: [0, 0, 0, 0] }], {
      title: "Z",
      unit: "ms",
      logScale: true,
    }),
    percentileChart([{ label: "short", values: [NaN] }], { title: "S", unit: "ms" }),
    lineChart([], { title: "Empty", xUnit: "s", yUnit: "ms" }),
    lineChart([{ label: "p50", points: [] }], {
      title: "No points",
      xUnit: "s",
      yUnit: "ms",
      band: { start: 0, end: 0, label: "cleanup" },
    }),
    lineChart([{ label: "p50", points: [{ x: 3, y: 0 }, { x: 3, y: 0 }] }], {
      title: "Zero",
      xUnit: "s",
      yUnit: "ms",
      logScale: true,
    }),
  ];
  for (const svg of charts) assertNoBadNumbers(svg);
  assert.match(charts[0]!, /No data/);
});

Deno.test("charts are deterministic: the same input gives the same bytes", () => {
  const render = () => [
    horizontalBarChart(BARS, { title: "Bars", unit: "ops/s" }),
    percentileChart([{ label: "a", values: [0.12, 1.5, 20, 95] }], {
      title: "Dots",
      unit: "ms",
      logScale: true,
    }),
    lineChart([{ label: "p99", points: [{ x: 0, y: 3 }, { x: 1, y: 40 }] }], {
      title: "Lines",
      xUnit: "s",
      yUnit: "ms",
      band: { start: 0.3, end: 0.7, label: "cleanup" },
    }),
  ];
  const first = render();
  horizontalBarChart([{ label: "other", value: 1, group: "x" }], { title: "Other", unit: "u" });
  assert.deepEqual(render(), first);
});

Deno.test("percentileChart() places markers in order, equal ratios equally apart on a log axis", () => {
  const svg = percentileChart(
    [{ label: "mode", values: [0.1, 1, 10, 100] }, { label: "other", values: [2, 3, 5, 8] }],
    { title: "Latency", unit: "ms", logScale: true },
  );
  const markers = byClass(svg, "marker");
  assert.equal(markers.length, 8, "four markers per row");
  const x = (node: XmlElement) =>
    node.name === "circle"
      ? number(node, "cx")
      : node.name === "rect"
      ? number(node, "x") + 4.5
      : Number(node.attributes.points!.split(" ")[0]!.split(",")[0]);
  const xs = markers.slice(0, 4).map(x);
  const gaps = [xs[1]! - xs[0]!, xs[2]! - xs[1]!, xs[3]! - xs[2]!];
  assert.ok(gaps.every((gap) => gap > 0), `in order: ${xs}`);
  assert.ok(Math.max(...gaps) - Math.min(...gaps) < 0.05, `equal decades: ${gaps}`);
  const ticks = byClass(svg, "tick-x").map((tick) => tick.attributes["data-value"]);
  assert.deepEqual(ticks, ["0.1", "1", "10", "100"]);
  assert.match(svg, /ms \(log scale\)/);
});

Deno.test("lineChart() shades the band between its start and end on the x axis", () => {
  const points = Array.from({ length: 31 }, (_, t) => ({ x: t, y: t >= 8 && t <= 19 ? 40 : 3 }));
  const svg = lineChart([{ label: "p99", points }], {
    title: "Timeline",
    xUnit: "s",
    yUnit: "ms",
    band: { start: 8.5, end: 19.25, label: "cleanup" },
  });
  const [band] = byClass(svg, "band");
  assert.ok(band !== undefined, "a band");
  const left = number(band, "x");
  const right = left + number(band, "width");
  assert.ok(Math.abs(left - axisPosition(svg, "tick-x", 8.5)) < 0.02, `left ${left}`);
  assert.ok(Math.abs(right - axisPosition(svg, "tick-x", 19.25)) < 0.02, `right ${right}`);
  assert.ok(right > left);
  // The band lies inside the plot, between the first and last tick.
  assert.ok(left > axisPosition(svg, "tick-x", 0) && right < axisPosition(svg, "tick-x", 30));
});

Deno.test("lineChart() breaks a line at a null point and keeps points in x order", () => {
  const svg = lineChart(
    [{
      label: "p50",
      points: [{ x: 0, y: 1 }, { x: 1, y: 2 }, { x: 2, y: null }, { x: 3, y: 4 }, { x: 4, y: 5 }],
    }],
    { title: "Gaps", xUnit: "s", yUnit: "ms" },
  );
  const lines = byClass(svg, "line");
  assert.equal(lines.length, 2);
  for (const line of lines) {
    const xs = line.attributes.points!.split(" ").map((pair) => Number(pair.split(",")[0]));
    assert.deepEqual(xs, [...xs].sort((a, b) => a - b));
  }
  // Higher values are higher up: a smaller y.
  const ys = lines[0]!.attributes.points!.split(" ").map((pair) => Number(pair.split(",")[1]));
  assert.ok(ys[1]! < ys[0]!);
});

Deno.test("linearTicks() and logTicks() choose round values that cover the data", () => {
  assert.deepEqual(linearTicks(0, 2609).values, [0, 500, 1000, 1500, 2000, 2500, 3000]);
  assert.deepEqual(linearTicks(0, 0.37).values, [0, 0.1, 0.2, 0.3, 0.4]);
  assert.deepEqual(linearTicks(0, 0).values, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(linearTicks(0, 30).values, [0, 5, 10, 15, 20, 25, 30]);
  assert.deepEqual(logTicks([0.12, 47]).values, [0.1, 1, 10, 100]);
  assert.deepEqual(logTicks([2, 30]).values, [1, 2, 5, 10, 20, 50, 100]);
  assert.deepEqual(logTicks([]).values, [1, 2, 5, 10]);
});

Deno.test("formatValue() groups thousands and keeps three significant figures below", () => {
  assert.equal(formatValue(69606.4), "69,606");
  assert.equal(formatValue(1234567), "1,234,567");
  assert.equal(formatValue(47.291), "47.3");
  assert.equal(formatValue(2.894), "2.89");
  assert.equal(formatValue(0), "0");
  assert.equal(formatValue(-0.001), "0.00");
  assert.equal(formatValue(NaN), "n/a");
});
