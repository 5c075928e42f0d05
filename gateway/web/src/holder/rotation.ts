/**
 * The rotating presentation: a new `CP1:` every `periodS` seconds (30: a verifier's default window, SPEC
 * 5.2), made from the page's clock alone, with the seconds left to show on a countdown. It needs no
 * network: the code and the device key are in memory. When the code itself expires the rotation stops
 * and says so (a new code needs the issuer).
 *
 * The schedule is read from `Date.now()` on every tick rather than counted, so a phone that slept, a
 * throttled background tab or a test driving the clock all land on the right presentation.
 */

import type { DeviceKey } from "./device.js";
import { present, type Presentable } from "./presentation.js";

export interface RotationEvents {
  /** A new presentation to draw, made at `presentedAtS`; the next one is due at `nextAtS`. */
  presented(text: string, presentedAtS: number, nextAtS: number): void | Promise<void>;
  /** Once a second: the seconds until the next presentation. */
  tick(secondsLeft: number): void;
  /** The code expired: nothing more can be presented until a new code comes. */
  expired(): void;
  /** Signing failed (the key is gone, the browser refused). */
  failed(error: unknown): void;
}

export class Rotation {
  private timer: ReturnType<typeof setInterval> | null = null;
  private nextAtS = 0;
  private busy = false;
  private stopped = false;

  constructor(private readonly code: Presentable, private readonly device: DeviceKey,
    private readonly expiresAtS: number, private readonly events: RotationEvents,
    private readonly periodS = 30) {}

  start(): void {
    this.stopped = false;
    void this.step();
    this.timer = setInterval(() => void this.step(), 1000);
    document.addEventListener("visibilitychange", this.onVisible);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    document.removeEventListener("visibilitychange", this.onVisible);
  }

  private readonly onVisible = () => {
    if (document.visibilityState === "visible") void this.step();
  };

  private async step(): Promise<void> {
    if (this.stopped || this.busy) return;
    const nowS = Math.floor(Date.now() / 1000);
    if (nowS >= this.expiresAtS) {
      this.stop();
      this.events.expired();
      return;
    }
    if (nowS < this.nextAtS) {
      this.events.tick(this.nextAtS - nowS);
      return;
    }
    this.busy = true;
    try {
      const text = await present(this.code, this.device, nowS);
      if (this.stopped) return;
      this.nextAtS = nowS + this.periodS;
      await this.events.presented(text, nowS, this.nextAtS);
      this.events.tick(this.nextAtS - nowS);
    } catch (e) {
      this.stop();
      this.events.failed(e);
    } finally {
      this.busy = false;
    }
  }
}
