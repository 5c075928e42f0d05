/**
 * Reading QR codes on any phone: the camera, or a photo or screenshot picked from the device.
 * The browser's own BarcodeDetector where it reads QR codes (Chrome on Android, Safari on macOS),
 * else the `barcode-detector` polyfill over zxing-wasm, whose WebAssembly the gateway serves itself
 * (/web/zxing_reader.wasm, copied there by web/build.mjs): nothing is fetched from anywhere else.
 */

import { BarcodeDetector as ZXingDetector, prepareZXingModule } from "barcode-detector/ponyfill";

prepareZXingModule({
  overrides: {
    locateFile: (path: string, prefix: string) => (path.endsWith(".wasm") ? "/web/zxing_reader.wasm" : prefix + path),
  },
});

/** A failure the page explains (codes in messages.ts LOCAL_ERRORS). */
export class ScanError extends Error {
  constructor(readonly code: string, message?: string) {
    super(message ?? code);
    this.name = "ScanError";
  }
}

interface Detector {
  detect(source: ImageBitmapSource): Promise<{ rawValue: string }[]>;
}

interface NativeDetectorClass {
  new (options: { formats: string[] }): Detector;
  getSupportedFormats(): Promise<string[]>;
}

let chosen: Promise<Detector> | null = null;

/** The detector, chosen once: native when it reads QR codes, the polyfill otherwise. */
export function detector(): Promise<Detector> {
  chosen ??= (async () => {
    const Native = (globalThis as { BarcodeDetector?: NativeDetectorClass }).BarcodeDetector;
    try {
      if (Native && (await Native.getSupportedFormats()).includes("qr_code")) return new Native({ formats: ["qr_code"] });
    } catch {
      // a native detector that cannot list its formats is not used
    }
    return new ZXingDetector({ formats: ["qr_code"] }) as unknown as Detector;
  })();
  return chosen;
}

/** The code among what was read: a credit code if there is one, else the first text. */
function pick(found: { rawValue: string }[]): string | null {
  const texts = found.map((f) => f.rawValue.trim()).filter((t) => t !== "");
  return texts.find((t) => /^C[CP]1:/.test(t)) ?? texts[0] ?? null;
}

const MAX_SIDE = 2048;

/** The code in a picked photo or screenshot (large photos are read scaled down first). */
export async function scanImage(file: Blob): Promise<string> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new ScanError("NOT_AN_IMAGE");
  }
  const det = await detector();
  const side = Math.max(bitmap.width, bitmap.height);
  try {
    if (side > MAX_SIDE) {
      const scale = MAX_SIDE / side;
      const small = await createImageBitmap(bitmap, {
        resizeWidth: Math.round(bitmap.width * scale), resizeHeight: Math.round(bitmap.height * scale),
        resizeQuality: "high",
      });
      const text = pick(await det.detect(small));
      small.close();
      if (text !== null) return text;
    }
    const text = pick(await det.detect(bitmap));
    if (text === null) throw new ScanError("NO_QR");
    return text;
  } finally {
    bitmap.close();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The camera into a <video>, read a few times a second until a code is found or `stop` is called. */
export class CameraScanner {
  private stream: MediaStream | null = null;
  private running = false;

  constructor(private readonly video: HTMLVideoElement) {}

  get active(): boolean {
    return this.running;
  }

  /** Resolves with the code read, or null when stopped first; throws a ScanError when there is no camera. */
  async scan(): Promise<string | null> {
    if (!window.isSecureContext) throw new ScanError("CAMERA_INSECURE");
    if (!navigator.mediaDevices?.getUserMedia) throw new ScanError("CAMERA_DENIED");
    const det = await detector();
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: { ideal: "environment" } }, audio: false,
      });
    } catch (e) {
      throw new ScanError("CAMERA_DENIED", e instanceof Error ? e.message : String(e));
    }
    this.running = true;
    this.video.srcObject = this.stream;
    try {
      await this.video.play();
      while (this.running) {
        if (this.video.readyState >= 2 && this.video.videoWidth > 0) {
          const text = pick(await det.detect(this.video));
          if (text !== null && this.running) return text;
        }
        await sleep(150);
      }
      return null;
    } finally {
      this.stop();
    }
  }

  stop(): void {
    this.running = false;
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.video.srcObject = null;
  }
}
