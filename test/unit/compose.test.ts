/**
 * No Docker engine runs where the tests run, so the compose file is checked
 * for what can go wrong without one: everything it and its Dockerfile refer
 * to exists in the repository.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { projectRoot } from '../../cluster/src/paths.ts';

interface Service {
  build?: { context: string; dockerfile?: string };
  ports?: string[];
  command?: string[];
}

const compose = parse(readFileSync(join(projectRoot, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };

/** Instructions of a Dockerfile, continuation lines joined. */
function instructions(dockerfile: string): Array<{ op: string; args: string }> {
  return dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

describe('docker-compose.yml', () => {
  it('has a service that builds from a Dockerfile in the repository and publishes the site port', () => {
    const services = Object.values(compose.services);
    expect(services.length).toBeGreaterThan(0);
    const built = services.filter((s) => s.build);
    expect(built.length).toBeGreaterThan(0);
    for (const service of built) {
      const context = join(projectRoot, service.build?.context ?? '.');
      expect(existsSync(context)).toBe(true);
      expect(existsSync(join(context, service.build?.dockerfile ?? 'Dockerfile'))).toBe(true);
    }
    expect(services.some((s) => s.ports?.some((p) => p.endsWith(':4321')))).toBe(true);
  });

  for (const [name, service] of Object.entries(compose.services)) {
    if (!service.build) continue;
    const context = join(projectRoot, service.build.context);
    const dockerfile = readFileSync(join(context, service.build.dockerfile ?? 'Dockerfile'), 'utf8');
    const steps = instructions(dockerfile);

    it(`${name}: every file its Dockerfile copies from the context exists`, () => {
      const copies = steps.filter((s) => s.op === 'COPY' && !s.args.startsWith('--from'));
      expect(copies.length).toBeGreaterThan(0);
      for (const copy of copies) {
        const parts = copy.args.split(/\s+/);
        for (const source of parts.slice(0, -1)) {
          if (source === '.') continue;
          expect(existsSync(join(context, source)), `${source} (COPY in ${name}'s Dockerfile)`).toBe(true);
        }
      }
    });

    it(`${name}: every stage a COPY --from names is defined`, () => {
      const stages = new Set(steps.filter((s) => s.op === 'FROM').map((s) => s.args.split(/\s+AS\s+/i)[1]));
      for (const copy of steps.filter((s) => s.op === 'COPY' && s.args.startsWith('--from'))) {
        const stage = /--from=(\S+)/.exec(copy.args)?.[1];
        expect(stages.has(stage), `stage ${stage}`).toBe(true);
      }
    });

    it(`${name}: the program it runs and the files its RUN steps name exist`, () => {
      const cmd = steps.find((s) => s.op === 'CMD');
      const args = JSON.parse(cmd?.args ?? '[]') as string[];
      for (const arg of args.filter((a) => a.endsWith('.ts'))) expect(existsSync(join(context, arg)), arg).toBe(true);
      for (const run of steps.filter((s) => s.op === 'RUN')) {
        for (const path of run.args.match(/\b[\w/-]+\.ts\b/g) ?? []) expect(existsSync(join(context, path)), path).toBe(true);
      }
    });
  }
});
