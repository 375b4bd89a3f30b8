// A small promise-based client for the asktell gRPC service.
//
// The contract is loaded at run time from the .proto files in proto/ (no code
// generation step): field names are exactly those of the .proto (keepCase),
// 64-bit integers are strings (longs: String) and enums are their names
// (enums: String), e.g. state: 'TRIAL_STATE_COMPLETE'.
//
//   const { AsktellClient } = require('./asktell');
//   const client = new AsktellClient('127.0.0.1:50051');
//   const { trials, status } = await client.ask('my-study', { workerId: 'node-1' });
//
// Every failed call rejects with an AsktellError that carries the gRPC status
// (`code`, `codeName`) and the server's message, which names the bad field.
// Calls that are safe to repeat are retried with backoff while the server
// answers UNAVAILABLE or ABORTED.
'use strict';

const crypto = require('node:crypto');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

// The folder that holds asktell/v1/*.proto; override with ASKTELL_PROTO_ROOT
// when this file is copied out of the repository.
const PROTO_ROOT = process.env.ASKTELL_PROTO_ROOT || path.resolve(__dirname, '..', '..', 'proto');

const LOADER_OPTIONS = {
  includeDirs: [PROTO_ROOT],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

const CODE_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([name, code]) => [code, name]));

// Codes worth retrying, for calls whose repetition is harmless.
const RETRYABLE = new Set([grpc.status.UNAVAILABLE, grpc.status.ABORTED]);

// Methods that may be sent again after a transient error. Ask is retried only
// with a request_id (which this client always sets); DeleteStudy, AddTrials and
// EnqueueTrials are not retried: a repeat could fail or duplicate work.
const IDEMPOTENT = new Set([
  'CreateStudy', 'GetStudy', 'ListStudies', 'StopStudy', 'ResumeStudy',
  'Ask', 'Tell', 'Report', 'Heartbeat', 'GetTrial', 'ListTrials', 'GetBestTrials',
  'GetCaller',
]);

/** A failed call: the gRPC status and the server's message. */
class AsktellError extends Error {
  constructor(method, cause) {
    const codeName = CODE_NAMES[cause.code] || `CODE_${cause.code}`;
    super(`${method} failed: ${codeName}: ${cause.details || cause.message}`);
    this.name = 'AsktellError';
    this.method = method;
    this.code = cause.code;
    this.codeName = codeName;
    this.details = cause.details || '';
    this.cause = cause;
  }
}

let packageCache = null;

/** The asktell.v1 package object, loaded once from the .proto files. */
function loadContract() {
  if (packageCache === null) {
    const definition = protoLoader.loadSync(['asktell/v1/service.proto'], LOADER_OPTIONS);
    packageCache = grpc.loadPackageDefinition(definition).asktell.v1;
  }
  return packageCache;
}

function studyName(studyId) {
  return studyId.startsWith('studies/') ? studyId : `studies/${studyId}`;
}

/**
 * A ParameterValue message as a plain JavaScript value: a number (int64 as a
 * Number), a string or a boolean, as the study's spec says.
 */
function fromParameterValue(value) {
  switch (value.kind) {
    case 'number_value':
      return value.number_value;
    case 'int_value':
      return Number(value.int_value);
    case 'string_value':
      return value.string_value;
    case 'bool_value':
      return value.bool_value;
    default:
      throw new Error(`parameter value with no kind set: ${JSON.stringify(value)}`);
  }
}

/** A trial's params map as { name: value }. */
function trialParams(trial) {
  return Object.fromEntries(
    Object.entries(trial.params || {}).map(([name, value]) => [name, fromParameterValue(value)]),
  );
}

/**
 * A plain value as a ParameterValue: integers as int_value, other numbers as
 * number_value, strings and booleans as themselves. The server takes a whole
 * number for a float parameter and the other way round, so a JavaScript number
 * needs no type hint.
 */
function toParameterValue(value, { integer = Number.isInteger(value) } = {}) {
  if (typeof value === 'string') return { string_value: value };
  if (typeof value === 'boolean') return { bool_value: value };
  if (typeof value === 'number' && integer) return { int_value: String(value) };
  if (typeof value === 'number') return { number_value: value };
  throw new TypeError(`cannot send ${typeof value} as a parameter value`);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class AsktellClient {
  /**
   * @param {string} address HOST:PORT of the server.
   * @param {object} [options]
   * @param {grpc.ChannelCredentials} [options.credentials] defaults to plaintext.
   * @param {string} [options.token] a bearer token, sent with every call (a server
   *   started with --auth-file checks it).
   * @param {number} [options.deadlineMs=30000] deadline of each attempt.
   * @param {number} [options.retries=5] extra attempts of an idempotent call.
   * @param {number} [options.backoffMs=100] first retry delay; doubles, with jitter, up to 5 s.
   */
  constructor(address, options = {}) {
    const v1 = loadContract();
    this.deadlineMs = options.deadlineMs ?? 30000;
    this.retries = options.retries ?? 5;
    this.backoffMs = options.backoffMs ?? 100;
    this.metadata = new grpc.Metadata();
    if (options.token) this.metadata.set('authorization', `Bearer ${options.token}`);
    this.stub = new v1.AsktellService(
      address,
      options.credentials || grpc.credentials.createInsecure(),
      options.channelOptions || {},
    );
  }

  close() {
    this.stub.close();
  }

  /** Sends one unary call; retries an idempotent one on UNAVAILABLE or ABORTED. */
  async call(method, request) {
    const attempts = IDEMPOTENT.has(method) ? this.retries + 1 : 1;
    let delay = this.backoffMs;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.callOnce(method, request);
      } catch (err) {
        if (!(err instanceof AsktellError) || !RETRYABLE.has(err.code) || attempt >= attempts) {
          throw err;
        }
        await sleep(delay / 2 + Math.random() * delay / 2);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  callOnce(method, request) {
    return new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + this.deadlineMs);
      this.stub[method](request, this.metadata, { deadline }, (err, response) => {
        if (err) reject(new AsktellError(method, err));
        else resolve(response);
      });
    });
  }

  /**
   * The role of this client's token: 'admin', 'worker' or 'viewer'; 'none' when the
   * server checks no tokens; 'unknown' for a role a newer server adds.
   */
  async caller() {
    const { role } = await this.call('GetCaller', {});
    const name = String(role).replace(/^CALLER_ROLE_/, '').toLowerCase();
    return ['admin', 'worker', 'viewer', 'none'].includes(name) ? name : 'unknown';
  }

  /** Creates a study (idempotent on an identical spec): { study, created }. */
  createStudy(studyId, spec) {
    return this.call('CreateStudy', { study_id: studyId, spec });
  }

  async getStudy(studyId) {
    return (await this.call('GetStudy', { name: studyName(studyId) })).study;
  }

  async deleteStudy(studyId) {
    await this.call('DeleteStudy', { name: studyName(studyId) });
  }

  /**
   * Asks for trials: { trials, status }. `status` is 'ASK_STATUS_OK', or
   * 'ASK_STATUS_EXHAUSTED' / 'ASK_STATUS_STOPPED' with no trials.
   * The request id makes a retried Ask return the same trials.
   */
  ask(studyId, { count = 1, workerId = '', requestId = crypto.randomUUID(), resume = false } = {}) {
    return this.call('Ask', {
      study: studyName(studyId),
      count,
      worker_id: workerId,
      request_id: requestId,
      resume,
    });
  }

  /** Reports an intermediate value: { should_stop, lease_deadline }. */
  report(trialName, step, value, { workerId = '' } = {}) {
    return this.call('Report', { trial: trialName, step: String(step), value, worker_id: workerId });
  }

  async heartbeat(trialName, { workerId = '' } = {}) {
    return (await this.call('Heartbeat', { trial: trialName, worker_id: workerId })).lease_deadline;
  }

  /** Finishes a trial COMPLETE with its objective value; resolves to the stored trial. */
  async complete(trialName, value, { workerId = '' } = {}) {
    const request = { trial: trialName, state: 'TRIAL_STATE_COMPLETE', value, worker_id: workerId };
    return (await this.call('Tell', request)).trial;
  }

  /**
   * Finishes a trial COMPLETE with several metrics, e.g. { accuracy: 0.93, latency_ms: 12 }:
   * every objective's and constraint's metric of the study (others are stored too).
   */
  async completeWith(trialName, values, { workerId = '' } = {}) {
    const request = { trial: trialName, state: 'TRIAL_STATE_COMPLETE', values, worker_id: workerId };
    return (await this.call('Tell', request)).trial;
  }

  /** Finishes a trial FAILED with a reason. */
  async fail(trialName, reason, { workerId = '' } = {}) {
    const request = { trial: trialName, state: 'TRIAL_STATE_FAILED', reason, worker_id: workerId };
    return (await this.call('Tell', request)).trial;
  }

  /** Finishes a trial PRUNED (stopped early). */
  async prune(trialName, reason = '', { workerId = '' } = {}) {
    const request = { trial: trialName, state: 'TRIAL_STATE_PRUNED', reason, worker_id: workerId };
    return (await this.call('Tell', request)).trial;
  }

  async getTrial(trialName) {
    return (await this.call('GetTrial', { name: trialName })).trial;
  }

  /** Every trial of a study, following the pages; `states` filters, e.g. ['TRIAL_STATE_COMPLETE']. */
  async listTrials(studyId, { states = [], pageSize = 1000 } = {}) {
    const trials = [];
    let pageToken = '';
    do {
      const page = await this.call('ListTrials', {
        study: studyName(studyId), states, page_size: pageSize, page_token: pageToken,
      });
      trials.push(...page.trials);
      pageToken = page.next_page_token;
    } while (pageToken);
    return trials;
  }

  /**
   * The best COMPLETE trials, best first (empty while none is COMPLETE). For a study with
   * several objectives or with constraints, count 0 gives the whole Pareto front of the
   * feasible trials.
   */
  async bestTrials(studyId, count = 1) {
    return (await this.call('GetBestTrials', { study: studyName(studyId), count })).trials;
  }
}

module.exports = {
  AsktellClient,
  AsktellError,
  status: grpc.status,
  loadContract,
  studyName,
  trialParams,
  fromParameterValue,
  toParameterValue,
};
