// Ports for the cluster tier's PostgreSQL and Temporal services: free on 127.0.0.1 and below
// 32768. src/free-port.ts asks the kernel for any free port, which comes from the ephemeral range
// (32768-60999 on Linux); there a port that was free a moment ago can be taken by any outgoing
// connection before the server binds it, and ringpop's membership ports then fail to bind.
import net from 'node:net';

const LOWEST = 10_000;
export const PORT_CEILING = 32_768;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** `count` distinct ports in [10000, 32768) that could be bound on 127.0.0.1 just now. */
export async function freePortsBelowEphemeral(count: number): Promise<number[]> {
  const chosen = new Set<number>();
  for (let tries = 0; chosen.size < count; tries++) {
    if (tries > 2_000) throw new Error(`found only ${chosen.size} of ${count} free ports below ${PORT_CEILING}`);
    const port = LOWEST + Math.floor(Math.random() * (PORT_CEILING - LOWEST));
    if (!chosen.has(port) && (await bindable(port))) chosen.add(port);
  }
  return [...chosen];
}
