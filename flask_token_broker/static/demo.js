// The demo page: sign in as a demo user, then the real front-end flow, step by step.
import { createFetchAuthentication } from './mindset-auth.js';

const config = JSON.parse(document.getElementById('demo-config').textContent);
const statusBox = document.getElementById('token-status');
const logList = document.getElementById('token-log');

function log(text) {
  const item = document.createElement('li');
  item.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  logList.appendChild(item);
}

function showStatus(state, text) {
  statusBox.dataset.state = state;
  statusBox.textContent = text;
}

function describe(error) {
  if (!error || !error.code) return String(error);
  const parts = [`${error.status || 'no answer'} ${error.code}: ${error.message}`];
  parts.push(error.retryable ? 'retryable' : 'not retryable');
  if (error.requestId) parts.push(`request id ${error.requestId}`);
  return parts.join(' · ');
}

async function post(url, body) {
  const response = await fetch(url, {
    method: 'POST',
    credentials: 'include',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body || {}),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.message || `HTTP ${response.status}`);
  return answer;
}

const signIn = document.getElementById('sign-in');
signIn.addEventListener('submit', async (event) => {
  event.preventDefault();
  const fields = Object.fromEntries(new FormData(signIn));
  try {
    await post(config.loginUrl, fields);
    window.location.reload();
  } catch (error) {
    document.getElementById('sign-in-error').textContent = error.message;
  }
});

document.getElementById('sign-out').addEventListener('click', async () => {
  await post(config.logoutUrl);
  window.location.reload();
});

const brokerToken = createFetchAuthentication({
  url: config.tokenUrl,
  onRetry: ({ attempt, error, waitSeconds }) => {
    log(`retry ${attempt} in ${waitSeconds} s after ${describe(error)}`);
    showStatus('retrying', `Retrying: ${describe(error)}`);
  },
});

// What the SDK calls: the helper, plus a trace for the page. Agents asking while a request
// is in flight share it (the helper does the same), so the trace shows one request.
let shared = null;
function fetchAuthentication() {
  if (shared) {
    log('another agent asked for a token: it shares the request in flight');
    return shared;
  }
  log(`SDK asked for a token: GET ${config.tokenUrl}`);
  showStatus('pending', 'Asking the broker for a token…');
  shared = brokerToken()
    .then(
      (answer) => {
        log(`token received (${answer.token.length} characters)`);
        showStatus('ok', 'The broker answered a token; the agents sign in with it.');
        return answer;
      },
      (error) => {
        log(`failed: ${describe(error)}`);
        showStatus('error', describe(error));
        throw error;
      },
    )
    .finally(() => {
      shared = null;
    });
  return shared;
}

if (config.sdkUrl && config.appUid) {
  if (window.mindset && typeof window.mindset.init === 'function') {
    window.mindset.init({ appUid: config.appUid, fetchAuthentication });
  } else {
    showStatus('error', `The agent SDK did not load from ${config.sdkUrl}.`);
  }
}
