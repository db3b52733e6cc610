// A block of text redrawn in place on a terminal (`watch` on a TTY): the cursor goes back up
// over what was drawn last and the screen below it is cleared. node:readline does the cursor
// work; spinner libraries that do more are ESM-only or need Node 22.
import readline from 'node:readline';
import { stripVTControlCharacters } from 'node:util';

export interface LiveView {
  /** Replaces the block on screen with `text` (nothing happens when it is unchanged). */
  show(text: string): void;
  /** Removes the block, leaving the cursor where it started. */
  clear(): void;
}

export function liveView(stream: NodeJS.WriteStream): LiveView {
  let rows = 0;
  let shown = '';
  const clear = () => {
    if (rows === 0) return;
    readline.moveCursor(stream, 0, -rows);
    readline.cursorTo(stream, 0);
    readline.clearScreenDown(stream);
    rows = 0;
    shown = '';
  };
  return {
    show(text) {
      if (text === shown) return;
      // The cursor cannot go back above the top of the screen: a block taller than the
      // terminal is cut to fit.
      const fitted = fit(text, stream.columns || 80, (stream.rows || 24) - 1);
      clear();
      stream.write(`${fitted}\n`);
      rows = rowsOf(fitted, stream.columns || 80);
      shown = text;
    },
    clear,
  };
}

/** Terminal rows `text` takes at `columns` wide, counting wrapped lines (colours take none). */
export function rowsOf(text: string, columns: number): number {
  return text
    .split('\n')
    .reduce((sum, line) => sum + Math.max(1, Math.ceil(stripVTControlCharacters(line).length / columns)), 0);
}

/** The leading lines of `text` that fit in `maxRows`. */
export function fit(text: string, columns: number, maxRows: number): string {
  const kept: string[] = [];
  let used = 0;
  for (const line of text.split('\n')) {
    used += rowsOf(line, columns);
    if (used > maxRows) break;
    kept.push(line);
  }
  return kept.join('\n');
}
