/**
 * Draws Loadout's app icon and writes the PNGs electron-builder uses:
 *   build/icon.png (512x512: macOS and Windows, converted by electron-builder),
 *   build/icons/512x512.png and build/icons/256x256.png (Linux, one file per size).
 * Run with `npx tsx scripts/make-icon.ts`; the output is deterministic and committed.
 *
 * The picture: three bars on a dark rounded square, the models kept loaded, most recently used
 * first. Drawn with signed distance functions, so edges are anti-aliased at any size, and encoded
 * with a minimal PNG writer (no image library needed).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePng } from '../src/main/electron/trayIcon';

type Rgb = [number, number, number];

/** Distance from (px, py) to a rounded rectangle; negative inside. */
function roundedRectDistance(px: number, py: number, x: number, y: number, w: number, h: number, r: number): number {
  const cx = x + w / 2;
  const cy = y + h / 2;
  const qx = Math.abs(px - cx) - (w / 2 - r);
  const qy = Math.abs(py - cy) - (h / 2 - r);
  const outside = Math.hypot(Math.max(qx, 0), Math.max(qy, 0));
  return outside + Math.min(Math.max(qx, qy), 0) - r;
}

const coverage = (distance: number): number => Math.min(1, Math.max(0, 0.5 - distance));
const mix = (a: Rgb, b: Rgb, t: number): Rgb => [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];

/** RGBA pixels of the icon at `size` x `size`. */
export function drawIcon(size: number): Uint8Array {
  const s = size / 512;
  const pixels = new Uint8Array(size * size * 4);
  const top: Rgb = [49, 46, 129];
  const bottom: Rgb = [23, 20, 66];
  const bars: { y: number; width: number; color: Rgb }[] = [
    { y: 142, width: 312, color: [245, 158, 11] },
    { y: 228, width: 236, color: [20, 184, 166] },
    { y: 314, width: 156, color: [148, 163, 184] },
  ];
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const x = px + 0.5;
      const y = py + 0.5;
      const bg = coverage(roundedRectDistance(x, y, 24 * s, 24 * s, 464 * s, 464 * s, 104 * s));
      let color = mix(top, bottom, y / size);
      for (const bar of bars) {
        const a = coverage(roundedRectDistance(x, y, 100 * s, bar.y * s, bar.width * s, 56 * s, 28 * s));
        if (a > 0) color = mix(color, bar.color, a);
      }
      const i = (py * size + px) * 4;
      pixels[i] = Math.round(color[0]);
      pixels[i + 1] = Math.round(color[1]);
      pixels[i + 2] = Math.round(color[2]);
      pixels[i + 3] = Math.round(bg * 255);
    }
  }
  return pixels;
}

function main(): void {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const write = (path: string, size: number) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, encodePng(size, size, drawIcon(size)));
    process.stdout.write(`wrote ${path}\n`);
  };
  write(join(root, 'build', 'icon.png'), 512);
  write(join(root, 'build', 'icons', '512x512.png'), 512);
  write(join(root, 'build', 'icons', '256x256.png'), 256);
}

if (process.argv[1] && /make-icon\.(ts|js)$/.test(process.argv[1])) main();
