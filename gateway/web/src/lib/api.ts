/** The same-origin REST API: JSON in, JSON or RFC 9457 problem+json out, as `ApiError` with the catalogue code. */

export class ApiError extends Error {
  constructor(readonly code: string, readonly detail: string, readonly status: number) {
    super(`${code}: ${detail}`);
    this.name = "ApiError";
  }

  /** Whether the same request may succeed later: no network, rate limited, or the server in trouble. */
  get transient(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export interface CallOptions {
  body?: unknown;
  token?: string | null;
  headers?: Record<string, string>;
  /** Give up after this long (a till on a bad network must not wait for ever); default 20 s. */
  timeoutMs?: number;
}

/** A signal that aborts after `ms` (where the browser can say so). */
export function deadline(ms: number): AbortSignal | undefined {
  return typeof AbortSignal.timeout === "function" ? AbortSignal.timeout(ms) : undefined;
}

/** Call the API; the JSON answer, or an ApiError (status 0 with code NETWORK when nothing answered). */
export async function api<T = unknown>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json, application/problem+json", ...opts.headers };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  if (opts.token) headers["Authorization"] = `Bearer ${opts.token}`;
  let response: Response;
  try {
    response = await fetch(path, {
      method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      credentials: "omit", cache: "no-store", signal: deadline(opts.timeoutMs ?? 20_000),
    });
  } catch (e) {
    throw new ApiError("NETWORK", e instanceof Error ? e.message : String(e), 0);
  }
  let data: unknown = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const problem = (data ?? {}) as { code?: string; detail?: string; title?: string };
    throw new ApiError(problem.code ?? `HTTP_${response.status}`,
      problem.detail ?? problem.title ?? (response.statusText || "request failed"), response.status);
  }
  return data as T;
}

/** A fresh idempotency key (one per redemption attempt, reused by its retries). */
export function newKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
