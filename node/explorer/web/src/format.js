// How numbers, times and places read on the page.
import countries from "i18n-iso-countries";
import en from "i18n-iso-countries/langs/en.json";

countries.registerLocale(en);

const whole = new Intl.NumberFormat("en-US");
const NBSP = "\u00a0"; // a number and its unit stay on one line

export function number(value) {
  return value === null || value === undefined ? "—" : whole.format(value);
}

export function credits(value) {
  return value === null || value === undefined ? "—" : `${whole.format(value)}${NBSP}cr`;
}

export function time(ms) {
  if (ms === null || ms === undefined) return "—";
  return `${new Date(ms).toISOString().replace("T", " ").slice(0, 19)} UTC`;
}

export function bytes(value) {
  if (value === null || value === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let amount = value;
  let unit = 0;
  while (amount >= 1024 && unit < units.length - 1) {
    amount /= 1024;
    unit += 1;
  }
  return unit === 0
    ? `${value}${NBSP}B`
    : `${amount.toFixed(amount >= 100 ? 0 : 1)}${NBSP}${units[unit]}`;
}

// Basis points (10,000 = 100 %).
export function percent(bp) {
  return bp === null || bp === undefined ? "—" : `${(bp / 100).toFixed(2)}${NBSP}%`;
}

export function cores(milli) {
  return milli === null || milli === undefined
    ? "—"
    : `${(milli / 1000).toFixed(milli % 1000 ? 3 : 0)}${NBSP}cores`;
}

// "Belgium (BE)", or the code alone when the list does not know it.
export function country(code) {
  if (!code) return "—";
  const name = countries.getName(code, "en");
  return name ? `${name} (${code})` : code;
}

export function countryName(code) {
  return countries.getName(code, "en") || code;
}

// ISO 3166-1 numeric code ("056"), the id world-atlas gives each country's shape.
export function numericCode(code) {
  return countries.alpha2ToNumeric(code) || null;
}

export function alpha2(numeric) {
  return countries.numericToAlpha2(numeric) || null;
}
