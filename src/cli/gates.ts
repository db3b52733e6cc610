// `gates`: the gate code run outside Temporal (the drop-in for the seed's promotion_gate.sh).
import { Command, Option } from '@commander-js/extra-typings';
import { ConfigError, loadConfig } from '../config';
import { parseBaseUrl } from '../domain';
import { productionGateNames, stagingGateNames } from '../gates/catalog';
import { gateTable, print } from './render';

export function addGatesCommand(program: Command): void {
  program
    .command('gates')
    .description('run the gates outside Temporal (the drop-in for promotion_gate.sh); exit 0 only when all pass')
    .addOption(
      new Option('--mode <mode>', 'staging runs the staging set, production the smoke checks')
        .choices(['staging', 'production'])
        .makeOptionMandatory(),
    )
    .requiredOption('--base <url>', 'target base URL')
    .option('--gates <names>', 'comma-separated gate names (default: the mode’s set)')
    .option('--expect-budget-block', 'the cost gate expects 429 BUDGET_EXCEEDED')
    .option('--json')
    .action(async (o) => {
      // The same rule as a promotion's bases: a base that is not a URL (or reads as another host)
      // is a usage error, not six failed gates; the canonical form is what gets probed.
      const base = parseBaseUrl(o.base);
      if (!base.ok) throw new ConfigError(`--base: ${base.message}`);
      const cfg = loadConfig();
      const names = o.gates
        ? o.gates.split(',').filter(Boolean)
        : o.mode === 'staging'
          ? stagingGateNames(cfg.gates, [])
          : productionGateNames(cfg.gates);
      const unknown = names.filter((n) => !cfg.gates.gates[n]);
      if (unknown.length)
        throw new ConfigError(
          `--gates: unknown gate(s) ${unknown.join(', ')}; known: ${Object.keys(cfg.gates.gates).join(', ')}`,
        );
      // The probes (undici, the gate runner) load when gates run, not for --help.
      const { newProbeAgent, runGates } = await import('../activities/gates');
      const dispatcher = newProbeAgent();
      try {
        const results = await runGates(names, {
          base: base.value,
          mode: o.mode as 'staging' | 'production',
          expectBudgetBlock: !!o.expectBudgetBlock,
          catalog: cfg.gates,
          dispatcher,
        });
        print(!!o.json, results, () => console.log(gateTable(results)));
        process.exitCode = results.every((r) => r.pass) ? 0 : 1;
      } finally {
        await dispatcher.close();
      }
    });
}
