import type { NativeImage } from 'electron';
import { crc32, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { drawTrayIcon, encodePng, makeTrayImage, trayIconSpec } from './trayIcon';

/** Decodes the unfiltered RGBA PNGs encodePng writes (and checks every chunk's CRC). */
function decodePng(png: Buffer): { width: number; height: number; rgba: Uint8Array } {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let at = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  const types: string[] = [];
  while (at < png.length) {
    const length = png.readUInt32BE(at);
    const type = png.subarray(at + 4, at + 8).toString('latin1');
    const data = png.subarray(at + 8, at + 8 + length);
    expect(png.readUInt32BE(at + 8 + length)).toBe(crc32(png.subarray(at + 4, at + 8 + length)) >>> 0);
    types.push(type);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([data[8], data[9]]).toEqual([8, 6]);
    }
    if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  expect(types).toEqual(['IHDR', 'IDAT', 'IEND']);
  const raw = inflateSync(Buffer.concat(idat));
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (width * 4 + 1)]).toBe(0);
    rgba.set(raw.subarray(y * (width * 4 + 1) + 1, (y + 1) * (width * 4 + 1)), y * width * 4);
  }
  return { width, height, rgba };
}

class FakeImage {
  reps: { scaleFactor?: number; width?: number; height?: number; buffer?: Buffer }[] = [];
  template = false;
  addRepresentation(r: FakeImage['reps'][number]) {
    this.reps.push(r);
  }
  setTemplateImage(on: boolean) {
    this.template = on;
  }
}

describe('tray icon', () => {
  it('PNG encoding round-trips the pixels', () => {
    const px = drawTrayIcon(16, 'color');
    const decoded = decodePng(encodePng(16, 16, px));
    expect(decoded).toMatchObject({ width: 16, height: 16 });
    expect(Buffer.from(decoded.rgba).equals(Buffer.from(px))).toBe(true);
  });

  it('macOS: a template image (black, shape in alpha only) at 16 and 32 px', () => {
    const image = new FakeImage();
    makeTrayImage({ createEmpty: () => image as unknown as NativeImage }, 'darwin');
    expect(image.template).toBe(true);
    expect(image.reps.map((r) => [r.scaleFactor, r.width])).toEqual([
      [1, 16],
      [2, 32],
    ]);
    for (const r of image.reps) {
      const { width, rgba } = decodePng(r.buffer!);
      expect(width).toBe(r.width);
      let opaque = 0;
      for (let i = 0; i < rgba.length; i += 4) {
        expect([rgba[i], rgba[i + 1], rgba[i + 2]]).toEqual([0, 0, 0]);
        if (rgba[i + 3] === 255) opaque++;
      }
      // Three bars: a good share of the square, not all of it.
      expect(opaque / (width * width)).toBeGreaterThan(0.25);
      expect(opaque / (width * width)).toBeLessThan(0.75);
    }
  });

  it('Windows 16/32 px and Linux 24/48 px: the coloured icon, not a template', () => {
    for (const [platform, sizes] of [
      ['win32', [16, 32]],
      ['linux', [24, 48]],
    ] as const) {
      const image = new FakeImage();
      makeTrayImage({ createEmpty: () => image as unknown as NativeImage }, platform);
      expect(image.template).toBe(false);
      expect(image.reps.map((r) => r.width)).toEqual(sizes);
      const { rgba, width } = decodePng(image.reps[0].buffer!);
      // The tile is opaque in the middle and transparent in the rounded corner; some pixel is amber (the top bar).
      const at = (x: number, y: number) => [...rgba.subarray((y * width + x) * 4, (y * width + x) * 4 + 4)];
      expect(at(width / 2, width / 2)[3]).toBe(255);
      expect(at(0, 0)[3]).toBeLessThan(128);
      const pixels = Array.from({ length: width * width }, (_, i) => at(i % width, Math.floor(i / width)));
      expect(pixels.some(([r, g, b]) => r > 200 && g > 120 && g < 180 && b < 60)).toBe(true);
    }
  });

  it('bars sit on whole pixels at 1x, so the small icon has hard edges', () => {
    const px = drawTrayIcon(16, 'template');
    // Only fully in or out, except the rounded ends.
    const partial = [...Array(px.length / 4).keys()].filter((i) => px[i * 4 + 3] > 0 && px[i * 4 + 3] < 255).length;
    expect(partial).toBeLessThanOrEqual(12);
    expect(trayIconSpec('darwin').style).toBe('template');
  });
});
