/**
 * The audit log as learners get it, end to end: two learners in workshop
 * mode (bubblewrap shells) start the lab that reads it. Each terminal's
 * `$AUDIT_LOG` holds the lab's activity about their own namespace (the
 * metrics agent's read of the Secret, the refused attempts), never the
 * other learner's events; a request made now shows up within seconds; and
 * the learner can read the file but not change it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { courseCatalog } from '../../checks/catalog.ts';
import { Client, openTerminal, startTestServer, type TestServer } from '../support/server.ts';

const LAB = 'who-read-the-secret';

const open = (server: TestServer, learner: Client) => openTerminal(server, learner, `lab=${LAB}`);

describe('the audit log in a workshop terminal', () => {
  let server: TestServer;
  let ada: Client;
  let bob: Client;
  let admin: Client;

  beforeAll(async () => {
    server = await startTestServer({ CDL_MODE: 'workshop', CDL_ACCESS_CODE: 'AUDIT-2026' }, courseCatalog());
    admin = new Client(server.origin, { authorization: `Bearer ${server.secrets.adminToken}` });
    ada = new Client(server.origin);
    bob = new Client(server.origin);
    for (const [learner, name] of [
      [ada, 'Ada'],
      [bob, 'Bob'],
    ] as const) {
      expect((await learner.post('/api/session', { name, accessCode: 'AUDIT-2026' })).status).toBe(201);
      expect((await learner.post(`/api/labs/${LAB}/start`, {})).status).toBeLessThan(300);
    }
  });

  afterAll(async () => {
    for (const learner of [ada, bob]) {
      const me = learner ? (await learner.get('/api/session')).body.id : undefined;
      if (me) await admin.delete(`/api/admin/sessions/${me}`);
    }
    await server?.close();
  });

  it("gives each learner the lab's story about their own namespace, and nobody else's", async () => {
    const [adaTerm, bobTerm] = await Promise.all([open(server, ada), open(server, bob)]);
    try {
      const mine = (await adaTerm.run('kubectl config view --minify -o jsonpath={..namespace}')).trim();
      const theirs = (await bobTerm.run('kubectl config view --minify -o jsonpath={..namespace}')).trim();
      expect(mine).not.toBe(theirs);
      const reads = await adaTerm.run(
        `jq -r 'select(.objectRef.name == "payments-db") | [.user.username, .verb, .responseStatus.code] | @tsv' "$AUDIT_LOG"`,
      );
      expect(reads).toContain(`system:serviceaccount:${mine}:metrics-agent\tget\t200`);
      expect(reads).toContain(`system:serviceaccount:${mine}:reporting\tget\t403`);
      expect(reads).toContain(`system:serviceaccount:${mine}:ci-deployer\tget\t403`);
      const namespaces = await adaTerm.run(`jq -r '.objectRef.namespace // .objectRef.name' "$AUDIT_LOG" | sort -u`);
      expect(namespaces.trim().split(/\s+/)).toEqual([mine]);
      expect(await adaTerm.run(`grep -c "${theirs}" "$AUDIT_LOG"`)).toMatch(/^0/);

      // Bob knocks on Ada's namespace: refused, and logged in hers (it is about her namespace), not in his.
      const bobUser = (await bobTerm.run('kubectl auth whoami -o jsonpath={.status.userInfo.username}')).trim();
      expect(bobUser).toMatch(/^system:serviceaccount:/);
      expect(await bobTerm.run(`kubectl get secret payments-db -n ${mine} 2>&1`)).toMatch(/Forbidden/);
      await expect
        .poll(() => adaTerm.run(`jq -r 'select(.user.username == "${bobUser}") | .responseStatus.code' "$AUDIT_LOG"`), { timeout: 5_000 })
        .toMatch(/403/);
      expect(await bobTerm.run(`grep -c "${mine}" "$AUDIT_LOG"`)).toMatch(/^0/);
    } finally {
      await Promise.all([adaTerm.close(), bobTerm.close()]);
    }
  });

  it('shows a request of the learner within seconds, and the file cannot be changed', async () => {
    const term = await open(server, ada);
    try {
      await term.run('kubectl get configmap checkout-config -o name');
      await expect
        .poll(
          async () => term.run(`jq -r 'select(.objectRef.name == "checkout-config" and .verb == "get") | .verb' "$AUDIT_LOG" | head -1`),
          {
            timeout: 5_000,
          },
        )
        .toMatch(/get/);
      expect(await term.run('echo forged >> "$AUDIT_LOG" 2>&1; echo status=$?')).toMatch(
        /(Read-only file system|Permission denied)[\s\S]*status=1/,
      );
      expect(await term.run('rm -f "$AUDIT_LOG" 2>&1; test -f "$AUDIT_LOG" && echo still-there')).toMatch(/still-there/);
    } finally {
      await term.close();
    }
  });
});
