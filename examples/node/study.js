#!/usr/bin/env node
// A complete ask/tell study from Node.js against a running asktell server:
// create a study, ask for trials, report intermediate values, tell the
// results, print the best trial.
//
//   node examples/node/study.js HOST:PORT [--study ID] [--trials N] [--summary FILE]
//
// --summary writes what was told (trial names, params, values) and the best
// trial as JSON, for scripts and tests.
'use strict';

const os = require('node:os');
const { AsktellClient, trialParams } = require('./asktell');
const { parseArgs, run, writeSummary } = require('./cli');

const USAGE = 'node study.js HOST:PORT [--study ID] [--trials N] [--summary FILE]';

// The search space and algorithm, in the contract's own shape (StudySpec).
function studySpec(maxTrials) {
  return {
    objective: { metric: 'val_loss', goal: 'GOAL_MINIMIZE' },
    algorithm: { seed: '42', random: {} },
    max_trials: maxTrials,
    lease_duration: { seconds: '60' },
    parameters: [
      { name: 'lr', float_parameter: { min: 1e-4, max: 1e-1, scale: 'SCALE_LOG' } },
      { name: 'layers', int_parameter: { min: 1, max: 4 } },
      // Integer values: trials get integers back.
      { name: 'batch_size', discrete_parameter: { int_values: ['16', '32', '64'] } },
      { name: 'optimizer', categorical_parameter: { values: ['adam', 'sgd'] } },
      // Typed choices: trials get the booleans themselves.
      {
        name: 'augment',
        categorical_parameter: { choices: [{ bool_value: true }, { bool_value: false }] },
      },
      // Conditional: a trial has momentum only when its optimizer is sgd.
      {
        name: 'momentum',
        float_parameter: { min: 0.5, max: 0.99 },
        when: { parent: 'optimizer', values: [{ string_value: 'sgd' }] },
      },
    ],
  };
}

// Stands in for training: a loss that falls with each epoch towards a floor
// that depends on the parameters.
function lossAt(params, epoch) {
  const floor = (Math.log10(params.lr) + 2.5) ** 2 + 0.1 * (params.layers - 2) ** 2
    + (params.optimizer === 'adam' ? 0 : 0.3 - 0.2 * params.momentum) + params.batch_size / 640
    + (params.augment ? 0 : 0.05);
  return floor + 1 / (epoch + 1);
}

async function main() {
  const { args } = parseArgs(
    process.argv.slice(2), { study: 'node-example', trials: 12, summary: '' }, USAGE,
  );
  const workerId = `node-${os.hostname()}-${process.pid}`;
  const client = new AsktellClient(args.address);
  const told = [];
  try {
    const { study, created } = await client.createStudy(args.study, studySpec(args.trials));
    console.log(`${created ? 'created' : 'reusing'} ${study.name} (seed ${study.seed})`);

    for (;;) {
      const { trials, status: askStatus } = await client.ask(args.study, { workerId });
      if (trials.length === 0) {
        console.log(`no more trials: ${askStatus}`);
        break;
      }
      for (const trial of trials) {
        const params = trialParams(trial);
        let loss = Number.NaN;
        let pruned = false;
        for (let epoch = 0; epoch < 3; epoch += 1) {
          loss = lossAt(params, epoch);
          const { should_stop } = await client.report(trial.name, epoch, loss, { workerId });
          if (should_stop) {
            pruned = true;
            break;
          }
        }
        if (pruned) {
          await client.prune(trial.name, 'stopped early by the server', { workerId });
          console.log(`${trial.name} pruned`);
          told.push({ name: trial.name, params, state: 'TRIAL_STATE_PRUNED' });
          continue;
        }
        const stored = await client.complete(trial.name, loss, { workerId });
        console.log(`${trial.name} ${JSON.stringify(params)} -> ${loss.toFixed(4)}`);
        told.push({ name: stored.name, params, state: stored.state, value: loss });
      }
    }

    const [best] = await client.bestTrials(args.study, 1);
    if (best) {
      console.log(`best: ${best.name} value ${best.value} ${JSON.stringify(trialParams(best))}`);
    }
    writeSummary(args.summary, {
      study: study.name,
      told,
      best: best ? { name: best.name, value: best.value, params: trialParams(best) } : null,
    });
  } finally {
    client.close();
  }
}

run(main);
