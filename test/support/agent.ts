/**
 * A terminal agent as its own process (labs-server/src/agent/main.ts), as a
 * shell pod runs it, for the tests of servers that relay to agents.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_PATHS } from '../../contract/agent.ts';
import type { AgentAddress, AgentLocator } from '../../labs-server/src/terminal/agent-relay.ts';
import { freePort } from './ports.ts';

export interface TestAgent extends AgentAddress {
  port: number;
  process: ChildProcess;
  /** What it wrote to stderr and stdout. */
  log(): string;
  /** Its shells, by its health answer. */
  shells(): Promise<number>;
  stop(): Promise<void>;
}

export async function startTestAgent(env: Record<string, string> = {}): Promise<TestAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'cdl-test-agent-'));
  const secret = randomBytes(32).toString('base64url');
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, secret, { mode: 0o600 });
  const port = await freePort();
  const main = join(import.meta.dirname, '../../labs-server/src/agent/main.ts');
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      CDL_AGENT_SECRET_FILE: secretFile,
      CDL_AGENT_PORT: String(port),
      CDL_AGENT_HOST: '127.0.0.1',
      CDL_AGENT_DIR: join(dir, 'shells'),
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const health = async () => {
    const response = await fetch(`${url}${AGENT_PATHS.health}`);
    return (await response.json()) as { ok: boolean; shells: number };
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the agent exited (${child.exitCode}): ${output}`);
    const ok = await health().then(
      (h) => h.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`the agent did not answer within 20 s: ${output}`);
    await sleep(100);
  }
  return {
    url,
    secret,
    port,
    process: child,
    log: () => output,
    shells: async () => (await health()).shells,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A locator that knows one agent, for every session and lab, and ends a session's shells there. */
export function oneAgent(agent: AgentAddress): AgentLocator {
  return {
    locate: async () => agent,
    async release(sessionName) {
      await fetch(`${agent.url}${AGENT_PATHS.shells}?session=${sessionName}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${agent.secret}` },
      });
    },
  };
}
