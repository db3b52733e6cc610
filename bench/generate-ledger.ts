// Generated ledgers for the bench's `ledger verify` runs.
import type { LedgerFields } from '../src/ledger/entry';
import { GENESIS_CHAIN, LEDGER_HEADING, renderBlock } from '../src/ledger/format';

/** A chained ledger of `size` promotion entries, as the tool writes them. */
export function generateLedger(size: number): string {
  const parts = [LEDGER_HEADING];
  let chain = GENESIS_CHAIN;
  const sha = 'a'.repeat(40);
  for (let i = 0; i < size; i++) {
    const day = String(1 + (i % 28)).padStart(2, '0');
    const fields: LedgerFields = [
      [
        'release_id',
        `202611${day}-${String(Math.floor(i / 28) % 24).padStart(2, '0')}${String(Math.floor(i / 672) % 60).padStart(2, '0')}-rc${1 + Math.floor(i / 40320)}`,
      ],
      ['type', 'promotion'],
      ['commit_sha', sha],
      ['environment', 'production'],
      ['from_branch', 'main'],
      ['to_branch', 'release'],
      ['staging_base', 'https://staging.example.com'],
      ['staging_gate_command', 'release-promoter gates --mode staging --base https://staging.example.com'],
      ['staging_gate_result', 'pass'],
      [
        'gates_run',
        [
          'health: pass (200, 12 ms)',
          'db_health: pass (200, 9 ms)',
          'chat_happy: pass (200, 15 ms)',
          'chat_415: pass (415, 8 ms)',
          'cost_gate_chat: pass (200, 14 ms)',
          'burst_429: pass (30 requests: 20 x 200, 10 x 429, 0 x 5xx)',
        ],
      ],
      ['change_class', 'A'],
      [
        'prod_verification',
        [
          'health: pass (200, 12 ms)',
          'db_health: pass (200, 9 ms)',
          'chat_happy: pass (200, 15 ms)',
          'chat_415: pass (415, 8 ms)',
        ],
      ],
      ['result', 'pass'],
      ['rollback_plan', 'rollbackWorkflow to the last known good'],
      ['notes', `bench entry ${i}`],
      ['operator', 'bench'],
      ['evidence_refs', `temporal:default/bench-${i}/run`],
      ['cost_control_evidence', ['cost_gate_chat: pass (200)', 'breaker_drill: not run']],
      ['approvals', []],
      ['workflow_id', `bench-${i}`],
      ['branch_tip_after', sha],
    ];
    const block = renderBlock(fields, chain);
    chain = block.chain;
    parts.push(block.text);
  }
  return parts.join('');
}
