/**
 * One CNI plugin call, start to end, as a pure function of its inputs: environment and stdin
 * in, a result or an error object out on `stdout`, an exit code back. Everything Switchyard
 * does happens through `backend` (chosen once the config, and so `host`, is known).
 */
import { SwitchyardError } from '../../errors.js';
import type { CniBackend } from './backend.js';
import { CNI_CODE, CniError, errorBody } from './cni-error.js';
import { parseEnvironment, type CniCommand, type CniEnvironment } from './environment.js';
import { parseNetworkConfig, peekVersion, type NetworkConfig } from './network-config.js';
import { chain, versionedResult } from './result.js';
import { LATEST_VERSION, SUPPORTED_VERSIONS, requireCommandInVersion } from './versions.js';

export interface DispatchInput {
  env: Record<string, string | undefined>;
  stdin: string;
  stdout: { write(text: string): unknown };
  /** The backend, or how to make one for a config (its `host` names the daemon's socket). */
  backend: CniBackend | ((conf: NetworkConfig) => CniBackend);
  /** Whether a netns path exists (the file system by default; tests may replace it). */
  netnsExists?: (path: string) => boolean;
}

export async function dispatch(input: DispatchInput): Promise<number> {
  try {
    const env = parseEnvironment(input.env);
    if (env.command === 'VERSION') {
      input.stdout.write(`${JSON.stringify({ cniVersion: LATEST_VERSION, supportedVersions: SUPPORTED_VERSIONS })}\n`);
      return 0;
    }
    const conf = parseNetworkConfig(input.stdin);
    requireCommandInVersion(env.command, conf.cniVersion);
    let backend: CniBackend;
    try {
      backend = typeof input.backend === 'function' ? input.backend(conf) : input.backend;
    } catch (err) {
      throw toCniError(env.command, conf, err); // e.g. a malformed `host`
    }
    const out = await run(env, conf, backend, input.netnsExists ?? (() => true));
    if (out) input.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  } catch (err) {
    const cniErr = err instanceof CniError ? err : new CniError(CNI_CODE.internal, (err as Error)?.message ?? String(err));
    input.stdout.write(`${JSON.stringify(errorBody(cniErr, peekVersion(input.stdin) ?? LATEST_VERSION))}\n`);
    return 1;
  }
}

async function run(env: CniEnvironment, conf: NetworkConfig, backend: CniBackend, netnsExists: (p: string) => boolean): Promise<Record<string, unknown> | undefined> {
  const sandbox = { id: env.containerId, nsPath: env.netns };
  const { network } = conf;
  const call = <T>(p: Promise<T>) => p.catch((err: unknown) => { throw toCniError(env.command, conf, err); });
  switch (env.command) {
    case 'ADD': {
      if (!netnsExists(env.netns)) throw new CniError(CNI_CODE.unknownContainer, `network namespace "${env.netns}" does not exist`, 'CNI_NETNS');
      // K8S_POD_NAME in CNI_ARGS is the container's name for Podman's CNI backend (its dnsname
      // plugin registers it): a name on the network as well.
      const podName = env.args['K8S_POD_NAME'];
      const aliases = [...new Set([...conf.aliases, ...conf.runtime.aliases, ...(podName ? [podName] : [])])];
      const attachment = await call(backend.attach({
        sandbox, network, ifname: env.ifname,
        ...(conf.runtime.mac ? { mac: conf.runtime.mac } : {}),
        ...(conf.runtime.ips.length ? { addresses: conf.runtime.ips } : {}),
        ...(aliases.length ? { aliases } : {}),
        ...(conf.runtime.portMappings.length ? { ports: conf.runtime.portMappings } : {}),
      }));
      return versionedResult(conf.cniVersion, chain(conf.prevResult, attachment));
    }
    case 'DEL':
      try {
        await backend.detach({ sandbox, network, ifname: env.ifname });
      } catch (err) {
        // Already gone (the attachment, its sandbox or its network) is what DEL wants.
        if (err instanceof SwitchyardError && err.kind === 'not-found') return undefined;
        throw toCniError(env.command, conf, err);
      }
      return undefined;
    case 'CHECK': {
      if (!conf.prevResult) throw new CniError(CNI_CODE.invalidNetworkConfig, 'invalid network configuration: prevResult is required for CHECK', 'prevResult');
      if (!netnsExists(env.netns)) throw new CniError(CNI_CODE.unknownContainer, `network namespace "${env.netns}" does not exist`, 'CNI_NETNS');
      await call(backend.check({ sandbox, network, ifname: env.ifname, expected: conf.prevResult }));
      return undefined;
    }
    case 'GC':
      if (!conf.validAttachments) throw new CniError(CNI_CODE.invalidNetworkConfig, 'invalid network configuration: cni.dev/valid-attachments is required for GC', 'cni.dev/valid-attachments');
      await call(backend.gc({ network, keep: conf.validAttachments }));
      return undefined;
    case 'STATUS':
      await call(backend.status(network));
      return undefined;
    default:
      throw new CniError(CNI_CODE.invalidEnvironment, `unknown CNI_COMMAND "${env.command as string}"`);
  }
}

/**
 * A backend failure as a CNI error. DEL treats "gone" as done, so a not-found never reaches
 * here for DEL (dispatch catches it first). STATUS reports any failure as "not available" (50).
 */
export function toCniError(command: CniCommand, conf: NetworkConfig, err: unknown): CniError {
  if (err instanceof CniError) return err;
  if (!(err instanceof SwitchyardError)) return new CniError(CNI_CODE.internal, `switchyard: ${(err as Error)?.message ?? String(err)}`);
  const details = err.field ? `${err.code} (${err.field})` : err.code;
  if (command === 'STATUS') return new CniError(CNI_CODE.notAvailable, `switchyard network "${conf.network}" is not available: ${err.message}`, details);
  switch (err.kind) {
    case 'unavailable':
      return new CniError(CNI_CODE.tryAgainLater, `switchyard is not available, try again later: ${err.message}`, details);
    case 'not-found':
      return err.code === 'NETWORK_NOT_FOUND'
        ? new CniError(CNI_CODE.invalidNetworkConfig, `invalid network configuration: ${err.message}`, details)
        : new CniError(CNI_CODE.unknownContainer, err.message, details);
    case 'invalid':
      return new CniError(CNI_CODE.invalidNetworkConfig, `invalid network configuration: ${err.message}`, details);
    case 'conflict':
    case 'forbidden':
      return new CniError(CNI_CODE.conflict, err.message, details);
    default:
      return new CniError(CNI_CODE.internal, err.message, details);
  }
}
