/**
 * fetchAuthentication for the Mindset agent SDK, backed by the token broker.
 *
 *   import { createFetchAuthentication } from '/broker/mindset-auth.js';
 *   window.mindset.init({ appUid, fetchAuthentication: createFetchAuthentication() });
 *
 * - Answers `{ token }`, the shape the SDK expects.
 * - One request at a time per page and URL: every caller (several agents, several inits)
 *   waiting at once shares the same answer.
 * - The broker's JSON errors become a BrokerAuthError with `code`, `status`, `requestId`,
 *   `retryable` and `retryAfter`; quote `requestId` when reporting a problem.
 * - Retries only what the broker marks `retryable`, at most `maxRetries` times, waiting what
 *   its Retry-After header says (capped at `maxRetryAfterSeconds`).
 * - Sends the page's cookies (`credentials: 'include'`): the broker finds the user there.
 *
 * For code that wants the bare token string (what older SDK generations took, and the name
 * the vendor's back-end page gives the callback): `getAuthToken()`, or
 * `createGetAuthToken(options)` with the same options. It shares the request in flight with
 * `fetchAuthentication` for the same URL.
 *
 * Plain JavaScript, no dependencies, no build step: serve it as it is or copy it.
 */

export class BrokerAuthError extends Error {
  /**
   * @param {string} message what happened and what to do (the broker's own message)
   * @param {{code: string, status: number, requestId?: string|null,
   *          retryable?: boolean, retryAfter?: number|null}} details
   */
  constructor(message, { code, status, requestId = null, retryable = false, retryAfter = null }) {
    super(message);
    this.name = 'BrokerAuthError';
    this.code = code;
    this.status = status;
    this.requestId = requestId;
    this.retryable = retryable;
    this.retryAfter = retryAfter;
  }
}

const DEFAULTS = {
  url: '/api/getusertoken',
  maxRetries: 2,
  maxRetryAfterSeconds: 10,
  defaultRetryAfterSeconds: 1,
  timeoutMs: 15000,
  onRetry: null, // ({ attempt, error, waitSeconds }) => void, e.g. to show progress
  fetch: null, // a fetch implementation, for tests; the page's own by default
};

// Shared by every helper on the page for the same URL: modules are loaded once per page.
const inFlight = new Map();

/**
 * @param {Partial<typeof DEFAULTS>} options
 * @returns {() => Promise<{token: string}>}
 */
export function createFetchAuthentication(options = {}) {
  const settings = { ...DEFAULTS, ...options };
  return function fetchAuthentication() {
    let pending = inFlight.get(settings.url);
    if (!pending) {
      pending = requestWithRetries(settings).finally(() => inFlight.delete(settings.url));
      inFlight.set(settings.url, pending);
    }
    return pending;
  };
}

/**
 * The same as createFetchAuthentication, answering the bare token string instead of `{ token }`.
 * @param {Partial<typeof DEFAULTS>} options
 * @returns {() => Promise<string>}
 */
export function createGetAuthToken(options = {}) {
  const fetchAuthentication = createFetchAuthentication(options);
  return async function getAuthToken() {
    return (await fetchAuthentication()).token;
  };
}

/** The bare token string from the broker at `/api/getusertoken`, with the default options. */
export const getAuthToken = createGetAuthToken();

async function requestWithRetries(settings) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await requestOnce(settings);
    } catch (error) {
      const retry = error instanceof BrokerAuthError && error.retryable && attempt < settings.maxRetries;
      if (!retry) throw error;
      const waitSeconds = Math.min(
        error.retryAfter ?? settings.defaultRetryAfterSeconds,
        settings.maxRetryAfterSeconds,
      );
      if (typeof settings.onRetry === 'function') {
        settings.onRetry({ attempt: attempt + 1, error, waitSeconds });
      }
      await new Promise((resolve) => setTimeout(resolve, waitSeconds * 1000));
    }
  }
}

async function requestOnce(settings) {
  const doFetch = settings.fetch || globalThis.fetch.bind(globalThis);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), settings.timeoutMs);
  let response;
  try {
    response = await doFetch(settings.url, {
      method: 'GET',
      credentials: 'include',
      cache: 'no-store',
      headers: { Accept: 'application/json' },
      signal: controller.signal,
    });
  } catch (cause) {
    const timedOut = controller.signal.aborted;
    throw new BrokerAuthError(
      timedOut
        ? `The token broker did not answer within ${settings.timeoutMs} ms.`
        : 'The token broker could not be reached; check the network and the broker URL.',
      { code: timedOut ? 'timeout' : 'network_error', status: 0 },
    );
  } finally {
    clearTimeout(timer);
  }

  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null; // not JSON: described below from the status alone
  }
  const requestId = (body && body.request_id) || response.headers.get('X-Request-ID');
  if (response.ok) {
    if (body && typeof body.authToken === 'string' && body.authToken) {
      return { token: body.authToken };
    }
    throw new BrokerAuthError('The token broker answered without a token.', {
      code: 'bad_response',
      status: response.status,
      requestId,
    });
  }
  const broker = Boolean(body) && typeof body.error === 'string';
  throw new BrokerAuthError(
    broker ? body.message : `The token broker answered HTTP ${response.status}.`,
    {
      code: broker ? body.error : `http_${response.status}`,
      status: response.status,
      requestId,
      retryable: broker && body.retryable === true,
      retryAfter: parseRetryAfter(response.headers.get('Retry-After')),
    },
  );
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), or null. */
export function parseRetryAfter(value) {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const when = Date.parse(trimmed);
  return Number.isNaN(when) ? null : Math.max(0, (when - Date.now()) / 1000);
}
