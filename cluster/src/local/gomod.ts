/**
 * Go module files for building Kubernetes and etcd as dependencies.
 *
 * Both projects are multi-module repositories whose root go.mod points its
 * sibling modules at local folders (`k8s.io/api => ./staging/src/k8s.io/api`,
 * `go.etcd.io/etcd/api/v3 => ../api`). Those paths do not exist in a module
 * download, so a module that requires them must replace each sibling with its
 * published version instead. The list comes from the upstream go.mod itself,
 * never from a hand-kept copy, so a new staging module is picked up on its own.
 */

/** Module paths in the go.mod's `require` directives. */
export function requiredModules(goMod: string): Set<string> {
  const modules = new Set<string>();
  let block = false;
  for (const line of goMod.split('\n')) {
    const text = line.replace(/\/\/.*$/, '');
    if (/^\s*require\s*\(\s*$/.test(text)) {
      block = true;
      continue;
    }
    if (block && /^\s*\)\s*$/.test(text)) {
      block = false;
      continue;
    }
    const match = block ? /^\s*(\S+)\s+v\S+\s*$/.exec(text) : /^\s*require\s+(\S+)\s+v\S+\s*$/.exec(text);
    if (match?.[1]) modules.add(match[1]);
  }
  return modules;
}

/**
 * Required modules that the given go.mod replaces with a local folder. Local
 * replaces of modules it does not require are guards, not siblings (etcd
 * points `go.etcd.io/etcd` at `./FORBIDDEN_DEPENDENCY`), and are left out.
 */
export function localReplacements(goMod: string): string[] {
  const required = requiredModules(goMod);
  const modules = new Set<string>();
  const single = /^\s*replace\s+(\S+)(?:\s+\S+)?\s+=>\s+(\.\.?\/\S*)\s*$/;
  const inBlock = /^\s*(\S+)(?:\s+v\S+)?\s+=>\s+(\.\.?\/\S*)\s*$/;
  let block = false;
  for (const line of goMod.split('\n')) {
    const text = line.replace(/\/\/.*$/, '');
    if (/^\s*replace\s*\(\s*$/.test(text)) {
      block = true;
      continue;
    }
    if (block && /^\s*\)\s*$/.test(text)) {
      block = false;
      continue;
    }
    const match = block ? inBlock.exec(text) : single.exec(text);
    if (match?.[1] && required.has(match[1])) modules.add(match[1]);
  }
  return [...modules].sort();
}

export interface BuildModule {
  /** This build module's own path; never published. */
  module: string;
  /** The module whose commands are built, and its version. */
  require: { path: string; version: string };
  /** Each local replacement of the upstream go.mod, mapped to a published version. */
  replace: Array<{ path: string; version: string }>;
}

/** The text of a go.mod for `BuildModule`. `go mod tidy` completes it. */
export function renderGoMod(build: BuildModule): string {
  const replaces = build.replace.map((r) => `\t${r.path} => ${r.path} ${r.version}`).join('\n');
  return [`module ${build.module}`, '', `require ${build.require.path} ${build.require.version}`, '', 'replace (', replaces, ')', ''].join(
    '\n',
  );
}

/**
 * A file that keeps the commands' packages in the module graph for
 * `go mod tidy`. The build tag means it is never compiled, which is what lets
 * it name `main` packages.
 */
export function renderToolsFile(packages: readonly string[]): string {
  const imports = packages.map((p) => `\t_ "${p}"`).join('\n');
  return `//go:build tools\n\npackage tools\n\nimport (\n${imports}\n)\n`;
}

/** Kubernetes staging modules are published as v0.MINOR.PATCH beside v1.MINOR.PATCH. */
export function stagingVersion(kubernetesVersion: string): string {
  const match = /^v1\.(\d+)\.(\d+)$/.exec(kubernetesVersion);
  if (!match) throw new Error(`not a Kubernetes release version: ${kubernetesVersion}`);
  return `v0.${match[1]}.${match[2]}`;
}
