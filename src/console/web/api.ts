// The console's one way to the HTTP API: POST /graphql with the key held in memory (never in
// storage or the URL). Coded errors become ApiError values the views read.

/** A coded GraphQL error, or a refusal at the HTTP edge (401, 429, 503). */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** The root field the error is about, when the answer named one. */
    readonly path: string | null = null,
    /** Seconds to wait (Retry-After or extensions.retryAfter), for RATE_LIMITED and SERVICE_UNAVAILABLE. */
    readonly retryAfter: number | null = null,
    /** BAD_USER_INPUT: each problem with the argument path it concerns (`input.name`), null for the whole input. */
    readonly problems: ReadonlyArray<{ field: string | null; message: string }> = [],
  ) {
    super(message);
  }
}

interface WireError {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: { code?: string; retryAfter?: number; errors?: string[]; fields?: Array<string | null> };
}

/** A wire error (HTTP answer or graphql-ws `error` message) as an ApiError. */
export function toApiError(error: WireError, retryAfterHeader: string | null = null): ApiError {
  const ext = error.extensions ?? {};
  const header = retryAfterHeader === null ? NaN : Number(retryAfterHeader);
  const retryAfter = typeof ext.retryAfter === 'number' ? ext.retryAfter : Number.isFinite(header) ? header : null;
  const problems = (ext.errors ?? []).map((message, i) => ({ field: ext.fields?.[i] ?? null, message }));
  const path = typeof error.path?.[0] === 'string' ? error.path[0] : null;
  return new ApiError(ext.code ?? 'ERROR', error.message, path, retryAfter, problems);
}

let key: string | null = null;

/** The key every request presents, until the page is closed or another is entered. */
export function useKey(value: string | null): void {
  key = value;
}

export function currentKey(): string | null {
  return key;
}

/** Sends one operation and rejects with its first error (an ApiError), if any. */
export async function request<T, V extends object>(document: string, variables: V): Promise<T> {
  let res: Response;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: document, variables }),
    });
  } catch {
    throw new ApiError('NETWORK', 'keyring cannot be reached.');
  }
  let body: { data?: T | null; errors?: WireError[] };
  try {
    body = await res.json();
  } catch {
    throw new ApiError('NETWORK', `keyring answered ${res.status} without a GraphQL body.`);
  }
  if (body.errors?.length) throw toApiError(body.errors[0]!, res.headers.get('retry-after'));
  return body.data as T;
}

/** Which scope each root field the console reads needs: a FORBIDDEN answer is explained with it. */
export const NEEDED_SCOPE: Readonly<Record<string, string>> = {
  apiKeys: 'keys:read',
  auditEvents: 'audit:read',
  recent: 'audit:read',
  uses: 'audit:read',
  createKey: 'keys:write',
  disableKey: 'keys:write',
  enableKey: 'keys:write',
  revokeKey: 'keys:write',
  rotateKey: 'keys:write',
  updateKey: 'keys:write',
  grantCredits: 'keys:write',
  keyUsage: 'keys:read',
  apiKey: 'keys:read',
  webhooks: 'webhooks:read',
  createWebhook: 'webhooks:write',
  updateWebhook: 'webhooks:write',
  deleteWebhook: 'webhooks:write',
};

/** One sentence for a coded error, naming the scope a FORBIDDEN answer lacked. */
export function describe(error: unknown, field: string | null = null): string {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : String(error);
  const scope = NEEDED_SCOPE[error.path ?? field ?? ''];
  if (error.code === 'FORBIDDEN' && scope) return `FORBIDDEN: ${error.message} This needs the ${scope} scope, which this key does not hold.`;
  if (error.code === 'UNAUTHENTICATED') return 'UNAUTHENTICATED: this key is not valid (unknown, disabled, revoked or expired).';
  return `${error.code}: ${error.message}`;
}
