/**
 * The one settings schema (contract/settings.ts) and its readers: a bad
 * value stops whatever reads it with the variable and the problem named
 * (and never a secret's value), PUBLIC_ORIGINS takes only origins as a
 * browser sends them, and every part of the project reads its variables
 * through its group.
 */
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../cluster/src/cli.ts';
import { ExternalProvider } from '../../cluster/src/external/provider.ts';
import { cacheDir } from '../../cluster/src/paths.ts';
import { chooseProvider, clusterName } from '../../cluster/src/select.ts';
import { chromiumPath } from '../../cluster/src/system-packages.ts';
import { UserError } from '../../contract/errors.ts';
import {
  clusterSettings,
  developmentSettings,
  originProblem,
  SETTING_NAMES,
  SETTINGS_GROUPS,
  ServerSettingsSchema,
  SettingsError,
  serverSettings,
  testSettings,
} from '../../contract/settings.ts';
import { allowedOrigins, ConfigError, readConfig, ServerConfigSchema, secureCookies } from '../../labs-server/src/config.ts';

/** The message of what `read` throws, checking that it is a settings error. */
function failure(read: () => unknown): SettingsError {
  try {
    read();
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return error as SettingsError;
  }
  throw new Error('expected a SettingsError, and nothing was thrown');
}

describe('the JSON and URL settings of shells in pods and of a server in the cluster', () => {
  it('reads TERMINAL_POD_PLACEMENT as a pod spec says it, and names what is wrong', () => {
    const placement = readConfig({
      TERMINAL_POD_PLACEMENT:
        '{"nodeSelector":{"workload":"shells"},"tolerations":[{"key":"shells","operator":"Exists","effect":"NoSchedule"}]}',
    }).TERMINAL_POD_PLACEMENT;
    expect(placement).toEqual({
      nodeSelector: { workload: 'shells' },
      tolerations: [{ key: 'shells', operator: 'Exists', effect: 'NoSchedule' }],
    });
    expect(failure(() => readConfig({ TERMINAL_POD_PLACEMENT: 'workload=shells' })).message).toContain(
      "TERMINAL_POD_PLACEMENT: must be a pod's placement (nodeSelector and tolerations), and is not JSON",
    );
    const wrong = failure(() => readConfig({ TERMINAL_POD_PLACEMENT: '{"tolerations":[{"effect":"Sometimes"}],"affinity":{}}' }));
    expect(wrong.message).toMatch(/TERMINAL_POD_PLACEMENT: must be a pod's placement .*effect/);
    expect(wrong.message).toContain('affinity');
  });

  it('takes CDL_PUBLIC_API_SERVER as an https URL only', () => {
    expect(readConfig({ CDL_PUBLIC_API_SERVER: 'https://abc.gr7.eu-west-1.eks.amazonaws.com' }).CDL_PUBLIC_API_SERVER).toBe(
      'https://abc.gr7.eu-west-1.eks.amazonaws.com',
    );
    expect(failure(() => readConfig({ CDL_PUBLIC_API_SERVER: 'abc.eks.amazonaws.com' })).message).toContain(
      'CDL_PUBLIC_API_SERVER: must be an https:// URL, not "abc.eks.amazonaws.com"',
    );
  });
});

describe('PUBLIC_ORIGINS', () => {
  it('refuses an entry without its scheme at start, naming the entry and what to write', () => {
    const error = failure(() => readConfig({ PUBLIC_ORIGINS: 'labs.example.org' }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain('PUBLIC_ORIGINS: labs.example.org: an origin needs its scheme, e.g. https://labs.example.org');
    expect(error.variables).toEqual(['PUBLIC_ORIGINS']);
    expect(failure(() => readConfig({ PUBLIC_ORIGINS: 'localhost:4321' })).message).toContain(
      'localhost:4321: an origin needs its scheme, e.g. https://localhost:4321',
    );
  });

  it('refuses paths, other schemes, credentials and wildcards, one problem per entry', () => {
    const error = failure(() =>
      readConfig({
        PUBLIC_ORIGINS: 'https://labs.example.org/labs, wss://labs.example.org, https://me:pw@labs.example.org, *, https://ok.example.org',
      }),
    );
    expect(error.message).toContain(
      'https://labs.example.org/labs: an origin has no path, query or fragment; use https://labs.example.org',
    );
    expect(error.message).toContain('wss://labs.example.org: the scheme must be http or https, not wss');
    expect(error.message).toContain('https://me:pw@labs.example.org: an origin has no user name or password');
    expect(error.message).toContain('*: an origin needs its scheme');
    expect(error.message).not.toContain('ok.example.org:');
    expect(originProblem('https://labs.example.org?x=1')).toMatch(/no path, query or fragment/);
    expect(originProblem('http://')).toBeDefined();
  });

  it('reads the origins as a browser sends them: lower-case host, no default port, no trailing slash', () => {
    const config = readConfig({ PUBLIC_ORIGINS: ' HTTPS://Labs.Example.org:443/ , http://localhost:8080,,' });
    expect(allowedOrigins(config)).toEqual(['https://labs.example.org', 'http://localhost:8080']);
    expect(secureCookies(config)).toBe(false);
    expect(secureCookies(readConfig({ PUBLIC_ORIGINS: 'https://labs.example.org' }))).toBe(true);
  });

  it('defaults to the server itself on localhost and 127.0.0.1, also when empty', () => {
    for (const env of [{ PORT: '4400' }, { PORT: '4400', PUBLIC_ORIGINS: '' }]) {
      expect(allowedOrigins(readConfig(env))).toEqual(['http://localhost:4400', 'http://127.0.0.1:4400']);
    }
  });
});

describe('the server settings', () => {
  it('has the defaults the README documents', () => {
    const config = readConfig({});
    expect(config).toMatchObject({ PORT: 4321, HOST: '127.0.0.1', LOG_LEVEL: 'info', CDL_MODE: 'single', TERMINAL_CPUS: 0.5 });
  });

  it('names every variable with a problem, and the value unless it is a secret', () => {
    const error = failure(() =>
      readConfig({ PORT: '80a', CDL_MODE: 'workshops', TERMINAL_CPUS: '100', SESSION_TTL_MINUTES: '0', CDL_ADMIN_TOKEN: 'hunter2' }),
    );
    expect(error.message).toMatch(/^invalid server settings in the environment: /);
    expect(error.message).toContain('PORT: must be a port number from 1 to 65535, not "80a"');
    expect(error.message).toContain('CDL_MODE: must be one of single, workshop, not "workshops"');
    expect(error.message).toContain('TERMINAL_CPUS: must be a number of cores from 0.05 to 64, not "100"');
    expect(error.message).toContain('SESSION_TTL_MINUTES: must be a number of minutes above 0');
    expect(error.message).toContain('CDL_ADMIN_TOKEN: must be 16 to 256 characters long');
    expect(error.message).not.toContain('hunter2');
    expect(error.variables).toEqual(['PORT', 'CDL_MODE', 'CDL_ADMIN_TOKEN', 'SESSION_TTL_MINUTES', 'TERMINAL_CPUS']);
    expect(error).toBeInstanceOf(UserError);
    expect(error.hint).toMatch(/README/);
  });

  it('keeps fractional minutes, which the tests use for short sessions', () => {
    expect(readConfig({ SESSION_TTL_MINUTES: '0.1' }).SESSION_TTL_MINUTES).toBe(0.1);
  });

  it('adds only the access code rule to the contract, and reads the same variables', () => {
    expect(Object.keys(ServerConfigSchema.shape).sort()).toEqual(Object.keys(ServerSettingsSchema.shape).sort());
    expect(serverSettings({ CDL_ACCESS_CODE: 'ABCD' }).CDL_ACCESS_CODE).toBe('ABCD');
    expect(failure(() => readConfig({ CDL_ACCESS_CODE: 'ABCD', PORT: 'x' })).variables).toEqual(['PORT', 'CDL_ACCESS_CODE']);
  });
});

describe('the cluster settings', () => {
  const noTools = { PATH: '/nonexistent' };

  it('reads CDL_CLUSTER_NAME and refuses a name that cannot be a folder or a cluster', () => {
    expect(clusterName({})).toBe('cdl');
    expect(clusterName({ CDL_CLUSTER_NAME: 'cdl-2' })).toBe('cdl-2');
    const error = failure(() => clusterName({ CDL_CLUSTER_NAME: 'My_Cluster' }));
    expect(error.message).toBe(
      'invalid cluster settings in the environment: CDL_CLUSTER_NAME: "My_Cluster" is not a valid cluster name: use lower-case letters, digits and dashes (at most 32)',
    );
  });

  it('reads CDL_PROVIDER, ignores it when empty and names it when unknown', async () => {
    expect(await chooseProvider(undefined, { ...noTools, CDL_PROVIDER: 'kind' }, '/nonexistent-root')).toBe('kind');
    expect(await chooseProvider(undefined, { ...noTools, CDL_PROVIDER: '' }, '/nonexistent-root')).toBe('local');
    await expect(chooseProvider(undefined, { ...noTools, CDL_PROVIDER: 'minikube' })).rejects.toThrow(
      /CDL_PROVIDER: must be one of local, kind, external, not "minikube"/,
    );
  });

  it('says a bad setting in one line from the CLI, with what to do', async () => {
    let stderr = '';
    const code = await runCli(['status', '--provider', 'local'], {
      stdout: () => {},
      stderr: (t) => (stderr += t),
      env: { ...noTools, CDL_CLUSTER_NAME: 'Bad Name' },
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: invalid cluster settings in the environment: CDL_CLUSTER_NAME: "Bad Name" is not a valid cluster name/);
    expect(stderr).toMatch(/README/);
  });

  it('keeps the binaries in CDL_CACHE_DIR, else under XDG_CACHE_HOME or the home folder', () => {
    expect(cacheDir({ CDL_CACHE_DIR: 'relative/cache' })).toBe(resolve('relative/cache'));
    expect(cacheDir({ CDL_CACHE_DIR: '', XDG_CACHE_HOME: '/xdg' })).toBe(join('/xdg', 'container-day-labs'));
    expect(cacheDir({})).toMatch(/\.cache[/\\]container-day-labs$/);
  });

  it('downloads, builds or both as CDL_BINARIES says, from CDL_BINARY_MIRROR when set', () => {
    expect(clusterSettings({})).toMatchObject({ CDL_BINARIES: 'auto' });
    expect(clusterSettings({ CDL_BINARY_MIRROR: '' }).CDL_BINARY_MIRROR).toBeUndefined();
    expect(clusterSettings({ CDL_BINARIES: 'build', CDL_BINARY_MIRROR: 'http://10.0.0.5:8080/cdl' })).toMatchObject({
      CDL_BINARIES: 'build',
      CDL_BINARY_MIRROR: 'http://10.0.0.5:8080/cdl',
    });
    expect(failure(() => clusterSettings({ CDL_BINARIES: 'compile' })).message).toMatch(
      /CDL_BINARIES: must be one of auto, download, build, not "compile"/,
    );
    expect(failure(() => clusterSettings({ CDL_BINARY_MIRROR: 'mirror.local/cdl' })).message).toMatch(
      /CDL_BINARY_MIRROR: must be an http or https URL, not "mirror.local\/cdl"/,
    );
    expect(failure(() => clusterSettings({ CDL_BINARY_MIRROR: 'ftp://mirror.local/' })).message).toMatch(
      /CDL_BINARY_MIRROR: must be an http or https URL/,
    );
  });

  it('takes the external kubeconfig from CDL_KUBECONFIG, resolved', () => {
    expect(new ExternalProvider({ CDL_KUBECONFIG: 'kube/config' }).kubeconfig).toBe(resolve('kube/config'));
    expect(() => new ExternalProvider({ CDL_KUBECONFIG: '' })).toThrow(/needs the kubeconfig/);
  });
});

describe('the development and test settings', () => {
  it('reads DEV_PORT and LABS_SERVER', () => {
    expect(developmentSettings({})).toEqual({ DEV_PORT: 4322, LABS_SERVER: 'http://127.0.0.1:4321' });
    expect(failure(() => developmentSettings({ DEV_PORT: '99999' })).message).toBe(
      'invalid development settings in the environment: DEV_PORT: must be a port number from 1 to 65535, not "99999"',
    );
    expect(failure(() => developmentSettings({ LABS_SERVER: 'localhost:4321' })).message).toContain('LABS_SERVER');
  });

  it('reads CDL_TEST_CLUSTER, CHROMIUM_PATH and what the browser tests hand their workers', () => {
    expect(testSettings({}).CDL_TEST_CLUSTER).toBe('cdl-test');
    expect(testSettings({ CDL_TEST_CLUSTER: 'settings' }).CDL_TEST_CLUSTER).toBe('settings');
    expect(failure(() => testSettings({ CDL_TEST_CLUSTER: 'Test' })).variables).toEqual(['CDL_TEST_CLUSTER']);
    expect(chromiumPath({ PATH: '/nonexistent', CHROMIUM_PATH: '/opt/chrome/chrome' })).toBe('/opt/chrome/chrome');
    expect(chromiumPath({ PATH: '/nonexistent', CHROMIUM_PATH: '' })).toBeUndefined();
    const handed = { origin: 'http://localhost:1234', accessCode: 'container-day', adminToken: 'x'.repeat(20) };
    expect(testSettings({ CDL_BROWSER_TESTS: JSON.stringify(handed) }).CDL_BROWSER_TESTS).toEqual(handed);
    expect(failure(() => testSettings({ CDL_BROWSER_TESTS: '{' })).variables).toEqual(['CDL_BROWSER_TESTS']);
  });

  it('ignores the variables of other groups, so a developer setting cannot stop the cluster CLI', () => {
    expect(clusterName({ DEV_PORT: 'nope', PORT: 'nope' })).toBe('cdl');
  });
});

describe('the groups', () => {
  it('put every setting in exactly one group', () => {
    const grouped = Object.values(SETTINGS_GROUPS).flatMap((group) => Object.keys(group.shape));
    expect(new Set(grouped).size).toBe(grouped.length);
    expect([...grouped].sort()).toEqual([...SETTING_NAMES].sort());
  });
});
