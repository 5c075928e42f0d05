/** GET /v1/alliance: the members as the gateway serves them (public). */

import { api } from "./api.js";

export interface MemberJson {
  city: string;
  slug: string;
  name_zh: string;
  name_en: string;
  keys: number;
  offers: number;
  issuer_url: string | null;
  version: number;
  status_list_version: number;
}

export interface AllianceJson {
  alliance: string;
  versions: Record<string, number>;
  expires_at: number;
  governance: { threshold: number; keys: number };
  cities: MemberJson[];
  agreements: string[];
}

export const loadAlliance = (): Promise<AllianceJson> => api<AllianceJson>("GET", "/v1/alliance");

/** An issuer's page, or null when the member names no issuer (or not an http(s) one). */
export function issuerPage(member: MemberJson, page: string): string | null {
  if (!member.issuer_url) return null;
  try {
    const url = new URL(page, member.issuer_url.endsWith("/") ? member.issuer_url : `${member.issuer_url}/`);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}
