#!/usr/bin/env node
// A study with several objectives and a constraint, from Node.js: create it,
// ask for trials, tell every metric of each, print the Pareto front.
//
//   node examples/node/multiobjective.js HOST:PORT [--study ID] [--objectives 2|3]
//        [--trials N] [--summary FILE]
//
// The objectives are those of DTLZ2 on three parameters (all minimized), and
// the constraint keeps `cost` (the sum of the parameters) at most 2.
// --summary writes what was told and the front the server returned as JSON.
'use strict';

const os = require('node:os');
const { AsktellClient, trialParams } = require('./asktell');
const { parseArgs, run, writeSummary } = require('./cli');

const USAGE = 'node multiobjective.js HOST:PORT [--study ID] [--objectives 2|3] '
  + '[--trials N] [--summary FILE]';

const METRICS = ['f1', 'f2', 'f3'];

// Several objectives in the contract's shape: `objective` is the first, as a
// server writes it, and `objectives` lists them all.
function studySpec(nObjectives, maxTrials) {
  const objectives = METRICS.slice(0, nObjectives).map((metric) => ({ metric, goal: 'GOAL_MINIMIZE' }));
  return {
    objective: objectives[0],
    objectives,
    constraints: [{ metric: 'cost', max: 2 }],
    algorithm: { seed: '7', random: {} },
    max_trials: maxTrials,
    lease_duration: { seconds: '60' },
    parameters: ['x1', 'x2', 'x3'].map((name) => ({ name, float_parameter: { min: 0, max: 1 } })),
  };
}

// DTLZ2 with three variables: the first nObjectives - 1 place the point on the
// front, the last is its distance from it.
function evaluate(params, nObjectives) {
  const x = [params.x1, params.x2, params.x3];
  const g = (x[2] - 0.5) ** 2;
  const a = (x[0] * Math.PI) / 2;
  const b = (x[1] * Math.PI) / 2;
  const values = nObjectives === 2
    ? { f1: (1 + g) * Math.cos(a), f2: (1 + g) * Math.sin(a) }
    : {
      f1: (1 + g) * Math.cos(a) * Math.cos(b),
      f2: (1 + g) * Math.cos(a) * Math.sin(b),
      f3: (1 + g) * Math.sin(a),
    };
  values.cost = x[0] + x[1] + x[2];
  return values;
}

async function main() {
  const { args, usage } = parseArgs(
    process.argv.slice(2),
    { study: 'node-pareto', objectives: 2, trials: 20, summary: '' },
    USAGE,
  );
  if (![2, 3].includes(args.objectives)) usage('--objectives must be 2 or 3');
  const workerId = `node-${os.hostname()}-${process.pid}`;
  const client = new AsktellClient(args.address);
  const told = [];
  try {
    const { study, created } = await client.createStudy(
      args.study, studySpec(args.objectives, args.trials),
    );
    console.log(`${created ? 'created' : 'reusing'} ${study.name} (seed ${study.seed})`);
    for (;;) {
      const { trials, status: askStatus } = await client.ask(args.study, { count: 4, workerId });
      if (trials.length === 0) {
        console.log(`no more trials: ${askStatus}`);
        break;
      }
      for (const trial of trials) {
        const params = trialParams(trial);
        const values = evaluate(params, args.objectives);
        const stored = await client.completeWith(trial.name, values, { workerId });
        told.push({ name: stored.name, params, values, value: stored.value });
      }
    }
    const front = await client.bestTrials(args.study, 0);
    console.log(`pareto front: ${front.length} of ${told.length} trials`);
    for (const trial of front) console.log(`  ${trial.name} ${JSON.stringify(trial.values)}`);
    writeSummary(args.summary, {
      study: study.name,
      told,
      front: front.map((t) => ({ name: t.name, values: t.values, value: t.value })),
    });
  } finally {
    client.close();
  }
}

run(main);
