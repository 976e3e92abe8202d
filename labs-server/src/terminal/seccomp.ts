/**
 * The seccomp filter of a workshop shell, as the classic BPF program that
 * bubblewrap loads with `--seccomp FD`. A learner's shell runs bash, coreutils
 * and kubectl; it never needs to make namespaces, mount file systems, load
 * kernel modules, trace other processes or use the kernel's rarer attack
 * surfaces (io_uring, BPF, perf, keyrings, userfaultfd). Those calls fail
 * with EPERM, the way a program expects a refused call to fail; `clone3`
 * answers ENOSYS so that the C library falls back to `clone`, whose flags
 * can be inspected (clone3 passes them in memory, out of a filter's reach),
 * and `clone` with any CLONE_NEW* flag is refused. A call from another
 * architecture's ABI (32-bit or x32 on a 64-bit host) is refused as a whole,
 * so the numbers below cannot be bypassed through another table.
 *
 * The program is a few dozen instructions, built here rather than with
 * libseccomp so that the server needs no native library beyond node-pty.
 */

/** Each syscall refused, by number on the architectures the platform runs on. */
const REFUSED: Record<string, { x64?: number; arm64: number }> = {
  unshare: { x64: 272, arm64: 97 },
  setns: { x64: 308, arm64: 268 },
  mount: { x64: 165, arm64: 40 },
  umount2: { x64: 166, arm64: 39 },
  pivot_root: { x64: 155, arm64: 41 },
  chroot: { x64: 161, arm64: 51 },
  open_tree: { x64: 428, arm64: 428 },
  move_mount: { x64: 429, arm64: 429 },
  fsopen: { x64: 430, arm64: 430 },
  fsconfig: { x64: 431, arm64: 431 },
  fsmount: { x64: 432, arm64: 432 },
  fspick: { x64: 433, arm64: 433 },
  mount_setattr: { x64: 442, arm64: 442 },
  keyctl: { x64: 250, arm64: 219 },
  add_key: { x64: 248, arm64: 217 },
  request_key: { x64: 249, arm64: 218 },
  bpf: { x64: 321, arm64: 280 },
  perf_event_open: { x64: 298, arm64: 241 },
  userfaultfd: { x64: 323, arm64: 282 },
  ptrace: { x64: 101, arm64: 117 },
  process_vm_readv: { x64: 310, arm64: 270 },
  process_vm_writev: { x64: 311, arm64: 271 },
  kexec_load: { x64: 246, arm64: 104 },
  kexec_file_load: { x64: 320, arm64: 294 },
  init_module: { x64: 175, arm64: 105 },
  finit_module: { x64: 313, arm64: 273 },
  delete_module: { x64: 176, arm64: 106 },
  reboot: { x64: 169, arm64: 142 },
  swapon: { x64: 167, arm64: 224 },
  swapoff: { x64: 168, arm64: 225 },
  acct: { x64: 163, arm64: 89 },
  settimeofday: { x64: 164, arm64: 170 },
  clock_settime: { x64: 227, arm64: 112 },
  adjtimex: { x64: 159, arm64: 171 },
  syslog: { x64: 103, arm64: 116 },
  quotactl: { x64: 179, arm64: 60 },
  io_uring_setup: { x64: 425, arm64: 425 },
  io_uring_enter: { x64: 426, arm64: 426 },
  io_uring_register: { x64: 427, arm64: 427 },
  name_to_handle_at: { x64: 303, arm64: 264 },
  open_by_handle_at: { x64: 304, arm64: 265 },
  lookup_dcookie: { x64: 212, arm64: 18 },
  iopl: { x64: 172, arm64: -1 },
  ioperm: { x64: 173, arm64: -1 },
};

const ARCHES = {
  x64: { audit: 0xc000003e, clone: 56, clone3: 435 },
  arm64: { audit: 0xc00000b7, clone: 220, clone3: 435 },
} as const;

export type SeccompArch = keyof typeof ARCHES;

/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET. */
export const CLONE_NEW_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;
/** x32 syscalls have this bit set in their number. */
const X32_SYSCALL_BIT = 0x40000000;

const EPERM = 1;
const ENOSYS = 38;

// Classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;
// struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6].
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
/** The low 32 bits of args[0] (every architecture here is little-endian). */
const OFFSET_ARG0_LOW = 16;

interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** The names of the refused syscalls on an architecture (for docs and tests). */
export function refusedSyscalls(arch: SeccompArch): string[] {
  return Object.entries(REFUSED)
    .filter(([, numbers]) => (numbers[arch] ?? -1) >= 0)
    .map(([name]) => name);
}

export function seccompArch(arch: string = process.arch): SeccompArch | undefined {
  return arch === 'x64' || arch === 'arm64' ? arch : undefined;
}

/** The filter as bytes of `struct sock_filter[]`, ready for `bwrap --seccomp`. */
export function seccompProgram(arch: SeccompArch): Buffer {
  const { audit, clone, clone3 } = ARCHES[arch];
  const numbers = Object.values(REFUSED)
    .map((n) => n[arch] ?? -1)
    .filter((n) => n >= 0);
  // Layout, with the three returns at the end so every jump goes forward:
  //   arch check, x32 check, one JEQ per refused call, clone3, clone → flags
  const program: Instruction[] = [];
  const at = (code: number, k: number, jt = 0, jf = 0) => program.push({ code, jt, jf, k });
  // Jump targets are resolved once the length is known: ALLOW, EPERM, ENOSYS are the last three.
  const jumps: Array<{ index: number; field: 'jt' | 'jf'; to: 'allow' | 'eperm' | 'enosys' }> = [];
  const jumpTo = (field: 'jt' | 'jf', to: 'allow' | 'eperm' | 'enosys') => jumps.push({ index: program.length - 1, field, to });

  at(LD_W_ABS, OFFSET_ARCH);
  at(JEQ_K, audit, 1, 0);
  at(RET_K, RET_ERRNO | EPERM);
  at(LD_W_ABS, OFFSET_NR);
  if (arch === 'x64') {
    at(JGE_K, X32_SYSCALL_BIT);
    jumpTo('jt', 'eperm');
  }
  for (const nr of numbers) {
    at(JEQ_K, nr);
    jumpTo('jt', 'eperm');
  }
  at(JEQ_K, clone3);
  jumpTo('jt', 'enosys');
  at(JEQ_K, clone);
  jumpTo('jf', 'allow');
  at(LD_W_ABS, OFFSET_ARG0_LOW);
  at(JSET_K, CLONE_NEW_FLAGS);
  jumpTo('jt', 'eperm');
  const allow = program.length;
  at(RET_K, RET_ALLOW);
  const eperm = program.length;
  at(RET_K, RET_ERRNO | EPERM);
  const enosys = program.length;
  at(RET_K, RET_ERRNO | ENOSYS);

  const targets = { allow, eperm, enosys };
  for (const jump of jumps) {
    const offset = targets[jump.to] - jump.index - 1;
    if (offset > 255) throw new Error('seccomp program too long for a BPF jump');
    (program[jump.index] as Instruction)[jump.field] = offset;
  }

  const bytes = Buffer.alloc(program.length * 8);
  program.forEach((insn, i) => {
    bytes.writeUInt16LE(insn.code, i * 8);
    bytes.writeUInt8(insn.jt, i * 8 + 2);
    bytes.writeUInt8(insn.jf, i * 8 + 3);
    bytes.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return bytes;
}
