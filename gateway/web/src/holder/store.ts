/**
 * What the holder page keeps on the phone (IndexedDB, src/lib/store.ts): the device key (its private half a
 * non-extractable CryptoKey, which the browser's structured clone stores as it is, still non-extractable),
 * the codes it holds per host city, and the last answers it showed, so that it goes on presenting with
 * the network cut. Nothing here is the holder's identity: the issuer keeps that; the page has the
 * identity provider's opaque resident id.
 */

import { openStore, type Store } from "../lib/store.js";
import type { DeviceKey } from "./device.js";

export interface HeldCode {
  code: string;
  audience: string;
  tier: string;
  band: string;
  issued_at: string;
  expires_at: string;
  window_s: number;
  /** The device public key (base64) the code is bound to. */
  device: string;
}

/** Who is signed in on this page: the issuer's city and the opaque resident id. */
export interface Who {
  city: string;
  resident: string;
}

let opened: Promise<Store> | null = null;
const db = (): Promise<Store> => (opened ??= openStore("citycredit-holder"));
const base = (who: Who) => `${who.city}/${who.resident}`;

export const loadDevice = async (who: Who) => (await db()).get<DeviceKey>(`device/${base(who)}`);
export const saveDevice = async (who: Who, key: DeviceKey) => (await db()).set(`device/${base(who)}`, key);

export const loadCode = async (who: Who, audience: string) => (await db()).get<HeldCode>(`code/${base(who)}/${audience}`);
export const saveCode = async (who: Who, code: HeldCode) => (await db()).set(`code/${base(who)}/${code.audience}`, code);

export async function forgetCodes(who: Who, audiences: string[]): Promise<void> {
  const store = await db();
  for (const audience of audiences) await store.delete(`code/${base(who)}/${audience}`);
}

/** The last answer of a view (profile, offers of a city, redemptions), to show offline. */
export const loadView = async <T>(who: Who, name: string) => (await db()).get<T>(`view/${base(who)}/${name}`);
export const saveView = async (who: Who, name: string, value: unknown) => (await db()).set(`view/${base(who)}/${name}`, value);

/** The resident last signed in here, so that a reload without network goes on presenting. */
export const loadCurrent = async () => (await db()).get<Who>("current");
export const saveCurrent = async (who: Who) => (await db()).set("current", who);
export const forgetCurrent = async () => (await db()).delete("current");
