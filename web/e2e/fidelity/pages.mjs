// The real-world pages of the fidelity test: Start Bootstrap templates from
// npm, each with what a visitor does on it. They cover Bootstrap's
// `scroll-behavior: smooth`, icon fonts (Font Awesome's SVG script, Bootstrap
// Icons' font from the CDN origin, Font Awesome's webfont from the page's
// origin), Google fonts, multi-layer backgrounds and Chart.js canvases.
import path from "node:path";
import { moduleDir } from "./servers.mjs";

export const TEMPLATES = [
  // Font Awesome SVG icons, a multi-layer header background, a form.
  { name: "agency", root: path.join(moduleDir("startbootstrap-agency"), "dist"), focus: "#name", hover: "#mainNav .nav-link" },
  // Bootstrap Icons (a font from the CDN's origin), a gradient over a photo, SimpleLightbox.
  { name: "creative", root: path.join(moduleDir("startbootstrap-creative"), "dist"), focus: "#name", hover: "#mainNav .nav-link" },
  // A full-height photo background with a gradient layer.
  { name: "grayscale", root: path.join(moduleDir("startbootstrap-grayscale"), "dist"), focus: "#emailAddress", hover: "#mainNav .nav-link" },
  // Bootstrap Icons, three Google font families, an in-page link that scrolls smoothly.
  { name: "new-age", root: path.join(moduleDir("startbootstrap-new-age"), "dist"), focus: "#mainNav .nav-link[href='#features']", hover: "#mainNav .btn" },
  // A fixed side navigation; in-page links.
  { name: "resume", root: path.join(moduleDir("startbootstrap-resume"), "dist"), focus: "#sideNav .nav-link[href='#skills']", hover: "#sideNav .nav-link[href='#interests']" },
  // An admin dashboard: Chart.js canvases, Font Awesome's webfont from the page's origin.
  { name: "sb-admin-2", root: moduleDir("startbootstrap-sb-admin-2"), focus: ".navbar-search input", hover: ".sidebar .nav-item:nth-of-type(3) .nav-link" },
];

/** A local picture for the pages' random Unsplash photos. */
export const FALLBACK_IMAGE = path.join(moduleDir("startbootstrap-sb-admin-2"), "img", "undraw_profile.svg");
