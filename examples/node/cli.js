// What the example scripts share: their command line, the --summary file and
// how a failure is printed. Not part of the client (asktell.js).
'use strict';

const fs = require('node:fs');
const { AsktellError, status } = require('./asktell');

// Parses `HOST:PORT [--NAME VALUE]...` into `defaults`' keys. `usageLine`
// is printed on an error (exit 2); a key whose default is a number takes a
// positive integer.
function parseArgs(argv, defaults, usageLine) {
  const usage = (message) => {
    if (message) console.error(`error: ${message}`);
    console.error(`usage: ${usageLine}`);
    process.exit(2);
  };
  const args = { address: '', ...defaults };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const key = arg.startsWith('--') ? arg.slice(2) : '';
    if (arg === '-h' || arg === '--help') usage();
    else if (key && key !== 'address' && Object.hasOwn(defaults, key)) {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      const value = argv[++i];
      if (typeof defaults[key] === 'number') {
        const number = Number(value);
        if (!Number.isInteger(number) || number < 1) usage(`${arg} must be a positive integer`);
        args[key] = number;
      } else {
        args[key] = value;
      }
    } else if (!arg.startsWith('-') && !args.address) args.address = arg;
    else usage(`unexpected argument ${arg}`);
  }
  if (!args.address) usage('give the server address HOST:PORT');
  return { args, usage };
}

// Writes `summary` as JSON when a --summary path was given.
function writeSummary(path, summary) {
  if (path) fs.writeFileSync(path, `${JSON.stringify(summary, null, 2)}\n`);
}

// Runs `main`; a server error prints its one-line message (exit 1).
function run(main) {
  main().catch((err) => {
    if (err instanceof AsktellError) {
      // The server's message names the problem, e.g.
      // "CreateStudy failed: ALREADY_EXISTS: study "node-example" exists with a different spec".
      console.error(err.message);
      if (err.code === status.UNAVAILABLE) console.error('is the server running at that address?');
    } else {
      console.error(err);
    }
    process.exit(1);
  });
}

module.exports = { parseArgs, writeSummary, run };
