// The world map of farm nodes and the workloads on them: the countries' shapes ship with the
// explorer (world-atlas's 1:110m countries, fetched from the explorer's own folder), so the map
// needs no tile server. Each country with nodes is highlighted and gets a marker at its
// centroid (of its largest polygon, so an overseas territory does not pull it into the sea).
import { geoArea, geoCentroid, geoEqualEarth, geoGraticule10, geoPath } from "d3-geo";
import { feature } from "topojson-client";
import { fetchAll } from "../api.js";
import { h, link, section, table } from "../html.js";
import { countryName, numericCode, alpha2, number } from "../format.js";
import { heading } from "./common.js";

const WIDTH = 960;
const HEIGHT = 540;
const SVG = "http://www.w3.org/2000/svg";
let atlas = null;

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs))
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  for (const child of children.flat())
    if (child !== null && child !== undefined) node.append(child);
  return node;
}

async function countries() {
  if (atlas === null) {
    const response = await fetch("countries-110m.json");
    if (!response.ok)
      throw new Error(`the map's shapes (countries-110m.json) answered HTTP ${response.status}`);
    const topology = await response.json();
    atlas = feature(topology, topology.objects.countries).features;
  }
  return atlas;
}

// The centroid of a country's largest polygon, as [longitude, latitude].
export function mainCentroid(shape) {
  const geometry = shape.geometry;
  if (geometry.type !== "MultiPolygon") return geoCentroid(shape);
  let best = null;
  let bestArea = -1;
  for (const coordinates of geometry.coordinates) {
    const polygon = { type: "Polygon", coordinates };
    const area = geoArea(polygon);
    if (area > bestArea) {
      best = polygon;
      bestArea = area;
    }
  }
  return geoCentroid(best);
}

// Per country code: its nodes (and how many are up), replicas and workloads.
export function byCountry(nodes, workloads) {
  const places = new Map();
  const place = (code) => {
    if (!places.has(code))
      places.set(code, { code, nodes: [], up: 0, replicas: 0, workloads: new Set() });
    return places.get(code);
  };
  for (const n of nodes) {
    const p = place(n.location.country);
    p.nodes.push(n);
    if (n.status === "up") p.up += 1;
    p.replicas += n.replicas;
  }
  for (const w of workloads) {
    for (const r of w.deployment?.replicas ?? [])
      if (r.node && r.country) place(r.country).workloads.add(w.id);
  }
  return [...places.values()]
    .filter((p) => p.nodes.length > 0)
    .sort((a, b) => a.code.localeCompare(b.code));
}

function summary(p) {
  const nodes = `${number(p.nodes.length)} ${p.nodes.length === 1 ? "node" : "nodes"} (${number(p.up)} up)`;
  const workloads = `${number(p.workloads.size)} ${p.workloads.size === 1 ? "workload" : "workloads"}`;
  return `${countryName(p.code)}: ${nodes}, ${workloads}, ${number(p.replicas)} replicas`;
}

// The region around `points` ([longitude, latitude]): their box, widened to at least 20 by 12
// degrees and by half again, so neighbouring countries' markers stand apart.
export function around(points) {
  const widen = (values, least, low, high) => {
    const [min, max] = [Math.min(...values), Math.max(...values)];
    const half = (Math.max(max - min, least) * 1.5) / 2;
    const middle = (min + max) / 2;
    return [Math.max(low, middle - half), Math.min(high, middle + half)];
  };
  const [west, east] = widen(
    points.map((p) => p[0]),
    20,
    -180,
    180,
  );
  const [south, north] = widen(
    points.map((p) => p[1]),
    12,
    -80,
    84,
  );
  const corners = [
    [west, south],
    [east, north],
    [west, north],
    [east, south],
  ];
  return { type: "MultiPoint", coordinates: corners };
}

export default async function map({ query }) {
  const [shapes, nodes, workloads] = await Promise.all([
    countries(),
    fetchAll("/v1/nodes?limit=100", "nodes", "next_start", "start"),
    fetchAll("/v1/workloads?limit=100", "workloads", "next_before", "before"),
  ]);
  const places = byCountry(nodes, workloads);
  const present = new Map(places.map((p) => [numericCode(p.code), p]));
  const centres = new Map(places.map((p) => [p.code, centre(p, shapes)]));
  const world = query.view === "world" || places.length === 0;
  const projection = geoEqualEarth().fitExtent(
    [
      [8, 8],
      [WIDTH - 8, HEIGHT - 8],
    ],
    world ? { type: "Sphere" } : around([...centres.values()]),
  );
  const path = geoPath(projection);
  const paths = shapes.map((shape) => {
    const p = shape.id ? present.get(shape.id) : undefined;
    const code = shape.id ? alpha2(shape.id) : null;
    return s(
      "path",
      {
        d: path(shape),
        class: p ? "country has-nodes" : "country",
        "data-country": code,
        "data-nodes": p ? p.nodes.length : null,
      },
      s("title", {}, p ? summary(p) : shape.properties.name),
    );
  });
  const markers = places.map((p) => {
    const [x, y] = projection(centres.get(p.code));
    const radius = 5 + 3 * Math.sqrt(p.nodes.length);
    return s(
      "g",
      {
        class: "marker",
        "data-country": p.code,
        "data-nodes": p.nodes.length,
        "data-workloads": p.workloads.size,
        transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`,
      },
      s("title", {}, summary(p)),
      s("circle", { r: radius.toFixed(1) }),
      s(
        "text",
        { class: "marker-label", x: radius + 3, y: 4 },
        `${p.code} ${p.nodes.length}/${p.workloads.size}`,
      ),
    );
  });
  const description = places.length ? places.map(summary).join("; ") : "no farm nodes yet";
  const svg = s(
    "svg",
    {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-labelledby": "map-title map-desc",
      class: "world",
    },
    s("title", { id: "map-title" }, "World map of farm nodes"),
    s("desc", { id: "map-desc" }, description),
    s("path", { d: path({ type: "Sphere" }), class: "sphere" }),
    s("path", { d: path(geoGraticule10()), class: "graticule" }),
    s("g", { class: "countries" }, paths),
    s("g", { class: "markers" }, markers),
  );
  return [
    ...heading("Map", `${number(nodes.length)} farm nodes in ${number(places.length)} countries`),
    h(
      "figure",
      { class: "map" },
      svg,
      h(
        "figcaption",
        {},
        "Highlighted: countries with farm nodes. Each marker reads country, nodes / workloads. ",
        places.length === 0
          ? null
          : world
            ? link("#/map", "Around the nodes")
            : link("#/map?view=world", "The whole world"),
      ),
    ),
    section(
      "Countries",
      table(
        "Countries with farm nodes",
        ["Country", "Nodes", "Up", "Replicas", "Workloads"],
        places.map((p) => ({
          attrs: { "data-country": p.code },
          cells: [
            countryName(p.code),
            number(p.nodes.length),
            number(p.up),
            number(p.replicas),
            number(p.workloads.size),
          ],
        })),
        "no farm nodes yet",
      ),
    ),
  ];
}

// Where a country's marker goes: its largest polygon's centroid, or (a country the atlas at
// 1:110m leaves out) the mean of its nodes' coordinates.
function centre(place, shapes) {
  const shape = shapes.find((f) => f.id === numericCode(place.code));
  if (shape) return mainCentroid(shape);
  return [
    average(place.nodes.map((n) => n.location.longitude / 1e6)),
    average(place.nodes.map((n) => n.location.latitude / 1e6)),
  ];
}

function average(values) {
  return values.reduce((a, b) => a + b, 0) / values.length;
}
