/**
 * Drawing a code as a QR symbol with the `qrcode` package: error correction M, alphanumeric mode (a
 * `CP1:`/`CC1:` string uses only its characters, SPEC 2.1), a four-module quiet zone, and a whole number
 * of device pixels per module, so a camera (or a screenshot) sees sharp modules.
 */

import QRCode from "qrcode";

const QUIET_MODULES = 4;

export interface Drawn {
  version: number;
  modules: number;
}

/** Draw `text` on `canvas` at about `cssWidth` CSS pixels wide. */
export async function drawQr(canvas: HTMLCanvasElement, text: string, cssWidth: number): Promise<Drawn> {
  const segments = [{ data: text, mode: "alphanumeric" as const }];
  const symbol = QRCode.create(segments, { errorCorrectionLevel: "M" });
  const modules = symbol.modules.size;
  const ratio = Math.max(1, Math.round(globalThis.devicePixelRatio || 1));
  const scale = Math.max(2, Math.floor((cssWidth * ratio) / (modules + 2 * QUIET_MODULES)));
  await QRCode.toCanvas(canvas, segments, {
    errorCorrectionLevel: "M", margin: QUIET_MODULES, scale, color: { dark: "#000000ff", light: "#ffffffff" },
  });
  // CSSOM, not a style attribute: the pages' Content-Security-Policy allows no inline styles.
  canvas.style.width = `${canvas.width / ratio}px`;
  canvas.style.height = `${canvas.height / ratio}px`;
  return { version: symbol.version, modules };
}
