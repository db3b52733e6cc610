// One exit-code table for every command, so a script reads `$?` the same way everywhere. `--help`
// prints it and the README quotes it; a command picks its code from here, never a bare number.
export const EXIT = {
  /** Done: promoted, rolled back, a decision that counted, a check that held, a query answered. */
  ok: 0,
  /** The command ran but the release did not get there: ended otherwise (rejected, gates failed, rolled back, …), a decision that did not count, a failed gate or ledger check. */
  notOk: 1,
  /** Refused before anything happened: a bad command line, flag value, request file or config, a decision without an identity. Nothing was started or changed. */
  usage: 2,
  /** Temporal could not answer: the server is unreachable (or not Temporal), or no such workflow or namespace. */
  unavailable: 3,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The table as `--help` and the README show it. */
export const EXIT_CODE_TABLE = [
  `  ${EXIT.ok}  done: promoted, rolled back, decision counted, check passed, still running (status)`,
  `  ${EXIT.notOk}  not done: ended otherwise (rejected, gates failed, rolled back, ...), decision not counted, check failed`,
  `  ${EXIT.usage}  refused before anything happened: bad flag, request file or config, no identity for approve/reject; nothing started or changed`,
  `  ${EXIT.unavailable}  Temporal unavailable: server unreachable, or no such workflow or namespace`,
].join('\n');
