// Basemap protocols. An operator may point the console at a style (--map-style-url) whose
// sources read a PMTiles archive served by this server under /maps/ (README, "Basemap"):
// `"url": "pmtiles:///maps/region.pmtiles"`. MapLibre does not know the `pmtiles://` scheme;
// the pmtiles library (vendored, a classic script that sets `window.pmtiles`) adds it, reading
// the archive with HTTP range requests. Imported for its effect, before the map is created.
import * as maplibregl from '/static/vendor/maplibre-gl/dist/maplibre-gl.mjs';
import { record } from './errors.mjs';

if (window.pmtiles) {
  const protocol = new window.pmtiles.Protocol();
  maplibregl.addProtocol('pmtiles', protocol.tile);
} else {
  // Only a style that uses pmtiles:// needs it; say why such a map would stay empty.
  record('pmtiles library not loaded: pmtiles:// sources will not load');
}
