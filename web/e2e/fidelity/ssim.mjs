// SSIM between two PNG screenshots (ssim.js, decoded with pngjs).
import { PNG } from "pngjs";
import ssimMod from "ssim.js";

const ssim = ssimMod.ssim ?? ssimMod.default?.ssim ?? ssimMod.default ?? ssimMod;

/** compare answers the mean SSIM of two PNGs of the same size. */
export function compare(pngA, pngB) {
  const a = PNG.sync.read(pngA);
  const b = PNG.sync.read(pngB);
  if (a.width !== b.width || a.height !== b.height) throw new Error(`sizes differ: ${a.width}×${a.height} vs ${b.width}×${b.height}`);
  const img = (p) => ({ data: new Uint8ClampedArray(p.data.buffer, p.data.byteOffset, p.data.length), width: p.width, height: p.height });
  return ssim(img(a), img(b)).mssim;
}
