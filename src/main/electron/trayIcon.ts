/**
 * The tray icon, drawn in code at the sizes each OS wants (no asset file to ship or to find at
 * run time in both a checkout and app.asar). The picture is the app icon's: three bars, the
 * models kept loaded.
 *   - macOS: a template image (black + alpha, 16 pt with a @2x) that the menu bar tints for light
 *     and dark mode.
 *   - Windows: the coloured icon at 16 px and 32 px (for 200 % displays).
 *   - Linux: the coloured icon at 24 px and 48 px; panels scale it to their own height.
 */
import type { NativeImage } from 'electron';
import { crc32, deflateSync } from 'node:zlib';

export type TrayIconStyle = 'template' | 'color';

export interface TrayIconSpec {
  style: TrayIconStyle;
  /** Pixel size per scale factor. */
  sizes: { scaleFactor: number; size: number }[];
}

export function trayIconSpec(platform: NodeJS.Platform): TrayIconSpec {
  if (platform === 'darwin') return { style: 'template', sizes: [{ scaleFactor: 1, size: 16 }, { scaleFactor: 2, size: 32 }] };
  if (platform === 'win32') return { style: 'color', sizes: [{ scaleFactor: 1, size: 16 }, { scaleFactor: 2, size: 32 }] };
  return { style: 'color', sizes: [{ scaleFactor: 1, size: 24 }, { scaleFactor: 2, size: 48 }] };
}

/** Distance from (px, py) to a rounded rectangle; negative inside. */
function roundedRect(px: number, py: number, x: number, y: number, w: number, h: number, r: number): number {
  const qx = Math.abs(px - (x + w / 2)) - (w / 2 - r);
  const qy = Math.abs(py - (y + h / 2)) - (h / 2 - r);
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r;
}

/** Anti-aliased coverage of a pixel by a shape at `distance` (in pixels). */
const coverage = (distance: number): number => Math.min(1, Math.max(0, 0.5 - distance));

type Rgb = [number, number, number];
const TILE: Rgb = [23, 20, 66];
const BAR_COLORS: Rgb[] = [
  [245, 158, 11],
  [20, 184, 166],
  [148, 163, 184],
];

/**
 * Bars on a 16-unit grid, snapped to whole pixels at each size: at 16 px a bar edge that falls
 * between two pixels turns into a grey smear.
 */
const LAYOUT: Record<TrayIconStyle, { left: number; widths: number[]; tops: number[]; height: number }> = {
  // The menu bar gives a template image room around it, so the bars fill the square.
  template: { left: 1, widths: [14, 10, 7], tops: [1, 6, 11], height: 3 },
  // On the app icon's dark tile, so it reads on light and dark panels alike.
  color: { left: 3, widths: [10, 7.5, 5], tops: [4, 7, 10], height: 2 },
};

/** RGBA pixels of the tray icon at `size` x `size`. */
export function drawTrayIcon(size: number, style: TrayIconStyle): Uint8Array {
  const px = new Uint8Array(size * size * 4);
  const u = size / 16;
  const snap = (v: number) => Math.round(v * u);
  const layout = LAYOUT[style];
  const bars = layout.widths.map((w, k) => ({ x: snap(layout.left), y: snap(layout.tops[k]), w: snap(w), h: Math.max(1, snap(layout.height)), color: BAR_COLORS[k] }));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const cx = x + 0.5;
      const cy = y + 0.5;
      let color: Rgb = style === 'template' ? [0, 0, 0] : TILE;
      let alpha = style === 'color' ? coverage(roundedRect(cx, cy, 0, 0, size, size, size * 0.22)) : 0;
      for (const bar of bars) {
        const a = coverage(roundedRect(cx, cy, bar.x, bar.y, bar.w, bar.h, Math.min(u, bar.h / 2)));
        if (a <= 0) continue;
        if (style === 'template') alpha = Math.max(alpha, a);
        else color = color.map((c, k) => c + (bar.color[k] - c) * a) as Rgb;
      }
      const i = (y * size + x) * 4;
      px[i] = Math.round(color[0]);
      px[i + 1] = Math.round(color[1]);
      px[i + 2] = Math.round(color[2]);
      px[i + 3] = Math.round(alpha * 255);
    }
  }
  return px;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body) >>> 0, body.length + 4);
  return out;
}

/** An 8-bit RGBA PNG, unfiltered (tiny images). */
export function encodePng(width: number, height: number, rgba: Uint8Array): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8;
  header[9] = 6;
  const stride = width * 4 + 1;
  const raw = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) raw.set(rgba.subarray(y * width * 4, (y + 1) * width * 4), y * stride + 1);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

/** The tray image for `platform`, built with Electron's `nativeImage`. */
export function makeTrayImage(nativeImage: { createEmpty(): NativeImage }, platform: NodeJS.Platform): NativeImage {
  const spec = trayIconSpec(platform);
  const image = nativeImage.createEmpty();
  for (const { scaleFactor, size } of spec.sizes) image.addRepresentation({ scaleFactor, width: size, height: size, buffer: encodePng(size, size, drawTrayIcon(size, spec.style)) });
  if (spec.style === 'template') image.setTemplateImage(true);
  return image;
}
