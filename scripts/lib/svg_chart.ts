/**
 * Dependency-free SVG charts for the performance page: a horizontal bar chart (with min–max
 * whiskers), a dot chart of latency percentiles (linear or logarithmic axis) and a line chart
 * over time (with a shaded interval). Each function takes plain values and returns the SVG text.
 *
 * Every chart has a white background (readable in GitHub's light and dark themes alike),
 * `role="img"`, an `aria-label`, a `<title>` and a `<desc>` that states the figures in words.
 * Every text is XML-escaped, every coordinate is a finite number rounded to 0.01 (empty data,
 * zeros and non-finite values included), and the output depends on the input only: the same
 * input gives the same bytes.
 *
 * @module
 */

/** Colour-blind-safe colours (Okabe and Ito), dark enough on white, in assignment order. */
export const PALETTE: readonly string[] = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#CC79A7",
  "#D55E00",
  "#56B4E9",
  "#7F7F7F",
];

/** One bar of {@linkcode horizontalBarChart}. */
export interface BarDatum {
  label: string;
  value: number;
  /** A whisker from the lowest to the highest of the runs. */
  range?: { min: number; max: number };
  /** Bars of one group share a colour; a legend names the groups when there are several. */
  group?: string;
}

/** Options of {@linkcode horizontalBarChart}. */
export interface BarChartOptions {
  title: string;
  /** The unit of the values, e.g. "ops/s": on the axis and after each bar's value. */
  unit: string;
  /** Width in pixels (default 760). */
  width?: number;
  /** A colour per group; groups without one take the next colour of {@linkcode PALETTE}. */
  colors?: Record<string, string>;
  /** Formats a value for labels (default {@linkcode formatValue}). */
  format?: (value: number) => string;
}

/** One row of {@linkcode percentileChart}: a mode and its values, in the order of `series`. */
export interface PercentileRow {
  label: string;
  values: readonly number[];
}

/** Options of {@linkcode percentileChart}. */
export interface PercentileChartOptions {
  title: string;
  /** The unit of the values, e.g. "ms". */
  unit: string;
  /** Names of the values of each row (default p50, p90, p99, max). */
  series?: readonly string[];
  /** A logarithmic axis, for values that span several powers of ten (default false). */
  logScale?: boolean;
  width?: number;
  format?: (value: number) => string;
}

/** One point of a {@linkcode LineSeries}; `y: null` (or a non-finite y) breaks the line. */
export interface LinePoint {
  x: number;
  y: number | null;
}

/** One line of {@linkcode lineChart}. */
export interface LineSeries {
  label: string;
  points: readonly LinePoint[];
  /** Default: the next colour of {@linkcode PALETTE}. */
  color?: string;
}

/** Options of {@linkcode lineChart}. */
export interface LineChartOptions {
  title: string;
  /** The unit of x, e.g. "s". */
  xUnit: string;
  /** The unit of y, e.g. "ms". */
  yUnit: string;
  /** A shaded interval of x, e.g. while a cleanup call ran. */
  band?: { start: number; end: number; label: string };
  logScale?: boolean;
  width?: number;
  /** Height of the plot area in pixels (default 220). */
  plotHeight?: number;
  format?: (value: number) => string;
}

const FONT_SIZE = 12;
const CHAR_WIDTH = 6.8; // a generous average advance of a 12 px sans-serif glyph
const PAD = 16;
const TEXT = "#1f2328";
const MUTED = "#59636e";
const GRID = "#d1d9e0";
const AXIS = "#818b98";
const DEFAULT_SERIES = ["p50", "p90", "p99", "max"] as const;
const MARKERS = ["circle", "square", "diamond", "triangle"] as const;
const LABEL_CHARS = 48;

/** Escapes `&`, `<`, `>`, `"` and `'`, and drops the characters XML 1.0 does not allow. */
export function escapeXml(text: string): string {
  let out = "";
  for (const char of text) {
    const code = char.codePointAt(0)!;
    const allowed = code === 0x9 || code === 0xa || code === 0xd ||
      (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || code >= 0x10000;
    if (!allowed) continue;
    switch (char) {
      case "&":
        out += "&amp;";
        break;
      case "<":
        out += "&lt;";
        break;
      case ">":
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case "'":
        out += "&apos;";
        break;
      default:
        out += char;
    }
  }
  return out;
}

/**
 * A number for a label: thousands separators from 1,000, three significant figures below
 * (2 decimals under 10, 1 under 100), "n/a" for a non-finite value. Locale-independent.
 */
export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return "n/a";
  const magnitude = Math.abs(value);
  const decimals = magnitude === 0 || magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : 2;
  return groupThousands(value, decimals);
}

/** `value` with `decimals` decimals and a comma between groups of three digits. */
export function groupThousands(value: number, decimals: number): string {
  if (!Number.isFinite(value)) return "n/a";
  const fixed = Math.abs(value).toFixed(decimals);
  const [whole, fraction] = fixed.split(".") as [string, string | undefined];
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const negative = value < 0 && Number(fixed) !== 0;
  return `${negative ? "-" : ""}${grouped}${fraction === undefined ? "" : `.${fraction}`}`;
}

/** A horizontal bar chart: one bar per datum, from zero, with an optional min–max whisker. */
export function horizontalBarChart(data: readonly BarDatum[], options: BarChartOptions): string {
  const format = options.format ?? formatValue;
  const width = options.width ?? 760;
  const colors = groupColors(data.map((datum) => datum.group ?? ""), options.colors);
  const groups = [...colors.keys()].filter((group) => group !== "");
  const valueText = (datum: BarDatum) => `${format(finite(datum.value))} ${options.unit}`;

  const labelWidth = labelColumnWidth(data.map((datum) => datum.label));
  const valueWidth = Math.max(...data.map((datum) => textWidth(valueText(datum))), 40) + 12;
  const plotLeft = PAD + labelWidth + 10;
  const plotWidth = Math.max(width - plotLeft - valueWidth - PAD, 100);
  const legendHeight = groups.length > 1 ? 22 : 0;
  const plotTop = 44 + legendHeight;
  const rowHeight = 28;
  const plotHeight = Math.max(data.length, 1) * rowHeight;
  const height = plotTop + plotHeight + 48;

  const top = Math.max(
    0,
    ...data.map((datum) => Math.max(finite(datum.value), finite(datum.range?.max ?? 0))),
  );
  const ticks = linearTicks(0, top);
  const scale = linearScale(ticks.min, ticks.max, plotLeft, plotLeft + plotWidth);

  const parts: string[] = [];
  parts.push(...xGrid(ticks, scale, plotTop, plotHeight, options.unit));
  if (groups.length > 1) {
    parts.push(
      legend(groups.map((group) => ({ label: group, swatch: swatch(colors.get(group)!) })), 40),
    );
  }
  if (data.length === 0) parts.push(noData(plotLeft + plotWidth / 2, plotTop + rowHeight / 2 + 4));
  data.forEach((datum, index) => {
    const y = plotTop + index * rowHeight;
    const middle = y + rowHeight / 2;
    const value = Math.max(finite(datum.value), 0);
    const color = colors.get(datum.group ?? "")!;
    const barEnd = scale(value);
    let textX = barEnd;
    parts.push(rowLabel(datum.label, PAD + labelWidth, middle));
    parts.push(
      `<rect class="bar" x="${n(plotLeft)}" y="${n(middle - 8)}" width="${n(barEnd - plotLeft)}" ` +
        `height="16" fill="${escapeXml(color)}"><title>${
          escapeXml(`${datum.label}: ${valueText(datum)}`)
        }</title></rect>`,
    );
    if (datum.range !== undefined) {
      const low = scale(Math.max(finite(datum.range.min), 0));
      const high = scale(Math.max(finite(datum.range.max), 0));
      textX = Math.max(textX, high);
      parts.push(
        `<g class="whisker" stroke="${TEXT}" stroke-width="1.5">` +
          `<line x1="${n(low)}" y1="${n(middle)}" x2="${n(high)}" y2="${n(middle)}"/>` +
          `<line x1="${n(low)}" y1="${n(middle - 5)}" x2="${n(low)}" y2="${n(middle + 5)}"/>` +
          `<line x1="${n(high)}" y1="${n(middle - 5)}" x2="${n(high)}" y2="${n(middle + 5)}"/></g>`,
      );
    }
    parts.push(
      `<text class="value" x="${n(textX + 6)}" y="${n(middle + 4)}">${
        escapeXml(valueText(datum))
      }</text>`,
    );
  });

  const description = data.length === 0 ? "No data." : data.map((datum) => {
    const range = datum.range === undefined
      ? ""
      : ` (runs from ${format(finite(datum.range.min))} to ${format(finite(datum.range.max))})`;
    return `${datum.label}: ${valueText(datum)}${range}.`;
  }).join(" ");
  return svg(width, height, options.title, description, parts);
}

/**
 * A dot chart of percentiles: one row per mode, one marker per series (a distinct colour and
 * shape each), joined by a line from the lowest to the highest value, on a linear or
 * logarithmic axis. On a logarithmic axis a value of zero or less sits at the axis's left end.
 */
export function percentileChart(
  rows: readonly PercentileRow[],
  options: PercentileChartOptions,
): string {
  const format = options.format ?? formatValue;
  const series = options.series ?? DEFAULT_SERIES;
  const width = options.width ?? 760;
  const labelWidth = labelColumnWidth(rows.map((row) => row.label));
  const plotLeft = PAD + labelWidth + 10;
  const plotWidth = Math.max(width - plotLeft - PAD * 2, 100);
  const plotTop = 66;
  const rowHeight = 28;
  const plotHeight = Math.max(rows.length, 1) * rowHeight;
  const height = plotTop + plotHeight + 48;

  const values = rows.flatMap((row) => row.values.map(finite));
  const ticks = options.logScale === true
    ? logTicks(values.filter((value) => value > 0))
    : linearTicks(0, Math.max(0, ...values));
  const scale = options.logScale === true
    ? logScale(ticks.min, ticks.max, plotLeft, plotLeft + plotWidth)
    : linearScale(ticks.min, ticks.max, plotLeft, plotLeft + plotWidth);

  const parts: string[] = [];
  parts.push(
    ...xGrid(
      ticks,
      scale,
      plotTop,
      plotHeight,
      `${options.unit}${options.logScale === true ? " (log scale)" : ""}`,
    ),
  );
  parts.push(
    legend(
      series.map((name, index) => ({
        label: name,
        swatch: (x: number, y: number) => marker(index, x, y, "", "legend-marker"),
      })),
      40,
    ),
  );
  if (rows.length === 0) parts.push(noData(plotLeft + plotWidth / 2, plotTop + rowHeight / 2 + 4));
  rows.forEach((row, index) => {
    const middle = plotTop + index * rowHeight + rowHeight / 2;
    parts.push(rowLabel(row.label, PAD + labelWidth, middle));
    const xs = row.values.slice(0, series.length).map((value) => scale(finite(value)));
    if (xs.length > 1) {
      parts.push(
        `<line class="span" x1="${n(Math.min(...xs))}" y1="${n(middle)}" x2="${
          n(Math.max(...xs))
        }" ` +
          `y2="${n(middle)}" stroke="${AXIS}" stroke-width="2"/>`,
      );
    }
    xs.forEach((x, seriesIndex) => {
      const tooltip = `${row.label}, ${series[seriesIndex]}: ${
        format(finite(row.values[seriesIndex]!))
      } ${options.unit}`;
      parts.push(marker(seriesIndex, x, middle, tooltip));
    });
  });

  const description = rows.length === 0 ? "No data." : rows.map((row) =>
    `${row.label}: ` +
    row.values.slice(0, series.length).map((value, index) =>
      `${series[index]} ${format(finite(value))} ${options.unit}`
    ).join(", ") + "."
  ).join(" ");
  return svg(width, height, options.title, description, parts);
}

/** A line chart of series over x, with an optional shaded interval of x (drawn under the lines). */
export function lineChart(series: readonly LineSeries[], options: LineChartOptions): string {
  const format = options.format ?? formatValue;
  const width = options.width ?? 760;
  const plotHeight = options.plotHeight ?? 220;
  const plotTop = 66;
  const yLabelWidth = 56;
  const plotLeft = PAD + yLabelWidth;
  const plotWidth = Math.max(width - plotLeft - PAD * 2, 100);
  const height = plotTop + plotHeight + 48;
  const colors = series.map((line, index) => line.color ?? PALETTE[index % PALETTE.length]!);

  const points = series.flatMap((line) =>
    line.points.filter((point) => Number.isFinite(point.x) && isFiniteY(point.y))
  );
  const xs = points.map((point) => point.x);
  const band = options.band;
  if (band !== undefined) xs.push(finite(band.start), finite(band.end));
  const xTicks = linearTicks(
    xs.length === 0 ? 0 : Math.min(...xs),
    xs.length === 0 ? 1 : Math.max(...xs),
  );
  const ys = points.map((point) => point.y as number);
  const yTicks = options.logScale === true
    ? logTicks(ys.filter((y) => y > 0))
    : linearTicks(0, Math.max(0, ...ys));
  const xScale = linearScale(xTicks.min, xTicks.max, plotLeft, plotLeft + plotWidth);
  const yScale = options.logScale === true
    ? logScale(yTicks.min, yTicks.max, plotTop + plotHeight, plotTop)
    : linearScale(yTicks.min, yTicks.max, plotTop + plotHeight, plotTop);

  const parts: string[] = [];
  if (band !== undefined) {
    const start = xScale(Math.min(finite(band.start), finite(band.end)));
    const end = xScale(Math.max(finite(band.start), finite(band.end)));
    parts.push(
      `<rect class="band" x="${n(start)}" y="${n(plotTop)}" width="${n(end - start)}" ` +
        `height="${n(plotHeight)}" fill="#E69F00" fill-opacity="0.18"/>`,
      `<text x="${n((start + end) / 2)}" y="${n(plotTop + 14)}" text-anchor="middle" ` +
        `fill="${MUTED}">${escapeXml(band.label)}</text>`,
    );
  }
  parts.push(...xGrid(xTicks, xScale, plotTop, plotHeight, options.xUnit, false));
  for (const tick of yTicks.values) {
    const y = yScale(tick);
    parts.push(
      `<line class="tick-y" data-value="${tickValue(tick)}" x1="${n(plotLeft)}" y1="${n(y)}" ` +
        `x2="${n(plotLeft + plotWidth)}" y2="${n(y)}" stroke="${GRID}"/>`,
      `<text x="${n(plotLeft - 6)}" y="${n(y + 4)}" text-anchor="end" fill="${MUTED}">${
        escapeXml(tickLabel(tick, yTicks.decimals))
      }</text>`,
    );
  }
  parts.push(
    `<text x="${n(PAD)}" y="${n(plotTop - 10)}" fill="${MUTED}">${
      escapeXml(`${options.yUnit}${options.logScale === true ? " (log scale)" : ""}`)
    }</text>`,
  );
  parts.push(
    legend(
      series.map((line, index) => ({ label: line.label, swatch: lineSwatch(colors[index]!) })),
      40,
    ),
  );
  if (points.length === 0) parts.push(noData(plotLeft + plotWidth / 2, plotTop + plotHeight / 2));
  series.forEach((line, index) => {
    const color = escapeXml(colors[index]!);
    for (const segment of segments(line.points)) {
      const coordinates = segment.map((point) => `${n(xScale(point.x))},${n(yScale(point.y))}`);
      if (segment.length === 1) {
        const [x, y] = coordinates[0]!.split(",");
        parts.push(`<circle class="point" cx="${x}" cy="${y}" r="2.5" fill="${color}"/>`);
      } else {
        parts.push(
          `<polyline class="line" data-series="${escapeXml(line.label)}" points="${
            coordinates.join(" ")
          }" ` +
            `fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"/>`,
        );
      }
    }
  });

  const summaries = series.map((line) => {
    const values = line.points.map((point) => point.y).filter(isFiniteY);
    return values.length === 0
      ? `${line.label}: no data.`
      : `${line.label}: from ${format(Math.min(...values))} to ${
        format(Math.max(...values))
      } ${options.yUnit}.`;
  });
  if (band !== undefined) {
    summaries.push(
      `${band.label}: from ${format(finite(band.start))} to ${
        format(finite(band.end))
      } ${options.xUnit}.`,
    );
  }
  return svg(width, height, options.title, summaries.join(" ") || "No data.", parts);
}

/** Ticks of an axis: round values from `min` to `max`, and the decimals their labels need. */
export interface Ticks {
  min: number;
  max: number;
  values: number[];
  decimals: number;
}

/** Ticks at 1, 2 or 5 × 10^k covering [low, high], four to eight of them; [0, 1] when empty. */
export function linearTicks(low: number, high: number): Ticks {
  let lo = finite(Math.min(low, high));
  let hi = finite(Math.max(low, high));
  if (hi === lo) {
    if (hi === 0) hi = 1;
    else if (hi > 0) lo = Math.min(lo, 0);
    else hi = 0;
  }
  const raw = (hi - lo) / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const normalised = raw / magnitude;
  const step = (normalised < 1.5 ? 1 : normalised < 3 ? 2 : normalised < 7 ? 5 : 10) * magnitude;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const values: number[] = [];
  for (let i = first; i <= last; i++) values.push(Number((i * step).toFixed(decimals)));
  return { min: values[0]!, max: values[values.length - 1]!, values, decimals };
}

/** Ticks at powers of ten (and 2 and 5 times them when the range spans at most two). */
export function logTicks(positive: readonly number[]): Ticks {
  const finiteValues = positive.filter((value) => Number.isFinite(value) && value > 0);
  const low = finiteValues.length === 0 ? 1 : Math.min(...finiteValues);
  const high = finiteValues.length === 0 ? 10 : Math.max(...finiteValues);
  const first = Math.floor(Math.log10(low) + 1e-9);
  let last = Math.ceil(Math.log10(high) - 1e-9);
  if (last <= first) last = first + 1;
  const multiples = last - first <= 2 ? [1, 2, 5] : [1];
  const values: number[] = [];
  for (let exponent = first; exponent <= last; exponent++) {
    for (const multiple of multiples) {
      if (exponent === last && multiple > 1) break;
      values.push(Number((multiple * 10 ** exponent).toPrecision(12)));
    }
  }
  return {
    min: values[0]!,
    max: values[values.length - 1]!,
    values,
    decimals: Math.max(0, -first),
  };
}

type Scale = (value: number) => number;

function linearScale(min: number, max: number, from: number, to: number): Scale {
  const span = max - min;
  return (value) => span === 0 ? from : from + ((finite(value) - min) / span) * (to - from);
}

function logScale(min: number, max: number, from: number, to: number): Scale {
  const lo = Math.log10(min);
  const span = Math.log10(max) - lo;
  return (value) => {
    const clamped = Math.min(Math.max(finite(value), min), max);
    return span === 0 ? from : from + ((Math.log10(clamped) - lo) / span) * (to - from);
  };
}

/** Vertical grid lines and labels of the x ticks, and the unit under the axis. */
function xGrid(
  ticks: Ticks,
  scale: Scale,
  plotTop: number,
  plotHeight: number,
  unit: string,
  axisLine = true,
): string[] {
  const bottom = plotTop + plotHeight;
  const parts = ticks.values.map((tick) => {
    const x = scale(tick);
    return `<line class="tick-x" data-value="${tickValue(tick)}" x1="${n(x)}" y1="${n(plotTop)}" ` +
      `x2="${n(x)}" y2="${n(bottom)}" stroke="${GRID}"/>` +
      `<text x="${n(x)}" y="${n(bottom + 16)}" text-anchor="middle" fill="${MUTED}">${
        escapeXml(tickLabel(tick, ticks.decimals))
      }</text>`;
  });
  const first = scale(ticks.min);
  const last = scale(ticks.max);
  if (axisLine) {
    parts.push(
      `<line x1="${n(first)}" y1="${n(plotTop)}" x2="${n(first)}" y2="${
        n(bottom)
      }" stroke="${AXIS}"/>`,
    );
  } else {
    parts.push(
      `<line x1="${n(first)}" y1="${n(bottom)}" x2="${n(last)}" y2="${
        n(bottom)
      }" stroke="${AXIS}"/>`,
    );
  }
  parts.push(
    `<text x="${n((first + last) / 2)}" y="${
      n(bottom + 36)
    }" text-anchor="middle" fill="${MUTED}">${escapeXml(unit)}</text>`,
  );
  return parts;
}

function tickLabel(value: number, decimals: number): string {
  const text = groupThousands(value, decimals);
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

/** A row's label, right-aligned before the plot, shortened with "…" (the full text as a tooltip). */
function rowLabel(label: string, right: number, middle: number): string {
  const chars = [...label];
  const shown = chars.length > LABEL_CHARS ? `${chars.slice(0, LABEL_CHARS - 1).join("")}…` : label;
  const tooltip = shown === label ? "" : `<title>${escapeXml(label)}</title>`;
  return `<text class="label" x="${n(right)}" y="${n(middle + 4)}" text-anchor="end">${tooltip}${
    escapeXml(shown)
  }</text>`;
}

function labelColumnWidth(labels: readonly string[]): number {
  const longest = Math.max(0, ...labels.map((label) => Math.min([...label].length, LABEL_CHARS)));
  return Math.max(60, Math.ceil(longest * CHAR_WIDTH));
}

function textWidth(text: string): number {
  return [...text].length * CHAR_WIDTH;
}

type Swatch = (x: number, y: number) => string;

/** One row of legend entries from the left edge at baseline `y`. */
function legend(entries: readonly { label: string; swatch: Swatch }[], y: number): string {
  let x = PAD;
  const parts = entries.map((entry) => {
    const part = entry.swatch(x + 6, y - 4) +
      `<text x="${n(x + 16)}" y="${n(y)}">${escapeXml(entry.label)}</text>`;
    x += 16 + textWidth(entry.label) + 18;
    return part;
  });
  return `<g class="legend">${parts.join("")}</g>`;
}

function swatch(color: string): Swatch {
  return (x, y) =>
    `<rect x="${n(x - 5)}" y="${n(y - 5)}" width="10" height="10" fill="${escapeXml(color)}"/>`;
}

function lineSwatch(color: string): Swatch {
  return (x, y) =>
    `<line x1="${n(x - 6)}" y1="${n(y)}" x2="${n(x + 6)}" y2="${n(y)}" stroke="${
      escapeXml(color)
    }" stroke-width="2"/>`;
}

/** The marker of series `index`: a colour and a shape each, so the chart reads without colour. */
function marker(
  index: number,
  x: number,
  y: number,
  tooltip: string,
  className = "marker",
): string {
  const color = PALETTE[index % PALETTE.length]!;
  const shape = MARKERS[index % MARKERS.length]!;
  const title = tooltip === "" ? "" : `<title>${escapeXml(tooltip)}</title>`;
  const common = `class="${className}" fill="${color}" stroke="#ffffff" stroke-width="1"`;
  switch (shape) {
    case "circle":
      return `<circle ${common} cx="${n(x)}" cy="${n(y)}" r="5">${title}</circle>`;
    case "square":
      return `<rect ${common} x="${n(x - 4.5)}" y="${
        n(y - 4.5)
      }" width="9" height="9">${title}</rect>`;
    case "diamond":
      return `<polygon ${common} points="${n(x)},${n(y - 6)} ${n(x + 6)},${n(y)} ${n(x)},${
        n(y + 6)
      } ${n(x - 6)},${n(y)}">${title}</polygon>`;
    case "triangle":
      return `<polygon ${common} points="${n(x)},${n(y - 6)} ${n(x + 6)},${n(y + 5)} ${n(x - 6)},${
        n(y + 5)
      }">${title}</polygon>`;
  }
}

function noData(x: number, y: number): string {
  return `<text x="${n(x)}" y="${n(y)}" text-anchor="middle" fill="${MUTED}">No data</text>`;
}

/** A colour per distinct group, in order of first appearance. */
function groupColors(
  groups: readonly string[],
  given: Record<string, string> | undefined,
): Map<string, string> {
  const colors = new Map<string, string>();
  let next = 0;
  for (const group of groups) {
    if (colors.has(group)) continue;
    const color = given !== undefined && Object.hasOwn(given, group) ? given[group]! : undefined;
    colors.set(group, color ?? PALETTE[next++ % PALETTE.length]!);
  }
  return colors;
}

/** Runs of consecutive points with finite coordinates. */
function segments(points: readonly LinePoint[]): { x: number; y: number }[][] {
  const runs: { x: number; y: number }[][] = [];
  let current: { x: number; y: number }[] = [];
  for (const point of points) {
    if (Number.isFinite(point.x) && isFiniteY(point.y)) {
      current.push({ x: point.x, y: point.y });
    } else if (current.length > 0) {
      runs.push(current);
      current = [];
    }
  }
  if (current.length > 0) runs.push(current);
  return runs;
}

function isFiniteY(y: number | null): y is number {
  return y !== null && Number.isFinite(y);
}

/** The whole document around `parts`. */
function svg(
  width: number,
  height: number,
  title: string,
  description: string,
  parts: readonly string[],
): string {
  const w = n(width);
  const h = n(height);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" ` +
    `role="img" aria-label="${escapeXml(title)}" font-family="-apple-system, BlinkMacSystemFont, ` +
    `'Segoe UI', Helvetica, Arial, sans-serif" font-size="${FONT_SIZE}" fill="${TEXT}">`,
    `<title>${escapeXml(title)}</title>`,
    `<desc>${escapeXml(description)}</desc>`,
    `<rect class="background" width="${w}" height="${h}" rx="6" fill="#ffffff" stroke="${GRID}"/>`,
    `<text x="${n(PAD)}" y="22" font-size="14" font-weight="600">${escapeXml(title)}</text>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}

/** A coordinate: finite, rounded to 0.01, never "-0". */
function n(value: number): string {
  if (!Number.isFinite(value)) return "0";
  const rounded = Math.round(value * 100) / 100;
  return rounded === 0 ? "0" : String(rounded);
}

function finite(value: number): number {
  return Number.isFinite(value) ? value : 0;
}

/** A tick's value for its `data-value` attribute, exact to twelve significant figures. */
function tickValue(value: number): string {
  return String(Number(finite(value).toPrecision(12)));
}
