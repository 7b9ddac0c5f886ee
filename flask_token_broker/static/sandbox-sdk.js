/*
 * The broker's stand-in for the Mindset agent SDK, for the demo page when no real SDK URL
 * is configured. It keeps the SDK's contract and nothing more:
 *
 * - window.mindset.init({ appUid, fetchAuthentication }) is called once for every agent;
 * - each <mindset-agent agentUid="..."> asks fetchAuthentication for a token (all at once,
 *   as several agents on a page do) and expects `{ token }`;
 * - a failed call is SDK_ERR_1001, an expired token 1002, a malformed one 1003, a missing
 *   one 1004 (the vendor's codes);
 * - each agent shows whom it is signed in as, read from the stand-in token's readable middle
 *   part (`standin-tok.<base64url JSON with "sub">.<random>`, or a stand-in JWT).
 *
 * It talks to no vendor and grants nothing: it only proves the page's wiring.
 */
(function () {
  'use strict';

  var ERRORS = {
    failed: { code: 'SDK_ERR_1001', title: 'Authentication Failed' },
    expired: { code: 'SDK_ERR_1002', title: 'Token Expired' },
    malformed: { code: 'SDK_ERR_1003', title: 'Token Malformed' },
    missing: { code: 'SDK_ERR_1004', title: 'Token Missing' },
  };

  function SdkError(kind, detail) {
    this.code = ERRORS[kind].code;
    this.title = ERRORS[kind].title;
    this.detail = detail || '';
  }

  var settings = null;
  var agents = new Set();

  function decodePart(part) {
    var base64 = part.replace(/-/g, '+').replace(/_/g, '/');
    while (base64.length % 4) base64 += '=';
    var bytes = Uint8Array.from(atob(base64), function (c) { return c.charCodeAt(0); });
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  function claimsOf(result) {
    if (result === null || typeof result !== 'object' || !('token' in result)) {
      throw new SdkError('missing', 'fetchAuthentication must resolve to { token }');
    }
    var token = result.token;
    if (typeof token !== 'string' || token === '') {
      throw new SdkError('missing', 'the token is empty');
    }
    var parts = token.split('.');
    var claims = null;
    if (parts.length === 3) {
      try { claims = decodePart(parts[1]); } catch (e) { claims = null; }
    }
    if (!claims || typeof claims.sub !== 'string') {
      throw new SdkError('malformed', 'not a token this stand-in SDK can read');
    }
    if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()) {
      throw new SdkError('expired', 'fetch a fresh token');
    }
    return claims;
  }

  function line(element, className, text) {
    var child = document.createElement('p');
    child.className = className;
    child.textContent = text;
    element.appendChild(child);
    return child;
  }

  function render(agent, state, build) {
    agent.setAttribute('data-state', state);
    agent.replaceChildren();
    line(agent, 'agent-name', 'Agent ' + (agent.getAttribute('agentUid') || '(no agentUid)'));
    build(agent);
  }

  function connect(agent) {
    render(agent, 'connecting', function (el) { line(el, 'agent-status', 'Signing in…'); });
    var asked;
    try {
      asked = Promise.resolve(settings.fetchAuthentication());
    } catch (error) {
      asked = Promise.reject(error);
    }
    return asked
      .then(function (result) { return claimsOf(result); }, function (error) {
        var why = error && error.message ? error.message : String(error);
        if (error && error.code) why = error.code + ': ' + why;
        throw new SdkError('failed', why);
      })
      .then(function (claims) {
        agent.setAttribute('data-user', claims.sub);
        render(agent, 'signed-in', function (el) {
          line(el, 'agent-status', 'Signed in as ' + claims.sub);
          line(el, 'agent-note', 'Stand-in agent for app ' + settings.appUid + ': no real chat.');
        });
      })
      .catch(function (error) {
        var sdkError = error instanceof SdkError ? error : new SdkError('failed', String(error));
        agent.removeAttribute('data-user');
        agent.setAttribute('data-error', sdkError.code);
        render(agent, 'error', function (el) {
          line(el, 'agent-status', sdkError.code + ' ' + sdkError.title);
          if (sdkError.detail) line(el, 'agent-detail', sdkError.detail);
          var retry = document.createElement('button');
          retry.type = 'button';
          retry.className = 'agent-retry';
          retry.textContent = 'Retry';
          retry.addEventListener('click', function () { connect(agent); });
          el.appendChild(retry);
        });
      });
  }

  function init(options) {
    if (settings !== null) {
      console.warn('mindset.init was called again; call it once for all agents');
      return Promise.resolve();
    }
    if (!options || typeof options.appUid !== 'string' || !options.appUid) {
      throw new TypeError('mindset.init needs an appUid');
    }
    if (typeof options.fetchAuthentication !== 'function') {
      throw new TypeError('mindset.init needs a fetchAuthentication function');
    }
    settings = { appUid: options.appUid, fetchAuthentication: options.fetchAuthentication };
    return Promise.all(Array.from(agents, connect));
  }

  customElements.define('mindset-agent', class extends HTMLElement {
    connectedCallback() {
      agents.add(this);
      if (settings) {
        connect(this);
      } else {
        render(this, 'waiting', function (el) { line(el, 'agent-status', 'Waiting for mindset.init'); });
      }
    }

    disconnectedCallback() {
      agents.delete(this);
    }
  });

  window.mindset = { init: init, standin: true };
})();
