// The text a gate's evidence keeps of an answer or a command's output: one short line that can
// neither drive a terminal nor carry a secret, since it goes to the status, the CLI and the ledger.
import { redactValues } from '../redact';

const EXCERPT_CHARS = 160;

/** `text` as one visible line of at most EXCERPT_CHARS, with every value of `secrets` masked. */
export function excerpt(text: string, secrets: readonly string[]): string {
  // Terminal escape sequences: CSI (`ESC [ … m`, 8-bit CSI), OSC and the other string controls
  // (ended by BEL or ST), two-character escapes; then the controls left: C0 but tab and line
  // breaks (collapsed as whitespace below), DEL, C1, bidi controls.
  const terminalEscape =
    // eslint-disable-next-line no-control-regex -- escape sequences are control characters by nature
    /(?:\u001b\[|\u009b)[0-?]*[ -/]*[@-~]|(?:\u001b[\]PX^_]|[\u0090\u0098\u009d\u009e\u009f])[^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)?|\u001b[ -/]*[0-~]/g;
  // eslint-disable-next-line no-control-regex -- as above
  const control = /[\u0000-\u0008\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  // A target's body may color or retitle a terminal that shows the evidence, or reorder it with
  // bidi controls: they go first, since removing them can join the pieces of an echoed secret.
  // NEL is a line break and becomes a space.
  const visible = text
    .replace(terminalEscape, '')
    .replace(/\u0085/g, ' ')
    .replace(control, '');
  // Mask the exact secrets first (whitespace collapsing would otherwise change them), then
  // again after, and before cutting, so no secret survives whole or in pieces.
  const oneLine = redactValues(visible, secrets).replace(/\s+/g, ' ').trim();
  const clean = redactValues(oneLine, secrets);
  return clean.length > EXCERPT_CHARS ? `${clean.slice(0, EXCERPT_CHARS)}…` : clean;
}
